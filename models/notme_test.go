package models_test

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// changePassword sets a password the way the web form does and returns
// the "this wasn't me" token of the notification.
func changePassword(t *testing.T, s *models.Store, acc *models.Account, password string, how models.PasswordChange) string {
	t.Helper()
	var token string
	capture := func(m models.ChangedMail) (models.Message, error) {
		token = m.NotMeToken
		return noMail(m)
	}
	in := models.SetPasswordInput{Account: acc, Password: password, Change: how, Client: models.Client{IP: "192.0.2.66"}, Compose: capture}
	if err := s.SetPassword(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if token == "" {
		t.Fatal("the changed email got no not-me token")
	}
	return token
}

func TestPublicIDs(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		a, b := register(t, s, "pa@example.com"), register(t, s, "pb@example.com")
		for _, acc := range []*models.Account{a, b} {
			if raw, err := hex.DecodeString(acc.PublicID); err != nil || len(raw) != 16 {
				t.Errorf("public id %q is not 128 bits of hex", acc.PublicID)
			}
		}
		if a.PublicID == b.PublicID {
			t.Errorf("two accounts share public id %q", a.PublicID)
		}
		got, err := models.AccountByPublicID(ctx, db, b.PublicID)
		if err != nil || got.ID != b.ID {
			t.Errorf("by public id: %v", err)
		}
		// Rows inserted by hand (an operator, an old instance) get one from
		// the database.
		now := time.Now().UTC()
		for _, e := range []string{"raw1@example.com", "raw2@example.com"} {
			if _, err := db.ExecContext(ctx, "INSERT INTO accounts (email, password_hash, created_at, updated_at) VALUES (?, 'x', ?, ?)", e, now, now); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		if err := db.NewSelect().Model((*models.Account)(nil)).Column("public_id").Where("email LIKE 'raw%'").Scan(ctx, &ids); err != nil {
			t.Fatal(err)
		}
		if len(ids) != 2 || ids[0] == ids[1] || len(ids[0]) != 32 || len(ids[1]) != 32 {
			t.Errorf("hand-inserted rows got public ids %q", ids)
		}
	})
}

// TestConfirmNotMe covers the model's rules: a failure (here the compose
// function) leaves the token unspent; success locks the password until
// the operator (or a reset) sets a new one; the mail cap per account; a
// spent token stays spent through Cleanup for as long as it lives.
func TestConfirmNotMe(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		acc := register(t, s, "nm@example.com")
		token := changePassword(t, s, acc, "intruder's new password", models.ChangedBySelf)
		client := models.Client{IP: "192.0.2.7"}

		failing := func(models.ResetMail) (models.Message, error) { return models.Message{}, errors.New("injected") }
		if _, err := s.ConfirmNotMe(ctx, token, client, failing); err == nil || errors.Is(err, models.ErrLinkInvalid) {
			t.Fatalf("failing compose: %v", err)
		}
		if _, err := s.Authenticate(ctx, acc.Email, "intruder's new password", client); err != nil {
			t.Errorf("a failed not-me locked the password: %v", err)
		}
		if err := s.CheckNotMe(ctx, token); err != nil {
			t.Errorf("a failed not-me spent the token: %v", err)
		}

		mailed, err := s.ConfirmNotMe(ctx, token, client, resetMail)
		if err != nil || !mailed {
			t.Fatalf("not-me: mailed=%v %v", mailed, err)
		}
		if _, err := s.ConfirmNotMe(ctx, token, client, resetMail); !errors.Is(err, models.ErrLinkInvalid) {
			t.Errorf("second use: %v", err)
		}
		if err := s.CheckNotMe(ctx, token); !errors.Is(err, models.ErrLinkInvalid) {
			t.Errorf("check after use: %v", err)
		}
		if _, err := s.Authenticate(ctx, acc.Email, "intruder's new password", client); !errors.Is(err, models.ErrBadCredentials) {
			t.Errorf("locked password: %v", err)
		}
		fresh, _ := models.AccountByID(ctx, db, acc.ID)
		if fresh.PasswordLockedAt == nil {
			t.Fatal("password_locked_at not set")
		}
		if err := s.CheckPassword(ctx, fresh, "intruder's new password"); !errors.Is(err, models.ErrWrongPassword) {
			t.Errorf("CheckPassword on a locked password: %v", err)
		}

		// The operator's set-password lifts the lock.
		changePassword(t, s, fresh, "operator chose this one", models.ChangedByOperator)
		if _, err := s.Authenticate(ctx, acc.Email, "operator chose this one", client); err != nil {
			t.Errorf("after the CLI's set-password: %v", err)
		}

		// Each confirmed token mails, up to the cap per account and day;
		// past it the password is still locked, with no email.
		// The first confirmation above mailed; count on from there.
		for n := 2; n <= models.NotMeMailsPerDay+2; n++ {
			password := "intruder again, take " + string(rune('0'+n))
			tok := changePassword(t, s, fresh, password, models.ChangedBySelf)
			mailed, err := s.ConfirmNotMe(ctx, tok, client, resetMail)
			if err != nil {
				t.Fatal(err)
			}
			if want := n <= models.NotMeMailsPerDay; mailed != want {
				t.Errorf("confirmation %d of the day: mailed=%v, want %v", n, mailed, want)
			}
			if _, err := s.Authenticate(ctx, acc.Email, password, client); !errors.Is(err, models.ErrBadCredentials) {
				t.Errorf("confirmation %d did not lock: %v", n, err)
			}
		}

		// Cleanup keeps the mark of a spent link as long as the link lives
		// (the mark's key and Cleanup's pattern come from one place): long
		// after every other rate-limit row has gone, the first token still
		// cannot be replayed.
		clock.Advance(models.NotMeTTL - time.Hour)
		if err := s.Cleanup(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ConfirmNotMe(ctx, token, client, resetMail); !errors.Is(err, models.ErrLinkInvalid) {
			t.Errorf("replay after cleanup: %v", err)
		}
	})
}

// TestNotMeTokensAreBoundToTheirKey: a token sealed under another secret
// (or another purpose's key) opens nothing.
func TestNotMeTokensAreBoundToTheirKey(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		acc := register(t, s, "key@example.com")
		token := changePassword(t, s, acc, "a fresh long passphrase", models.ChangedBySelf)
		other := testutil.NewStore(t, db, testutil.NewClock(), testutil.WithSecret("another secret, another secret!!"))
		if err := other.CheckNotMe(context.Background(), token); !errors.Is(err, models.ErrLinkInvalid) {
			t.Errorf("token opened under another key: %v", err)
		}
	})
}
