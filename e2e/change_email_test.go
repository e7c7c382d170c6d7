package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

// Subjects of the change-of-address emails (views/email).
const (
	changeConfirmSubject = "Confirm your new Latchkey email address"
	changeNoticeSubject  = "Your Latchkey email address is about to change"
)

func TestChangeEmailJourneyWithJavaScript(t *testing.T) {
	t.Parallel()
	changeEmailJourney(t, true)
}

func TestChangeEmailJourneyWithoutJavaScript(t *testing.T) {
	t.Parallel()
	changeEmailJourney(t, false)
}

// settle waits, with JavaScript, for the inline checks that typing
// started to answer, as a person reading them would, before a submit.
func settle(p *tab) {
	p.t.Helper()
	if p.js {
		p.tab() // leave the field: its focusout check starts now, not mid-submit
		waitQuiet(p)
	}
}

// registerInTab creates an account through the registration form; the tab
// ends signed in on /account.
func registerInTab(p *tab, email string) {
	p.t.Helper()
	if st := p.open("/account/register"); st != http.StatusOK {
		p.fatalf("register page: %d", st)
	}
	p.typeInto("#email", email)
	p.typeInto("#password", oldPassword)
	if p.js {
		p.waitFor("the strength meter", visible(`[data-testid="strength"]`))
	}
	settle(p)
	st := p.clickAndLoad("create account", `#register-form button[type="submit"]`)
	if p.path() != "/account" {
		shown := eval[[]string](p, `[...document.querySelectorAll(".form-error, .field-error, [data-testid=alert]")].map(e => e.textContent.trim()).filter(Boolean)`)
		p.fatalf("registration as %s: %d at %s, messages %q", email, st, p.path(), shown)
	}
}

// signInTab fills the sign-in form and submits it; it must sign in (and
// land on /account) if ok, else be refused with the form error.
func signInTab(p *tab, email, password string, ok bool) {
	p.t.Helper()
	p.open("/account/login")
	p.typeInto("#email", email)
	p.typeInto("#password", password)
	settle(p)
	if ok {
		p.clickAndLoad("sign in as "+email, `#login-form button[type="submit"]`)
		p.requirePath("/account")
		return
	}
	if p.js {
		p.click("sign in as "+email, `#login-form button[type="submit"]`)
		p.waitFor("the sign-in error", visible(`[data-testid="form-error"]`))
	} else if st := p.clickAndLoad("sign in as "+email, `#login-form button[type="submit"]`); st != http.StatusUnprocessableEntity {
		p.fatalf("sign-in as %s: %d, want 422", email, st)
	}
	p.requirePath("/account/login")
	if got := p.text(`[data-testid="form-error"]`); got != signInFailed {
		p.errorf("sign-in error = %q, want %q", got, signInFailed)
	}
}

// changeEmailJourney: a person changes their address from the account
// page, opens the confirmation from the new mailbox (the SMTP server),
// and from then on signs in with the new address; the old one fails.
func changeEmailJourney(t *testing.T, withJS bool) {
	requireChromium(t)
	app := testutil.StartApp(t, "sqlite")
	b := startBrowser(t, app)
	name, oldEmail, newEmail := "change-email-nojs", "mover.nojs@example.com", "moved.nojs@example.org"
	if withJS {
		name, oldEmail, newEmail = "change-email-js", "mover.js@example.com", "moved.js@example.org"
	}
	p := b.newTab(t, name, withJS)
	registerInTab(p, oldEmail)

	p.clickAndLoad("the change-of-address link", `[data-testid="change-email-link"]`)
	p.requirePath("/account/email")
	if got := p.text(`[data-testid="current-email"]`); got != oldEmail {
		p.fatalf("change page shows %q, want %s", got, oldEmail)
	}
	p.shoot("change-email")
	p.typeInto("#email", newEmail)
	p.typeInto("#current_password", oldPassword)
	settle(p)
	p.clickAndLoad("send the confirmation link", `#email-form button[type="submit"]`)
	p.requirePath("/account")
	if got := p.text(`[data-testid="flash"]`); !strings.Contains(got, newEmail) {
		p.errorf("flash after the request = %q", got)
	}
	if got := p.text(`[data-testid="account-email"]`); !strings.HasPrefix(got, oldEmail) {
		p.errorf("the address changed before confirmation: %q", got)
	}
	waitForMail(t, app, oldEmail, changeNoticeSubject, 0)

	// The link from the new mailbox.
	link := testutil.ConfirmEmailLink(t, waitForMail(t, app, newEmail, changeConfirmSubject, 0))
	if st := p.open(link); st != http.StatusOK {
		p.fatalf("confirmation link: %d", st)
	}
	if got := p.text(`[data-testid="new-email"]`); got != newEmail {
		p.fatalf("confirmation page shows %q, want %s", got, newEmail)
	}
	p.shoot("change-email-confirmed")
	p.clickAndLoad("go to the account", `[data-testid="email-confirm-done"] a[href="/account"]`)
	if got := p.text(`[data-testid="account-email"]`); !strings.HasPrefix(got, newEmail) {
		p.fatalf("account page shows %q, want %s", got, newEmail)
	}

	// Signed out: the old address fails, the new one works.
	p.clickAndLoad("sign out", `[data-testid="logout"]`)
	signInTab(p, oldEmail, oldPassword, false)
	signInTab(p, newEmail, oldPassword, true)
	if got := p.text(`[data-testid="account-email"]`); !strings.HasPrefix(got, newEmail) {
		p.errorf("account page shows %q, want %s", got, newEmail)
	}
}

