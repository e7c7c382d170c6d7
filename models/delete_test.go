package models_test

import (
	"context"
	"errors"
	"testing"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// DeleteAccount is all or nothing: a failing goodbye email, or a password
// that changed after the caller checked it, leaves every row in place.
func TestDeleteAccountIsAllOrNothing(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		store := testutil.NewStore(t, db, testutil.NewClock())
		acc, err := store.Register(ctx, "whole@example.com", "correct horse battery staple", models.Client{}, testutil.VerifyMail)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := store.SignInNewAccount(ctx, acc, models.Client{IP: "192.0.2.1"}); err != nil {
			t.Fatal(err)
		}
		count := func() int64 {
			return testutil.CountRows(t, db.NewSelect().Model((*models.Session)(nil)).Where("account_id = ?", acc.ID)) +
				testutil.CountRows(t, db.NewSelect().Model((*models.SecurityEvent)(nil)).Where("account_id = ?", acc.ID)) +
				testutil.CountRows(t, db.NewSelect().Model((*models.Account)(nil)).Where("id = ?", acc.ID))
		}
		before := count()
		broken := errors.New("template broke")
		err = store.DeleteAccount(ctx, models.DeleteAccountInput{Account: acc, CheckedHash: acc.PasswordHash,
			Compose: func(models.GoodbyeMail) (models.Message, error) { return models.Message{}, broken }})
		if !errors.Is(err, broken) || count() != before {
			t.Errorf("failing compose: %v, rows %d → %d", err, before, count())
		}
		err = store.DeleteAccount(ctx, models.DeleteAccountInput{Account: acc, CheckedHash: "$argon2id$an-older-hash",
			Compose: func(m models.GoodbyeMail) (models.Message, error) { return models.Message{To: m.Email}, nil }})
		if !errors.Is(err, models.ErrWrongPassword) || count() != before {
			t.Errorf("changed password: %v, rows %d → %d", err, before, count())
		}
		// Only the registration's verification email is queued.
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.OutboxEmail)(nil))); n != 1 {
			t.Errorf("refused deletions queued %d emails", n-1)
		}
		ok := func(m models.GoodbyeMail) (models.Message, error) {
			return models.Message{To: m.Email, Subject: "bye", Text: "bye"}, nil
		}
		if err := store.DeleteAccount(ctx, models.DeleteAccountInput{Account: acc, CheckedHash: acc.PasswordHash, Compose: ok}); err != nil {
			t.Fatal(err)
		}
		if count() != 0 {
			t.Errorf("%d rows left", count())
		}
		if err := store.DeleteAccount(ctx, models.DeleteAccountInput{Account: acc, Compose: ok}); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("deleting again: %v, want ErrNotFound", err)
		}
	})
}
