package handlers_test

// The account page's session list, revocation, and session timeouts.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

func TestAccountPageAndSessions(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	const email = "dana@example.com"
	b := app.Register(t, email, oldPassword)
	phone := app.NewBrowser(t)
	phone.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1")
	phone.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}})

	page := b.Get("/account")
	if page.StatusCode != http.StatusOK {
		t.Fatalf("account: %d", page.StatusCode)
	}
	if page.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("account page is cacheable")
	}
	doc := page.Doc(t)
	if n := doc.Find(`[data-testid="sessions"] tbody tr`).Length(); n != 2 {
		t.Errorf("sessions listed = %d", n)
	}
	if !strings.Contains(page.Body, "Safari on iPhone") || !strings.Contains(page.Body, "127.0.0.1") {
		t.Errorf("device or IP missing from the account page")
	}
	id, ok := doc.Find(`input[name="session"]`).Attr("value")
	if !ok {
		t.Fatal("no revoke form for the other session")
	}
	r := b.Post("/account/sessions/revoke", url.Values{"session": {id}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", r.StatusCode)
	}
	if r := phone.Get("/account"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("revoked session still works: %d", r.StatusCode)
	}
	if r := b.Get("/account"); r.StatusCode != http.StatusOK {
		t.Errorf("own session lost: %d", r.StatusCode)
	}
	// Someone else's session id cannot be revoked from this account.
	if r := b.Post("/account/sessions/revoke", url.Values{"session": {strings.Repeat("a", 64)}}); r.StatusCode != http.StatusNotFound {
		t.Errorf("revoking an unknown session: %d", r.StatusCode)
	}
}

func TestSessionTimeouts(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		b := app.Register(t, "idle@example.com", oldPassword)
		app.Clock.Advance(29 * time.Minute)
		if r := b.Get("/account"); r.StatusCode != http.StatusOK {
			t.Fatalf("within idle timeout: %d", r.StatusCode)
		}
		app.Clock.Advance(29 * time.Minute) // sliding: still alive
		if r := b.Get("/account"); r.StatusCode != http.StatusOK {
			t.Fatalf("idle timeout should slide: %d", r.StatusCode)
		}
		app.Clock.Advance(31 * time.Minute)
		if r := b.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("after idle timeout: %d", r.StatusCode)
		}

		b = app.Register(t, "absolute@example.com", oldPassword)
		for i := 0; i < 25; i++ { // keep it busy for 12.5 hours
			app.Clock.Advance(30*time.Minute - time.Second)
			if r := b.Get("/account"); r.StatusCode != http.StatusOK {
				if i < 24 {
					t.Fatalf("expired early after %d steps: %d", i, r.StatusCode)
				}
				return
			}
		}
		t.Errorf("session outlived the absolute lifetime")
	})
}
