package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

const (
	oldPassword  = "correct horse battery staple"
	newPassword  = "a brand new passphrase 42"
	resetSubject = "Reset your Latchkey password"
	resetFlash   = "Your password has been reset, please sign in."
	signInFailed = "Email or password is incorrect."
)

func TestJourneyWithJavaScript(t *testing.T) {
	t.Parallel()
	journey(t, true)
}

func TestJourneyWithoutJavaScript(t *testing.T) {
	t.Parallel()
	journey(t, false)
}

// journey is a person's whole way through Latchkey: register, sign out,
// forget the password, reset it from the emailed link, and sign in with
// the new one (the old one no longer works).
func journey(t *testing.T, withJS bool) {
	requireChromium(t)
	app := testutil.StartApp(t, "sqlite")
	b := startBrowser(t, app)
	name, email := "journey-nojs", "nojs@example.com"
	if withJS {
		name, email = "journey-js", "js@example.com"
	}
	p := b.newTab(t, name, withJS)

	// Register.
	if st := p.open("/account/register"); st != http.StatusOK {
		p.fatalf("register page: %d", st)
	}
	p.shoot("register")
	if withJS {
		p.mark()
		// An invalid address gets its message when the field is left.
		p.typeInto("#email", "not-an-email")
		p.tab()
		p.waitFor("the inline email error", `document.querySelector('[data-testid="email-feedback"]').textContent.trim() !== ""`)
		// A short password gets its message and the meter while typing.
		p.typeInto("#password", "short")
		p.waitFor("the strength meter", visible(`[data-testid="strength"]`))
		p.waitFor("the inline password error", `document.querySelector('[data-testid="password-feedback"] .field-error').textContent.trim() !== ""`)
		p.requireMarker("inline validation")
		p.requireFieldsConsistent("inline errors")
		t.Logf("inline errors: email %q, password %q, meter %q", p.text(`[data-testid="email-feedback"]`),
			p.text(`[data-testid="password-feedback"] .field-error`), p.text(`[data-testid="strength"]`))
		p.shoot("register-inline-errors")

		p.clear("#email")
		p.typeInto("#email", email)
		p.tab()
		p.waitFor("the email error to clear", `document.querySelector('[data-testid="email-feedback"]').textContent.trim() === ""`)
		p.clear("#password")
		p.typeInto("#password", oldPassword)
		p.waitFor("the password error to clear", `document.querySelector('[data-testid="password-feedback"] .field-error').textContent.trim() === ""`)
		p.waitFor("the meter for the new password", visible(`[data-testid="strength"]`))
		p.requireMarker("inline validation")
		p.requireFieldsConsistent("corrected fields")
	} else {
		p.typeInto("#email", email)
		p.typeInto("#password", oldPassword)
		p.tab()
		// No script runs, so nothing validates inline: no meter, no
		// message (and no validation request: see the end).
		if p.exists(`[data-testid="strength"]`) {
			p.errorf("the strength meter appeared without JavaScript")
		}
	}
	p.clickAndLoad("create account", `#register-form button[type="submit"]`)
	p.requirePath("/account")
	if got := p.text(`[data-testid="account-email"]`); !strings.HasPrefix(got, email) {
		p.fatalf("account page shows %q, want %s", got, email)
	}
	p.shoot("account")

	// Sign out with the navigation's button.
	p.clickAndLoad("sign out", `[data-testid="logout"]`)
	p.requirePath("/")
	if p.exists(`[data-testid="logout"]`) {
		p.fatalf("still signed in after signing out")
	}

	// Forgot password, reached the way a person would.
	p.clickAndLoad("the navigation's sign-in link", `header nav a[href="/account/login"]`)
	p.clickAndLoad("the forgot-password link", `a[href="/account/forgot-password"]`)
	p.typeInto("#email", email)
	if withJS {
		p.mark()
		p.click("send the link", `#forgot-form button[type="submit"]`)
		p.waitFor("the neutral notice", visible(`[data-testid="forgot-sent"]`))
		p.requireMarker("the forgot-password form")
	} else if st := p.clickAndLoad("send the link", `#forgot-form button[type="submit"]`); st != http.StatusOK {
		p.fatalf("forgot-password submit: %d", st)
	}
	if got := p.text(`[data-testid="forgot-sent"]`); !strings.Contains(got, "If an account exists") {
		p.fatalf("forgot-password notice = %q", got)
	}
	p.shoot("forgot-sent")

	// The emailed link opens the form, on the clean URL.
	link := testutil.ResetLink(t, waitForMail(t, app, email, resetSubject, 0))
	if st := p.open(link); st != http.StatusOK {
		p.fatalf("reset link: %d", st)
	}
	p.requirePath("/account/reset-password")
	if got := eval[string](p, `location.search`); got != "" {
		p.errorf("reset page keeps the code in its URL: %q", got)
	}
	if got := p.text(`[data-testid="reset-email"]`); got != email {
		p.errorf("reset page is for %q, want %s", got, email)
	}
	p.typeInto("#password", newPassword)
	if withJS {
		p.waitFor("the meter on the reset form", visible(`[data-testid="strength"]`))
	}
	p.shoot("reset")
	p.clickAndLoad("save the new password", `#reset-form button[type="submit"]`)
	p.requirePath("/account/login")
	if got := p.text(`[data-testid="flash"]`); got != resetFlash {
		p.fatalf("flash after reset = %q, want %q", got, resetFlash)
	}
	p.shoot("login-flash")

	// The old password no longer works.
	p.typeInto("#email", email)
	p.typeInto("#password", oldPassword)
	if withJS {
		p.mark()
		p.click("sign in with the old password", `#login-form button[type="submit"]`)
		p.waitFor("the sign-in error", visible(`[data-testid="form-error"]`))
		p.requireMarker("the failed sign-in")
	} else if st := p.clickAndLoad("sign in with the old password", `#login-form button[type="submit"]`); st != http.StatusUnprocessableEntity {
		p.fatalf("sign-in with the old password: %d, want 422", st)
	}
	p.requirePath("/account/login")
	if got := p.text(`[data-testid="form-error"]`); got != signInFailed {
		p.fatalf("sign-in error = %q, want %q", got, signInFailed)
	}
	if got := eval[string](p, `document.querySelector("#email").value`); got != email {
		p.errorf("the failed sign-in lost the address: %q", got)
	}
	if got := eval[string](p, `document.querySelector("#password").value`); got != "" {
		p.errorf("the failed sign-in kept the password")
	}
	p.shoot("login-failed")

	// The new one does.
	p.typeInto("#password", newPassword)
	p.clickAndLoad("sign in with the new password", `#login-form button[type="submit"]`)
	p.requirePath("/account")
	if got := p.text(`[data-testid="account-email"]`); !strings.HasPrefix(got, email) {
		p.fatalf("account page shows %q, want %s", got, email)
	}

	// What went over the wire: with JavaScript, inline checks and form
	// posts were fetches; without it, nothing but page loads.
	fetches := p.requestsOf(network.ResourceTypeFetch)
	if withJS {
		for _, want := range []string{"POST /account/validate/email", "POST /account/validate/password", "POST /account/login"} {
			if !contains(fetches, want) {
				p.errorf("no htmx request %q among %v", want, fetches)
			}
		}
	} else {
		if len(fetches) > 0 || len(p.requestsOf(network.ResourceTypeXHR)) > 0 {
			p.errorf("scripts are off, yet the page fetched %v", fetches)
		}
		docs := p.requestsOf(network.ResourceTypeDocument)
		for _, want := range []string{"POST /account/register", "POST /account/logout", "POST /account/forgot-password", "POST /account/reset-password", "POST /account/login"} {
			if !contains(docs, want) {
				p.errorf("no form navigation %q among %v", want, docs)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
