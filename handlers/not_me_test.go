package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"latchkey/internal/testutil"
	"latchkey/models"
)

var notMeRE = regexp.MustCompile(`https?://\S+/account/not-me\?token=[A-Za-z0-9_.%-]+`)

func TestThisWasntMe(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "victim@example.com"
		victim := app.Register(t, email, oldPassword)
		attacker := app.NewBrowser(t)
		attacker.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}})
		attacker.Post("/account/password", url.Values{"current_password": {oldPassword}, "password": {"attacker owns this now"}})

		mail := app.SMTP.WaitForSubject(t, "Your Latchkey password was changed", 1, 10*time.Second)[0]
		link := notMeRE.FindString(mail.Text)
		if link == "" || !strings.HasPrefix(link, app.URL) {
			t.Fatalf("no not-me link on BASE_URL in:\n%s", mail.Text)
		}
		b := app.NewBrowser(t)
		// The GET only asks; a mail scanner changes nothing.
		page := b.Get(link)
		if page.StatusCode != http.StatusOK || page.Doc(t).Find(`[data-testid="not-me-form"]`).Length() != 1 {
			t.Fatalf("not-me page: %d", page.StatusCode)
		}
		if r := attacker.Get("/account"); r.StatusCode != http.StatusOK {
			t.Fatalf("GET signed the attacker out already: %d", r.StatusCode)
		}
		token, _ := page.Doc(t).Find(`input[name="token"]`).Attr("value")
		r := b.Post("/account/not-me", url.Values{"token": {token}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login" {
			t.Fatalf("not-me POST: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		for name, br := range map[string]*testutil.Browser{"attacker": attacker, "victim": victim} {
			if r := br.Get("/account"); r.StatusCode != http.StatusSeeOther {
				t.Errorf("%s still signed in: %d", name, r.StatusCode)
			}
		}
		app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)
		// One time only, and forged or altered tokens are refused.
		if r := b.Post("/account/not-me", url.Values{"token": {token}}); r.StatusCode != http.StatusGone {
			t.Errorf("second use: %d", r.StatusCode)
		}
		forged := token[:len(token)-2] + "AA"
		if r := b.Get("/account/not-me?token=" + url.QueryEscape(forged)); r.StatusCode != http.StatusGone {
			t.Errorf("forged token: %d", r.StatusCode)
		}
		app.Clock.Advance(8 * 24 * time.Hour)
		second := notMeRE.FindString(app.SMTP.WaitForSubject(t, "Your Latchkey password was changed", 1, time.Second)[0].Text)
		if r := b.Get(second); r.StatusCode != http.StatusGone {
			t.Errorf("expired token: %d", r.StatusCode)
		}
		n, _ := app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventSessionsRevoked).Count(t.Context())
		if n != 1 {
			t.Errorf("sessions-revoked events = %d", n)
		}
	})
}
