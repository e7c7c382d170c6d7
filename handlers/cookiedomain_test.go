package handlers_test

// COOKIE_DOMAIN: the session cookie covers the parent domain's
// subdomains (__Secure- under https, since a __Host- cookie cannot carry a
// Domain); the visitor and device cookies stay host-only; sign-out clears
// the domain cookie. And sign-out's same-site exception (SPEC §7).

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// setCookies indexes a response's Set-Cookie lines by name.
func setCookies(r *testutil.Response) map[string]*http.Cookie {
	out := map[string]*http.Cookie{}
	for _, c := range r.Cookies() {
		out[c.Name] = c
	}
	return out
}

func TestCookieAttributes(t *testing.T) {
	cases := []struct {
		name, base, domain string
		// session, visitor, device: the expected cookie names.
		session, visitor, device string
	}{
		{"http", "http://auth.example.com", "", "latchkey_session", "latchkey_visitor", "latchkey_device"},
		{"http with COOKIE_DOMAIN", "http://auth.example.com", "example.com", "latchkey_session", "latchkey_visitor", "latchkey_device"},
		{"https", "https://auth.example.com", "", "__Host-latchkey_session", "__Host-latchkey_visitor", "__Host-latchkey_device"},
		{"https with COOKIE_DOMAIN", "https://auth.example.com", "example.com", "__Secure-latchkey_session", "__Host-latchkey_visitor", "__Host-latchkey_device"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			app := testutil.StartApp(t, "sqlite", testutil.WithBaseURL(c.base), testutil.WithCookieDomain(c.domain))
			secure := c.base[:5] == "https"
			b := siteBrowser(t, app)
			r := b.Post(c.base+"/account/register", url.Values{"email": {"cookie@example.com"}, "password": {oldPassword}})
			if r.StatusCode != http.StatusSeeOther {
				t.Fatalf("register: %d", r.StatusCode)
			}
			got := setCookies(r)
			for _, name := range []string{c.session, c.visitor, c.device} {
				ck := got[name]
				if ck == nil {
					t.Errorf("no %s cookie; got %v", name, r.Header.Values("Set-Cookie"))
					continue
				}
				wantDomain := ""
				if name == c.session {
					wantDomain = c.domain
				}
				if ck.Domain != wantDomain || ck.Path != "/" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != secure {
					t.Errorf("%s: Domain=%q Path=%q HttpOnly=%v SameSite=%v Secure=%v; want Domain=%q Path=/ HttpOnly SameSite=Lax Secure=%v",
						name, ck.Domain, ck.Path, ck.HttpOnly, ck.SameSite, ck.Secure, wantDomain, secure)
				}
			}

			// An app on a sibling subdomain receives the session cookie only
			// with COOKIE_DOMAIN, and never the visitor or device cookie.
			sibling, _ := url.Parse(c.base[:len(c.base)-len("auth.example.com")] + "app.example.com/")
			held := map[string]bool{}
			for _, ck := range b.HTTP.Jar.Cookies(sibling) {
				held[ck.Name] = true
			}
			if held[c.session] != (c.domain != "") || held[c.visitor] || held[c.device] {
				t.Errorf("cookies sent to %s: %v", sibling, held)
			}
			if acct := b.Get(c.base + "/account"); acct.StatusCode != http.StatusOK {
				t.Fatalf("signed in, /account: %d", acct.StatusCode)
			}

			// Sign-out clears the cookie with the same Domain, so the browser
			// drops it for the sibling too.
			r = b.Post(c.base+"/account/logout", nil)
			ck := setCookies(r)[c.session]
			if r.StatusCode != http.StatusSeeOther || ck == nil || ck.MaxAge >= 0 || ck.Domain != c.domain {
				t.Fatalf("sign-out: %d, cookie %v", r.StatusCode, ck)
			}
			for _, ck := range b.HTTP.Jar.Cookies(sibling) {
				if ck.Name == c.session {
					t.Errorf("session cookie still sent to %s after sign-out", sibling)
				}
			}
		})
	}
}

