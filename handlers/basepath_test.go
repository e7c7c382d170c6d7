package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

// Tests of SPEC §7 "One origin or two": BASE_URL with a path prefix puts
// every route, asset, form action, hx-* URL, redirect and emailed link
// under it, while the session cookie keeps Path=/.

const prefix = "/latchkey"

// urlAttrs are the attributes whose value is a URL the browser (or htmx)
// requests. Any other attribute starting with "/" is checked as well.
var urlAttrs = map[string]bool{
	"href": true, "src": true, "action": true, "formaction": true, "poster": true,
	"hx-get": true, "hx-post": true, "hx-put": true, "hx-patch": true, "hx-delete": true,
	"hx-push-url": true, "hx-replace-url": true,
}

// checkPrefixed fails the test for every URL in an HTML page or fragment
// that leaves the prefix: a path attribute not under it, a URL attribute
// that is neither under it nor a "#fragment", and an absolute link on the
// app's origin that is not under it. Input values are form data (an rd
// may be any page of the app), not URLs the page requests. It returns how many URLs it saw, so
// a caller can tell a checked page from an empty one.
func checkPrefixed(t *testing.T, app *testutil.App, what, body string) int {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	n := 0
	doc.Find("*").Each(func(_ int, s *goquery.Selection) {
		for _, a := range s.Nodes[0].Attr {
			v := strings.TrimSpace(a.Val)
			isURL := urlAttrs[a.Key]
			if a.Key == "value" {
				continue // form data (rd, next), not a URL the page requests
			}
			switch {
			case strings.HasPrefix(v, app.Origin):
				n++
				if rest := strings.TrimPrefix(v, app.Origin); rest != prefix && !strings.HasPrefix(rest, prefix+"/") {
					t.Errorf("%s: <%s %s=%q> is on the origin but outside %s", what, goquery.NodeName(s), a.Key, v, prefix)
				}
			case strings.HasPrefix(v, "/"):
				n++
				if v != prefix && !strings.HasPrefix(v, prefix+"/") {
					t.Errorf("%s: <%s %s=%q> is outside %s", what, goquery.NodeName(s), a.Key, v, prefix)
				}
			case isURL && strings.HasPrefix(v, "#"):
				n++
			case isURL && strings.HasPrefix(v, "otpauth://"):
				n++ // the two-step set-up's link to an authenticator app, not a page
			case isURL:
				t.Errorf("%s: <%s %s=%q> is neither under %s nor a #fragment", what, goquery.NodeName(s), a.Key, v, prefix)
			}
		}
	})
	return n
}

// checkPage checks a full page: 200 (or want), every URL under the prefix,
// and the layout's links there at all.
func checkPage(t *testing.T, app *testutil.App, what string, resp *testutil.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d\n%s", what, resp.StatusCode, want, resp.Body)
	}
	if n := checkPrefixed(t, app, what, resp.Body); n < 5 { // brand, nav, three assets at least
		t.Errorf("%s: only %d URLs checked", what, n)
	}
	doc := resp.Doc(t)
	if href, _ := doc.Find(`link[rel="stylesheet"]`).Attr("href"); !strings.HasPrefix(href, prefix+"/assets/app.") {
		t.Errorf("%s: stylesheet %q", what, href)
	}
	if href, _ := doc.Find(`a.brand`).Attr("href"); href != prefix+"/" {
		t.Errorf("%s: home link %q", what, href)
	}
}

// wantRedirect checks a 303 and its Location.
func wantRedirect(t *testing.T, what string, resp *testutil.Response, to string) {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != to {
		t.Fatalf("%s: %d → %q, want 303 → %q\n%s", what, resp.StatusCode, resp.Header.Get("Location"), to, resp.Body)
	}
}

