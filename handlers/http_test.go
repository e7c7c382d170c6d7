package handlers_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func TestCrossSitePostsAreRefused(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	b := app.NewBrowser(t)
	form := url.Values{"email": {"x@example.com"}, "password": {oldPassword}}
	for _, path := range []string{"/account/register", "/account/login", "/account/forgot-password", "/account/reset-password", "/account/logout", "/account/validate/password", "/account/validate/email"} {
		for name, hdr := range map[string][]string{
			"sec-fetch-site cross-site": {"Sec-Fetch-Site", "cross-site"},
			"sec-fetch-site same-site":  {"Sec-Fetch-Site", "same-site"},
			"foreign origin":            {"Origin", "https://evil.example"},
			"htmx from foreign origin":  {"Origin", "https://evil.example", "HX-Request", "true"},
		} {
			resp := b.Post(path, form, hdr...)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s with %s: %d, want 403", path, name, resp.StatusCode)
			}
		}
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
	n, _ := app.DB.NewSelect().Model((*models.Account)(nil)).Count(t.Context())
	if n != 0 {
		t.Errorf("refused posts created %d accounts", n)
	}
}

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
		if n, _ := app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventSignInFailed).Count(t.Context()); n != 1 {
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
		if got := acct.Text(t, `[data-testid="verified-hint"]`); !strings.HasPrefix(got, "Not verified yet:") {
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
		if n, _ := app.DB.NewSelect().Model((*models.Session)(nil)).Where("id_hash = ?", models.HashSessionID(first)).Count(t.Context()); n != 0 {
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

func TestForwardedForIsOnlyBelievedFromTrustedProxies(t *testing.T) {
	limits := models.DefaultLimits()
	limits.ResetPostsPerMinute = 2
	app := testutil.StartApp(t, "sqlite", testutil.WithLimits(limits))
	b := app.NewBrowser(t)
	for i := 0; i < 2; i++ {
		b.Post("/account/forgot-password", url.Values{"email": {"a@example.com"}}, "X-Forwarded-For", "203.0.113."+string(rune('1'+i)))
	}
	r := b.Post("/account/forgot-password", url.Values{"email": {"a@example.com"}}, "X-Forwarded-For", "203.0.113.99")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("rotating X-Forwarded-For bypassed the limit: %d", r.StatusCode)
	}

	trusted := testutil.StartApp(t, "sqlite", testutil.WithLimits(limits), testutil.WithTrustedProxies("127.0.0.1/32"))
	tb := trusted.NewBrowser(t)
	for i := 0; i < 3; i++ {
		r := tb.Post("/account/forgot-password", url.Values{"email": {"a@example.com"}}, "X-Forwarded-For", "203.0.113."+string(rune('1'+i)))
		if r.StatusCode != http.StatusOK {
			t.Errorf("distinct clients behind a trusted proxy: %d", r.StatusCode)
		}
	}
}

func TestBadInput(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	b := app.NewBrowser(t)
	post := func(path, body, ctype string) int {
		req, _ := http.NewRequest(http.MethodPost, app.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		return b.Do(req).StatusCode
	}
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name, path, body, ctype string
		want                    int
	}{
		{"invalid UTF-8", "/account/register", "email=%ff%fe%40example.com&password=abcdefghijk", form, 400},
		{"NUL", "/account/login", "email=a%00b%40example.com&password=x", form, 400},
		{"CRLF in email", "/account/forgot-password", "email=a%40example.com%0d%0aBcc:%20x%40evil.example", form, 400},
		{"duplicated field", "/account/register", "email=a%40example.com&email=b%40example.com&password=abcdefghijk", form, 400},
		{"array-form field", "/account/register", "email[]=a%40example.com&password=abcdefghijk", form, 422},
		{"multipart", "/account/register", "--x\r\n", "multipart/form-data; boundary=x", 415},
		{"json", "/account/login", `{"email":"a@example.com"}`, "application/json", 415},
		{"overlong email", "/account/register", "email=" + strings.Repeat("a", 250) + "%40example.com&password=abcdefghijk", form, 422},
		{"overlong local part", "/account/register", "email=" + strings.Repeat("a", 65) + "%40example.com&password=abcdefghijk", form, 422},
		{"script in email", "/account/forgot-password", "email=%3Cscript%3E%40example.com", form, 422},
		{"SQL in email", "/account/login", "email=a%27%20OR%201%3D1--%40example.com&password=x", form, 422},
		{"unicode look-alike", "/account/register", "email=%D0%B0dmin%40example.com&password=abcdefghijk", form, 422},
	}
	for _, c := range cases {
		if got := post(c.path, c.body, c.ctype); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}

	big := strings.Repeat("a", 2<<20)
	if got := post("/account/login", "email=a%40example.com&password="+big, form); got != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body with Content-Length: %d", got)
	}
	req, _ := http.NewRequest(http.MethodPost, app.URL+"/account/login", io.MultiReader(strings.NewReader("email=a%40example.com&password="), strings.NewReader(big)))
	req.ContentLength = -1 // chunked
	req.Header.Set("Content-Type", form)
	if got := b.Do(req).StatusCode; got != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB chunked body: %d", got)
	}

	// HTML in a field comes back inert.
	r := b.Post("/account/login", url.Values{"email": {`"><img src=x onerror=alert(1) hx-get="/x">`}, "password": {"x"}})
	if strings.Contains(r.Body, "<img src=x") || strings.Contains(r.Body, `hx-get="/x"`) {
		t.Errorf("field rendered unescaped")
	}
	if n, _ := app.DB.NewSelect().Model((*models.Account)(nil)).Count(t.Context()); n != 0 {
		t.Errorf("bad input created %d accounts", n)
	}
}

