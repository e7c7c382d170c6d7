package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func TestOverlongFieldsAreInlineErrors(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "long@example.com"
		long := strings.Repeat("a", 10000)
		longEmail := strings.Repeat("a", 10000) + "@example.com"
		tooLong := models.ErrPasswordLong.Message // "Use at most 256 characters."
		signedIn := app.Register(t, email, oldPassword)
		app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {email}})
		link := testutil.ResetLink(t, app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0])
		code := link[strings.Index(link, "code=")+5:]

		cases := []struct {
			name, path string
			b          *testutil.Browser
			form       url.Values
			status     int
			feedback   string // data-testid of the message; "" for an inline-check fragment
			want       string
		}{
			{"register password", "/account/register", nil, url.Values{"email": {"new@example.com"}, "password": {long}}, 422, "password-feedback", tooLong},
			{"register email", "/account/register", nil, url.Values{"email": {longEmail}, "password": {oldPassword}}, 422, "email-feedback", models.ErrEmailTooLong.Message},
			{"register confirmation", "/account/register", nil, url.Values{"email": {"new@example.com"}, "password": {oldPassword}, "password_confirm": {long}}, 422, "password-feedback", "do not match"},
			{"sign-in password", "/account/login", nil, url.Values{"email": {email}, "password": {long}}, 422, "password-feedback", "Email or password is incorrect."},
			{"sign-in email", "/account/login", nil, url.Values{"email": {longEmail}, "password": {oldPassword}}, 422, "email-feedback", models.ErrEmailTooLong.Message},
			{"forgot email", "/account/forgot-password", nil, url.Values{"email": {longEmail}}, 422, "email-feedback", models.ErrEmailTooLong.Message},
			{"reset password", "/account/reset-password", nil, url.Values{"code": {code}, "password": {long}}, 422, "password-feedback", tooLong},
			{"new password", "/account/password", signedIn, url.Values{"current_password": {oldPassword}, "password": {long}}, 422, "password-feedback", tooLong},
			{"current password", "/account/password", signedIn, url.Values{"current_password": {long}, "password": {newPassword}}, 422, "current_password-feedback", "That is not your current password."},
			{"delete current password", "/account/delete", signedIn, url.Values{"current_password": {long}}, 422, "current_password-feedback", "That is not your current password."},
			{"change email: new address", "/account/email", signedIn, url.Values{"email": {longEmail}, "current_password": {oldPassword}}, 422, "email-feedback", models.ErrEmailTooLong.Message},
			{"change email: current password", "/account/email", signedIn, url.Values{"email": {"long.new@example.com"}, "current_password": {long}}, 422, "current_password-feedback", "That is not your current password."},
			{"inline password check", "/account/validate/password", nil, url.Values{"email": {email}, "password": {long}}, 200, "", tooLong},
			{"inline email check", "/account/validate/email", nil, url.Values{"email": {longEmail}}, 200, "", models.ErrEmailTooLong.Message},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				b := c.b
				if b == nil {
					b = app.NewBrowser(t)
				}
				r := b.Post(c.path, c.form)
				if r.StatusCode != c.status {
					t.Errorf("%s: %d, want %d", c.name, r.StatusCode, c.status)
					return
				}
				got := r.Body
				if c.feedback != "" {
					got = r.Text(t, `[data-testid="`+c.feedback+`"]`)
				}
				if !strings.Contains(got, c.want) {
					t.Errorf("%s: message %q, want %q", c.name, got, c.want)
				}
				if strings.Contains(r.Body, long) && c.feedback != "email-feedback" {
					t.Errorf("%s: the over-long value was echoed back", c.name)
				}
			})
		}

		// Nothing was hashed or counted as a guess, and nothing changed.
		var counters int
		if err := app.DB.NewRaw("SELECT count(*) FROM rate_limits WHERE key LIKE 'signin-fail%'").Scan(t.Context(), &counters); err != nil {
			t.Fatal(err)
		}
		if counters != 0 {
			t.Errorf("over-long passwords were counted as sign-in attempts (%d counters)", counters)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Account)(nil))); n != 1 {
			t.Errorf("%d accounts, want 1", n)
		}
		if r := app.NewBrowser(t).Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("the password changed: sign-in %d", r.StatusCode)
		}

		// A body over the 64 KiB cap is still a 413.
		huge := strings.Repeat("a", 70<<10)
		for _, path := range []string{"/account/register", "/account/login", "/account/forgot-password", "/account/reset-password", "/account/validate/password", "/account/validate/email"} {
			if r := app.NewBrowser(t).Post(path, url.Values{"email": {email}, "password": {huge}}); r.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("70 KiB body to %s: %d, want 413", path, r.StatusCode)
			}
		}
		for _, path := range []string{"/account/password", "/account/delete", "/account/email", "/account/verify-email/resend"} {
			if r := signedIn.Post(path, url.Values{"current_password": {huge}}); r.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("70 KiB body to %s: %d, want 413", path, r.StatusCode)
			}
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.EmailChange)(nil))); n != 0 {
			t.Errorf("over-long fields asked for %d changes of address", n)
		}
	})
}

