package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

const sessionCookie = "latchkey_session"

// A browser's navigation to the protected app, as Caddy's forward_auth
// (and Traefik) describe it to /auth/verify.
const (
	appURL     = "http://127.0.0.1:9000/app/page?x=1&y=%C3%A9"
	nginxURL   = "http://127.0.0.1:9000/app/nginx?z=1"
	htmlAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
)

func caddyNav(extra ...string) []string {
	return merge([]string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http", "X-Forwarded-Host", "127.0.0.1:9000",
		"X-Forwarded-Uri", "/app/page?x=1&y=%C3%A9", "Accept", htmlAccept}, extra...)
}

func nginx(method string, extra ...string) []string {
	return merge([]string{"X-Original-URL", nginxURL, "X-Original-Method", method}, extra...)
}

// merge returns name, value pairs with extra's values replacing base's.
func merge(base []string, extra ...string) []string {
	all := append(append([]string(nil), base...), extra...)
	last := map[string]string{}
	var order []string
	for i := 0; i+1 < len(all); i += 2 {
		if _, ok := last[all[i]]; !ok {
			order = append(order, all[i])
		}
		last[all[i]] = all[i+1]
	}
	out := make([]string, 0, 2*len(order))
	for _, k := range order {
		out = append(out, k, last[k])
	}
	return out
}

// check sends one request to a forward-auth route with the given session
// cookie value ("" for none), from a client that keeps no cookies.
func check(t *testing.T, app *testutil.App, method, path, cookie string, headers ...string) *testutil.Response {
	t.Helper()
	req, err := http.NewRequest(method, app.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	}
	return app.NewBrowser(t).Do(req)
}

func verify(t *testing.T, app *testutil.App, cookie string, headers ...string) *testutil.Response {
	t.Helper()
	return check(t, app, http.MethodGet, "/auth/verify", cookie, headers...)
}

// assertNoStoreNoCookie: every forward-auth answer is uncacheable and sets
// no cookie at all.
func assertNoStoreNoCookie(t *testing.T, r *testutil.Response) {
	t.Helper()
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if sc := r.Header.Values("Set-Cookie"); len(sc) != 0 {
		t.Errorf("Set-Cookie on a forward-auth answer: %q", sc)
	}
}

func identity(r *testutil.Response) [4]string {
	return [4]string{r.Header.Get("X-Latchkey-User"), r.Header.Get("X-Latchkey-Email"),
		r.Header.Get("X-Latchkey-Email-Verified"), r.Header.Get("X-Latchkey-MFA")}
}

