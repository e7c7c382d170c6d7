package main

import (
	"context"
	"strings"
	"testing"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// TestCLIReset2FA: latchkey user reset-2fa EMAIL removes the account's
// second factors (TOTP and recovery codes), writes an event and emails the
// owner with a "this wasn't me" link; a second run finds nothing to
// remove; an unknown address is an error.
func TestCLIReset2FA(t *testing.T) {
	for _, dialect := range testutil.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			dbURL := testutil.NewDatabaseURL(t, dialect)
			smtp := testutil.StartSMTP(t)
			env := map[string]string{"DATABASE_URL": dbURL, "SMTP_URL": smtp.URL(), "SESSION_SECRET": testutil.TestSecret,
				"BASE_URL": "http://accounts.test"}
			const email = "lostphone@example.com"
			if code, _, errs := cliRun(env, pw+"\n", "user", "create", email); code != 0 {
				t.Fatalf("create: %d %s", code, errs)
			}
			db, err := models.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			clock := testutil.NewClock()
			store := testutil.NewStore(t, db, clock)
			acc := accountNamed(t, dbURL, email)
			setup, err := store.BeginTOTP(ctx, acc)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := totp.GenerateCodeCustom(setup.Secret(), clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := models.ParseTOTPCode(raw)
			noMail := func(m models.FactorMail) (models.Message, error) { return models.Message{Subject: "x", Text: "x"}, nil }
			if _, err := store.ConfirmTOTP(ctx, models.FactorInput{Account: acc, Code: c, Compose: noMail}); err != nil {
				t.Fatal(err)
			}

			code, out, errs := cliRun(env, "", "user", "reset-2fa", strings.ToUpper(email))
			if code != 0 || !strings.HasPrefix(out, "second factors removed for "+email) || !strings.Contains(out, "notification email sent to "+email) {
				t.Fatalf("reset-2fa: exit %d, stdout %q, stderr %q", code, out, errs)
			}
			if on, err := store.HasSecondFactor(ctx, acc.ID); err != nil || on {
				t.Errorf("second factor still on: %v", err)
			}
			if n := testutil.CountRows(t, db.NewSelect().Model((*models.RecoveryCode)(nil))); n != 0 {
				t.Errorf("%d recovery codes left", n)
			}
			if n := testutil.CountRows(t, db.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventFactorsReset)); n != 1 {
				t.Errorf("%d reset events", n)
			}
			var sent []testutil.Email
			for _, e := range smtp.Emails() {
				if e.Subject == "The second factors of your Latchkey account were removed" {
					sent = append(sent, e)
				}
			}
			if len(sent) != 1 || sent[0].To[0] != email || !strings.Contains(sent[0].Text, "http://accounts.test/account/not-me?token=") ||
				!strings.Contains(sent[0].Text, "An operator removed every second factor") {
				t.Fatalf("reset email: %+v", sent)
			}

			code, out, _ = cliRun(env, "", "user", "reset-2fa", email)
			if code != 0 || out != email+" has no second factor: nothing to remove\n" {
				t.Errorf("second run: exit %d, stdout %q", code, out)
			}
			if code, _, errs := cliRun(env, "", "user", "reset-2fa", "nobody@example.com"); code == 0 || !strings.Contains(errs, "no account for nobody@example.com") {
				t.Errorf("unknown address: exit %d, stderr %q", code, errs)
			}
		})
	}
}