func TestRegisterTakenAddress(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		app.Register(t, "taken@example.com", oldPassword)
		r := app.NewBrowser(t).Post("/account/register", url.Values{"email": {"Taken@Example.com"}, "password": {"some other passphrase"}})
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("taken address: %d", r.StatusCode)
		}
		if msg := r.Text(t, `[data-testid="email-feedback"]`); !strings.Contains(msg, "sign in or reset your password") {
			t.Errorf("message = %q", msg)
		}
	})
}

func TestChangePassword(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "chris@example.com"
		b := app.Register(t, email, oldPassword)
		other := app.NewBrowser(t)
		other.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}})
		before := b.Cookie("latchkey_session")

		r := b.Post("/account/password", url.Values{"current_password": {"wrong current"}, "password": {newPassword}})
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "not your current password") {
			t.Fatalf("wrong current password: %d", r.StatusCode)
		}
		r = b.Post("/account/password", url.Values{"current_password": {oldPassword}, "password": {newPassword}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
			t.Fatalf("change: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if after := b.Cookie("latchkey_session"); after == before || after == "" {
			t.Errorf("session id not rotated on password change")
		}
		page := b.Get("/account")
		if page.StatusCode != http.StatusOK || !strings.Contains(page.Text(t, `[data-testid="flash"]`), "password has been changed") {
			t.Errorf("account after change: %d flash %q", page.StatusCode, page.Text(t, `[data-testid="flash"]`))
		}
		if r := other.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("other session survived the change: %d", r.StatusCode)
		}
		m := app.SMTP.WaitForSubject(t, "Your Latchkey password was changed", 1, 10*time.Second)[0]
		if !strings.Contains(m.Text, "the account page") || !strings.Contains(m.Text, "127.0.0.1") {
			t.Errorf("changed email:\n%s", m.Text)
		}
		if r := app.NewBrowser(t).Post("/account/login", url.Values{"email": {email}, "password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("new password does not sign in: %d", r.StatusCode)
		}
	})
}

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
	req, _ := http.NewRequest(http.MethodGet, app.URL+css, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	a := b.Do(req)
	if a.StatusCode != http.StatusOK || !strings.Contains(a.Header.Get("Cache-Control"), "immutable") || a.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("asset %s: %d %q %q", css, a.StatusCode, a.Header.Get("Cache-Control"), a.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader([]byte(a.Body)))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := io.ReadAll(zr)
	if !strings.Contains(string(plain), "--color-primary") {
		t.Errorf("gzipped CSS does not decode to the stylesheet")
	}
	req, _ = http.NewRequest(http.MethodGet, app.URL+css, nil)
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

func TestNoRawCodeRestsInTheDatabase(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		app.Register(t, "scan@example.com", oldPassword)
		// Hold delivery so the queued message is still in the outbox.
		app.SMTP.FailWith(451)
		app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {"scan@example.com"}})
		var row models.OutboxEmail
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := app.DB.NewSelect().Model(&row).Where("kind = 'reset'").Limit(1).Scan(t.Context())
			if err == nil && row.Attempts > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reset mail not attempted: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		msg, err := app.Store.OpenMessage(&row)
		if err != nil {
			t.Fatal(err)
		}
		link := testutil.ResetLink(t, testutil.Email{Text: msg.Text})
		code := link[strings.Index(link, "code=")+5:]
		for _, table := range testutil.Tables(t, app.DB) {
			if dump := testutil.DumpTable(t, app.DB, table); strings.Contains(dump, code) || strings.Contains(dump, "code=") {
				t.Errorf("table %s holds the raw code", table)
			}
		}
		app.SMTP.FailWith(0)
		app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)
		deadline = time.Now().Add(5 * time.Second)
		for {
			_ = app.DB.NewSelect().Model(&row).WherePK().Scan(t.Context())
			if row.Status == models.OutboxSent {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status %q after delivery", row.Status)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if row.SealedBody != nil {
			t.Errorf("sent message body not wiped")
		}
	})
}

