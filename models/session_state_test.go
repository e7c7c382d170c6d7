package models_test

import (
	"context"
	"testing"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// TestSessionAuthState: new sessions and rows from before the column are
// full sign-ins; a pending state is stored and loaded as it is, and does
// not sign anyone in.
func TestSessionAuthState(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		acc := register(t, s, "state@example.com")

		id, sess, err := s.CreateSession(ctx, db, acc.ID, models.Client{IP: "192.0.2.1", UserAgent: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if sess.AuthState != models.AuthFull || !sess.SignedIn() {
			t.Errorf("new session: state %q", sess.AuthState)
		}

		// A row written without the column, as every row was before the
		// migration, takes its default.
		const oldID = "a session from before the auth_state column"
		now := clock.Now()
		if _, err := db.NewRaw("INSERT INTO sessions (id_hash, account_id, created_at, last_seen_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?)",
			models.HashSessionID(oldID), acc.ID, now, now, "192.0.2.1", "test").Exec(ctx); err != nil {
			t.Fatal(err)
		}
		old, err := s.LoadSession(ctx, oldID)
		if err != nil {
			t.Fatal(err)
		}
		if old.AuthState != models.AuthFull || !old.SignedIn() {
			t.Errorf("row from before the column: state %q", old.AuthState)
		}

		if _, err := db.NewUpdate().Model((*models.Session)(nil)).Set("auth_state = ?", models.AuthSecondFactorPending).
			Where("id_hash = ?", sess.IDHash).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		pending, err := s.LoadSession(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if pending.AuthState != models.AuthSecondFactorPending || pending.SignedIn() {
			t.Errorf("pending session: state %q, signed in %v", pending.AuthState, pending.SignedIn())
		}
		if pending.Account == nil || pending.Account.ID != acc.ID {
			t.Errorf("pending session lost its account: %+v", pending.Account)
		}
		var none *models.Session
		if none.SignedIn() {
			t.Error("a nil session signs in")
		}
	})
}
