package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

// addAuthenticator gives the tab a virtual platform authenticator
// (DevTools WebAuthn domain): CTAP2, internal transport, resident keys,
// user verification that succeeds, presence confirmed automatically. It
// returns the authenticator's id.
func (p *tab) addAuthenticator() webauthn.AuthenticatorID {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		p.fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(p.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		p.fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// TestPasskeyJourney is a real browser ceremony: register, add a passkey
// from /account, sign out, sign in with the "Sign in with a passkey"
// button (conditional mediation may not fire headless; the button is the
// tested path), then /account lists the passkey as used and /auth/whoami
// says mfa. Every passkey page is then audited (axe-core, reflow, field
// ARIA) with JavaScript on and off, in tabs of their own (a tab has a
// time budget).
func TestPasskeyJourney(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	app := testutil.StartApp(t, "sqlite", testutil.WithLocalhost())
	b := startBrowser(t, app)
	a := &auditor{}
	const email = "passkey@example.com"

	p := b.newTab(t, "passkey-js", true)
	authID := p.addAuthenticator()

	// Once the inline checks have answered (registerInTab): a submit
	// racing them left the JS run at /account/register now and then.
	registerInTab(p, email)

	// The script reveals the add form and hides the sentence for
	// browsers without JavaScript.
	p.waitFor("the add form", visible(`[data-testid="passkey-add"]`))
	if eval[bool](p, visible(`[data-testid="passkeys-nojs"]`)) {
		p.errorf("the no-JavaScript sentence is still shown")
	}
	// An empty name is refused next to the field, without a prompt.
	p.click("add without a name", `[data-testid="passkey-add-button"]`)
	p.waitFor("the name error", `document.querySelector("#passkey-name-feedback").textContent.trim() !== ""`)
	requireFocus(p, "input#passkey-name", "a passkey without a name")
	p.requireFieldsConsistent("a passkey without a name")

	p.typeInto("#passkey-name", "Laptop")
	p.mark()
	p.click("add a passkey", `[data-testid="passkey-add-button"]`)
	p.waitFor("the new passkey listed", `!window.__marker && document.querySelector('[data-testid="passkey-name"]')?.textContent.trim() === "Laptop"`)
	p.loaded("adding a passkey")
	if got := p.text(`[data-testid="passkey-last-used"]`); got != "Never" {
		p.errorf("last used before any sign-in: %q", got)
	}
	creds, err := chromedp.Call(p.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: authID})
	if err != nil {
		p.fatalf("WebAuthn.getCredentials: %v", err)
	}
	if len(creds.Credentials) != 1 || !creds.Credentials[0].IsResidentCredential || creds.Credentials[0].RpID != "localhost" {
		p.fatalf("authenticator credentials: %+v", creds.Credentials)
	}
	waitForMail(t, app, email, "A passkey was added to your Latchkey account", 0)

	// Sign out, then in with the passkey through the email field's
	// autofill: Chromium's virtual authenticator answers the conditional
	// request by itself, as a person picking the passkey would.
	p.clickAndLoad("sign out", `[data-testid="logout"]`)
	p.open("/account/login")
	p.waitFor("the autofill sign-in", `location.pathname === "/account" && document.querySelector('[data-testid="passkey-last-used"]') !== null`)
	p.loaded("passkey autofill sign-in")

	// Sign out, then in with the button, in a browser without autofill
	// for passkeys (conditional mediation reported unavailable, through
	// DevTools: no page script, the CSP untouched).
	p.clickAndLoad("sign out", `[data-testid="logout"]`)
	if _, err := chromedp.Call(p.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`,
	}); err != nil {
		p.fatalf("Page.addScriptToEvaluateOnNewDocument: %v", err)
	}
	p.open("/account/login")
	if ac := eval[string](p, `document.querySelector("#email").getAttribute("autocomplete")`); ac != "username webauthn" {
		p.errorf("email autocomplete %q", ac)
	}
	p.waitFor("the passkey button", visible(`[data-testid="passkey-signin-button"]`))
	p.mark()
	p.click("sign in with a passkey", `[data-testid="passkey-signin-button"]`)
	p.waitFor("the account page", `!window.__marker && location.pathname === "/account" && document.querySelector('[data-testid="passkey-last-used"]') !== null`)
	p.loaded("passkey sign-in")
	var uses int
	if err := app.DB.NewRaw("SELECT count(*) FROM security_events WHERE kind = 'sign-in-passkey'").Scan(t.Context(), &uses); err != nil || uses != 2 {
		t.Errorf("passkey sign-ins recorded: %d (%v), want 2", uses, err)
	}
	if got := p.text(`[data-testid="passkey-last-used"]`); got == "Never" || got == "" {
		p.errorf("last used after the sign-in: %q", got)
	}
	whoami, err := chromedp.Run(p.ctx, chromedp.Evaluate[map[string]any](`fetch("/auth/whoami").then(r => r.json())`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fatalf("whoami: %v", err)
	}
	if whoami["mfa"] != true || whoami["email"] != email {
		p.errorf("whoami after a passkey sign-in: %v", whoami)
	}
	p.shoot("account-after-passkey")

	// The pages with JavaScript: signed in with the password in a tab of
	// its own.
	j := b.newTab(t, "passkey-a11y-js", true)
	j.open("/account/login")
	j.waitFor("the passkey button", visible(`[data-testid="passkey-signin-button"]`))
	a.check(j, "login with passkeys")
	j.typeInto("#email", email)
	j.typeInto("#password", oldPassword)
	j.clickAndLoad("sign in", `#login-form button[type="submit"]`)
	j.requirePath("/account")
	j.waitFor("the add form", visible(`[data-testid="passkey-add"]`))
	a.check(j, "account with a passkey")
	j.click("add without a name", `[data-testid="passkey-add-button"]`)
	j.waitFor("the name error", `document.querySelector("#passkey-name-feedback").textContent.trim() !== ""`)
	a.check(j, "account passkey name error")
	j.clickAndLoad("remove link", `[data-testid="passkey-remove"]`)
	a.check(j, "remove passkey")

	// Without JavaScript: no controls, a sentence instead, and the rest
	// of the page (removing included) works.
	q := b.newTab(t, "passkey-nojs", false)
	q.open("/account/login")
	if eval[bool](q, visible(`[data-testid="passkey-signin-button"]`)) || !eval[bool](q, visible(`[data-testid="passkey-signin-nojs"]`)) {
		q.errorf("without JavaScript: the passkey button shows, or the sentence does not")
	}
	a.check(q, "login with passkeys")
	q.typeInto("#email", email)
	q.typeInto("#password", oldPassword)
	if st := q.clickAndLoad("sign in", `#login-form button[type="submit"]`); st != http.StatusOK {
		q.fatalf("sign-in: %d", st)
	}
	q.requirePath("/account")
	if eval[bool](q, visible(`[data-testid="passkey-add"]`)) || !eval[bool](q, visible(`[data-testid="passkeys-nojs"]`)) {
		q.errorf("without JavaScript: the add form shows, or the sentence does not")
	}
	a.check(q, "account with a passkey")
	q.clickAndLoad("remove link", `[data-testid="passkey-remove"]`)
	a.check(q, "remove passkey")
	if st := q.clickAndLoad("remove", `[data-testid="passkey-remove-form"] button[type="submit"]`); st != http.StatusOK {
		q.fatalf("removing: %d", st)
	}
	q.requirePath("/account")
	if !q.exists(`[data-testid="passkeys-none"]`) {
		q.errorf("the passkey is still listed after removal")
	}
	a.check(q, "account no passkeys")

	// The dev styleguide's passkey states not seen above: none with
	// JavaScript, and the section as a browser without JavaScript shows
	// it (with JavaScript on: the script leaves it alone).
	dev := testutil.StartApp(t, "sqlite", testutil.WithLocalhost(), testutil.WithDevMailbox())
	s := b.newTab(t, "passkey-styleguide", true)
	s.open(dev.URL + "/dev/styleguide/passkeys-none")
	s.waitFor("the add form", visible(`[data-testid="passkey-add"]`))
	a.check(s, "styleguide passkeys-none")
	s.open(dev.URL + "/dev/styleguide/passkeys-nojs")
	if !eval[bool](s, visible(`[data-testid="passkeys-nojs"]`)) || eval[bool](s, visible(`[data-testid="passkey-add"]`)) {
		s.errorf("the no-JavaScript state shows the form or hides the sentence")
	}
	a.check(s, "styleguide passkeys-nojs")

	var report strings.Builder
	for _, r := range a.rows {
		fmt.Fprintf(&report, "\n\t%-50s %d", r.page, r.violations)
	}
	t.Logf("problems per page (axe light+dark+360px, reflow, error fields):%s", report.String())
}