// signInAs signs a fresh browser in and returns its session cookie.
func signInAs(t *testing.T, app *testutil.App, email, password string) (*testutil.Browser, string) {
	t.Helper()
	b := app.NewBrowser(t)
	if r := b.Post("/account/login", url.Values{"email": {email}, "password": {password}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign in %s: %d", email, r.StatusCode)
	}
	return b, b.Cookie(sessionCookie)
}

func publicID(t *testing.T, app *testutil.App, email string) string {
	t.Helper()
	acc, err := app.Store.AccountByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return acc.PublicID
}

// setSession changes a session row behind the app's back (a shortcut
// past the second step; totp_test.go goes through it), before its first
// check.
func setSession(t *testing.T, app *testutil.App, cookie, set string, args ...any) {
	t.Helper()
	if _, err := app.DB.NewUpdate().Model((*models.Session)(nil)).Set(set, args...).
		Where("id_hash = ?", models.HashSessionID(cookie)).Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func verifyEmail(t *testing.T, app *testutil.App, email string) {
	t.Helper()
	if _, err := app.DB.NewUpdate().Model((*models.Account)(nil)).Set("email_verified_at = ?", time.Now().UTC()).
		Where("email = ?", email).Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestVerifySignedIn: 200, an empty body and always all four identity
// headers, whatever identity headers the client sent itself; for HEAD,
// for nginx and Caddy alike. A session whose sign-in is not complete is
// signed out.
func TestVerifySignedIn(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "fwd@example.com"
		b := app.Register(t, email, oldPassword)
		cookie := b.Cookie(sessionCookie)
		want := [4]string{publicID(t, app, email), email, "false", "false"}
		if len(want[0]) != 32 {
			t.Fatalf("public id %q", want[0])
		}
		forged := []string{"X-Latchkey-User", "1", "X-Latchkey-Email", "admin@example.com", "X-Latchkey-Email-Verified", "true", "X-Latchkey-MFA", "true"}
		cases := map[string][]string{
			"caddy":                    caddyNav(),
			"caddy, forged identity":   caddyNav(forged...),
			"nginx":                    nginx("GET"),
			"nginx POST":               nginx("POST", forged...),
			"api":                      caddyNav("Accept", "application/json", "X-Requested-With", "XMLHttpRequest"),
			"no proxy headers at all":  nil,
			"forged identity, nothing": forged,
		}
		for name, hdr := range cases {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				r := check(t, app, method, "/auth/verify", cookie, hdr...)
				if r.StatusCode != http.StatusOK || r.Body != "" || r.Header.Get("Location") != "" {
					t.Errorf("%s %s: %d Location=%q body=%q", name, method, r.StatusCode, r.Header.Get("Location"), r.Body)
				}
				if got := identity(r); got != want {
					t.Errorf("%s %s: identity %q, want %q", name, method, got, want)
				}
				assertNoStoreNoCookie(t, r)
			}
		}

		// A verified address and a second factor show as true.
		const other = "fwd2@example.com"
		app.Register(t, other, oldPassword)
		_, second := signInAs(t, app, other, oldPassword)
		verifyEmail(t, app, other)
		setSession(t, app, second, "mfa = ?", true)
		if got := identity(verify(t, app, second, caddyNav()...)); got != [4]string{publicID(t, app, other), other, "true", "true"} {
			t.Errorf("verified, with a second factor: %q", got)
		}

		// Waiting for a second factor is signed out.
		_, pending := signInAs(t, app, email, oldPassword)
		setSession(t, app, pending, "auth_state = ?", models.AuthSecondFactorPending)
		if r := verify(t, app, pending, caddyNav()...); r.StatusCode != http.StatusFound || r.Header.Get("X-Latchkey-User") != "" {
			t.Errorf("pending second factor: %d user=%q", r.StatusCode, r.Header.Get("X-Latchkey-User"))
		}
	})
}

