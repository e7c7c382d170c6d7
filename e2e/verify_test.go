package e2e

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

const verifySubject = "Confirm your email address for Latchkey"

var verifyLinkRE = regexp.MustCompile(`https?://\S+/account/verify-email\?code=[A-Za-z0-9_-]+`)

// verifyLink reads the verification link from the latest verification
// email to an address beyond the first skip, as it arrived over SMTP.
func verifyLink(t *testing.T, app *testutil.App, to string, skip int) string {
	t.Helper()
	m := waitForMail(t, app, to, verifySubject, skip)
	link := verifyLinkRE.FindString(m.Text)
	if link == "" {
		t.Fatalf("no verification link in:\n%s", m.Text)
	}
	return link
}

// openStandalone navigates to a page that loads no script whatever the
// tab's setting (/auth/verify's 403 stands alone: the proxy serves it at
// the protected app's origin) and returns its status.
func (p *tab) openStandalone(path string) int64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(p.url(path)))
	if err != nil || resp == nil {
		p.fatalf("open %s: no document response (%v)", path, err)
	}
	return resp.Status
}

func TestVerifyJourneyWithJavaScript(t *testing.T) {
	t.Parallel()
	verifyJourney(t, true)
}

func TestVerifyJourneyWithoutJavaScript(t *testing.T) {
	t.Parallel()
	verifyJourney(t, false)
}

// verifyJourney: register, see "not verified" with the resend button on
// the account page, ask for a new link, open it from the email, and see
// "verified" there; the link opened again says "already verified".
func verifyJourney(t *testing.T, withJS bool) {
	requireChromium(t)
	app := testutil.StartApp(t, "sqlite")
	b := startBrowser(t, app)
	name, email := "verify-nojs", "verify-nojs@example.com"
	if withJS {
		name, email = "verify-js", "verify-js@example.com"
	}
	p := b.newTab(t, name, withJS)

	registerInTab(p, email)
	if got := eval[string](p, `document.querySelector('[data-testid="verified-hint"]').dataset.verified`); got != "false" {
		p.fatalf("a new account shows verified=%q", got)
	}
	first := verifyLink(t, app, email, 0)

	// The resend button: a plain form, with or without JavaScript.
	p.clickAndLoad("send a new link", `[data-testid="verify-resend-form"] button[type="submit"]`)
	p.requirePath("/account")
	if got := p.text(`[data-testid="flash"]`); !strings.Contains(got, "We have emailed a new link to "+email) {
		p.fatalf("flash after resend = %q", got)
	}
	p.shoot("verify-resent")
	link := verifyLink(t, app, email, 1)
	if link == first {
		t.Fatalf("the resent link is the first one")
	}

	if st := p.open(link); st != http.StatusOK {
		p.fatalf("verification link: %d", st)
	}
	if got := eval[string](p, `document.querySelector('[data-testid="verify-email"]').dataset.state`); got != "verified" {
		p.fatalf("verification page state %q", got)
	}
	p.shoot("verify-verified")
	p.clickAndLoad("go to the account", `[data-testid="verify-email"] a.button`)
	p.requirePath("/account")
	if got := eval[string](p, `document.querySelector('[data-testid="verified-hint"]').dataset.verified`); got != "true" {
		p.fatalf("after the link the account shows verified=%q", got)
	}
	if got := p.text(`[data-testid="account-email"]`); !strings.Contains(got, "verified") {
		p.errorf("no verified badge: %q", got)
	}
	if p.exists(`[data-testid="verify-resend-form"]`) {
		p.errorf("the resend button is still shown once verified")
	}
	p.shoot("verify-account")

	// The first link, opened now: already verified, not an error.
	if st := p.open(first); st != http.StatusOK {
		p.fatalf("the first link after verifying: %d", st)
	}
	if got := eval[string](p, `document.querySelector('[data-testid="verify-email"]').dataset.state`); got != "already" {
		p.errorf("the first link after verifying: state %q", got)
	}
}

// TestVerifyAccessibility audits the verification pages and states with
// axe-core (zero violations), with and without JavaScript: the account
// page unverified (resend button) and after a resend (flash), a link's
// "verified", "already verified" and 410 pages, and /auth/verify's 403
// for an unverified address.
func TestVerifyAccessibility(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	app := testutil.StartApp(t, "sqlite", testutil.WithEnv("REQUIRE_VERIFIED_EMAIL", "true"))
	b := startBrowser(t, app)
	a := &auditor{}
	for _, withJS := range []bool{false, true} {
		name := map[bool]string{false: "verify-a11y-nojs", true: "verify-a11y-js"}[withJS]
		t.Run(name, func(t *testing.T) {
			p := b.newTab(t, name, withJS)
			email := name + "@example.com"
			registerInTab(p, email)
			a.check(p, "account unverified")

			p.clickAndLoad("send a new link", `[data-testid="verify-resend-form"] button[type="submit"]`)
			a.check(p, "account resent")

			if st := p.openStandalone("/auth/verify"); st != http.StatusForbidden {
				t.Errorf("/auth/verify unverified: %d, want 403", st)
			}
			a.check(p, "verify 403 email_unverified")

			if st := p.open("/account/verify-email?code=nope"); st != http.StatusGone {
				t.Errorf("unknown code: %d, want 410", st)
			}
			a.check(p, "verify-email 410")

			link := verifyLink(t, app, email, 0)
			if st := p.open(link); st != http.StatusOK {
				t.Fatalf("verification link: %d", st)
			}
			a.check(p, "verify-email verified")
			p.open(link)
			a.check(p, "verify-email already")
			p.open("/account")
			a.check(p, "account verified")

			// Signed out, the pages offer sign-in instead.
			p.clickAndLoad("sign out", `[data-testid="logout"]`)
			p.open(link)
			a.check(p, "verify-email already signed out")
		})
	}
	for _, r := range a.rows {
		t.Logf("%-48s %d", r.page, r.violations)
	}
}
