package handlers_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/notify"
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
		// The registration's verification email, then the reset email.
		if page.StatusCode == http.StatusOK && page.Doc(t).Find(`[data-testid="mail"]`).Length() == 2 {
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
	// Every email notify.Samples renders, whatever their number.
	all, err := notify.Samples(t.Context(), &url.URL{Scheme: "http", Host: "localhost"}, time.Hour, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n := doc.Find(`[data-testid="styleguide-email"]`).Length(); n != len(all) {
		t.Errorf("email templates on the styleguide = %d, want every sample (%d)", n, len(all))
	}
	for _, state := range []string{"email", "email-confirmed", "email-confirmed-signed-out", "email-in-use", "email-link-invalid"} {
		if doc.Find(`a[href="/dev/styleguide/`+state+`"]`).Length() != 1 {
			t.Errorf("styleguide does not link the %s state", state)
		}
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
	// The two-step set-up state's sample QR code.
	if r := b.Get("/dev/styleguide/qr.png"); r.StatusCode != http.StatusOK || r.Header.Get("Content-Type") != "image/png" {
		t.Errorf("styleguide QR code: %d %q", r.StatusCode, r.Header.Get("Content-Type"))
	}
	box := b.Get("/dev/mailbox")
	samples := box.Doc(t).Find(`[data-testid="mail-sample"]`)
	if samples.Length() != len(all) {
		t.Fatalf("email samples = %d, want %d", samples.Length(), len(all))
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

// devPaths are the /dev routes, each of which must be hidden from remote
// clients; all but the last answer 200 to a local one (the mailbox is
// empty).
var devPaths = []string{
	"/dev/mailbox", "/dev/mailbox/sample/reset", "/dev/styleguide",
	"/dev/styleguide/register", "/dev/styleguide/error/404", "/dev/styleguide/qr.png", "/dev/mailbox/1",
}

// serveAs sends one request through the app's real handler (every
// middleware, the router, the error handler) as if it came from the TCP
// peer remote.
func serveAs(app *testutil.App, remote, method, path string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	app.Server.Config.Handler.ServeHTTP(rec, req)
	return rec
}

// sameAnswer reports how two answers differ, request ids aside.
func sameAnswer(a, b *httptest.ResponseRecorder) string {
	ha, hb := a.Header().Clone(), b.Header().Clone()
	ha.Del("X-Request-Id")
	hb.Del("X-Request-Id")
	switch {
	case a.Code != b.Code:
		return "status"
	case a.Body.String() != b.Body.String():
		return "body"
	case len(ha) != len(hb):
		return "headers"
	}
	for k, v := range ha {
		if !slices.Equal(v, hb[k]) {
			return "header " + k
		}
	}
	return ""
}

// TestDevRoutesAnswerOnlyLoopbackPeers: a dev-mode server listening on a
// public address (the container's ADDR=:8080) must not serve the dev
// mailbox, which lists every reset link, to the network. The decision is
// the TCP peer's: X-Forwarded-For cannot grant it, even from a trusted
// proxy, and a forwarded request is refused even from loopback.
func TestDevRoutesAnswerOnlyLoopbackPeers(t *testing.T) {
	app := testutil.StartApp(t, "sqlite", testutil.WithDevMailbox(), testutil.WithTrustedProxies("192.0.2.0/24", "127.0.0.0/8"))
	const remote = "192.0.2.10:40000"
	for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost} {
		missing := serveAs(app, remote, method, "/no/such/page")
		if missing.Code != http.StatusNotFound {
			t.Fatalf("%s of a missing page: %d", method, missing.Code)
		}
		for _, p := range append(devPaths, "/dev", "/dev/") {
			for _, hdr := range [][]string{nil, {"X-Forwarded-For", "127.0.0.1"}, {"X-Real-IP", "127.0.0.1"}} {
				got := serveAs(app, remote, method, p, hdr...)
				if diff := sameAnswer(got, missing); diff != "" {
					t.Errorf("%s %s from %s %v: %d, differs from a missing page in its %s", method, p, remote, hdr, got.Code, diff)
				}
			}
		}
	}
	for _, p := range devPaths[:len(devPaths)-1] {
		for _, local := range []string{"127.0.0.1:40000", "[::1]:40000", "127.0.0.2:40000"} {
			if got := serveAs(app, local, http.MethodGet, p); got.Code != http.StatusOK {
				t.Errorf("GET %s from %s: %d, want 200", p, local, got.Code)
			}
		}
		// A reverse proxy on this machine would relay the world.
		for _, hdr := range [][]string{{"X-Forwarded-For", "203.0.113.9"}, {"Forwarded", "for=203.0.113.9"}, {"X-Real-IP", "203.0.113.9"}} {
			if got := serveAs(app, "127.0.0.1:40000", http.MethodGet, p, hdr...); got.Code != http.StatusNotFound {
				t.Errorf("GET %s from loopback with %v: %d, want 404", p, hdr, got.Code)
			}
		}
	}
}

// TestDevRoutesOverANonLoopbackConnection is the same attack over a real
// TCP connection: the app served on this machine's first non-loopback
// address, the client connecting to it (so its peer address is that
// address, not loopback).
func TestDevRoutesOverANonLoopbackConnection(t *testing.T) {
	ip := nonLoopbackAddr(t)
	if ip == nil {
		t.Skip("this machine has no non-loopback address; TestDevRoutesAnswerOnlyLoopbackPeers covers the rule")
	}
	app := testutil.StartApp(t, "sqlite", testutil.WithDevMailbox())
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: app.Server.Config.Handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	client := testutil.NewClient()
	get := func(base, p string) int {
		resp, err := client.Get(base + p)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	remote := "http://" + ln.Addr().String()
	for _, p := range devPaths {
		if code := get(remote, p); code != http.StatusNotFound {
			t.Errorf("GET %s over %s: %d, want 404", p, ip, code)
		}
	}
	if code := get(remote, "/account/login"); code != http.StatusOK {
		t.Errorf("GET /account/login over %s: %d (the listener does not serve the app)", ip, code)
	}
	if code := get(app.URL, "/dev/mailbox"); code != http.StatusOK {
		t.Errorf("GET /dev/mailbox over loopback: %d, want 200", code)
	}
}

// nonLoopbackAddr returns an address of this machine that is not
// loopback, or nil.
func nonLoopbackAddr(t *testing.T) net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	return nil
}