// The HTTP suite's key flows, under BASE_URL=http://127.0.0.1:PORT/latchkey:
// register → account → change password → sign out → forgot → emailed
// link → reset → sign in; every page and fragment on the way has its
// URLs under the prefix; the session cookie has Path=/.
func TestBasePathJourney(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "pat@example.com"
		if !strings.HasSuffix(app.URL, prefix) || app.Origin+prefix != app.URL {
			t.Fatalf("test app at %s (origin %s)", app.URL, app.Origin)
		}
		b := app.NewBrowser(t)
		htmx := []string{"HX-Request", "true"}

		// Signed-out pages, full and (after a failed submit) as fragments.
		checkPage(t, app, "home", b.Get("/"), http.StatusOK)
		checkPage(t, app, "home without the slash", b.Get(""), http.StatusOK)
		checkPage(t, app, "sign-in page", b.Get("/account/login"), http.StatusOK)
		checkPage(t, app, "forgot page", b.Get("/account/forgot-password"), http.StatusOK)
		reg := b.Get("/account/register")
		checkPage(t, app, "register page", reg, http.StatusOK)
		if action, _ := reg.Doc(t).Find(`[data-testid="register-form"]`).Attr("action"); action != prefix+"/account/register" {
			t.Errorf("register form action %q", action)
		}
		if hx, _ := reg.Doc(t).Find(`input[name="email"]`).Attr("hx-post"); hx != prefix+"/account/validate/email" {
			t.Errorf("inline email check posts to %q", hx)
		}
		for _, f := range []struct{ path, testid string }{
			{"/account/login", "login-form"}, {"/account/register", "register-form"}, {"/account/forgot-password", "forgot-form"},
		} {
			frag := b.Post(f.path, url.Values{"email": {"not an address"}}, htmx...)
			if frag.StatusCode != http.StatusUnprocessableEntity || frag.Doc(t).Find(`[data-testid="`+f.testid+`"]`).Length() != 1 ||
				strings.Contains(frag.Body, "<html") {
				t.Fatalf("%s htmx 422 fragment: %d\n%s", f.path, frag.StatusCode, frag.Body)
			}
			if n := checkPrefixed(t, app, f.path+" fragment", frag.Body); n < 2 { // action and hx-post
				t.Errorf("%s fragment: only %d URLs", f.path, n)
			}
		}
		for _, v := range []struct{ path, field string }{{"/account/validate/email", "email"}, {"/account/validate/password", "password"}} {
			r := b.Post(v.path, url.Values{v.field: {"x"}}, htmx...)
			if r.StatusCode != http.StatusOK {
				t.Errorf("%s under the prefix: %d", v.path, r.StatusCode)
			}
			checkPrefixed(t, app, v.path, r.Body)
		}

		// Register: a session cookie for the whole origin, not the prefix.
		resp := b.Post("/account/register", url.Values{"email": {email}, "password": {oldPassword}})
		wantRedirect(t, "register", resp, prefix+"/account")
		var session *http.Cookie
		for _, c := range resp.Cookies() {
			if c.Name == "latchkey_session" {
				session = c
			}
			if c.Path != "/" {
				t.Errorf("cookie %s has Path=%q, want /", c.Name, c.Path)
			}
		}
		if session == nil {
			t.Fatalf("register set no session cookie: %v", resp.Header["Set-Cookie"])
		}
		// So the app's own pages (outside the prefix) carry it.
		appPage, err := url.Parse(app.Origin + "/some/app/page")
		if err != nil {
			t.Fatal(err)
		}
		if !hasCookie(b.HTTP.Jar.Cookies(appPage), "latchkey_session") {
			t.Errorf("the browser would not send the session cookie to %s", appPage)
		}

		account := b.Get("/account")
		checkPage(t, app, "account page", account, http.StatusOK)
		if account.Text(t, `[data-testid="flash"]`) == "" {
			t.Errorf("no welcome flash on the account page")
		}
		checkPage(t, app, "home signed in", b.Get("/"), http.StatusOK)
		checkPage(t, app, "password page", b.Get("/account/password"), http.StatusOK)

		// Change password: a failed htmx submit is a prefixed fragment, a
		// successful one an HX-Redirect under the prefix.
		frag := b.Post("/account/password", url.Values{"current_password": {"wrong password here"}, "password": {newPassword}}, htmx...)
		if frag.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("wrong current password: %d", frag.StatusCode)
		}
		checkPrefixed(t, app, "password fragment", frag.Body)
		resp = b.Post("/account/password", url.Values{"current_password": {oldPassword}, "password": {newPassword}}, htmx...)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("HX-Redirect") != prefix+"/account" {
			t.Fatalf("htmx change password: %d HX-Redirect %q\n%s", resp.StatusCode, resp.Header.Get("HX-Redirect"), resp.Body)
		}
		changed := app.SMTP.WaitForSubject(t, "Your Latchkey password was changed", 1, 10*time.Second)[0]
		notMe := notMeRE.FindString(changed.Text)
		if !strings.HasPrefix(notMe, app.URL+"/account/not-me?token=") {
			t.Errorf("not-me link %q is not under %s", notMe, app.URL)
		}
		if !strings.Contains(changed.HTML, app.URL+"/account/not-me?token=") {
			t.Errorf("the HTML part's not-me link is not under %s", app.URL)
		}
		checkPage(t, app, "not-me page", app.NewBrowser(t).Get(notMe), http.StatusOK)

		// Sign out: home under the prefix; then the guard sends to the
		// prefixed sign-in page, with next a path on the origin.
		wantRedirect(t, "sign out", b.Post("/account/logout", nil), prefix+"/")
		wantRedirect(t, "account signed out", b.Get("/account"), prefix+"/account/login")
		wantRedirect(t, "password page signed out", b.Get("/account/password"), prefix+"/account/login?next="+prefix+"/account/password")
		if r := b.Post("/account/password", nil, htmx...); r.Header.Get("HX-Redirect") != prefix+"/account/login" {
			t.Errorf("htmx POST signed out: HX-Redirect %q", r.Header.Get("HX-Redirect"))
		}

		// Forgot → emailed link under the prefix → reset.
		sent := b.Post("/account/forgot-password", url.Values{"email": {email}})
		checkPage(t, app, "forgot sent", sent, http.StatusOK)
		mail := app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0]
		link := testutil.ResetLink(t, mail)
		if !strings.HasPrefix(link, app.URL+"/account/reset-password?code=") {
			t.Fatalf("reset link %q is not under %s", link, app.URL)
		}
		if !strings.Contains(mail.Text, app.URL+"/account/forgot-password") || !strings.Contains(mail.HTML, app.URL+"/account/reset-password?code=") {
			t.Errorf("reset email's other links are not under %s:\n%s", app.URL, mail.Text)
		}
		wantRedirect(t, "reset link", b.Get(link), prefix+"/account/reset-password")
		checkPage(t, app, "reset page", b.Get("/account/reset-password"), http.StatusOK)
		frag = b.Post("/account/reset-password", url.Values{"password": {"short"}}, htmx...)
		if frag.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("short new password: %d", frag.StatusCode)
		}
		checkPrefixed(t, app, "reset fragment", frag.Body)
		const third = "the third passphrase 7"
		wantRedirect(t, "reset", b.Post("/account/reset-password", url.Values{"password": {third}}), prefix+"/account/login")
		login := b.Get("/account/login")
		checkPage(t, app, "sign-in page after reset", login, http.StatusOK)
		if got := login.Text(t, `[data-testid="flash"]`); got != "Your password has been reset, please sign in." {
			t.Errorf("flash after reset = %q", got)
		}
		// The used link: 410, and its way on is under the prefix.
		gone := app.NewBrowser(t).Get(link)
		checkPage(t, app, "used reset link", gone, http.StatusGone)
		if href, _ := gone.Doc(t).Find(`a.button-primary`).Attr("href"); href != prefix+"/account/forgot-password" {
			t.Errorf("410 page links to %q", href)
		}

		// Sign in: next is honoured as an origin path; the default is the
		// prefixed account page.
		wantRedirect(t, "sign in with next", b.Post("/account/login",
			url.Values{"email": {email}, "password": {third}, "next": {prefix + "/account/password"}}), prefix+"/account/password")
		wantRedirect(t, "signed-in visitor at the sign-in page", b.Get("/account/login"), prefix+"/account")
		// The origin check compares scheme and host: the page's Origin
		// (no path) is BASE_URL's.
		fresh := app.NewBrowser(t)
		wantRedirect(t, "sign in", fresh.Post("/account/login", url.Values{"email": {email}, "password": {third}},
			"Origin", app.Origin, "Sec-Fetch-Site", "same-origin"), prefix+"/account")
		if r := app.NewBrowser(t).Post("/account/login", url.Values{"email": {email}, "password": {third}}, htmx...); r.Header.Get("HX-Redirect") != prefix+"/account" {
			t.Errorf("htmx sign in: HX-Redirect %q", r.Header.Get("HX-Redirect"))
		}
		checkPage(t, app, "account page after sign-in", fresh.Get("/account"), http.StatusOK)

		// Error pages and alerts under the prefix.
		checkPage(t, app, "404 under the prefix", b.Get("/no/such/page"), http.StatusNotFound)
		checkPage(t, app, "cross-site POST", fresh.Post("/account/logout", nil, "Sec-Fetch-Site", "cross-site"), http.StatusForbidden)
		alert := fresh.Post("/account/logout", nil, "Sec-Fetch-Site", "cross-site", "HX-Request", "true")
		if alert.StatusCode != http.StatusForbidden || alert.Doc(t).Find(`[data-testid="alert"]`).Length() != 1 {
			t.Errorf("htmx cross-site POST: %d\n%s", alert.StatusCode, alert.Body)
		}
		checkPrefixed(t, app, "alert", alert.Body)

		// The log says what the client asked for, prefix included.
		if logs := app.Logs.String(); !strings.Contains(logs, "path="+prefix+"/account/login ") {
			t.Errorf("request log lines lack the prefixed path")
		}
	}, testutil.WithBasePath(prefix))
}