// TestVerifySignedOut: nginx gets 401 with Location; a browser navigation
// behind Caddy/Traefik gets 302; anything else 401 with Location and a
// JSON body. The rd is the original URL when it is an accepted return
// target and is omitted otherwise.
func TestVerifySignedOut(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	login := app.URL + "/account/login"
	withRD := func(rd string) string { return login + "?rd=" + url.QueryEscape(rd) }
	hostile := func(host, uri string) []string {
		return []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http", "X-Forwarded-Host", host, "X-Forwarded-Uri", uri, "Accept", htmlAccept}
	}
	cases := []struct {
		name     string
		method   string
		headers  []string
		cookie   string
		status   int
		location string
	}{
		{"nginx navigation", "GET", nginx("GET", "Accept", htmlAccept), "", 401, withRD(nginxURL)},
		{"nginx POST", "GET", nginx("POST"), "", 401, withRD(nginxURL)},
		{"nginx HEAD check", "HEAD", nginx("GET"), "", 401, withRD(nginxURL)},
		{"nginx, hostile URL", "GET", []string{"X-Original-URL", "https://evil.example/steal", "X-Original-Method", "GET"}, "", 401, login},
		{"nginx, path only", "GET", []string{"X-Original-URL", "/app/here", "X-Original-Method", "GET"}, "", 401, withRD("/app/here")},
		{"caddy navigation", "GET", caddyNav(), "", 302, withRD(appURL)},
		{"caddy HEAD navigation", "GET", caddyNav("X-Forwarded-Method", "HEAD"), "", 302, withRD(appURL)},
		{"caddy navigation, HEAD check", "HEAD", caddyNav(), "", 302, withRD(appURL)},
		{"caddy, unknown session cookie", "GET", caddyNav(), "not-a-session", 302, withRD(appURL)},
		{"caddy, no Accept", "GET", []string{"X-Forwarded-Method", "GET", "X-Forwarded-Proto", "http", "X-Forwarded-Host", "127.0.0.1:9000", "X-Forwarded-Uri", "/app/page?x=1&y=%C3%A9"}, "", 302, withRD(appURL)},
		{"api: Accept JSON", "GET", caddyNav("Accept", "application/json"), "", 401, withRD(appURL)},
		{"api: POST", "GET", caddyNav("X-Forwarded-Method", "POST"), "", 401, withRD(appURL)},
		{"api: htmx", "GET", caddyNav("HX-Request", "true"), "", 401, withRD(appURL)},
		{"api: XMLHttpRequest", "GET", caddyNav("X-Requested-With", "XMLHttpRequest"), "", 401, withRD(appURL)},
		{"hostile host", "GET", hostile("evil.example", "/"), "", 302, login},
		{"hostile look-alike host", "GET", hostile("127.0.0.1.evil.example", "/"), "", 302, login},
		{"hostile user-info", "GET", hostile("127.0.0.1@evil.example", "/"), "", 302, login},
		{"hostile uri", "GET", hostile("127.0.0.1", "@evil.example/"), "", 302, login},
		{"hostile backslash", "GET", hostile("127.0.0.1", `/\evil.example`), "", 302, login},
		{"hostile scheme", "GET", merge(hostile("127.0.0.1", "/"), "X-Forwarded-Proto", "javascript"), "", 302, login},
		{"no proxy headers", "GET", nil, "", 302, login},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := check(t, app, c.method, "/auth/verify", c.cookie, c.headers...)
			if r.StatusCode != c.status || r.Header.Get("Location") != c.location {
				t.Fatalf("%d Location=%q, want %d %q", r.StatusCode, r.Header.Get("Location"), c.status, c.location)
			}
			if r.Header.Get("X-Latchkey-User") != "" || r.Header.Get("X-Latchkey-Email") != "" {
				t.Errorf("identity headers on a signed-out answer")
			}
			assertNoStoreNoCookie(t, r)
			if c.status == http.StatusUnauthorized && c.method == http.MethodGet {
				var body struct {
					Error  string `json:"error"`
					SignIn string `json:"sign_in"`
				}
				if err := json.Unmarshal([]byte(r.Body), &body); err != nil || body.Error != "signed_out" || body.SignIn != c.location {
					t.Errorf("JSON body %q (%v), want signed_out with sign_in %q", r.Body, err, c.location)
				}
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q", ct)
				}
			}
			if c.method == http.MethodHead && r.Body != "" {
				t.Errorf("HEAD with a body")
			}
		})
	}
}

