package models_test

import (
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// The session lookup runs as one prepared statement on SQLite, reused on
// every pooled connection, and as bun's plain query on Postgres; either
// way it loads exactly what bun's own query loads.
func TestSessionLookupIsPreparedOnSQLiteOnly(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		client := models.Client{IP: "192.0.2.1", UserAgent: "test"}
		acc, err := s.Register(t.Context(), "prepared@example.com", "correct horse battery staple", client, testutil.VerifyMail)
		if err != nil {
			t.Fatal(err)
		}
		id, _, err := s.CreateSession(t.Context(), db, acc.ID, client)
		if err != nil {
			t.Fatal(err)
		}
		want := new(models.Session)
		if err := db.NewSelect().Model(want).Relation("Account").Where("session.id_hash = ?", models.HashSessionID(id)).Scan(t.Context()); err != nil {
			t.Fatal(err)
		}
		// Concurrent lookups spread over the pool's connections.
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				got, err := s.LoadSession(t.Context(), id)
				if err != nil {
					t.Error(err)
					return
				}
				if got.IDHash != want.IDHash || got.IP != want.IP || got.UserAgent != want.UserAgent ||
					!got.CreatedAt.Equal(want.CreatedAt) || !got.LastSeenAt.Equal(want.LastSeenAt) ||
					got.Account == nil || got.Account.ID != acc.ID || got.Account.Email != want.Account.Email ||
					got.Account.PasswordHash != want.Account.PasswordHash || !got.Account.CreatedAt.Equal(want.Account.CreatedAt) {
					t.Errorf("lookup loaded %+v (account %+v), bun's query %+v (account %+v)", got, got.Account, want, want.Account)
				}
			})
		}
		wg.Wait()
		if _, err := s.LoadSession(t.Context(), "no such session"); err != models.ErrSessionNotFound {
			t.Errorf("unknown session: %v", err)
		}
		wantPrepared := 0
		if db.Dialect().Name().String() == "sqlite" {
			wantPrepared = 1
		}
		if n := models.PreparedStatements(s); n != wantPrepared {
			t.Errorf("%d prepared statements after 17 lookups, want %d", n, wantPrepared)
		}
	})
}
