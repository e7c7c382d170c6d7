package e2e

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/latchkey-auth/latchkey/internal/proxytest"
)

// The protected-app journeys run the shipped nginx example
// (examples/nginx) in front of the example upstream app
// (examples/upstream) and Latchkey, and drive Chromium through them.

func TestProtectedAppOneOriginWithJavaScript(t *testing.T) {
	t.Parallel()
	protectedApp(t, proxytest.OneOrigin, true)
}

func TestProtectedAppOneOriginWithoutJavaScript(t *testing.T) {
	t.Parallel()
	protectedApp(t, proxytest.OneOrigin, false)
}

func TestProtectedAppSubdomainsWithJavaScript(t *testing.T) {
	t.Parallel()
	protectedApp(t, proxytest.Subdomains, true)
}

func TestProtectedAppSubdomainsWithoutJavaScript(t *testing.T) {
	t.Parallel()
	protectedApp(t, proxytest.Subdomains, false)
}

// protectedApp is a person's way into an app behind nginx: open the app,
// land on Latchkey's sign-in page, sign in, come back to the page they
// asked for showing their address, sign out with the app's own button,
// and be sent to sign in again.
func protectedApp(t *testing.T, shape proxytest.Shape, withJS bool) {
	requireChromium(t)
	e := proxytest.Start(t, proxytest.Nginx, shape)
	name := "protected-" + string(shape) + map[bool]string{true: "-js", false: "-nojs"}[withJS]
	email := name + "@example.com"

	// The account exists already (made through the proxy, then left).
	c := e.Client()
	reg, err := c.PostForm(e.LatchkeyURL+"/account/register", url.Values{"email": {email}, "password": {oldPassword}})
	if err != nil {
		t.Fatal(err)
	}
	_ = reg.Body.Close()
	if reg.StatusCode != http.StatusSeeOther {
		t.Fatalf("registering %s: %d", email, reg.StatusCode)
	}

	// *.example.test is loopback for this browser, as DNS would make it.
	b := startBrowser(t, e.Latchkey, chromedp.Flag("host-resolver-rules", "MAP *.example.test 127.0.0.1"),
		chromedp.Flag("unsafely-treat-insecure-origin-as-secure", e.AppURL+","+e.LatchkeyURL))
	p := b.newTab(t, name, withJS)

	// The app sends a signed-out visitor to Latchkey's sign-in page, with
	// the way back.
	target := e.AppURL + "/reports?year=2025"
	if st := p.open(target); st != http.StatusOK {
		p.fatalf("opening the app: %d", st)
	}
	p.requireSignIn(e, target)
	p.shoot("sign-in")

	// Sign in: back on the page first asked for, which shows who it is.
	p.typeInto("#email", email)
	p.typeInto("#password", oldPassword)
	p.clickAndLeave("sign in", `#login-form button[type="submit"]`)
	p.requireHref(target)
	if got := p.text(`[data-testid="app-email"]`); got != email {
		p.fatalf("the app shows %q, want %s", got, email)
	}
	p.shoot("app")

	// Sign out with the app's button: Latchkey signs out and sends the
	// browser back to the app, which sends it to sign in again.
	p.clickAndLeave("the app's sign-out button", `[data-testid="app-logout"]`)
	back := e.AppURL + "/"
	p.requireSignIn(e, back)
	p.loaded("signing out")
	if p.exists(`[data-testid="logout"]`) {
		p.fatalf("Latchkey still shows a signed-in navigation after signing out")
	}
	// And the app stays closed.
	if st := p.open(back); st != http.StatusOK {
		p.fatalf("opening the app after signing out: %d", st)
	}
	p.requireSignIn(e, back)
}

// clickAndLeave clicks and waits for the page load the click causes,
// which may be on another site than Latchkey (the app's pages have no
// htmx: loaded is the caller's to check where it applies).
func (p *tab) clickAndLeave(what, sel string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		shown := eval[[]string](p, `[...document.querySelectorAll(".form-error, .field-error, [data-testid=alert]")].map(e => e.textContent.trim()).filter(Boolean)`)
		p.fatalf("%s (click %s): no page load: %v; at %s, messages shown: %q", what, sel, err, eval[string](p, `location.href`), shown)
	}
}

// requireHref checks the whole address the tab is at.
func (p *tab) requireHref(want string) {
	p.t.Helper()
	if got := eval[string](p, `location.href`); got != want {
		p.fatalf("at %s, want %s", got, want)
	}
}

// requireSignIn checks that the tab is on Latchkey's sign-in page with rd.
func (p *tab) requireSignIn(e *proxytest.Env, rd string) {
	p.t.Helper()
	href := eval[string](p, `location.href`)
	u, err := url.Parse(href)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != e.LatchkeyURL+"/account/login" || u.Query().Get("rd") != rd {
		p.fatalf("at %s, want %s/account/login with rd=%s", href, e.LatchkeyURL, rd)
	}
	if !p.exists("#login-form") {
		p.fatalf("no sign-in form at %s", href)
	}
}
