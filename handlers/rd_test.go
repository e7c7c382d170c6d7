package handlers_test

// Return targets (rd, SPEC §7) through sign-in, registration and sign-out,
// through the real handlers: accepted targets are carried in the forms and
// redirected to; anything else is ignored as if absent, never shown and
// never redirected to.

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// siteBrowser returns a browser that reaches app under any host name, and
// for https URLs over plain http, so cookies with a Domain (and Secure
// ones) behave as in a real browser across auth.example.com and
// app.example.com.
func siteBrowser(t *testing.T, app *testutil.App) *testutil.Browser {
	t.Helper()
	b := app.NewBrowser(t)
	addr := strings.TrimPrefix(app.URL, "http://")
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	b.HTTP.Transport = plainHTTP{tr}
	return b
}

// plainHTTP sends https requests as http: the test server has no TLS, but
// the cookie jar must see https URLs to hold and send Secure cookies.
type plainHTTP struct{ rt http.RoundTripper }

func (p plainHTTP) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme = "http"
	return p.rt.RoundTrip(r)
}

// site is one deployment the rd tests run against: Latchkey on
// auth.example.com with COOKIE_DOMAIN=example.com, in dev mode (http) or
// production (https).
type site struct {
	name   string
	scheme string
}

var sites = []site{{"dev", "http"}, {"production", "https"}}

func (s site) base() string { return s.scheme + "://auth.example.com" }

func (s site) start(t *testing.T, dialect string) *testutil.App {
	return testutil.StartApp(t, dialect, testutil.WithBaseURL(s.base()), testutil.WithCookieDomain("example.com"))
}

// hostileTargets are handlers/returnto's table of refused values, each
// given the marker "evil" so that the tests can tell it never reaches a
// page or a header.
func hostileTargets(s site) []string {
	out := []string{
		"//evil.com/x",
		"/\\evil.com",
		"\\/evil.com",
		"https:evil.com",
		"https:///evil.com",
		"https://evil.com@app.example.com/",
		"https://app.example.com:x@evil.com/",
		"https://app.example.com.evil.com/",
		"https://evil-example.com/",
		"https://evil.com\\@app.example.com/",
		"/%2F%2Fevil.com",
		"/%5Cevil.com",
		"%2F%2Fevil.com",
		"https://app.example.com%2eevil.com/",
		"https://app.example.com./evil",
		"javascript:alert('evil')",
		"javascript://app.example.com/%0aevil()",
		"data:text/html,<script>evil()</script>",
		"/x\r\nSet-Cookie: evil=1",
		"ht\ttps://app.example.com/evil",
		"/x%0d%0aSet-Cookie:evil=1",
		"/evil\x00",
		"https://app.example.com /evil",
		"ftp://app.example.com/evil",
		"https://evil.com/",
		"https://аpp.example.com/evil", // Cyrillic а
		"https://xn--pp-8kc.example.co/evil",
		"／／evil.com",
		"/evil-caf\u00e9",
		"/evil" + strings.Repeat("a", 2048),
		"evil-relative/path",
		"http://evil.example.com.attacker.net/",
	}
	if s.scheme == "https" {
		out = append(out, "http://app.example.com/evil") // https only in production
	}
	return out
}

// rdInput returns the value of the form's hidden rd field, and whether
// there is one.
func rdInput(t *testing.T, r *testutil.Response) (string, bool) {
	t.Helper()
	sel := r.Doc(t).Find(`form input[type="hidden"][name="rd"]`)
	if sel.Length() > 1 {
		t.Fatalf("%d rd fields", sel.Length())
	}
	return sel.Attr("value")
}

// htmx is what htmx sends with a form submit.
var htmx = []string{"HX-Request", "true"}