func TestSameSiteSignOut(t *testing.T) {
	const email = "apps@example.com"
	signIn := func(t *testing.T, app *testutil.App, base string) *testutil.Browser {
		t.Helper()
		b := siteBrowser(t, app)
		if r := b.Post(base+"/account/login", url.Values{"email": {email}, "password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in: %d", r.StatusCode)
		}
		return b
	}
	// register creates the account and signs that browser out again, so
	// the only session rows are the test's.
	register := func(t *testing.T, app *testutil.App, base string) {
		t.Helper()
		b := siteBrowser(t, app)
		if r := b.Post(base+"/account/register", url.Values{"email": {email}, "password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("register: %d", r.StatusCode)
		}
		b.Post(base+"/account/logout", nil)
	}
	signedIn := func(t *testing.T, b *testutil.Browser, base string) bool {
		t.Helper()
		return b.Get(base+"/account").StatusCode == http.StatusOK
	}

	t.Run("with COOKIE_DOMAIN", func(t *testing.T) {
		for _, s := range sites {
			t.Run(s.name, func(t *testing.T) {
				t.Parallel()
				app := s.start(t, "sqlite")
				base, appOrigin := s.base(), s.scheme+"://app.example.com"
				register(t, app, base)

				// The app's own sign-out button: accepted, signed out, back to
				// the app.
				b := signIn(t, app, base)
				r := b.Post(base+"/account/logout", url.Values{"rd": {appOrigin + "/bye"}}, "Sec-Fetch-Site", "same-site", "Origin", appOrigin)
				if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != appOrigin+"/bye" {
					t.Fatalf("same-site sign-out from %s: %d %q", appOrigin, r.StatusCode, r.Header.Get("Location"))
				}
				if signedIn(t, b, base) {
					t.Errorf("still signed in after a same-site sign-out")
				}
				if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Session)(nil))); n != 0 {
					t.Errorf("%d session rows left", n)
				}

				// Everything else stays refused, and leaves the session alone.
				b = signIn(t, app, base)
				refused := []struct {
					name, path string
					hdr        []string
				}{
					{"cross-site sign-out", "/account/logout", []string{"Sec-Fetch-Site", "cross-site", "Origin", appOrigin}},
					{"same-site sign-out from outside the domain", "/account/logout", []string{"Sec-Fetch-Site", "same-site", "Origin", s.scheme + "://evil.com"}},
					{"same-site sign-out from a look-alike", "/account/logout", []string{"Sec-Fetch-Site", "same-site", "Origin", s.scheme + "://app.example.com.evil.com"}},
					{"same-site sign-out, Origin null", "/account/logout", []string{"Sec-Fetch-Site", "same-site", "Origin", "null"}},
					{"same-site sign-out, no Origin", "/account/logout", []string{"Sec-Fetch-Site", "same-site"}},
					{"same-site sign-out, Origin with a path", "/account/logout", []string{"Sec-Fetch-Site", "same-site", "Origin", appOrigin + "/x"}},
					{"same-site sign-out, Origin a local path", "/account/logout", []string{"Sec-Fetch-Site", "same-site", "Origin", "/x"}},
					{"same-site sign-in", "/account/login", []string{"Sec-Fetch-Site", "same-site", "Origin", appOrigin}},
					{"same-site registration", "/account/register", []string{"Sec-Fetch-Site", "same-site", "Origin", appOrigin}},
					{"same-site password change", "/account/password", []string{"Sec-Fetch-Site", "same-site", "Origin", appOrigin}},
					{"same-site revoke others", "/account/sessions/revoke-others", []string{"Sec-Fetch-Site", "same-site", "Origin", appOrigin}},
					{"same-site forgot password", "/account/forgot-password", []string{"Sec-Fetch-Site", "same-site", "Origin", appOrigin}},
					{"same-site validation", "/account/validate/email", []string{"Sec-Fetch-Site", "same-site", "Origin", appOrigin}},
					{"same-site not-me", "/account/not-me", []string{"Sec-Fetch-Site", "same-site", "Origin", appOrigin}},
				}
				if s.scheme == "https" {
					refused = append(refused, struct {
						name, path string
						hdr        []string
					}{"same-site sign-out from http in production", "/account/logout", []string{"Sec-Fetch-Site", "same-site", "Origin", "http://app.example.com"}})
				}
				for _, c := range refused {
					r := b.Post(base+c.path, url.Values{"email": {email}, "password": {oldPassword}}, c.hdr...)
					if r.StatusCode != http.StatusForbidden {
						t.Errorf("%s: %d, want 403", c.name, r.StatusCode)
					}
				}
				if !signedIn(t, b, base) {
					t.Errorf("a refused POST signed the user out")
				}
			})
		}
	})

	t.Run("without COOKIE_DOMAIN", func(t *testing.T) {
		t.Parallel()
		app := testutil.StartApp(t, "sqlite", testutil.WithBaseURL("http://auth.example.com"))
		base := "http://auth.example.com"
		register(t, app, base)
		b := signIn(t, app, base)
		for _, origin := range []string{"http://app.example.com", "http://auth.example.com:8443", "https://auth.example.com"} {
			r := b.Post(base+"/account/logout", nil, "Sec-Fetch-Site", "same-site", "Origin", origin)
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("same-site sign-out from %s without COOKIE_DOMAIN: %d, want 403", origin, r.StatusCode)
			}
		}
		if !signedIn(t, b, base) {
			t.Errorf("a refused sign-out signed the user out")
		}
	})
}