func hasCookie(cs []*http.Cookie, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// Outside the prefix there is nothing: no page, no form, no probe, no
// asset; a path that merely starts with the prefix's letters is outside
// too, and so is one that spells it with percent-escapes (Echo routes on
// the raw path).
func TestBasePathOutsideIs404(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		b := app.NewBrowser(t)
		css, _ := b.Get("/account/login").Doc(t).Find(`link[rel="stylesheet"]`).Attr("href")
		if !strings.HasPrefix(css, prefix+"/assets/") {
			t.Fatalf("stylesheet %q", css)
		}
		for _, p := range []string{
			"/", "/account", "/account/login", "/account/register", "/account/forgot-password", "/healthz", "/readyz",
			strings.TrimPrefix(css, prefix), "/latchkeys/account/login", "/latch/account/login", "/latch%6Bey/account/login",
			"/LATCHKEY/account/login", "//latchkey/account/login",
		} {
			t.Run(p, func(t *testing.T) {
				r := b.Get(app.Origin + p)
				if r.StatusCode != http.StatusNotFound {
					t.Fatalf("GET %s: %d, want 404", p, r.StatusCode)
				}
				// An ordinary 404: security headers, and its links (into
				// the prefix) prefixed.
				if r.Header.Get("Content-Security-Policy") == "" || r.Header.Get("X-Request-Id") == "" {
					t.Errorf("GET %s: 404 without the usual headers: %v", p, r.Header)
				}
				checkPrefixed(t, app, "404 for "+p, r.Body)
			})
		}
		// A POST outside the prefix changes nothing: no account, no
		// session.
		r := b.Post(app.Origin+"/account/register", url.Values{"email": {"out@example.com"}, "password": {oldPassword}})
		if r.StatusCode != http.StatusNotFound || len(r.Cookies()) != 0 {
			t.Errorf("POST /account/register outside the prefix: %d, cookies %v", r.StatusCode, r.Cookies())
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Table("accounts")); n != 0 {
			t.Errorf("%d accounts after a POST outside the prefix", n)
		}
		// Inside: the probes answer.
		for _, p := range []string{"/healthz", "/readyz"} {
			if r := b.Get(p); r.StatusCode != http.StatusOK {
				t.Errorf("GET %s%s: %d", prefix, p, r.StatusCode)
			}
		}
	}, testutil.WithBasePath(prefix))
}

