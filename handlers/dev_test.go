package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

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
	// The text view's links are clickable.
	if link, _ := page.Doc(t).Find(`[data-testid="mail"] .mail-text a`).Attr("href"); !strings.Contains(link, "/account/reset-password?code=") {
		t.Errorf("text view link = %q", link)
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

func TestDevStyleguideAndSamples(t *testing.T) {
	app := testutil.StartApp(t, "sqlite", testutil.WithDevMailbox())
	b := app.NewBrowser(t)
	sg := b.Get("/dev/styleguide")
	if sg.StatusCode != http.StatusOK {
		t.Fatalf("styleguide: %d", sg.StatusCode)
	}
	doc := sg.Doc(t)
	if n := doc.Find(`[data-testid="flash"]`).Length(); n != 3 {
		t.Errorf("flash kinds shown = %d", n)
	}
	if n := doc.Find(`[data-testid="strength"]`).Length(); n != 5 {
		t.Errorf("strength states shown = %d", n)
	}
	if n := doc.Find(`[data-testid="styleguide-email"]`).Length(); n != 2 {
		t.Errorf("email templates on the styleguide = %d", n)
	}
	links := doc.Find(`a[href^="/dev/styleguide/"]`)
	if links.Length() < 10 {
		t.Errorf("page states linked = %d", links.Length())
	}
	links.Each(func(_ int, a *goquery.Selection) {
		href, _ := a.Attr("href")
		if r := b.Get(href); r.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", href, r.StatusCode)
		}
	})
	box := b.Get("/dev/mailbox")
	samples := box.Doc(t).Find(`[data-testid="mail-sample"]`)
	if samples.Length() != 2 {
		t.Fatalf("email samples = %d", samples.Length())
	}
	samples.Find(".meta a").Each(func(_ int, a *goquery.Selection) {
		href, _ := a.Attr("href")
		if r := b.Get(href); r.StatusCode != http.StatusOK || !strings.Contains(r.Body, "<html") {
			t.Errorf("%s: %d", href, r.StatusCode)
		}
	})
	if !strings.Contains(box.Body, "This wasn&#39;t me") && !strings.Contains(box.Body, "If this wasn") {
		t.Errorf("changed-email sample missing")
	}
}
