package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/models"
)

// TestFactorEmails: each second-factor email says what happened, when and
// from where (not for the operator), how many recovery codes are left
// after one was used, and carries the "this wasn't me" link and the
// settings link on BASE_URL.
func TestFactorEmails(t *testing.T) {
	client := models.Client{IP: "192.0.2.44", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
	when := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		change        models.FactorChange
		client        models.Client
		subject, want string
		absent        string
		left          int
	}{
		{models.FactorAdded, client, "A second factor was added to your Latchkey account", "also asks for an authenticator app", "operator", 0},
		{models.FactorRemoved, client, "A second factor was removed from your Latchkey account", "signing in no longer asks for it", "operator", 0},
		{models.RecoveryCodeUsed, client, "A recovery code was used to sign in to your Latchkey account", "2 recovery codes are left.", "operator", 2},
		{models.RecoveryCodesRenewed, client, "New recovery codes were made for your Latchkey account", "The old ones no longer work.", "operator", 10},
		{models.FactorsResetByOperator, models.Client{}, "The second factors of your Latchkey account were removed", "An operator removed every second factor", "IP address", 0},
	}
	for _, tc := range cases {
		t.Run(tc.subject, func(t *testing.T) {
			m, err := Factor(context.Background(), base)(models.FactorMail{
				Account: &models.Account{Email: "ann@example.com"}, Change: tc.change, Factor: models.FactorTOTP,
				When: when, Client: tc.client, RecoveryLeft: tc.left, NotMeToken: "tok/en+",
			})
			if err != nil {
				t.Fatal(err)
			}
			if m.To != "ann@example.com" || m.Subject != tc.subject || m.HTML == "" {
				t.Errorf("message %q to %q, html %d bytes", m.Subject, m.To, len(m.HTML))
			}
			for _, want := range []string{tc.want, "2026-11-25 12:00 UTC",
				"https://accounts.example.com/account/not-me?token=tok%2Fen%2B", "https://accounts.example.com/account/2fa"} {
				if !strings.Contains(m.Text, want) {
					t.Errorf("text lacks %q:\n%s", want, m.Text)
				}
			}
			if strings.Contains(m.Text, tc.absent) {
				t.Errorf("text has %q:\n%s", tc.absent, m.Text)
			}
			if !strings.Contains(m.HTML, "/account/not-me?token=tok%2Fen%2B") {
				t.Errorf("HTML lacks the not-me link")
			}
		})
	}
	if _, err := Factor(context.Background(), base)(models.FactorMail{Account: &models.Account{Email: "a@example.com"}}); err == nil {
		t.Error("a factor email with no change was rendered")
	}
}
