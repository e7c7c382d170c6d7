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
		"/account/login/passkey/begin", "/account/login/passkey/finish"} {
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
	if n != 0 {
		t.Errorf("refused posts created %d accounts", n)
	}
}
