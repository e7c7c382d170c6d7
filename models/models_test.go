package models_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func noMail(models.ChangedMail) (models.Message, error) {
	return models.Message{To: "x@example.com", Subject: "changed", Text: "t"}, nil
}

func resetMail(m models.ResetMail) (models.Message, error) {
	return models.Message{To: m.Email, Subject: "reset", Text: "code " + m.Code}, nil
}

func register(t *testing.T, s *models.Store, email string) *models.Account {
	t.Helper()
	acc, err := s.Register(context.Background(), email, "correct horse battery staple", models.Client{IP: "192.0.2.1", UserAgent: "test"}, testutil.VerifyMail)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

// requestReset queues a reset mail for email and returns the hash of the
// code it carries; the request must succeed and compose a mail.
func requestReset(t *testing.T, s *models.Store, email string) string {
	t.Helper()
	var code string
	capture := func(m models.ResetMail) (models.Message, error) { code = m.Code; return resetMail(m) }
	if err := s.RequestReset(context.Background(), email, models.Client{}, capture); err != nil {
		t.Fatalf("request reset for %s: %v", email, err)
	}
	hash, ok := models.ParseCode(code)
	if !ok {
		t.Fatalf("reset for %s: no mail, or code %q does not parse", email, code)
	}
	return hash
}

// claimDue claims up to limit due messages; the claim must succeed.
func claimDue(t *testing.T, s *models.Store, limit int) []models.OutboxEmail {
	t.Helper()
	rows, err := s.ClaimDue(context.Background(), limit, time.Minute)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return rows
}

func TestMigrationsAreIdempotent(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		n, err := models.Migrate(context.Background(), db)
		if err != nil || n != 0 {
			t.Fatalf("second migrate applied %d (%v)", n, err)
		}
		tables := strings.Join(testutil.Tables(t, db), " ")
		for _, want := range []string{"accounts", "password_resets", "sessions", "security_events", "outbox_emails", "rate_limits", "email_verifications"} {
			if !strings.Contains(tables, want) {
				t.Errorf("table %s missing (have %s)", want, tables)
			}
		}
	})
}

func TestAccounts(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		acc := register(t, s, "lee@example.com")
		if _, err := s.Register(ctx, "lee@example.com", "another long passphrase", models.Client{}, testutil.VerifyMail); !errors.Is(err, models.ErrEmailTaken) {
			t.Errorf("duplicate register: %v", err)
		}
		if strings.Contains(acc.PasswordHash, "correct horse") || !strings.HasPrefix(acc.PasswordHash, "$argon2id$") {
			t.Errorf("hash = %q", acc.PasswordHash)
		}
		if _, err := s.Authenticate(ctx, "lee@example.com", "wrong password!", models.Client{}); !errors.Is(err, models.ErrBadCredentials) {
			t.Errorf("wrong password: %v", err)
		}
		if _, err := s.Authenticate(ctx, "nobody@example.com", "wrong password!", models.Client{}); !errors.Is(err, models.ErrBadCredentials) {
			t.Errorf("unknown address: %v", err)
		}
		got, err := s.Authenticate(ctx, "lee@example.com", "correct horse battery staple", models.Client{})
		if err != nil || got.ID != acc.ID {
			t.Fatalf("right password: %v", err)
		}
	})
}

func TestRehashOnSignInWhenParametersChange(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		acc := register(t, s, "old@example.com")
		stronger := testutil.TestHashParams()
		stronger.Iterations = 2
		h, err := models.NewHasher(stronger, 2, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// The same database, now served with stronger parameters.
		s = testutil.NewStore(t, db, testutil.NewClock(), testutil.WithHasher(h))
		if _, err := s.Authenticate(ctx, "old@example.com", "correct horse battery staple", models.Client{}); err != nil {
			t.Fatal(err)
		}
		fresh, err := models.AccountByID(ctx, db, acc.ID)
		if err != nil {
			t.Fatal(err)
		}
		params, _, _, err := argon2id.DecodeHash(fresh.PasswordHash)
		if err != nil || params.Iterations != 2 || fresh.PasswordHash == acc.PasswordHash {
			t.Errorf("hash not upgraded: %v %+v", err, params)
		}
	})
}

