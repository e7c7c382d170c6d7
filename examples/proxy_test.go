// Package examples_test runs the shipped reverse-proxy examples (nginx and
// Caddy, both deployment shapes) for real in front of Latchkey and the
// example upstream app, and checks what forward auth promises (SPEC §7):
// a signed-out visitor is sent to sign in with rd, a signed-in one reaches
// the app with the four identity headers, a client can never forge those
// headers, and sign-out ends access at once.
package examples_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/latchkey-auth/latchkey/examples/upstream/page"
	"github.com/latchkey-auth/latchkey/internal/proxytest"
	"github.com/latchkey-auth/latchkey/internal/testutil"
)

const (
	password = "correct horse battery staple"
	victim   = "victim@example.com"
)

func TestNginxOneOrigin(t *testing.T) {
	t.Parallel()
	forwardAuth(t, proxytest.Start(t, proxytest.Nginx, proxytest.OneOrigin), proxytest.Nginx)
}

func TestNginxSubdomains(t *testing.T) {
	t.Parallel()
	forwardAuth(t, proxytest.Start(t, proxytest.Nginx, proxytest.Subdomains), proxytest.Nginx)
}

func TestCaddyOneOrigin(t *testing.T) {
	t.Parallel()
	forwardAuth(t, proxytest.Start(t, proxytest.Caddy, proxytest.OneOrigin), proxytest.Caddy)
}

func TestCaddySubdomains(t *testing.T) {
	t.Parallel()
	forwardAuth(t, proxytest.Start(t, proxytest.Caddy, proxytest.Subdomains), proxytest.Caddy)
}

// forged are identity headers a client sends itself, hoping the app
// believes them.
var forged = []string{
	"X-Latchkey-Email", victim,
	"X-Latchkey-User", "0000000000000000000000000000000a",
	"X-Latchkey-Email-Verified", "true",
	"X-Latchkey-MFA", "true",
}

var publicID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// forwardAuth is a visitor's way through a protected app: refused and
// sent to sign in, signed in and let through with the identity headers,
// signed out and refused again; forged identity headers all along.
func forwardAuth(t *testing.T, e *proxytest.Env, kind proxytest.Kind) {
	c := &client{t: t, http: e.Client()}
	target := e.AppURL + "/reports?year=2025&q=a%20b"

	// Signed out: a browser navigation is sent to sign in, rd = where it
	// was going; the forged headers never reach the app.
	resp := c.get(target, append([]string{"Accept", "text/html,application/xhtml+xml"}, forged...)...)
	signIn := requireSignIn(t, "signed out", resp, http.StatusFound, e, target)
	if n := e.Upstream.Count(); n != 0 {
		t.Fatalf("signed out: the app received %d requests, want none", n)
	}
	if kind == proxytest.Caddy {
		// An API call is told so, in JSON, with the same sign-in URL.
		resp = c.get(target, append([]string{"Accept", "application/json"}, forged...)...)
		requireSignIn(t, "signed out, API call", resp, http.StatusUnauthorized, e, target)
		var body struct {
			Error  string `json:"error"`
			SignIn string `json:"sign_in"`
		}
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body.Error != "signed_out" || body.SignIn != signIn {
			t.Fatalf("signed out, API call: body %s (%v), want signed_out and sign_in %s", resp.Body, err, signIn)
		}
		if n := e.Upstream.Count(); n != 0 {
			t.Fatalf("signed out API call: the app received %d requests, want none", n)
		}
	}

	// The sign-in page answers through the proxy and carries rd.
	resp = c.get(signIn)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in page through the proxy: %d\n%s", resp.StatusCode, resp.Body)
	}
	if rd, _ := resp.doc(t).Find(`#login-form input[name="rd"]`).Attr("value"); rd != target {
		t.Fatalf("sign-in form's rd = %q, want %q", rd, target)
	}

	// Register (through the proxy) and come back to the target.
	email := "reader-" + string(kind) + "@example.com"
	resp = c.post(e.LatchkeyURL+"/account/register", url.Values{"email": {email}, "password": {password}, "rd": {target}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != target {
		t.Fatalf("register: %d Location %q, want 303 to %s\n%s", resp.StatusCode, resp.Header.Get("Location"), target, resp.Body)
	}

	// Signed in: the app sees exactly Latchkey's four headers, whatever the
	// client sent under those names.
	resp = c.get(target, forged...)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed in: %d\n%s", resp.StatusCode, resp.Body)
	}
	got := e.Upstream.Last(t)
	if got.URI != "/reports?year=2025&q=a%20b" {
		t.Errorf("the app received %s, want the original URI", got.URI)
	}
	want := map[string]string{"X-Latchkey-Email": email, "X-Latchkey-Email-Verified": "false", "X-Latchkey-MFA": "false"}
	for _, name := range page.Headers {
		vals := got.Header.Values(name)
		if len(vals) != 1 {
			t.Errorf("the app received %s = %q, want exactly one value", name, vals)
			continue
		}
		if w, ok := want[name]; ok && vals[0] != w {
			t.Errorf("the app received %s: %q, want %q", name, vals[0], w)
		}
	}
	user := got.Header.Get("X-Latchkey-User")
	if !publicID.MatchString(user) {
		t.Errorf("X-Latchkey-User = %q, want the account's opaque 128-bit hex id", user)
	}
	// The example page shows them.
	if shown := resp.doc(t).Find(`[data-testid="app-email"]`).Text(); shown != email {
		t.Errorf("the app's page shows %q, want %s", shown, email)
	}

	// Another request, signed in, without forged headers: same identity.
	c.get(e.AppURL + "/")
	if again := e.Upstream.Last(t).Header.Get("X-Latchkey-User"); again != user {
		t.Errorf("second request: X-Latchkey-User %q, want the same %q", again, user)
	}

	// The cookies the app's requests carry, kept to be replayed later.
	appURL, _ := url.Parse(e.AppURL)
	stolen := c.http.Jar.Cookies(appURL)
	if len(stolen) == 0 {
		t.Fatal("no cookie for the app's origin after signing in")
	}

	// Sign out with the app's own button (a POST to Latchkey with rd back
	// to the app, from the app's page): back to the app, which refuses.
	back := e.AppURL + "/"
	resp = c.post(e.LatchkeyURL+"/account/logout", url.Values{"rd": {back}}, "Origin", e.AppURL, "Sec-Fetch-Site", sameSite(e))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != back {
		t.Fatalf("sign out: %d Location %q, want 303 to %s\n%s", resp.StatusCode, resp.Header.Get("Location"), back, resp.Body)
	}
	before := e.Upstream.Count()
	requireSignIn(t, "after sign-out", c.get(back, forged...), http.StatusFound, e, back)
	// The old cookie, replayed by someone who copied it, is refused too:
	// the session is over, not just forgotten by this browser.
	thief := &client{t: t, http: e.Client()}
	thief.http.Jar.SetCookies(appURL, stolen)
	requireSignIn(t, "replayed cookie after sign-out", thief.get(back, forged...), http.StatusFound, e, back)
	if n := e.Upstream.Count(); n != before {
		t.Fatalf("after sign-out the app received %d more requests, want none", n-before)
	}
}