func TestPasswordLengthIsCountedAsTyped(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		// U+FDFA is one code point; NFKC makes it 18.
		three := strings.Repeat("\ufdfa", 3)
		r := app.NewBrowser(t).Post("/account/register", url.Values{"email": {"typed@example.com"}, "password": {three}})
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("registration with 3 typed characters: %d, want 422", r.StatusCode)
		}
		if msg := r.Text(t, `[data-testid="password-feedback"]`); !strings.Contains(msg, models.ErrPasswordShort.Message) {
			t.Errorf("message %q, want %q", msg, models.ErrPasswordShort.Message)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Account)(nil))); n != 0 {
			t.Errorf("an account was created")
		}
		// The meter agrees with the submit: no "Strong" for three characters.
		v := app.NewBrowser(t).Post("/account/validate/password", url.Values{"email": {"typed@example.com"}, "password": {three}}, "HX-Request", "true")
		if !strings.Contains(v.Body, models.ErrPasswordShort.Message) || strings.Contains(v.Body, "Strength: Strong") {
			t.Errorf("inline check of 3 typed characters:\n%s", v.Body)
		}
	})
}

// TestOverlongTwoStepFieldsAreInlineErrors: over-long codes and passwords
// on the two-step forms are inline 422s, never echoed, counted or hashed;
// a body over the cap is a 413.
func TestOverlongTwoStepFieldsAreInlineErrors(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "long2fa@example.com"
		long := strings.Repeat("7", 10000)
		signedIn := app.Register(t, email, oldPassword)
		enableTOTP(t, app, signedIn)
		pending := passwordStep(t, app, email)
		cases := []struct {
			name, path string
			b          *testutil.Browser
			form       url.Values
			feedback   string
		}{
			{"second-step code", "/account/login/2fa", pending, url.Values{"code": {long}}, "code-feedback"},
			{"renew code", "/account/2fa", signedIn, url.Values{"action": {"renew"}, "code": {long}}, "renew-code-feedback"},
			{"turn-off code", "/account/2fa", signedIn, url.Values{"action": {"disable"}, "current_password": {oldPassword}, "code": {long}}, "disable-code-feedback"},
			{"turn-off password", "/account/2fa", signedIn, url.Values{"action": {"disable"}, "current_password": {long}, "code": {"123456"}}, "current_password-feedback"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := c.b.Post(c.path, c.form)
				if r.StatusCode != http.StatusUnprocessableEntity || r.Text(t, `[data-testid="`+c.feedback+`"]`) == "" {
					t.Errorf("%s: %d, message %q", c.name, r.StatusCode, r.Text(t, `[data-testid="`+c.feedback+`"]`))
				}
				if strings.Contains(r.Body, long) {
					t.Errorf("%s: the over-long value was echoed back", c.name)
				}
			})
		}
		var counted int
		if err := app.DB.NewRaw("SELECT count(*) FROM rate_limits WHERE key LIKE 'second-factor:%'").Scan(t.Context(), &counted); err != nil {
			t.Fatal(err)
		}
		if counted != 0 {
			t.Errorf("over-long codes were counted as guesses")
		}
		huge := strings.Repeat("a", 70<<10)
		if r := pending.Post("/account/login/2fa", url.Values{"code": {huge}}); r.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("70 KiB body to /account/login/2fa: %d, want 413", r.StatusCode)
		}
		if r := signedIn.Post("/account/2fa", url.Values{"action": {"renew"}, "code": {huge}}); r.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("70 KiB body to /account/2fa: %d, want 413", r.StatusCode)
		}
	})
}