func TestResetRequestAndCompletion(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		acc := register(t, s, "kim@example.com")
		var code string
		capture := func(m models.ResetMail) (models.Message, error) {
			code = m.Code
			return resetMail(m)
		}
		if err := s.RequestReset(ctx, "kim@example.com", models.Client{IP: "198.51.100.7", UserAgent: "UA"}, capture); err != nil {
			t.Fatal(err)
		}
		hash, ok := models.ParseCode(code)
		if !ok || len(code) < 22 {
			t.Fatalf("code %q does not parse", code)
		}
		var row models.PasswordReset
		if err := db.NewSelect().Model(&row).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if row.CodeHash != hash || row.CreatedIP != "198.51.100.7" || row.CreatedUserAgent != "UA" || row.AccountID != acc.ID {
			t.Errorf("reset row %+v", row)
		}
		if !row.ExpiresAt.Equal(row.CreatedAt.Add(time.Hour)) {
			t.Errorf("expiry %v vs created %v", row.ExpiresAt, row.CreatedAt)
		}
		n := testutil.CountRows(t, db.NewSelect().Model((*models.OutboxEmail)(nil)).Where("kind = ?", models.MailReset))
		if n != 1 {
			t.Errorf("outbox rows = %d", n)
		}
		// An unknown address writes no reset and queues nothing.
		if err := s.RequestReset(ctx, "ghost@example.com", models.Client{}, resetMail); err != nil {
			t.Fatal(err)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.PasswordReset)(nil))); n != 1 {
			t.Errorf("resets after unknown request = %d", n)
		}

		if _, _, err := s.LookupReset(ctx, hash); err != nil {
			t.Fatalf("lookup: %v", err)
		}
		var how models.PasswordChange
		tell := func(m models.ChangedMail) (models.Message, error) { how = m.How; return noMail(m) }
		if _, err := s.CompleteReset(ctx, hash, "new passphrase here", models.Client{IP: "203.0.113.9"}, tell); err != nil {
			t.Fatalf("complete: %v", err)
		}
		if how != models.ChangedByReset {
			t.Errorf("the changed email was told %v, want reset", how)
		}
		if _, err := s.CompleteReset(ctx, hash, "second passphrase", models.Client{}, noMail); !errors.Is(err, models.ErrResetInvalid) {
			t.Errorf("reuse: %v", err)
		}
		if err := db.NewSelect().Model(&row).WherePK().Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if row.UsedIP == nil || *row.UsedIP != "203.0.113.9" {
			t.Errorf("used ip %v", row.UsedIP)
		}
	})
}

func TestCompleteResetIsAllOrNothing(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		acc := register(t, s, "atomic@example.com")
		hash := requestReset(t, s, acc.Email)
		id, _, err := s.CreateSession(ctx, db, acc.ID, models.Client{})
		if err != nil {
			t.Fatal(err)
		}
		// The notification cannot be rendered: nothing may change.
		failing := func(models.ChangedMail) (models.Message, error) {
			return models.Message{}, errors.New("template broke")
		}
		if _, err := s.CompleteReset(ctx, hash, "never stored passphrase", models.Client{}, failing); err == nil {
			t.Fatal("expected failure")
		}
		if _, _, err := s.LookupReset(ctx, hash); err != nil {
			t.Errorf("code used up by a failed reset: %v", err)
		}
		if _, err := s.LoadSession(ctx, id); err != nil {
			t.Errorf("session revoked by a failed reset: %v", err)
		}
		if _, err := s.Authenticate(ctx, acc.Email, "correct horse battery staple", models.Client{}); err != nil {
			t.Errorf("password changed by a failed reset: %v", err)
		}
	})
}

func TestConcurrentCompletionHasOneWinner(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		acc := register(t, s, "duel@example.com")
		hash := requestReset(t, s, acc.Email)
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, losses := 0, 0
		for i := 0; i < 10; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := s.CompleteReset(ctx, hash, "parallel passphrase", models.Client{}, noMail)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, models.ErrResetInvalid):
					losses++
				default:
					t.Errorf("unexpected: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 || losses != 9 {
			t.Errorf("wins=%d losses=%d", wins, losses)
		}
	})
}

func TestResetMailLimitPerAddress(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		register(t, s, "spam@example.com")
		for i := 0; i < 5; i++ {
			if err := s.RequestReset(ctx, "spam@example.com", models.Client{}, resetMail); err != nil {
				t.Fatal(err)
			}
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.OutboxEmail)(nil)).Where("kind = ?", models.MailReset)); n != 3 {
			t.Errorf("emails queued = %d, want 3 per hour", n)
		}
		clock.Advance(61 * time.Minute)
		requestReset(t, s, "spam@example.com")
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.OutboxEmail)(nil)).Where("kind = ?", models.MailReset)); n != 4 {
			t.Errorf("after an hour: %d", n)
		}
	})
}

func TestOutboxClaimsAreExclusive(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		for i := 0; i < 6; i++ {
			register(t, s, "o"+string(rune('a'+i))+"@example.com")
			requestReset(t, s, "o"+string(rune('a'+i))+"@example.com")
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		seen := map[int64]int{}
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rows, err := s.ClaimDue(ctx, 2, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, r := range rows {
					seen[r.ID]++
				}
				mu.Unlock()
			}()
		}
		wg.Wait()
		for id, n := range seen {
			if n != 1 {
				t.Errorf("message %d claimed %d times", id, n)
			}
		}
		// Leased rows are not claimed again until the lease runs out.
		rows := claimDue(t, s, 10)
		for _, r := range rows {
			if seen[r.ID] > 0 {
				t.Errorf("message %d re-claimed during its lease", r.ID)
			}
		}
	})
}