// TestVerifyRefusals: REQUIRE_VERIFIED_EMAIL and REQUIRE_MFA refuse a
// signed-in browser with 403 and a page (navigation) or JSON (anything
// else) saying what to do, linking to it; never a redirect.
func TestVerifyRefusals(t *testing.T) {
	cases := []struct {
		name, env, reason, link string
		// pass makes a signed-in session acceptable.
		pass func(t *testing.T, app *testutil.App, email, cookie string)
	}{
		{"REQUIRE_VERIFIED_EMAIL", "REQUIRE_VERIFIED_EMAIL", "email_unverified", "/account",
			func(t *testing.T, app *testutil.App, email, _ string) { verifyEmail(t, app, email) }},
		{"REQUIRE_MFA", "REQUIRE_MFA", "mfa_required", "/account/2fa",
			func(t *testing.T, app *testutil.App, _, cookie string) { setSession(t, app, cookie, "mfa = ?", true) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			app := testutil.StartApp(t, "sqlite", testutil.WithEnv(c.env, "true"))
			const email = "strict@example.com"
			cookie := app.Register(t, email, oldPassword).Cookie(sessionCookie)
			link := app.URL + c.link

			page := verify(t, app, cookie, caddyNav()...)
			if page.StatusCode != http.StatusForbidden || page.Header.Get("Location") != "" || page.Header.Get("X-Latchkey-User") != "" {
				t.Fatalf("navigation: %d Location=%q", page.StatusCode, page.Header.Get("Location"))
			}
			assertNoStoreNoCookie(t, page)
			doc := page.Doc(t)
			if reason, _ := doc.Find(`[data-testid="forbidden"]`).Attr("data-reason"); reason != c.reason {
				t.Errorf("page reason %q, want %q\n%s", reason, c.reason, page.Body)
			}
			if href, _ := doc.Find(`[data-testid="forbidden-action"]`).Attr("href"); href != link {
				t.Errorf("page links to %q, want %q", href, link)
			}
			if nginxPage := verify(t, app, cookie, nginx("GET", "Accept", htmlAccept)...); nginxPage.StatusCode != http.StatusForbidden ||
				!strings.Contains(nginxPage.Body, `data-reason="`+c.reason+`"`) {
				t.Errorf("nginx navigation: %d", nginxPage.StatusCode)
			}

			for name, hdr := range map[string][]string{
				"Accept JSON": caddyNav("Accept", "application/json"),
				"nginx POST":  nginx("POST"),
				"htmx":        caddyNav("HX-Request", "true"),
			} {
				r := verify(t, app, cookie, hdr...)
				var body struct {
					Error, Message, URL string
				}
				if err := json.Unmarshal([]byte(r.Body), &body); err != nil || r.StatusCode != http.StatusForbidden ||
					body.Error != c.reason || body.URL != link || body.Message == "" || r.Header.Get("Location") != "" {
					t.Errorf("%s: %d %s (%v)", name, r.StatusCode, r.Body, err)
				}
				assertNoStoreNoCookie(t, r)
			}

			// Once the condition holds, a new session (not yet cached)
			// passes; a signed-out check is still a sign-in redirect.
			_, fresh := signInAs(t, app, email, oldPassword)
			c.pass(t, app, email, fresh)
			if r := verify(t, app, fresh, caddyNav()...); r.StatusCode != http.StatusOK || r.Header.Get("X-Latchkey-Email") != email {
				t.Errorf("after %s is met: %d", c.env, r.StatusCode)
			}
			if r := verify(t, app, "", caddyNav()...); r.StatusCode != http.StatusFound {
				t.Errorf("signed out under %s: %d", c.env, r.StatusCode)
			}
		})
	}
}

// TestWhoami: the JSON identity, or 401 {"error":"signed_out"}; never
// cacheable.
func TestWhoami(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "who@example.com"
		cookie := app.Register(t, email, oldPassword).Cookie(sessionCookie)
		var sess models.Session
		if err := app.DB.NewSelect().Model(&sess).Where("id_hash = ?", models.HashSessionID(cookie)).Scan(t.Context()); err != nil {
			t.Fatal(err)
		}

		r := check(t, app, http.MethodGet, "/auth/whoami", cookie)
		assertNoStoreNoCookie(t, r)
		var got map[string]any
		if err := json.Unmarshal([]byte(r.Body), &got); err != nil || r.StatusCode != http.StatusOK {
			t.Fatalf("whoami: %d %s (%v)", r.StatusCode, r.Body, err)
		}
		ts := func(tm time.Time) string { return tm.UTC().Format(time.RFC3339) }
		want := map[string]any{
			"id": publicID(t, app, email), "email": email, "email_verified": false, "mfa": false,
			"session": map[string]any{
				"created_at": ts(sess.CreatedAt), "last_seen_at": ts(sess.LastSeenAt), "expires_at": ts(sess.LastSeenAt.Add(30 * time.Minute)),
			},
		}
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want)
		if string(gotJSON) != string(wantJSON) {
			t.Errorf("whoami:\n got %s\nwant %s", gotJSON, wantJSON)
		}
		if s, _ := got["session"].(map[string]any); s != nil && !strings.HasSuffix(s["created_at"].(string), "Z") {
			t.Errorf("times not in UTC: %v", s)
		}

		for name, c := range map[string]string{"no cookie": "", "unknown cookie": "nope"} {
			r := check(t, app, http.MethodGet, "/auth/whoami", c)
			if r.StatusCode != http.StatusUnauthorized || strings.TrimSpace(r.Body) != `{"error":"signed_out"}` {
				t.Errorf("%s: %d %s", name, r.StatusCode, r.Body)
			}
			assertNoStoreNoCookie(t, r)
		}
	})
}