func TestReturnTargetsAreCarriedAndFollowed(t *testing.T) {
	for _, s := range sites {
		for _, d := range testutil.Dialects {
			t.Run(s.name+"/"+d, func(t *testing.T) {
				t.Parallel()
				app := s.start(t, d)
				base := s.base()
				const email = "rd@example.com"
				reg := siteBrowser(t, app)
				if r := reg.Post(base+"/account/register", url.Values{"email": {email}, "password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("register: %d", r.StatusCode)
				}
				accepted := []string{s.scheme + "://app.example.com/dashboard?tab=2#top", "/account/password", base + "/account"}
				for _, rd := range accepted {
					t.Run(rd, func(t *testing.T) { acceptedTarget(t, app, base, email, rd) })
				}
			})
		}
	}
}

// acceptedTarget follows one accepted rd through every form and redirect.
func acceptedTarget(t *testing.T, app *testutil.App, base, email, rd string) {
	b := siteBrowser(t, app)
	q := "?" + url.Values{"rd": {rd}}.Encode()

	// The pages carry rd in a hidden field, and pass it on in the link to
	// the other form.
	for _, p := range []struct{ path, other string }{{"/account/login", "/account/register"}, {"/account/register", "/account/login"}} {
		r := b.Get(base + p.path + q)
		if r.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", p.path, r.StatusCode)
		}
		if got, ok := rdInput(t, r); !ok || got != rd {
			t.Errorf("GET %s: hidden rd %q (%v), want %q", p.path, got, ok, rd)
		}
		if href, _ := r.Doc(t).Find(`p.aside a[href^="` + p.other + `"]`).Attr("href"); href != p.other+q {
			t.Errorf("GET %s: link to %s is %q, want %q", p.path, p.other, href, p.other+q)
		}
	}

	// Failed submits re-render the form with rd, as a page and as the
	// htmx fragment.
	for _, hdr := range [][]string{nil, htmx} {
		forms := []url.Values{{"email": {email}, "password": {""}, "rd": {rd}}} // a validation error
		if hdr == nil {
			// A wrong password, once per target: failures are throttled.
			forms = append(forms, url.Values{"email": {email}, "password": {"not the password"}, "rd": {rd}})
		}
		for _, form := range forms {
			r := b.Post(base+"/account/login", form, hdr...)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("failed sign-in (htmx %v): %d", hdr != nil, r.StatusCode)
			}
			if got, ok := rdInput(t, r); !ok || got != rd {
				t.Errorf("failed sign-in (htmx %v): hidden rd %q (%v)", hdr != nil, got, ok)
			}
			if hdr != nil && strings.Contains(r.Body, "<html") {
				t.Errorf("htmx re-render is a whole page")
			}
		}
		r := b.Post(base+"/account/register", url.Values{"email": {"new-" + email}, "password": {"short"}, "rd": {rd}}, hdr...)
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("failed registration (htmx %v): %d", hdr != nil, r.StatusCode)
		}
		if got, ok := rdInput(t, r); !ok || got != rd {
			t.Errorf("failed registration (htmx %v): hidden rd %q (%v)", hdr != nil, got, ok)
		}
	}

	// Success goes to rd: 303 with JavaScript off, HX-Redirect with htmx.
	// rd wins over next.
	r := b.Post(base+"/account/login", url.Values{"email": {email}, "password": {oldPassword}, "rd": {rd}, "next": {"/account/password"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != rd {
		t.Fatalf("sign-in: %d %q, want 303 to %q", r.StatusCode, r.Header.Get("Location"), rd)
	}
	hx := siteBrowser(t, app)
	r = hx.Post(base+"/account/login", url.Values{"email": {email}, "password": {oldPassword}, "rd": {rd}}, htmx...)
	if r.StatusCode != http.StatusOK || r.Header.Get("HX-Redirect") != rd {
		t.Errorf("htmx sign-in: %d HX-Redirect %q, want %q", r.StatusCode, r.Header.Get("HX-Redirect"), rd)
	}

	// Signed in: straight to rd from either form; without rd, /account.
	for _, p := range []string{"/account/login", "/account/register"} {
		if r := b.Get(base + p + q); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != rd {
			t.Errorf("signed in, GET %s?rd: %d %q", p, r.StatusCode, r.Header.Get("Location"))
		}
		if r := b.Get(base + p); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
			t.Errorf("signed in, GET %s: %d %q", p, r.StatusCode, r.Header.Get("Location"))
		}
	}

	// Registration success goes to rd too (JS off and htmx).
	slug := strings.NewReplacer(":", "", "/", "", "?", "", "=", "", "#", "", ".", "").Replace(rd)
	for i, hdr := range [][]string{nil, htmx} {
		nb := siteBrowser(t, app)
		addr := slug + string(rune('a'+i)) + "@example.com"
		r := nb.Post(base+"/account/register", url.Values{"email": {addr}, "password": {oldPassword}, "rd": {rd}}, hdr...)
		got := r.Header.Get("Location")
		if hdr != nil {
			got = r.Header.Get("HX-Redirect")
		}
		if got != rd {
			t.Errorf("registration (htmx %v): %d to %q, want %q", hdr != nil, r.StatusCode, got, rd)
		}
	}

	// Sign-out with rd (form field; the query works too): 303 to it, and
	// the session is gone.
	r = b.Post(base+"/account/logout", url.Values{"rd": {rd}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != rd {
		t.Errorf("sign-out: %d %q, want 303 to %q", r.StatusCode, r.Header.Get("Location"), rd)
	}
	if r := b.Get(base + "/account"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login" {
		t.Errorf("still signed in after sign-out: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = hx.Post(base+"/account/logout"+q, nil, htmx...)
	if r.Header.Get("HX-Redirect") != rd {
		t.Errorf("htmx sign-out with ?rd: %d HX-Redirect %q", r.StatusCode, r.Header.Get("HX-Redirect"))
	}
}

func TestHostileReturnTargetsAreIgnored(t *testing.T) {
	for _, s := range sites {
		for _, d := range testutil.Dialects {
			t.Run(s.name+"/"+d, func(t *testing.T) {
				t.Parallel()
				app := s.start(t, d)
				base := s.base()
				const email = "hostile@example.com"
				b := siteBrowser(t, app)
				if r := b.Post(base+"/account/register", url.Values{"email": {email}, "password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("register: %d", r.StatusCode)
				}
				b.Post(base+"/account/logout", nil)
				for _, rd := range hostileTargets(s) {
					hostileTarget(t, b, base, email, rd)
				}
			})
		}
	}
}

// hostileTarget sends one refused rd everywhere an rd is read. A form
// field with control characters is refused whole (400) before rd is even
// looked at; that changes nothing either.
func hostileTarget(t *testing.T, b *testutil.Browser, base, email, rd string) {
	t.Helper()
	clean := models.CleanText(rd)
	q := "?" + url.Values{"rd": {rd}}.Encode()
	// inForm: rd went in a form field (else in the query).
	check := func(what string, inForm bool, r *testutil.Response, want int, wantTo string) {
		t.Helper()
		if !clean && inForm {
			want, wantTo = http.StatusBadRequest, ""
		}
		if r.StatusCode != want {
			t.Errorf("rd %q, %s: status %d, want %d", rd, what, r.StatusCode, want)
		}
		to := r.Header.Get("Location") + r.Header.Get("HX-Redirect")
		if to != wantTo {
			t.Errorf("rd %q, %s: sent to %q, want %q", rd, what, to, wantTo)
		}
		if strings.Contains(strings.ToLower(r.Body+to), "evil") {
			t.Errorf("rd %q, %s: reflected:\n%s", rd, what, r.Body)
		}
		if r.StatusCode == http.StatusOK || r.StatusCode == http.StatusUnprocessableEntity {
			if _, ok := rdInput(t, r); ok {
				t.Errorf("rd %q, %s: the form carries an rd", rd, what)
			}
			r.Doc(t).Find("a[href]").Each(func(_ int, a *goquery.Selection) {
				if h, _ := a.Attr("href"); strings.Contains(h, "rd=") {
					t.Errorf("rd %q, %s: link %q carries an rd", rd, what, h)
				}
			})
		}
	}
	check("GET login", false, b.Get(base+"/account/login"+q), http.StatusOK, "")
	check("GET register", false, b.Get(base+"/account/register"+q), http.StatusOK, "")
	check("failed sign-in", true, b.Post(base+"/account/login", url.Values{"email": {email}, "password": {""}, "rd": {rd}}), http.StatusUnprocessableEntity, "")
	check("failed sign-in, htmx", true, b.Post(base+"/account/login", url.Values{"email": {email}, "password": {""}, "rd": {rd}}, htmx...),
		http.StatusUnprocessableEntity, "")
	check("failed registration", true, b.Post(base+"/account/register", url.Values{"email": {email}, "password": {"short"}, "rd": {rd}}),
		http.StatusUnprocessableEntity, "")
	// A refused rd leaves a safe next in charge.
	check("sign-in", true, b.Post(base+"/account/login", url.Values{"email": {email}, "password": {oldPassword}, "rd": {rd}, "next": {"/account/password"}}),
		http.StatusSeeOther, "/account/password")
	check("sign-in, htmx", true, b.Post(base+"/account/login", url.Values{"email": {email}, "password": {oldPassword}, "rd": {rd}}, htmx...),
		http.StatusOK, "/account")
	if !clean { // the 400s above signed nobody in
		if r := b.Post(base+"/account/login", url.Values{"email": {email}, "password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", r.StatusCode)
		}
	}
	check("signed in, GET login", false, b.Get(base+"/account/login"+q), http.StatusSeeOther, "/account")
	check("signed in, GET register", false, b.Get(base+"/account/register"+q), http.StatusSeeOther, "/account")
	check("sign-out", true, b.Post(base+"/account/logout", url.Values{"rd": {rd}}), http.StatusSeeOther, "/")
	if !clean { // the 400 above did not sign out
		b.Post(base+"/account/logout", nil)
	}
	check("sign-out, rd in the query", false, b.Post(base+"/account/logout"+q, nil), http.StatusSeeOther, "/")
}