// requireSignIn checks that resp sends the visitor to Latchkey's sign-in
// page with rd, and returns that URL.
func requireSignIn(t *testing.T, what string, resp response, status int, e *proxytest.Env, rd string) string {
	t.Helper()
	loc := resp.Header.Get("Location")
	u, err := url.Parse(loc)
	if resp.StatusCode != status || err != nil || u.Scheme+"://"+u.Host+u.Path != e.LatchkeyURL+"/account/login" ||
		u.Query().Get("rd") != rd {
		t.Fatalf("%s: %d Location %q, want %d to %s/account/login with rd=%s\n%s", what, resp.StatusCode, loc, status, e.LatchkeyURL, rd, resp.Body)
	}
	return loc
}

// sameSite is what a browser sends as Sec-Fetch-Site for a form on the
// app's page posting to Latchkey.
func sameSite(e *proxytest.Env) string {
	a, _ := url.Parse(e.AppURL)
	l, _ := url.Parse(e.LatchkeyURL)
	if a.Host == l.Host {
		return "same-origin"
	}
	return "same-site"
}

type client struct {
	t    *testing.T
	http *http.Client
}

type response struct {
	*testutil.Response
}

func (r response) doc(t *testing.T) *goquery.Document { return r.Doc(t) }

func (c *client) do(req *http.Request, headers []string) response {
	c.t.Helper()
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	return response{&testutil.Response{Response: resp, Body: string(body)}}
}

func (c *client) get(u string, headers ...string) response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.do(req, headers)
}

func (c *client) post(u string, form url.Values, headers ...string) response {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req, headers)
}

func TestNginxRefusedPage(t *testing.T) {
	t.Parallel()
	refused(t, proxytest.Nginx)
}

func TestCaddyRefusedPage(t *testing.T) {
	t.Parallel()
	refused(t, proxytest.Caddy)
}

// refused: a signed-in visitor that REQUIRE_VERIFIED_EMAIL turns away sees
// Latchkey's 403 page saying what to do (an API call gets its JSON), at
// the app's address, and never reaches the app; no redirect loop.
func refused(t *testing.T, kind proxytest.Kind) {
	e := proxytest.Start(t, kind, proxytest.Subdomains, testutil.WithEnv("REQUIRE_VERIFIED_EMAIL", "true"))
	c := &client{t: t, http: e.Client()}
	email := "unverified-" + string(kind) + "@example.com"
	resp := c.post(e.LatchkeyURL+"/account/register", url.Values{"email": {email}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d\n%s", resp.StatusCode, resp.Body)
	}
	resp = c.get(e.AppURL+"/", append([]string{"Accept", "text/html,application/xhtml+xml"}, forged...)...)
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Location") != "" {
		t.Fatalf("unverified address: %d Location %q, want 403 without a redirect\n%s", resp.StatusCode, resp.Header.Get("Location"), resp.Body)
	}
	doc := resp.doc(t)
	if h1 := strings.TrimSpace(doc.Find("h1").Text()); h1 != "Verify your email address" {
		t.Errorf("403 page's heading = %q, want Latchkey's page\n%s", h1, resp.Body)
	}
	if href, _ := doc.Find(`a[href="` + e.LatchkeyURL + `/account"]`).Attr("href"); href == "" {
		t.Errorf("403 page has no link to %s/account\n%s", e.LatchkeyURL, resp.Body)
	}
	resp = c.get(e.AppURL+"/api/items", "Accept", "application/json")
	var body struct {
		Error string `json:"error"`
		URL   string `json:"url"`
	}
	if resp.StatusCode != http.StatusForbidden || json.Unmarshal([]byte(resp.Body), &body) != nil ||
		body.Error != "email_unverified" || body.URL != e.LatchkeyURL+"/account" {
		t.Fatalf("unverified address, API call: %d %s, want 403 JSON email_unverified", resp.StatusCode, resp.Body)
	}
	if n := e.Upstream.Count(); n != 0 {
		t.Fatalf("refused visitor: the app received %d requests, want none", n)
	}
}
