package handlers_test

// Changing the password while signed in.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

func TestChangePassword(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "chris@example.com"
		b := app.Register(t, email, oldPassword)
		other := app.NewBrowser(t)
		other.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}})
		before := b.Cookie("latchkey_session")

		r := b.Post("/account/password", url.Values{"current_password": {"wrong current"}, "password": {newPassword}})
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "not your current password") {
			t.Fatalf("wrong current password: %d", r.StatusCode)
		}
		r = b.Post("/account/password", url.Values{"current_password": {oldPassword}, "password": {newPassword}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
			t.Fatalf("change: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if after := b.Cookie("latchkey_session"); after == before || after == "" {
			t.Errorf("session id not rotated on password change")
		}
		page := b.Get("/account")
		if page.StatusCode != http.StatusOK || !strings.Contains(page.Text(t, `[data-testid="flash"]`), "password has been changed") {
			t.Errorf("account after change: %d flash %q", page.StatusCode, page.Text(t, `[data-testid="flash"]`))
		}
		if r := other.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("other session survived the change: %d", r.StatusCode)
		}
		m := app.SMTP.WaitForSubject(t, "Your Latchkey password was changed", 1, 10*time.Second)[0]
		if !strings.Contains(m.Text, "the account page") || !strings.Contains(m.Text, "127.0.0.1") {
			t.Errorf("changed email:\n%s", m.Text)
		}
		if r := app.NewBrowser(t).Post("/account/login", url.Values{"email": {email}, "password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("new password does not sign in: %d", r.StatusCode)
		}
	})
}