func TestSharedPagesNeverLeakPersonalState(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	anon := app.NewBrowser(t)
	first := anon.Get("/account/login")
	signedIn := app.Register(t, "shared@example.com", oldPassword)
	if r := signedIn.Get("/"); !strings.Contains(r.Body, "Your account") || strings.Contains(r.Body, "Create account</a>") {
		t.Errorf("signed-in visitor got the anonymous landing page")
	}
	// A flash is personal: the page that carries it is not the shared one.
	app.NewBrowser(t).Get("/") // warm the shared landing page
	signedIn.Post("/account/logout", nil)
	if r := signedIn.Get("/"); r.StatusCode != http.StatusOK {
		t.Fatalf("landing: %d", r.StatusCode)
	}
	second := app.NewBrowser(t).Get("/account/login")
	if first.Body != second.Body || strings.Contains(second.Body, "shared@example.com") {
		t.Errorf("anonymous sign-in pages differ or carry someone's data")
	}
	withNext := app.NewBrowser(t).Get("/account/login?next=/account/password")
	if !strings.Contains(withNext.Body, `name="next" value="/account/password"`) {
		t.Errorf("the next parameter was lost to the shared page")
	}
}

func TestSharedPagesAreCompressedAndNothingElse(t *testing.T) {
	for _, dialect := range testutil.Dialects {
		t.Run(dialect, func(t *testing.T) { testSharedPagesAreCompressed(t, dialect) })
	}
}

func testSharedPagesAreCompressed(t *testing.T, dialect string) {
	app := testutil.StartApp(t, dialect)
	anon := app.NewBrowser(t)
	plain := anon.Get("/account/login", "Accept-Encoding", "identity")
	if plain.StatusCode != http.StatusOK || plain.Header.Get("Content-Encoding") != "" || !strings.Contains(plain.Body, "<html") {
		t.Fatalf("identity: %d, Content-Encoding %q", plain.StatusCode, plain.Header.Get("Content-Encoding"))
	}
	decoders := map[string]func(io.Reader) (io.Reader, error){
		"br":   func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil },
		"gzip": func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
	}
	for accept, want := range map[string]string{
		"gzip, deflate, br, zstd": "br",
		"br":                      "br",
		"gzip":                    "gzip",
		"br;q=0, gzip":            "gzip",
		"zstd":                    "",
	} {
		r := anon.Get("/account/login", "Accept-Encoding", accept)
		if got := r.Header.Get("Content-Encoding"); got != want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", accept, got, want)
			continue
		}
		if !strings.Contains(r.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("Accept-Encoding %q: Vary = %q", accept, r.Header.Get("Vary"))
		}
		if r.Header.Get("Content-Length") != strconv.Itoa(len(r.Body)) {
			t.Errorf("Accept-Encoding %q: Content-Length %s for %d bytes", accept, r.Header.Get("Content-Length"), len(r.Body))
		}
		body := r.Body
		if want != "" {
			if len(r.Body) >= len(plain.Body) {
				t.Errorf("%s copy is %d bytes, the page %d", want, len(r.Body), len(plain.Body))
			}
			zr, err := decoders[want](strings.NewReader(r.Body))
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("%s: %v", want, err)
			}
			body = string(b)
		}
		if body != plain.Body {
			t.Errorf("Accept-Encoding %q: the page differs from the uncompressed one", accept)
		}
	}
	// Every Accept-Encoding line counts: a second one can refuse brotli.
	if r := anon.Get("/account/login", "Accept-Encoding", "br, gzip", "Accept-Encoding", "br;q=0"); r.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("two Accept-Encoding lines: Content-Encoding %q, want gzip", r.Header.Get("Content-Encoding"))
	}
	// Pages that can carry personal data or echo input are never
	// compressed (no BREACH oracle): signed in, with a query string, a
	// form answer.
	signedIn := app.Register(t, "zip@example.com", oldPassword)
	for name, r := range map[string]*testutil.Response{
		"signed-in landing":  signedIn.Get("/", "Accept-Encoding", "br, gzip"),
		"signed-in account":  signedIn.Get("/account", "Accept-Encoding", "br, gzip"),
		"query string":       anon.Get("/account/login?next=/account", "Accept-Encoding", "br, gzip"),
		"form with an error": anon.Post("/account/forgot-password", url.Values{"email": {"nope"}}, "Accept-Encoding", "br, gzip"),
	} {
		if ce := r.Header.Get("Content-Encoding"); ce != "" {
			t.Errorf("%s: Content-Encoding %q", name, ce)
		}
		if !strings.Contains(r.Body, "<") {
			t.Errorf("%s: body is not HTML (%d): %.60q", name, r.StatusCode, r.Body)
		}
	}
}
