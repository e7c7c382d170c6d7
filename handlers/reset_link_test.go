package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

// TestResetLinkRedirectIsNotCached: the 303 that trades the code in the
// link for a cookie carries that cookie, so no cache may store it.
func TestResetLinkRedirectIsNotCached(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "cache@example.com"
		app.Register(t, email, oldPassword)
		b := app.NewBrowser(t)
		b.Post("/account/forgot-password", url.Values{"email": {email}})
		link := testutil.ResetLink(t, app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0])
		r := b.Get(link)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/reset-password" {
			t.Fatalf("GET link: %d → %q", r.StatusCode, r.Header.Get("Location"))
		}
		if got := r.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("303 Cache-Control = %q, want no-store", got)
		}
		if r.Header.Get("Set-Cookie") == "" {
			t.Errorf("303 sets no cookie: the test no longer covers the case it is for")
		}
	})
}