// TestAccessibilityChangeEmail audits the change-of-address pages in
// every state, with JavaScript on and off, as TestAccessibility audits
// the rest: the form, its errors, and the three pages the link leads to.
func TestAccessibilityChangeEmail(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	app := testutil.StartApp(t, "sqlite")
	b := startBrowser(t, app)
	a := &auditor{}
	for _, withJS := range []bool{false, true} {
		name := map[bool]string{false: "a11y-email-nojs", true: "a11y-email-js"}[withJS]
		t.Run(name, func(t *testing.T) {
			p := b.newTab(t, name, withJS)
			email := name + "@example.com"
			registerInTab(p, email)
			a.check(p, "account")

			p.open("/account/email")
			a.check(p, "change email")
			submitInvalid(p, "#email-form", invalidField)
			requireFocus(p, "input#email", "an empty change of address")
			a.check(p, "change email errors")
			p.clear("#email")
			p.typeInto("#email", email)
			p.typeInto("#current_password", "not my password")
			submitInvalid(p, "#email-form", `document.querySelector('[data-testid="email-feedback"]').textContent.includes("already your address")`)
			requireFocus(p, "input#email", "the account's own address")
			a.check(p, "change email same address")

			// A request, then the page with it pending.
			target := "moved." + email
			p.clear("#email")
			p.typeInto("#email", target)
			p.clear("#current_password")
			p.typeInto("#current_password", oldPassword)
			settle(p)
			p.clickAndLoad("send the link", `#email-form button[type="submit"]`)
			p.requirePath("/account")
			a.check(p, "account after request")
			p.open("/account/email")
			if !p.exists(`[data-testid="pending-email-change"]`) {
				t.Errorf("no pending change shown")
			}
			a.check(p, "change email pending")

			// The address taken meanwhile: 409.
			link := testutil.ConfirmEmailLink(t, waitForMail(t, app, target, changeConfirmSubject, 0))
			app.Register(t, target, oldPassword)
			if st := p.open(link); st != http.StatusConflict {
				t.Errorf("link to a taken address: %d, want 409", st)
			}
			a.check(p, "email confirm in use")

			// Another request, confirmed: 200; then used: 410.
			second := "second." + email
			p.open("/account/email")
			p.typeInto("#email", second)
			p.typeInto("#current_password", oldPassword)
			settle(p)
			p.clickAndLoad("send another link", `#email-form button[type="submit"]`)
			link = testutil.ConfirmEmailLink(t, waitForMail(t, app, second, changeConfirmSubject, 0))
			if st := p.open(link); st != http.StatusOK {
				t.Fatalf("confirmation: %d", st)
			}
			a.check(p, "email confirm done")
			if st := p.open(link); st != http.StatusGone {
				t.Errorf("used link: %d, want 410", st)
			}
			a.check(p, "email confirm 410")
		})
	}
	var report strings.Builder
	for _, r := range a.rows {
		fmt.Fprintf(&report, "\n\t%-40s %d", r.page, r.violations)
	}
	t.Logf("problems per page (axe light+dark+360px, reflow, error fields):%s", report.String())
}
