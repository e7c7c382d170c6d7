package models_test

import (
	"testing"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// TestSessionAuthState: rows from before the auth_state column and new
// sign-ins are full; a pending state is stored and loaded as it is, and
// does not sign anyone in.
func TestSessionAuthState(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		acc := register(t, s, "state@example.com")
		load := func(id string, want models.AuthState) {
			t.Helper()
			sess, err := s.LoadSession(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if sess.AuthState != want || sess.SignedIn() != (want == models.AuthFull) || sess.Account == nil || sess.Account.ID != acc.ID {
				t.Errorf("session %q: state %q, signed in %v, account %+v; want %q", id, sess.AuthState, sess.SignedIn(), sess.Account, want)
			}
		}

		// A row written without the column, as every row was before the
		// migration, takes its default.
		const oldID = "a session from before the auth_state column"
		if _, err := db.NewRaw("INSERT INTO sessions (id_hash, account_id, created_at, last_seen_at, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?)",
			models.HashSessionID(oldID), acc.ID, clock.Now(), clock.Now(), "192.0.2.1", "test").Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		load(oldID, models.AuthFull)

		id, created, err := s.SignInNewAccount(t.Context(), acc, models.Client{IP: "192.0.2.1", UserAgent: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if created.AuthState != models.AuthFull {
			t.Errorf("new sign-in: state %q", created.AuthState)
		}
		load(id, models.AuthFull)

		if _, err := db.NewUpdate().Model((*models.Session)(nil)).Set("auth_state = ?", models.AuthSecondFactorPending).
			Where("id_hash = ?", created.IDHash).Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		load(id, models.AuthSecondFactorPending)

		var none *models.Session
		if none.SignedIn() {
			t.Error("a nil session signs in")
		}
	})
}
