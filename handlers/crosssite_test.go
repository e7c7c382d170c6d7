package handlers_test

// Cross-site requests: state-changing POSTs from another site are refused.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func TestCrossSitePostsAreRefused(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	b := app.NewBrowser(t)
	form := url.Values{"email": {"x@example.com"}, "password": {oldPassword}}
	for _, path := range []string{"/account/register", "/account/login", "/account/forgot-password", "/account/reset-password", "/account/logout", "/account/validate/password", "/account/validate/email", "/account/delete",
		"/account/passkeys/register/begin", "/account/passkeys/register/finish", "/account/passkeys/remove",
		"/account/login/passkey/begin", "/account/login/passkey/finish", "/account/verify-email/resend", "/account/2fa", "/account/login/2fa"} {
		// Named "validate-email" for /account/validate/email: a slash in
		// a subtest name would read as another level to -run.
		t.Run(strings.ReplaceAll(strings.TrimPrefix(path, "/account/"), "/", "-"), func(t *testing.T) {
			for name, hdr := range map[string][]string{
				"sec-fetch-site cross-site": {"Sec-Fetch-Site", "cross-site"},
				"sec-fetch-site same-site":  {"Sec-Fetch-Site", "same-site"},
				"foreign origin":            {"Origin", "https://evil.example"},
				"htmx from foreign origin":  {"Origin", "https://evil.example", "HX-Request", "true"},
			} {
				t.Run(name, func(t *testing.T) {
					resp := b.Post(path, form, hdr...)
					if resp.StatusCode != http.StatusForbidden {
						t.Errorf("%s with %s: %d, want 403", path, name, resp.StatusCode)
					}
				})
			}
		})
	}
	// Signed-in forms: a signed-in browser tricked into posting from
	// another site changes nothing.
	signed := app.Register(t, "xs@example.com", oldPassword)
	for _, c := range []struct {
		path string
		form url.Values
	}{
		{"/account/email", url.Values{"email": {"evil@example.net"}, "current_password": {oldPassword}}},
	} {
		t.Run(strings.ReplaceAll(strings.TrimPrefix(c.path, "/account/"), "/", "-"), func(t *testing.T) {
			for name, hdr := range map[string][]string{
				"sec-fetch-site cross-site": {"Sec-Fetch-Site", "cross-site"},
				"sec-fetch-site same-site":  {"Sec-Fetch-Site", "same-site"},
				"foreign origin":            {"Origin", "https://evil.example"},
				"htmx from foreign origin":  {"Origin", "https://evil.example", "HX-Request", "true"},
			} {
				t.Run(name, func(t *testing.T) {
					if resp := signed.Post(c.path, c.form, hdr...); resp.StatusCode != http.StatusForbidden {
						t.Errorf("%s with %s: %d, want 403", c.path, name, resp.StatusCode)
					}
				})
			}
		})
	}
	if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.EmailChange)(nil))); n != 0 {
		t.Errorf("refused posts asked for %d changes of address", n)
	}
	// The same post from our own origin goes through.
	if resp := signed.Post("/account/email", url.Values{"email": {"xs.new@example.com"}, "current_password": {oldPassword}}, "Origin", app.URL, "Sec-Fetch-Site", "same-origin"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin change of address: %d", resp.StatusCode)
	}

	// Browsers send Origin: null from no-referrer pages; Sec-Fetch-Site
	// decides first, so real users are not locked out of the reset form.
	resp := b.Post("/account/forgot-password", url.Values{"email": {"x@example.com"}}, "Sec-Fetch-Site", "same-origin", "Origin", "null")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("same-origin post with Origin null: %d", resp.StatusCode)
	}
	resp = b.Post("/account/forgot-password", url.Values{"email": {"x@example.com"}}, "Origin", app.URL)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("post with our own Origin: %d", resp.StatusCode)
	}
	n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Account)(nil)))
	if n != 1 { // xs@example.com
		t.Errorf("refused posts created %d accounts", n)
	}

	// Signed in, a cross-site resend is refused too, and sends nothing.
	me := app.Register(t, "cross@example.com", oldPassword)
	for _, hdr := range [][]string{{"Sec-Fetch-Site", "cross-site"}, {"Sec-Fetch-Site", "same-site"}, {"Origin", "https://evil.example"}} {
		if r := me.Post("/account/verify-email/resend", nil, hdr...); r.StatusCode != http.StatusForbidden {
			t.Errorf("signed-in resend with %v: %d, want 403", hdr, r.StatusCode)
		}
	}
	if r := me.Post("/account/verify-email/resend", nil, "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin resend: %d", r.StatusCode)
	}
	if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.OutboxEmail)(nil)).
		Where("kind = ? AND recipient = ?", models.MailVerifyEmail, "cross@example.com")); n != 2 {
		t.Errorf("%d verification emails, want the registration's and the same-origin resend's", n)
	}
}

// TestCrossSiteTwoStepPostsAreRefused: the two-step forms refuse another
// site's posts from a signed-in browser and from one at the second step,
// and change nothing.
func TestCrossSiteTwoStepPostsAreRefused(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "crosssite-2fa@example.com"
		signedIn := app.Register(t, email, oldPassword)
		secret, codes := enableTOTP(t, app, signedIn)
		pending := passwordStep(t, app, email)
		for _, c := range []struct {
			name string
			b    *testutil.Browser
			path string
			form url.Values
		}{
			{"turn off", signedIn, "/account/2fa", url.Values{"action": {"disable"}, "current_password": {oldPassword}, "code": {codes[0]}}},
			{"renew", signedIn, "/account/2fa", url.Values{"action": {"renew"}, "code": {totpAt(t, secret, app.Clock.Now())}}},
			{"begin", signedIn, "/account/2fa", url.Values{"action": {"begin"}}},
			{"second step", pending, "/account/login/2fa", url.Values{"code": {codes[1]}}},
		} {
			for name, hdr := range map[string][]string{
				"sec-fetch-site cross-site": {"Sec-Fetch-Site", "cross-site"},
				"foreign origin":            {"Origin", "https://evil.example"},
			} {
				if r := c.b.Post(c.path, c.form, hdr...); r.StatusCode != http.StatusForbidden {
					t.Errorf("%s with %s: %d, want 403", c.name, name, r.StatusCode)
				}
			}
		}
		if !hasSecondFactor(t, app, email) || testutil.CountRows(t, app.DB.NewSelect().Model((*models.RecoveryCode)(nil)).Where("used_at IS NULL")) != 10 {
			t.Errorf("a refused post changed the factors")
		}
		if r := pending.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("a refused second step signed in: %d", r.StatusCode)
		}
	})
}
