package handlers_test

// htmx fragments versus full pages, inline validation, and htmx error and success answers.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

func TestFragmentsAndPages(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	b := app.NewBrowser(t)
	bad := url.Values{"email": {"not-an-address"}, "password": {"short"}}

	page := b.Post("/account/register", bad)
	if page.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page.Body, "<html") {
		t.Fatalf("plain invalid POST: %d, full page expected", page.StatusCode)
	}
	frag := b.Post("/account/register", bad, "HX-Request", "true", "HX-Request-Type", "partial")
	if frag.StatusCode != http.StatusUnprocessableEntity || strings.Contains(frag.Body, "<html") || !strings.HasPrefix(frag.Body, `<form id="register-form"`) {
		t.Fatalf("htmx invalid POST: %d\n%s", frag.StatusCode, frag.Body)
	}
	full := b.Post("/account/register", bad, "HX-Request", "true", "HX-Request-Type", "full")
	if !strings.Contains(full.Body, "<html") {
		t.Errorf("HX-Request-Type full should get the whole page")
	}
	for _, r := range []*testutil.Response{page, frag} {
		if v := r.Header.Get("Vary"); !strings.Contains(v, "HX-Request") || !strings.Contains(v, "HX-Request-Type") {
			t.Errorf("Vary = %q", v)
		}
		doc := r.Doc(t)
		if got, _ := doc.Find("#email").Attr("value"); got != "not-an-address" {
			t.Errorf("email input not kept: %q", got)
		}
		if got, ok := doc.Find("#password").Attr("value"); ok && got != "" {
			t.Errorf("password echoed back: %q", got)
		}
		if strings.Contains(r.Body, "short") && strings.Contains(r.Body, `value="short"`) {
			t.Errorf("password value rendered")
		}
		if inv, _ := doc.Find("#email").Attr("aria-invalid"); inv != "true" {
			t.Errorf("email lacks aria-invalid")
		}
		if desc, _ := doc.Find("#email").Attr("aria-describedby"); !strings.Contains(desc, "email-feedback") ||
			strings.TrimSpace(doc.Find("#email-feedback").Text()) == "" {
			t.Errorf("email error not described: %q", desc)
		}
		if _, ok := doc.Find("#email").Attr("autofocus"); !ok {
			t.Errorf("first invalid field should take focus")
		}
	}

	// The inline check uses the submit's validator.
	v := b.Post("/account/validate/email", url.Values{"email": {"not-an-address"}}, "HX-Request", "true")
	if v.StatusCode != http.StatusOK || !strings.Contains(v.Body, "Enter an email address like name@example.com.") {
		t.Errorf("inline email check: %d %s", v.StatusCode, v.Body)
	}
	p := b.Post("/account/validate/password", url.Values{"email": {"ann@example.com"}, "password": {"password1"}}, "HX-Request", "true")
	if !strings.Contains(p.Body, "too common") || !strings.Contains(p.Body, `data-testid="strength"`) {
		t.Errorf("inline password check: %s", p.Body)
	}
	p = b.Post("/account/validate/password", url.Values{"email": {"ann@example.com"}, "password": {"mellow quartz lantern drifts"}}, "HX-Request", "true")
	if strings.Contains(p.Body, "field-error\">\n") || !strings.Contains(p.Body, "Strength:") {
		t.Errorf("strong password feedback: %s", p.Body)
	}

	// An htmx request that ends in an error gets an alert, not a page.
	e := b.Post("/account/login", url.Values{"email": {"a@example.com"}}, "HX-Request", "true", "Sec-Fetch-Site", "cross-site")
	if e.StatusCode != http.StatusForbidden || strings.Contains(e.Body, "<html") || e.Header.Get("HX-Retarget") != "#flash" {
		t.Errorf("htmx error: %d retarget=%q\n%s", e.StatusCode, e.Header.Get("HX-Retarget"), e.Body)
	}

	// Success for htmx is HX-Redirect, not a 303 fetch would follow.
	ok := b.Post("/account/register", url.Values{"email": {"htmx@example.com"}, "password": {oldPassword}}, "HX-Request", "true")
	if ok.StatusCode != http.StatusOK || ok.Header.Get("HX-Redirect") != "/account" {
		t.Errorf("htmx success: %d HX-Redirect=%q", ok.StatusCode, ok.Header.Get("HX-Redirect"))
	}
}
