package handlers_test

// Security headers, asset caching, health endpoints, 404s, and secrets kept out of logs.

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

func TestHeadersAndPlumbing(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	b := app.NewBrowser(t)
	r := b.Get("/")
	want := map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"Cache-Control":          "no-store",
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	if r.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("HSTS over plain http")
	}
	if r.Header.Get("X-Request-Id") == "" {
		t.Errorf("no request id")
	}
	if doc := r.Doc(t); doc.Find("script:not([src])").Length() != 0 {
		t.Errorf("inline script in page")
	}

	// Assets: hashed names are immutable and gzipped; ETags revalidate.
	css, _ := r.Doc(t).Find(`link[rel="stylesheet"]`).Attr("href")
	req, err := http.NewRequest(http.MethodGet, app.URL+css, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	a := b.Do(req)
	if a.StatusCode != http.StatusOK || !strings.Contains(a.Header.Get("Cache-Control"), "immutable") || a.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("asset %s: %d %q %q", css, a.StatusCode, a.Header.Get("Cache-Control"), a.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader([]byte(a.Body)))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(plain), "--color-primary") {
		t.Errorf("gzipped CSS does not decode to the stylesheet")
	}
	req, err = http.NewRequest(http.MethodGet, app.URL+css, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("If-None-Match", a.Header.Get("ETag"))
	if got := b.Do(req).StatusCode; got != http.StatusNotModified {
		t.Errorf("conditional GET: %d", got)
	}
	if got := b.Get("/assets/nope.css").StatusCode; got != http.StatusNotFound {
		t.Errorf("missing asset: %d", got)
	}

	if r := b.Get("/healthz"); r.StatusCode != http.StatusOK {
		t.Errorf("healthz: %d", r.StatusCode)
	}
	if r := b.Get("/readyz"); r.StatusCode != http.StatusOK || r.Body != `{"status":"ok"}`+"\n" {
		t.Errorf("readyz: %d %s", r.StatusCode, r.Body)
	}
	nf := b.Get("/no/such/page")
	if nf.StatusCode != http.StatusNotFound || nf.Text(t, "h1") != "Page not found" {
		t.Errorf("404: %d %q", nf.StatusCode, nf.Text(t, "h1"))
	}
	if r := b.Get("/dev/mailbox"); r.StatusCode != http.StatusNotFound {
		t.Errorf("/dev/mailbox without dev mode: %d", r.StatusCode)
	}

	// Reset codes never reach the logs.
	app.Register(t, "logs@example.com", oldPassword)
	b.Post("/account/forgot-password", url.Values{"email": {"logs@example.com"}})
	link := testutil.ResetLink(t, app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0])
	b.Get(link)
	code := link[strings.Index(link, "code=")+5:]
	if strings.Contains(app.Logs.String(), code) {
		t.Errorf("a reset code appears in the logs")
	}
	if strings.Contains(app.Logs.String(), oldPassword) {
		t.Errorf("a password appears in the logs")
	}
}