// TestAnonymousChecksCreateNothing: 100 signed-out checks of every kind
// leave every table as it was, set no cookie and cache nothing.
func TestAnonymousChecksCreateNothing(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		app.Register(t, "someone@example.com", oldPassword) // rows to compare with
		count := func() map[string]int64 {
			out := map[string]int64{}
			for _, table := range testutil.Tables(t, app.DB) {
				out[table] = testutil.CountRows(t, app.DB.NewSelect().TableExpr(table))
			}
			return out
		}
		cacheBefore := app.Store.SessionCacheSize()
		before := count()
		kinds := []func() *testutil.Response{
			func() *testutil.Response { return verify(t, app, "", caddyNav()...) },
			func() *testutil.Response { return verify(t, app, "forged-or-expired", caddyNav()...) },
			func() *testutil.Response { return verify(t, app, "", nginx("GET")...) },
			func() *testutil.Response { return verify(t, app, "", caddyNav("Accept", "application/json")...) },
			func() *testutil.Response { return check(t, app, http.MethodHead, "/auth/verify", "") },
			func() *testutil.Response { return check(t, app, http.MethodGet, "/auth/whoami", "x") },
		}
		for i := range 100 {
			r := kinds[i%len(kinds)]()
			if r.StatusCode == http.StatusOK {
				t.Fatalf("anonymous check %d answered 200", i)
			}
			assertNoStoreNoCookie(t, r)
		}
		after := count()
		for table, n := range before {
			if after[table] != n {
				t.Errorf("table %s: %d rows before, %d after 100 anonymous checks", table, n, after[table])
			}
		}
		if n := app.Store.SessionCacheSize(); n != cacheBefore {
			t.Errorf("session cache: %d entries before, %d after", cacheBefore, n)
		}
	})
}

// TestVerifyTouchesLastSeenOncePerMinute: checks write last_seen_at at
// most once a minute per session, and the idle timeout still slides.
func TestVerifyTouchesLastSeenOncePerMinute(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		cookie := app.Register(t, "busy@example.com", oldPassword).Cookie(sessionCookie)
		lastSeen := func() time.Time {
			var s models.Session
			if err := app.DB.NewSelect().Model(&s).Where("id_hash = ?", models.HashSessionID(cookie)).Scan(t.Context()); err != nil {
				t.Fatal(err)
			}
			return s.LastSeenAt
		}
		ok := func(when string) {
			t.Helper()
			if r := verify(t, app, cookie, caddyNav()...); r.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", when, r.StatusCode)
			}
		}
		start := lastSeen()
		for range 20 {
			ok("at once")
		}
		app.Clock.Advance(30 * time.Second)
		for range 20 {
			ok("30 s later")
		}
		if got := lastSeen(); !got.Equal(start) {
			t.Fatalf("last seen written within the minute: %s → %s", start, got)
		}
		app.Clock.Advance(31 * time.Second)
		ok("61 s later")
		touched := lastSeen()
		if !touched.After(start.Add(time.Minute)) {
			t.Fatalf("last seen not written after a minute: %s → %s", start, touched)
		}
		for range 20 {
			ok("right after the touch")
		}
		if got := lastSeen(); !got.Equal(touched) {
			t.Errorf("last seen written twice in a minute: %s → %s", touched, got)
		}
		// Sliding: 25 + 25 minutes is past the 30-minute idle timeout
		// counted from sign-in, but never 30 minutes without a check.
		app.Clock.Advance(25 * time.Minute)
		ok("25 min later")
		app.Clock.Advance(25 * time.Minute)
		ok("50 min after sign-in")
		app.Clock.Advance(31 * time.Minute)
		if r := verify(t, app, cookie, caddyNav()...); r.StatusCode != http.StatusFound {
			t.Errorf("idle for 31 minutes: %d", r.StatusCode)
		}
	})
}

