package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

// Two-step sign-in in a real browser (SPEC §9): turning TOTP on with the
// secret the page shows, signing in with an app code and with a recovery
// code, and a reset that still asks for the code; axe-core and the other
// audits on every new page and error state.

// totpCode is the authenticator app's code for secret now (the app's
// clock).
func totpCode(t *testing.T, app *testutil.App, secret string) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, app.Clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// notTheCode is a six-digit code that is none of secret's valid ones now.
func notTheCode(t *testing.T, app *testutil.App, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		c, err := totp.GenerateCodeCustom(secret, app.Clock.Now().Add(d), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		valid[c] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// withTOTP registers an account over HTTP and turns TOTP on as the pages
// do; it returns the secret and the recovery codes.
func withTOTP(t *testing.T, app *testutil.App, email string) (string, []string) {
	t.Helper()
	b := app.Register(t, email, oldPassword)
	if r := b.Post("/account/2fa", url.Values{"action": {"begin"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("begin: %d", r.StatusCode)
	}
	secret := strings.ReplaceAll(b.Get("/account/2fa").Text(t, `[data-testid="two-step-secret"]`), " ", "")
	r := b.Post("/account/2fa", url.Values{"action": {"confirm"}, "code": {totpCode(t, app, secret)}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d", r.StatusCode)
	}
	var codes []string
	r.Doc(t).Find(`[data-testid="recovery-codes"] code`).Each(func(_ int, s *goquery.Selection) { codes = append(codes, s.Text()) })
	if len(codes) != 10 {
		t.Fatalf("recovery codes %q", codes)
	}
	app.Clock.Advance(30 * time.Second) // the next code is a fresh step
	return secret, codes
}

// signInPassword signs in from the sign-in page and expects the second
// step.
func signInPassword(p *tab, email, password string) {
	p.t.Helper()
	p.open("/account/login")
	p.typeInto("#email", email)
	p.typeInto("#password", password)
	// As a person would, after the inline checks typing started.
	waitQuiet(p)
	p.clickAndLoad("sign in with the password", `#login-form button[type="submit"]`)
	p.requirePath("/account/login/2fa")
}

// TestTwoStepJourneys runs the three journeys, each in a tab of its own,
// and audits every page and error state on the way.
func TestTwoStepJourneys(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	app := testutil.StartApp(t, "sqlite")
	b := startBrowser(t, app)
	a := &auditor{}

	// Turning TOTP on with the page's secret, signing in with app codes,
	// new recovery codes, and the error states; with JavaScript and
	// without.
	for _, withJS := range []bool{true, false} {
		name := map[bool]string{true: "totp-js", false: "totp-nojs"}[withJS]
		t.Run(name, func(t *testing.T) {
			p := b.newTab(t, name, withJS)
			email := name + "@example.com"
			registerInTab(p, email) // lets inline checks finish before submitting
			if got := p.text(`[data-testid="two-step-summary"]`); !strings.HasPrefix(got, "Off") {
				p.errorf("account section: %q", got)
			}
			p.clickAndLoad("the set-up link", `[data-testid="two-step-section"] a`)
			p.requirePath("/account/2fa")
			a.check(p, "two-step off")

			p.clickAndLoad("start the set-up", `[data-testid="two-step-begin"] button[type="submit"]`)
			p.waitFor("the QR code", `(i => i && i.complete && i.naturalWidth === 240)(document.querySelector('[data-testid="two-step-qr"]'))`)
			secret := strings.ReplaceAll(p.text(`[data-testid="two-step-secret"]`), " ", "")
			if href := eval[string](p, `document.querySelector('[data-testid="two-step-link"]').getAttribute("href")`); !strings.HasPrefix(href, "otpauth://totp/") || !strings.Contains(href, "secret="+secret) {
				p.errorf("otpauth link %q for secret %q", href, secret)
			}
			a.check(p, "two-step pending")

			p.typeInto("#confirm-code", notTheCode(t, app, secret))
			if st := p.clickAndLoad("confirm with a wrong code", `#two-step-confirm button[type="submit"]`); st != http.StatusUnprocessableEntity {
				p.fatalf("wrong code: %d, want 422", st)
			}
			requireFocus(p, "input#confirm-code", "a wrong set-up code")
			a.check(p, "two-step confirm error")

			p.typeInto("#confirm-code", totpCode(t, app, secret))
			p.clickAndLoad("confirm", `#two-step-confirm button[type="submit"]`)
			if n := eval[int](p, `document.querySelectorAll('[data-testid="recovery-codes"] code').length`); n != 10 {
				p.fatalf("%d recovery codes shown", n)
			}
			a.check(p, "recovery codes")
			p.clickAndLoad("done", `[data-testid="recovery-codes-done"]`)
			p.requirePath("/account")
			if got := p.text(`[data-testid="two-step-summary"]`); !strings.HasPrefix(got, "On") {
				p.errorf("account section after set-up: %q", got)
			}
			app.Clock.Advance(30 * time.Second)

			// Sign in on another device (a fresh tab: a sign-out's
			// Clear-Site-Data may still be clearing cookies when the next
			// sign-in sets one): the password, then a code.
			p = b.newTab(t, name+"-signin", withJS)
			signInPassword(p, email, oldPassword)
			a.check(p, "login 2fa")
			p.typeInto("#code", notTheCode(t, app, secret))
			submitInvalid(p, "#login-2fa-form", `document.querySelector('[data-testid="code-feedback"]').textContent.includes("did not work")`)
			requireFocus(p, "input#code", "a wrong second-step code")
			a.check(p, "login 2fa error")
			p.clear("#code")
			p.typeInto("#code", totpCode(t, app, secret))
			p.clickAndLoad("the right code", `#login-2fa-form button[type="submit"]`)
			p.requirePath("/account")
			app.Clock.Advance(30 * time.Second)

			// The page with two-step on, and its forms' errors.
			p.open("/account/2fa")
			a.check(p, "two-step on")
			if st := p.clickAndLoad("turn off with nothing", `#two-step-disable button[type="submit"]`); st != http.StatusUnprocessableEntity {
				p.fatalf("empty turn-off: %d, want 422", st)
			}
			requireFocus(p, "input#current_password", "an empty turn-off")
			a.check(p, "two-step disable errors")
			p.typeInto("#renew-code", notTheCode(t, app, secret))
			if st := p.clickAndLoad("new codes with a wrong code", `#two-step-renew button[type="submit"]`); st != http.StatusUnprocessableEntity {
				p.fatalf("wrong renewal code: %d, want 422", st)
			}
			requireFocus(p, "input#renew-code", "a wrong renewal code")
			a.check(p, "two-step renew error")
			p.typeInto("#renew-code", totpCode(t, app, secret))
			p.clickAndLoad("new recovery codes", `#two-step-renew button[type="submit"]`)
			if got := p.text("h1"); got != "Your new recovery codes" {
				p.errorf("renewal page heading %q", got)
			}
			a.check(p, "recovery codes renewed")
		})
	}

	// A recovery code instead of the app: signs in, says how many are left.
	t.Run("recovery-nojs", func(t *testing.T) {
		p := b.newTab(t, "recovery-nojs", false)
		const email = "recovery@example.com"
		_, codes := withTOTP(t, app, email)
		signInPassword(p, email, oldPassword)
		p.typeInto("#code", codes[0])
		p.clickAndLoad("the recovery code", `#login-2fa-form button[type="submit"]`)
		p.requirePath("/account")
		if got := p.text(`[data-testid="flash"]`); !strings.Contains(got, "9 recovery codes left") {
			p.errorf("flash after a recovery code: %q", got)
		}
		waitForMail(t, app, email, "A recovery code was used to sign in to your Latchkey account", 0)
		a.check(p, "account after recovery")
	})

	// A reset with TOTP on: the new password still needs the code.
	t.Run("reset-js", func(t *testing.T) {
		p := b.newTab(t, "reset-js", true)
		const email = "reset-totp@example.com"
		secret, _ := withTOTP(t, app, email)
		p.open("/account/forgot-password")
		p.typeInto("#email", email)
		p.click("send the link", `#forgot-form button[type="submit"]`)
		p.waitFor("the notice", visible(`[data-testid="forgot-sent"]`))
		link := testutil.ResetLink(t, waitForMail(t, app, email, resetSubject, 0))
		if st := p.open(link); st != http.StatusOK {
			p.fatalf("reset link: %d", st)
		}
		p.typeInto("#password", newPassword)
		p.waitFor("the meter on the reset form", visible(`[data-testid="strength"]`))
		waitQuiet(p)
		p.clickAndLoad("save the new password", `#reset-form button[type="submit"]`)
		p.requirePath("/account/login")
		signInPassword(p, email, newPassword)
		// Still signed out: the account page sends back to sign in.
		p.open("/account")
		p.requirePath("/account/login")
		p.open("/account/login/2fa")
		p.requirePath("/account/login/2fa")
		p.typeInto("#code", totpCode(t, app, secret))
		p.clickAndLoad("the code after the reset", `#login-2fa-form button[type="submit"]`)
		p.requirePath("/account")
	})

	var report strings.Builder
	for _, r := range a.rows {
		fmt.Fprintf(&report, "\n\t%-40s %d", r.page, r.violations)
	}
	t.Logf("problems per page (axe light+dark+360px, reflow, error fields):%s", report.String())
}
