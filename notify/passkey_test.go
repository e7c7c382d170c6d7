package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/models"
)

// TestPasskeyEmails: the added and removed emails name the passkey, the
// time, the IP and the device, carry the "this wasn't me" link on
// BASE_URL, and escape the name in the HTML part.
func TestPasskeyEmails(t *testing.T) {
	when := time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)
	for _, added := range []bool{true, false} {
		m, err := Passkey(context.Background(), base)(models.PasskeyMail{
			Account: &models.Account{Email: "ann@example.com"}, Name: `<b>Ann's</b> key`, Added: added, When: when,
			Client: models.Client{IP: "192.0.2.44", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}, NotMeToken: "tok",
		})
		if err != nil {
			t.Fatal(err)
		}
		verb := map[bool]string{true: "was added to", false: "was removed from"}[added]
		for _, want := range []string{"“<b>Ann's</b> key” " + verb + " your Latchkey account on 2026-11-26 08:00 UTC, from IP address 192.0.2.44 (Firefox on Linux)",
			"https://accounts.example.com/account/not-me?token=tok", "removes passkeys added in the last 24 hours"} {
			if !strings.Contains(m.Text, want) {
				t.Errorf("added=%v: text lacks %q:\n%s", added, want, m.Text)
			}
		}
		if m.To != "ann@example.com" || !strings.Contains(m.Subject, "passkey") {
			t.Errorf("added=%v: to %q, subject %q", added, m.To, m.Subject)
		}
		if strings.Contains(m.HTML, "<b>Ann") || !strings.Contains(m.HTML, "&lt;b&gt;Ann") {
			t.Errorf("added=%v: the name is not escaped in the HTML part", added)
		}
	}
}