// TestVerifyRefusesEndedSessionsAtOnce: a session ended on this instance
// is refused by the very next check, although the check had just cached
// it. The cache's maximum age is an hour here, so only invalidation can
// make the difference.
func TestVerifyRefusesEndedSessionsAtOnce(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		// warm checks a session until it sits in the cache (on Postgres the
		// cache waits for its LISTEN connection).
		warm := func(cookie string) {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for !app.Store.SessionCached(cookie) {
				if r := verify(t, app, cookie, caddyNav()...); r.StatusCode != http.StatusOK {
					t.Fatalf("check before: %d", r.StatusCode)
				}
				if time.Now().After(deadline) {
					t.Fatal("the session cache never took the session")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if r := verify(t, app, cookie, caddyNav()...); r.StatusCode != http.StatusOK {
				t.Fatalf("cached check: %d", r.StatusCode)
			}
		}
		refused := func(what, cookie string) {
			t.Helper()
			if r := verify(t, app, cookie, caddyNav()...); r.StatusCode != http.StatusFound {
				t.Errorf("%s: next check %d, want 302 to sign in", what, r.StatusCode)
			}
			if r := check(t, app, http.MethodGet, "/auth/whoami", cookie); r.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: whoami %d", what, r.StatusCode)
			}
		}
		accepted := func(what, cookie string) {
			t.Helper()
			if r := verify(t, app, cookie, caddyNav()...); r.StatusCode != http.StatusOK {
				t.Errorf("%s: %d, want 200", what, r.StatusCode)
			}
		}

		t.Run("sign-out", func(t *testing.T) {
			b := app.Register(t, "out@example.com", oldPassword)
			cookie := b.Cookie(sessionCookie)
			warm(cookie)
			if r := b.Post("/account/logout", nil); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign out: %d", r.StatusCode)
			}
			refused("after sign-out", cookie)
		})

		// First of the subtests that send a "password changed" email:
		// takeOver reads the first one.
		t.Run("this wasn't me", func(t *testing.T) {
			const email = "victim-fa@example.com"
			owner := app.Register(t, email, oldPassword).Cookie(sessionCookie)
			warm(owner)
			intruder, token := takeOver(t, app, email)
			intruderCookie := intruder.Cookie(sessionCookie)
			warm(intruderCookie)
			if r := app.NewBrowser(t).Post("/account/not-me", url.Values{"token": {token}}); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("not-me: %d", r.StatusCode)
			}
			refused("the intruder after this wasn't me", intruderCookie)
		})

		t.Run("revoke one, revoke others", func(t *testing.T) {
			const email = "revoke@example.com"
			laptop := app.Register(t, email, oldPassword)
			_, phone := signInAs(t, app, email, oldPassword)
			_, tablet := signInAs(t, app, email, oldPassword)
			warm(phone)
			warm(tablet)
			warm(laptop.Cookie(sessionCookie))
			if r := laptop.Post("/account/sessions/revoke", url.Values{"session": {models.HashSessionID(phone)}}); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("revoke: %d", r.StatusCode)
			}
			refused("after revoking it", phone)
			accepted("the other device after revoking one", tablet)
			warm(tablet)
			if r := laptop.Post("/account/sessions/revoke-others", nil); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("revoke others: %d", r.StatusCode)
			}
			refused("after revoking the others", tablet)
			accepted("the device that revoked the others", laptop.Cookie(sessionCookie))
		})

		t.Run("password change", func(t *testing.T) {
			const email = "change@example.com"
			laptop := app.Register(t, email, oldPassword)
			before := laptop.Cookie(sessionCookie)
			_, phone := signInAs(t, app, email, oldPassword)
			warm(phone)
			warm(before)
			if r := laptop.Post("/account/password", url.Values{"current_password": {oldPassword}, "password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("change: %d %s", r.StatusCode, r.Body)
			}
			refused("another device after a password change", phone)
			refused("the changing device's old id", before)
			accepted("the changing device's new id", laptop.Cookie(sessionCookie))
		})

		t.Run("reset", func(t *testing.T) {
			const email = "reset-fa@example.com"
			cookie := app.Register(t, email, oldPassword).Cookie(sessionCookie)
			warm(cookie)
			app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {email}})
			// Other subtests mail resets too (not-me): wait for this address's.
			link := testutil.ResetLink(t, app.SMTP.WaitForTo(t, email, resetSubject, 10*time.Second))
			other := app.NewBrowser(t)
			other.Get(link)
			if r := other.Post("/account/reset-password", url.Values{"password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("reset: %d", r.StatusCode)
			}
			refused("after a reset", cookie)
		})

		t.Run("change of address", func(t *testing.T) {
			const email, moved = "mover-fa@example.com", "moved-fa@example.com"
			laptop := app.Register(t, email, oldPassword)
			_, phone := signInAs(t, app, email, oldPassword)
			warm(phone)
			warm(laptop.Cookie(sessionCookie))
			if r := laptop.Post("/account/email", url.Values{"email": {moved}, "current_password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
				t.Fatalf("change of address: %d", r.StatusCode)
			}
			accepted("another device before the link is opened", phone)
			link := testutil.ConfirmEmailLink(t, app.SMTP.WaitForMailTo(t, moved, "Confirm your new Latchkey email address", 1, 10*time.Second))
			if r := laptop.Get(link); r.StatusCode != http.StatusOK {
				t.Fatalf("confirm: %d", r.StatusCode)
			}
			refused("another device after the change of address", phone)
			accepted("the confirming device", laptop.Cookie(sessionCookie))
			if r := check(t, app, http.MethodGet, "/auth/whoami", laptop.Cookie(sessionCookie)); !strings.Contains(r.Body, moved) {
				t.Errorf("whoami after the change still has the old address: %s", r.Body)
			}
		})
	})
}