// Assets are served under the prefix with their caching rules: the
// hashed names for a year, immutable; the plain name revalidated.
func TestBasePathAssets(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		b := app.NewBrowser(t)
		doc := b.Get("/").Doc(t)
		var urls []string
		doc.Find(`link[rel="stylesheet"], script[src]`).Each(func(_ int, s *goquery.Selection) {
			u, _ := s.Attr("href")
			if u == "" {
				u, _ = s.Attr("src")
			}
			urls = append(urls, u)
		})
		if len(urls) != 3 {
			t.Fatalf("assets on the page: %v", urls)
		}
		hashed := regexp.MustCompile(`^` + prefix + `/assets/[a-z.]+\.[0-9a-f]{12}\.(css|js)$`)
		for _, u := range urls {
			if !hashed.MatchString(u) {
				t.Errorf("asset URL %q is not a hashed name under %s/assets/", u, prefix)
				continue
			}
			r := b.Get(app.Origin+u, "Accept-Encoding", "gzip")
			if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
				r.Header.Get("ETag") == "" || len(r.Body) == 0 {
				t.Errorf("GET %s: %d Cache-Control %q ETag %q", u, r.StatusCode, r.Header.Get("Cache-Control"), r.Header.Get("ETag"))
			}
			if r.Header.Get("Content-Encoding") != "gzip" {
				t.Errorf("GET %s: Content-Encoding %q, want gzip", u, r.Header.Get("Content-Encoding"))
			}
			etag := r.Header.Get("ETag")
			if r := b.Get(app.Origin+u, "Accept-Encoding", "gzip", "If-None-Match", etag); r.StatusCode != http.StatusNotModified {
				t.Errorf("GET %s If-None-Match: %d", u, r.StatusCode)
			}
		}
		if r := b.Get("/assets/app.css"); r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-cache" {
			t.Errorf("plain name under the prefix: %d %q", r.StatusCode, r.Header.Get("Cache-Control"))
		}
	}, testutil.WithBasePath(prefix))
}

