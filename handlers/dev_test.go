package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"latchkey/internal/testutil"
)

func TestDevMailbox(t *testing.T) {
	app := testutil.StartApp(t, "sqlite", testutil.WithDevMailbox())
	app.Register(t, "dev@example.com", oldPassword)
	b := app.NewBrowser(t)
	b.Post("/account/forgot-password", url.Values{"email": {"dev@example.com"}})
	deadline := time.Now().Add(10 * time.Second)
	var page *testutil.Response
	for {
		page = b.Get("/dev/mailbox")
		if page.StatusCode == http.StatusOK && page.Doc(t).Find(`[data-testid="mail"]`).Length() == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailbox: %d\n%s", page.StatusCode, page.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(page.Body, "Reset your Latchkey password") || !strings.Contains(page.Body, "/account/reset-password?code=") {
		t.Errorf("mailbox lacks the reset email")
	}
	href, _ := page.Doc(t).Find(`[data-testid="mail"] a`).Attr("href")
	html := b.Get(href)
	if html.StatusCode != http.StatusOK || !strings.Contains(html.Body, "Choose a new password") || !strings.Contains(html.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("HTML part: %d %q", html.StatusCode, html.Header.Get("Content-Security-Policy"))
	}
	if strings.Contains(app.Logs.String(), "dev mailbox") == false {
		t.Errorf("dev mode should log delivered mail")
	}
}