// TestVerifyReturnTargetsWithCookieDomain: with COOKIE_DOMAIN, an original
// URL on any subdomain is an accepted rd, and the sign-in URL is on
// BASE_URL; a host outside it is still omitted.
func TestVerifyReturnTargetsWithCookieDomain(t *testing.T) {
	app := testutil.StartApp(t, "sqlite", testutil.WithBaseURL("http://auth.example.test"), testutil.WithCookieDomain("example.test"))
	nav := func(host string) []string { return caddyNav("X-Forwarded-Host", host) }
	login := "http://auth.example.test/account/login"
	for host, want := range map[string]string{
		"app.example.test":      login + "?rd=" + url.QueryEscape("http://app.example.test/app/page?x=1&y=%C3%A9"),
		"example.test:8443":     login + "?rd=" + url.QueryEscape("http://example.test:8443/app/page?x=1&y=%C3%A9"),
		"example.test.evil":     login,
		"app.notexample.test":   login,
		"app.example.test.evil": login,
	} {
		r := verify(t, app, "", nav(host)...)
		if r.StatusCode != http.StatusFound || r.Header.Get("Location") != want {
			t.Errorf("%s: %d Location=%q, want %q", host, r.StatusCode, r.Header.Get("Location"), want)
		}
		assertNoStoreNoCookie(t, r)
	}
}
