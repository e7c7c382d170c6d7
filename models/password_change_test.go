package models_test

import (
	"context"
	"errors"
	"testing"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// TestSetPasswordChanges: SetPassword makes the changes it is for (the
// owner's, the operator's), tells the email which one it was and writes
// the event under its stored name; it refuses a reset (which would mark
// the address proven without a code) and the zero value, changing nothing.
func TestSetPasswordChanges(t *testing.T) {
	cases := []struct {
		name   string
		change models.PasswordChange
		ok     bool
	}{
		{"by the owner", models.ChangedBySelf, true},
		{"by the operator", models.ChangedByOperator, true},
		{"a reset without a code", models.ChangedByReset, false},
		{"not chosen", 0, false},
	}
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ctx := context.Background()
				acc := register(t, s, "change"+string(rune('a'+i))+"@example.com")
				var told []models.PasswordChange
				compose := func(m models.ChangedMail) (models.Message, error) {
					told = append(told, m.How)
					return noMail(m)
				}
				err := s.SetPassword(ctx, models.SetPasswordInput{
					Account: acc, Password: "a brand new passphrase", Change: tc.change, Compose: compose,
				})
				var kinds []string
				if err := db.NewSelect().Model((*models.SecurityEvent)(nil)).Column("kind").
					Where("account_id = ?", acc.ID).OrderExpr("id").Scan(ctx, &kinds); err != nil {
					t.Fatal(err)
				}
				fresh, ferr := models.AccountByID(ctx, db, acc.ID)
				if ferr != nil {
					t.Fatal(ferr)
				}
				if fresh.EmailVerifiedAt != nil {
					t.Errorf("SetPassword marked the address verified")
				}
				if !tc.ok {
					if !errors.Is(err, models.ErrPasswordChange) {
						t.Fatalf("SetPassword(%v): %v, want ErrPasswordChange", tc.change, err)
					}
					if len(told) != 0 || len(kinds) != 1 {
						t.Errorf("a refused change composed %d emails and left events %q", len(told), kinds)
					}
					if _, err := s.Authenticate(ctx, acc.Email, "correct horse battery staple", models.Client{}); err != nil {
						t.Errorf("a refused change replaced the password: %v", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if len(told) != 1 || told[0] != tc.change {
					t.Errorf("the email was told %v, want [%v]", told, tc.change)
				}
				// The stored value is the one written before kinds were typed.
				if len(kinds) != 2 || kinds[1] != "password-changed" {
					t.Errorf("events %q, want [registered password-changed]", kinds)
				}
				if _, err := s.Authenticate(ctx, acc.Email, "a brand new passphrase", models.Client{}); err != nil {
					t.Errorf("new password: %v", err)
				}
			})
		}
	})
}
