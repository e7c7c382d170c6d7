package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// TestDatabaseOutage cuts the connection to a real Postgres with a TCP
// proxy: pages answer 503 with the friendly page, /readyz fails, nothing
// panics, and everything works again when the database returns, without a
// restart.
func TestDatabaseOutage(t *testing.T) {
	direct := testutil.NewDatabaseURL(t, "postgres")
	u, _ := url.Parse(direct)
	proxy := testutil.StartProxy(t, u.Host)
	db, err := models.Open(context.Background(), proxy.ProxiedURL(direct))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := models.Migrate(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	app := testutil.StartApp(t, "postgres", testutil.WithDB(db))
	b := app.Register(t, "outage@example.com", oldPassword)

	proxy.Cut()
	ready := b.Get("/readyz")
	if ready.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during outage: %d", ready.StatusCode)
	}
	for _, r := range []*testutil.Response{
		b.Get("/account"),
		b.Post("/account/forgot-password", url.Values{"email": {"outage@example.com"}}),
		app.NewBrowser(t).Post("/account/login", url.Values{"email": {"outage@example.com"}, "password": {oldPassword}}),
	} {
		if r.StatusCode != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s during outage: %d", r.Request.Method, r.Request.URL.Path, r.StatusCode)
		}
		if !strings.Contains(r.Body, "Temporarily unavailable") {
			t.Errorf("no friendly 503 page")
		}
	}
	if r := b.Get("/healthz"); r.StatusCode != http.StatusOK {
		t.Errorf("/healthz should not depend on the database: %d", r.StatusCode)
	}
	if strings.Contains(app.Logs.String(), "panic") {
		t.Errorf("panic during outage")
	}

	proxy.Restore(t)
	deadline := time.Now().Add(15 * time.Second)
	for b.Get("/readyz").StatusCode != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz did not recover")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := b.Get("/account"); r.StatusCode != http.StatusOK {
		t.Errorf("session after recovery: %d", r.StatusCode)
	}
	b.Post("/account/forgot-password", url.Values{"email": {"outage@example.com"}})
	app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)
}

// TestSMTPOutageDoesNotSlowRequests: with SMTP down, a reset request
// answers at once and the email goes out when SMTP returns.
func TestSMTPOutageDoesNotSlowRequests(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		app.Register(t, "patient@example.com", oldPassword)
		app.SMTP.Stop()
		start := time.Now()
		r := app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {"patient@example.com"}})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("forgot with SMTP down: %d", r.StatusCode)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("request waited for SMTP: %s", d)
		}
		time.Sleep(300 * time.Millisecond) // a few failed attempts
		app.SMTP.Restart(t)
		app.SMTP.WaitForSubject(t, resetSubject, 1, 15*time.Second)
	})
}