func TestSessionsExpireServerSide(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		acc := register(t, s, "sess@example.com")
		id, _, err := s.CreateSession(ctx, db, acc.ID, models.Client{IP: "192.0.2.2", UserAgent: "UA"})
		if err != nil {
			t.Fatal(err)
		}
		sess, err := s.LoadSession(ctx, id)
		if err != nil || sess.Account == nil || sess.Account.Email != "sess@example.com" {
			t.Fatalf("load: %v", err)
		}
		if _, err := s.LoadSession(ctx, id+"x"); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("wrong id: %v", err)
		}
		clock.Advance(31 * time.Minute)
		if _, err := s.LoadSession(ctx, id); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("idle session still loads: %v", err)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.Session)(nil))); n != 0 {
			t.Errorf("expired row not deleted")
		}
	})
}

func TestRateLimitsAreShared(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		a := testutil.NewStore(t, db, clock)
		b := testutil.NewStore(t, db, clock) // a second instance
		ctx := context.Background()
		var limited *models.LimitedError
		for i := 0; i < 4; i++ {
			s := a
			if i%2 == 1 {
				s = b
			}
			err := s.Allow(ctx, "k", 3, time.Minute)
			if i < 3 && err != nil {
				t.Fatalf("hit %d: %v", i, err)
			}
			if i == 3 && (!errors.As(err, &limited) || limited.RetryAfter <= 0) {
				t.Fatalf("fourth hit across instances: %v", err)
			}
		}
		clock.Advance(time.Minute)
		if err := a.Allow(ctx, "k", 3, time.Minute); err != nil {
			t.Errorf("new window: %v", err)
		}
	})
}

func TestCleanup(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		acc := register(t, s, "clean@example.com")
		requestReset(t, s, acc.Email)
		for _, r := range claimDue(t, s, 10) {
			if err := s.MarkSent(ctx, &r); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.CreateSession(ctx, db, acc.ID, models.Client{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Allow(ctx, "not-me:abc", 1, 8*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.Allow(ctx, "forgot-ip:192.0.2.1", 10, time.Minute); err != nil {
			t.Fatal(err)
		}

		clock.Advance(2 * 24 * time.Hour)
		if err := s.Cleanup(ctx, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		count := func(table string) int {
			var n int
			if err := db.NewRaw("SELECT count(*) FROM "+table).Scan(ctx, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for table, want := range map[string]int{"outbox_emails": 0, "password_resets": 0, "sessions": 0, "rate_limits": 1, "accounts": 1} {
			if got := count(table); got != want {
				t.Errorf("%s after cleanup: %d rows, want %d", table, got, want)
			}
		}
		// The one-time link marker outlives its link, then goes.
		clock.Advance(8 * 24 * time.Hour)
		if err := s.Cleanup(ctx, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if got := count("rate_limits"); got != 0 {
			t.Errorf("stale link marker kept")
		}
	})
}

func TestSignInLosesToAConcurrentReset(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		acc := register(t, s, "race@example.com")
		// The attacker's password check succeeds...
		checked, err := s.Authenticate(ctx, acc.Email, "correct horse battery staple", models.Client{})
		if err != nil {
			t.Fatal(err)
		}
		// ...then the owner's reset commits, revoking every session...
		hash := requestReset(t, s, acc.Email)
		if _, err := s.CompleteReset(ctx, hash, "the owner's new passphrase", models.Client{}, noMail); err != nil {
			t.Fatal(err)
		}
		// ...so the attacker's session must not be created afterwards.
		if _, _, err := s.SignIn(ctx, checked, models.Client{}); !errors.Is(err, models.ErrBadCredentials) {
			t.Fatalf("sign-in after a concurrent reset: %v", err)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.Session)(nil))); n != 0 {
			t.Errorf("%d sessions survive the reset", n)
		}
	})
}

func TestStaleWorkerCannotOverwriteAnOutcome(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		register(t, s, "lease@example.com") // queues the verification email
		first := claimDue(t, s, 1)
		clock.Advance(2 * time.Minute) // the first worker outlives its lease
		second := claimDue(t, s, 1)
		if len(first) != 1 || len(second) != 1 || second[0].Attempts != 2 {
			t.Fatalf("claims %d %d", len(first), len(second))
		}
		if err := s.MarkSent(ctx, &second[0]); err != nil {
			t.Fatal(err)
		}
		// The stale worker's failure report changes nothing.
		if err := s.MarkFailed(ctx, &first[0], "stale"); err != nil {
			t.Fatal(err)
		}
		var row models.OutboxEmail
		if err := db.NewSelect().Model(&row).Where("id = ?", first[0].ID).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if row.Status != models.OutboxSent {
			t.Errorf("status %q, want sent", row.Status)
		}
	})
}
