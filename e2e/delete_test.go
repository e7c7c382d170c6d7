package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

const (
	goodbyeSubject = "Your Latchkey account was deleted"
	deletedFlash   = "Your account has been deleted. We have emailed you a confirmation."
	wrongCurrent   = "That is not your current password."
)

func TestDeleteJourneyWithJavaScript(t *testing.T) {
	t.Parallel()
	deleteJourney(t, true)
}

func TestDeleteJourneyWithoutJavaScript(t *testing.T) {
	t.Parallel()
	deleteJourney(t, false)
}

// deleteJourney: register, find "Delete account" on the account page,
// fail the form twice (no password, a wrong one), delete; the landing
// page says so, signing in no longer works, the goodbye email arrived.
// Every state of the delete page passes the accessibility audit.
func deleteJourney(t *testing.T, withJS bool) {
	requireChromium(t)
	app := testutil.StartApp(t, "sqlite")
	b := startBrowser(t, app)
	name := map[bool]string{false: "delete-nojs", true: "delete-js"}[withJS]
	email := name + "@example.com"
	p := b.newTab(t, name, withJS)
	a := &auditor{}

	registerInTab(p, email) // lets inline checks finish before submitting
	if !p.exists(`[data-testid="export-link"]`) {
		p.errorf("no download link on the account page")
	}
	a.check(p, "account with data links")

	p.clickAndLoad("the delete link", `[data-testid="delete-link"]`)
	p.requirePath("/account/delete")
	if got := p.text(`[data-testid="delete-warning"]`); !strings.Contains(got, "cannot be undone") || !strings.Contains(got, email) {
		p.errorf("warning = %q", got)
	}
	a.check(p, "delete")

	submitInvalid(p, "#delete-form", invalidField)
	requireFocus(p, "input#current_password", "an empty deletion form")
	if got := p.text(`[data-testid="current_password-feedback"]`); got != "Enter your current password." {
		p.errorf("empty password message = %q", got)
	}
	a.check(p, "delete errors")

	p.typeInto("#current_password", "not my password")
	submitInvalid(p, "#delete-form", fmt.Sprintf(`document.querySelector('[data-testid="current_password-feedback"]').textContent.includes(%s)`, js(wrongCurrent)))
	requireFocus(p, "input#current_password", "a wrong password")
	if got := eval[string](p, `document.querySelector("#current_password").value`); got != "" {
		p.errorf("the refused form kept the password")
	}
	a.check(p, "delete wrong password")

	p.typeInto("#current_password", oldPassword)
	p.clickAndLoad("delete my account", `#delete-form button[type="submit"]`)
	p.requirePath("/")
	if got := p.text(`[data-testid="flash"]`); got != deletedFlash {
		p.fatalf("flash after deletion = %q, want %q", got, deletedFlash)
	}
	if p.exists(`[data-testid="logout"]`) {
		p.errorf("still signed in after deleting the account")
	}
	a.check(p, "home after deletion")

	// The account is gone: its pages send to sign-in, and signing in fails.
	p.open("/account")
	p.requirePath("/account/login")
	p.typeInto("#email", email)
	p.typeInto("#password", oldPassword)
	if withJS {
		p.click("sign in", `#login-form button[type="submit"]`)
		p.waitFor("the sign-in error", visible(`[data-testid="form-error"]`))
	} else if st := p.clickAndLoad("sign in", `#login-form button[type="submit"]`); st != http.StatusUnprocessableEntity {
		p.fatalf("sign-in after deletion: %d, want 422", st)
	}
	if got := p.text(`[data-testid="form-error"]`); got != signInFailed {
		p.errorf("sign-in error = %q", got)
	}

	bye := waitForMail(t, app, email, goodbyeSubject, 0)
	if !strings.Contains(bye.Text, "deleted from the account page") {
		t.Errorf("goodbye email:\n%s", bye.Text)
	}
	for _, r := range a.rows {
		t.Logf("%-45s %d problems", r.page, r.violations)
	}
}
