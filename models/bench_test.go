package models_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// Benchmarks of the hot paths on both databases (go test -run '^$' -bench
// . ./models/ | benchstat): names are Benchmark<Path>/<dialect>. Postgres
// runs skip loudly when no server answers, as the tests do. The store
// hashes with testutil's cheap parameters: these measure the database
// work, not argon2id (handlers' BenchmarkSignIn uses the real ones).

func benchStore(b *testing.B, dialect string) (*models.Store, *bun.DB) {
	b.Helper()
	db := testutil.NewDB(b, dialect)
	// One address requests many codes here; the hourly allowance would
	// turn the request into its no-mail twin after three.
	limits := models.DefaultLimits()
	limits.ResetMailsPerHour = 1 << 30
	return testutil.NewStore(b, db, testutil.NewClock(), testutil.WithLimits(limits)), db
}

func benchAccount(b *testing.B, s *models.Store, email string) *models.Account {
	b.Helper()
	acc, err := s.Register(context.Background(), email, "correct horse battery staple", models.Client{IP: "192.0.2.1", UserAgent: "bench"}, testutil.VerifyMail)
	if err != nil {
		b.Fatal(err)
	}
	return acc
}

func benchResetMail(m models.ResetMail) (models.Message, error) {
	return models.Message{To: m.Email, Subject: "Reset your password", Text: "code " + m.Code, HTML: "<p>code " + m.Code + "</p>"}, nil
}

func benchChangedMail(m models.ChangedMail) (models.Message, error) {
	return models.Message{To: m.Account.Email, Subject: "Your password was changed", Text: "changed", HTML: "<p>changed</p>"}, nil
}

// BenchmarkSessionLoad is the per-request session lookup: one query by
// primary key with the account joined (no write: last_seen is touched at
// most once a minute).
func BenchmarkSessionLoad(b *testing.B) {
	for _, dialect := range testutil.Dialects {
		b.Run(dialect, func(b *testing.B) {
			s, db := benchStore(b, dialect)
			ctx := context.Background()
			acc := benchAccount(b, s, "load@example.com")
			id, _, err := s.CreateSession(ctx, db, acc.ID, models.Client{IP: "192.0.2.1", UserAgent: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				sess, err := s.LoadSession(ctx, id)
				if err != nil || sess.Account == nil {
					b.Fatalf("load session: %v", err)
				}
			}
		})
	}
}

// BenchmarkSessionSave is a sign-in's session write: one insert.
func BenchmarkSessionSave(b *testing.B) {
	for _, dialect := range testutil.Dialects {
		b.Run(dialect, func(b *testing.B) {
			s, db := benchStore(b, dialect)
			ctx := context.Background()
			acc := benchAccount(b, s, "save@example.com")
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.CreateSession(ctx, db, acc.ID, models.Client{IP: "192.0.2.1", UserAgent: "bench"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkResetRequest is RequestReset for a known address: lookup,
// limit upsert, code row, event and sealed outbox row in one transaction.
// /unknown is its twin for an address with no account.
func BenchmarkResetRequest(b *testing.B) {
	for _, dialect := range testutil.Dialects {
		for _, known := range []bool{true, false} {
			name := dialect + "/known"
			if !known {
				name = dialect + "/unknown"
			}
			b.Run(name, func(b *testing.B) {
				s, _ := benchStore(b, dialect)
				ctx := context.Background()
				email := "nobody@example.com"
				if known {
					email = benchAccount(b, s, "request@example.com").Email
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := s.RequestReset(ctx, email, models.Client{IP: "192.0.2.1", UserAgent: "bench"}, benchResetMail); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkResetComplete is CompleteReset: hash the new password, claim
// the code, store the hash, invalidate codes, revoke sessions, queue the
// notification, write the event, in one transaction. Each iteration gets
// a fresh code, requested with the timer stopped.
func BenchmarkResetComplete(b *testing.B) {
	for _, dialect := range testutil.Dialects {
		b.Run(dialect, func(b *testing.B) {
			s, _ := benchStore(b, dialect)
			ctx := context.Background()
			acc := benchAccount(b, s, "complete@example.com")
			client := models.Client{IP: "192.0.2.1", UserAgent: "bench"}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				b.StopTimer()
				var code string
				capture := func(m models.ResetMail) (models.Message, error) { code = m.Code; return benchResetMail(m) }
				if err := s.RequestReset(ctx, acc.Email, client, capture); err != nil || code == "" {
					b.Fatalf("request reset: %v", err)
				}
				i++
				b.StartTimer()
				if _, err := s.CompleteReset(ctx, models.HashCode(code), fmt.Sprintf("new password number %d", i), client, benchChangedMail); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