// Dev mode's pages (mailbox, styleguide with every page and error page,
// the HTML of every email) keep every URL under the prefix too.
func TestBasePathDevPages(t *testing.T) {
	app := testutil.StartApp(t, "sqlite", testutil.WithBasePath(prefix), testutil.WithDevMailbox())
	b := app.Register(t, "dev@example.com", oldPassword)
	b.Post("/account/logout", nil)
	b.Post("/account/forgot-password", url.Values{"email": {"dev@example.com"}})

	var mailbox *testutil.Response
	deadline := time.Now().Add(10 * time.Second)
	for {
		mailbox = b.Get("/dev/mailbox")
		if strings.Contains(mailbox.Body, resetSubject) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	checkPage(t, app, "dev mailbox", mailbox, http.StatusOK)
	if !strings.Contains(mailbox.Body, app.URL+"/account/reset-password?code=") {
		t.Fatalf("the mailbox lacks a reset link under %s:\n%s", app.URL, mailbox.Body)
	}
	var pages []string
	mailbox.Doc(t).Find(`a`).Each(func(_ int, s *goquery.Selection) {
		if href, _ := s.Attr("href"); strings.HasPrefix(href, prefix+"/dev/mailbox/") {
			pages = append(pages, href)
		}
	})
	if len(pages) < 3 { // the message and two samples
		t.Fatalf("mailbox HTML links: %v", pages)
	}
	for _, p := range pages {
		r := b.Get(app.Origin + p)
		if r.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %d", p, r.StatusCode)
		}
		// The change-of-address emails that must not carry a link (SPEC §8:
		// "someone tried to use it, with no link"; the address already
		// changed) are checked for prefixed links all the same.
		linkless := strings.HasSuffix(p, "/sample/email-change-taken") || strings.HasSuffix(p, "/sample/email-changed")
		if n := checkPrefixed(t, app, p, r.Body); n < 1 && !linkless {
			t.Errorf("%s: no link in the email", p)
		}
	}

	guide := b.Get("/dev/styleguide")
	checkPage(t, app, "styleguide", guide, http.StatusOK)
	var subpages []string
	guide.Doc(t).Find(`a`).Each(func(_ int, s *goquery.Selection) {
		if href, _ := s.Attr("href"); strings.HasPrefix(href, prefix+"/dev/styleguide/") {
			subpages = append(subpages, href)
		}
	})
	if len(subpages) < 10 { // six pages and the error pages
		t.Fatalf("styleguide links: %v", subpages)
	}
	for _, p := range subpages {
		r := b.Get(app.Origin + p)
		if strings.Contains(p, "/forbidden/") {
			// /auth/verify's 403 stands alone, at the app's address: its
			// links are absolute, on BASE_URL.
			checkStandalone403(t, app, p, r)
			continue
		}
		checkPage(t, app, p, r, http.StatusOK)
	}
	// The footer's dev links are prefixed too.
	if href, _ := guide.Doc(t).Find(`.dev-note a`).First().Attr("href"); href != prefix+"/dev/mailbox" {
		t.Errorf("dev note links to %q", href)
	}
}

