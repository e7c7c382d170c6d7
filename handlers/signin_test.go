package handlers_test

// Signing in: the uniform failure message, session cookies, the next parameter, and throttling.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func TestSignIn(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "sam@example.com"
		app.Register(t, email, oldPassword)
		b := app.NewBrowser(t)

		wrong := b.Post("/account/login", url.Values{"email": {email}, "password": {"not the password"}})
		unknown := b.Post("/account/login", url.Values{"email": {"nobody@example.com"}, "password": {"not the password"}})
		if wrong.StatusCode != http.StatusUnprocessableEntity || unknown.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("statuses %d %d", wrong.StatusCode, unknown.StatusCode)
		}
		if wrong.Text(t, `[data-testid="form-error"]`) != "Email or password is incorrect." {
			t.Errorf("message = %q", wrong.Text(t, `[data-testid="form-error"]`))
		}
		if strings.ReplaceAll(wrong.Body, email, "E") != strings.ReplaceAll(unknown.Body, "nobody@example.com", "E") {
			t.Errorf("unknown address and wrong password answer differently")
		}
		// The owner sees the failed attempt; the unknown address leaves no
		// event (there is no account to show it to).
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventSignInFailed)); n != 1 {
			t.Errorf("failed sign-in events = %d, want 1", n)
		}

		before := b.Cookie("latchkey_session")
		resp := b.Post("/account/login", url.Values{"email": {"SAM@example.com"}, "password": {oldPassword}, "next": {"/account/password"}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/password" {
			t.Fatalf("sign in with next: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		first := b.Cookie("latchkey_session")
		if first == "" || first == before {
			t.Fatalf("no new session cookie")
		}
		// The account page counts the failed attempt in plain words and says
		// what "verified" means.
		acct := b.Get("/account")
		if got := acct.Text(t, `[data-testid="failed-signins"]`); got != "1 failed sign-in attempt recently." {
			t.Errorf("failed sign-ins notice = %q", got)
		}
		if got := acct.Text(t, `[data-testid="verified-hint"]`); !strings.HasPrefix(got, "Not verified yet.") {
			t.Errorf("verified hint = %q", got)
		}
		setCookie := resp.Header.Get("Set-Cookie")
		for _, flag := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
			if !strings.Contains(setCookie, flag) {
				t.Errorf("session cookie lacks %s: %s", flag, setCookie)
			}
		}
		if strings.Contains(strings.ToLower(setCookie), "domain=") {
			t.Errorf("session cookie sets Domain: %s", setCookie)
		}
		// The cookie holds a random id; the database holds only its hash.
		var row models.Session
		if err := app.DB.NewSelect().Model(&row).Where("id_hash = ?", models.HashSessionID(first)).Scan(t.Context()); err != nil {
			t.Fatalf("session row by hash: %v", err)
		}
		if dump := testutil.DumpTable(t, app.DB, "sessions"); strings.Contains(dump, first) {
			t.Errorf("raw session id stored in the database")
		}
		// Signing in again gives a new id and the old row is gone.
		b.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}})
		if second := b.Cookie("latchkey_session"); second == first {
			t.Errorf("session id not rotated at sign-in")
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Session)(nil)).Where("id_hash = ?", models.HashSessionID(first))); n != 0 {
			t.Errorf("previous session row survives a new sign-in")
		}

		for _, next := range []string{"//evil.example/x", "https://evil.example", "/\\evil.example", "javascript:alert(1)"} {
			b2 := app.NewBrowser(t)
			resp := b2.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}, "next": {next}})
			if loc := resp.Header.Get("Location"); loc != "/account" {
				t.Errorf("next=%q redirected to %q", next, loc)
			}
		}
	})
}

func TestSignInThrottling(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "locked@example.com"
		app.Register(t, email, oldPassword)
		try := func(addr, password string, hdr ...string) *testutil.Response {
			return app.NewBrowser(t).Post("/account/login", url.Values{"email": {addr}, "password": {password}}, hdr...)
		}
		for _, addr := range []string{email, "ghost@example.com"} {
			for i := 0; i < models.DefaultLimits().SignInFreeFailures; i++ {
				if r := try(addr, "wrong guess"); r.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("%s failure %d: %d", addr, i, r.StatusCode)
				}
			}
			r := try(addr, "wrong guess")
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("%s: the failure that starts the back-off still answers 422, got %d", addr, r.StatusCode)
			}
			r = try(addr, oldPassword)
			if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
				t.Errorf("%s in back-off: %d Retry-After=%q", addr, r.StatusCode, r.Header.Get("Retry-After"))
			}
		}
		// Known and unknown addresses are throttled alike; after the window
		// the owner gets in, and success clears the counter.
		app.Clock.Advance(2 * time.Second)
		if r := try(email, oldPassword); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("owner after back-off: %d", r.StatusCode)
		}
		if r := try(email, "wrong guess"); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("counter not cleared by success: %d", r.StatusCode)
		}
	})
}