// rd under a prefix: the sign-in and registration pages carry it in links
// and forms under the prefix, and sign-in, a signed-in visit and sign-out
// return to the app's page, which is outside the prefix on the same
// origin.
func TestBasePathRd(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "rd@example.com"
		target := app.Origin + "/app/page?x=1"
		app.Register(t, email, oldPassword)
		b := app.NewBrowser(t)
		page := b.Get("/account/login?rd=" + url.QueryEscape(target))
		checkPage(t, app, "sign-in page with rd", page, http.StatusOK)
		if rd, _ := page.Doc(t).Find(`[data-testid="login-form"] input[name="rd"]`).Attr("value"); rd != target {
			t.Errorf("sign-in form carries rd %q", rd)
		}
		if href, _ := page.Doc(t).Find(`.aside a[href*="/account/register"]`).Attr("href"); href != prefix+"/account/register?rd="+url.QueryEscape(target) {
			t.Errorf("register link %q", href)
		}
		reg := b.Get("/account/register?rd=" + url.QueryEscape(target))
		checkPage(t, app, "register page with rd", reg, http.StatusOK)
		if href, _ := reg.Doc(t).Find(`.aside a[href*="/account/login"]`).Attr("href"); href != prefix+"/account/login?rd="+url.QueryEscape(target) {
			t.Errorf("sign-in link %q", href)
		}
		wantRedirect(t, "sign in with rd", b.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}, "rd": {target}}), target)
		wantRedirect(t, "signed-in visitor with rd", b.Get("/account/login?rd="+url.QueryEscape(target)), target)
		wantRedirect(t, "signed-in visitor without rd", b.Get("/account/login"), prefix+"/account")
		wantRedirect(t, "sign out with rd", b.Post("/account/logout", url.Values{"rd": {target}}), target)
	}, testutil.WithBasePath(prefix))
}

// checkStandalone403 checks /auth/verify's refusal page (or its styleguide
// sample): absolute links under BASE_URL, prefix included.
func checkStandalone403(t *testing.T, app *testutil.App, what string, r *testutil.Response) {
	t.Helper()
	if n := checkPrefixed(t, app, what, r.Body); n < 2 {
		t.Errorf("%s: only %d URLs checked", what, n)
	}
	doc := r.Doc(t)
	if css, _ := doc.Find(`link[rel="stylesheet"]`).Attr("href"); !strings.HasPrefix(css, app.URL+"/assets/app.") {
		t.Errorf("%s: stylesheet %q", what, css)
	}
	if href, _ := doc.Find(`[data-testid="forbidden-action"]`).Attr("href"); !strings.HasPrefix(href, app.URL+"/account") {
		t.Errorf("%s: action link %q", what, href)
	}
}

// Forward auth under a prefix: /latchkey/auth/verify and
// /latchkey/auth/whoami answer, their sign-in URLs are under the prefix,
// the refusal page links there, and the unprefixed routes do not exist.
func TestBasePathForwardAuth(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "fa@example.com"
		original := app.Origin + "/app/page?x=1"
		signIn := app.URL + "/account/login?rd=" + url.QueryEscape(original)
		caddy := []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http", "X-Forwarded-Host",
			strings.TrimPrefix(app.Origin, "http://"), "X-Forwarded-Uri", "/app/page?x=1", "Accept", "text/html"}
		anon := app.NewBrowser(t)

		r := anon.Get("/auth/verify", caddy...)
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != signIn {
			t.Errorf("signed-out browser navigation: %d → %q, want 302 → %q", r.StatusCode, r.Header.Get("Location"), signIn)
		}
		r = anon.Get("/auth/verify", "X-Original-URL", original, "X-Original-Method", "GET")
		if r.StatusCode != http.StatusUnauthorized || r.Header.Get("Location") != signIn {
			t.Errorf("signed-out nginx check: %d → %q, want 401 → %q", r.StatusCode, r.Header.Get("Location"), signIn)
		}
		if !strings.Contains(r.Body, `"sign_in":"`+app.URL+`/account/login`) {
			t.Errorf("signed-out JSON names another sign-in URL: %s", r.Body)
		}
		for _, p := range []string{"/auth/verify", "/auth/whoami"} {
			if r := anon.Get(app.Origin+p, caddy...); r.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s outside the prefix: %d, want 404", p, r.StatusCode)
			}
		}

		b := app.Register(t, email, oldPassword)
		r = b.Get("/auth/verify", caddy...)
		if r.StatusCode != http.StatusOK || r.Header.Get("X-Latchkey-Email") != email {
			t.Errorf("signed-in check: %d, email %q", r.StatusCode, r.Header.Get("X-Latchkey-Email"))
		}
		if r := b.Get("/auth/whoami"); r.StatusCode != http.StatusOK || !strings.Contains(r.Body, email) {
			t.Errorf("whoami: %d %s", r.StatusCode, r.Body)
		}
		// The cookie Latchkey set under the prefix is what the browser
		// sends with the app's own requests (Path=/): verify sees it.
		appReq, err := http.NewRequest(http.MethodGet, app.URL+"/auth/verify", nil)
		if err != nil {
			t.Fatal(err)
		}
		appURL, _ := url.Parse(original)
		for _, c := range b.HTTP.Jar.Cookies(appURL) {
			appReq.AddCookie(c)
		}
		for i := 0; i+1 < len(caddy); i += 2 {
			appReq.Header.Set(caddy[i], caddy[i+1])
		}
		if r := app.NewBrowser(t).Do(appReq); r.StatusCode != http.StatusOK {
			t.Errorf("verify with the cookies the app's page gets: %d", r.StatusCode)
		}
	}, testutil.WithBasePath(prefix))

	// The refusal page links under the prefix.
	app := testutil.StartApp(t, "sqlite", testutil.WithBasePath(prefix), testutil.WithEnv("REQUIRE_VERIFIED_EMAIL", "true"))
	b := app.Register(t, "unverified@example.com", oldPassword)
	r := b.Get("/auth/verify", "X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http", "X-Forwarded-Host",
		strings.TrimPrefix(app.Origin, "http://"), "X-Forwarded-Uri", "/app/page", "Accept", "text/html")
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("unverified address with REQUIRE_VERIFIED_EMAIL: %d", r.StatusCode)
	}
	checkStandalone403(t, app, "verify 403", r)
}
