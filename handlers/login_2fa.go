package handlers

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/handlers/auth"
	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// The second step of signing in (SPEC §9): after a right password, an
// account with a second factor gets a session row that is not signed in
// (models.AuthSecondFactorPending) and is sent here for a TOTP or
// recovery code. A right code within models.SecondStepTTL replaces it
// with a signed-in session (a new id, MFA set).

// loginSecondStepRoute is the second step's page and form.
const loginSecondStepRoute = "/account/login/2fa"

// Messages of the second step. codeRefused is the one answer for a wrong
// code, a used one and an expired step alike.
const (
	codeMissing = "Enter the 6-digit code from your authenticator app, or one of your recovery codes."
	codeRefused = "That code did not work. App codes change every 30 seconds and each works once. If more than 5 minutes have passed since you entered your password, sign in again."
)

var loginSecondStepView = formView[views.LoginTwoStepForm]{
	title: "Two-step sign-in", fragment: views.LoginTwoStepFormFragment, page: views.LoginTwoStepPage,
}

// startSecondStep ends a right password for an account with a second
// factor: a pending session (the cookie set, nobody signed in), then 303
// to the second step, carrying next and rd. fail answers a password that
// changed meanwhile.
func (h *Handler) startSecondStep(c echo.Context, acc *models.Account, next, rd string, fail func(views.Errors) error) error {
	id, row, err := h.store.SignInPending(c.Request().Context(), acc, client(c))
	if errors.Is(err, models.ErrBadCredentials) {
		return fail(views.Errors{"": signInFailed})
	}
	if err != nil {
		return err
	}
	row.Account = acc
	if err := h.startSession(c, id, row); err != nil {
		return err
	}
	q := url.Values{}
	if next != "" {
		q.Set("next", next)
	}
	if rd != "" {
		q.Set("rd", rd)
	}
	to := h.path(loginSecondStepRoute)
	if len(q) > 0 {
		to += "?" + q.Encode()
	}
	return redirect(c, to)
}

// pendingSession returns the browser's session waiting for its second
// step, or nil.
func pendingSession(c echo.Context) *models.Session {
	if row, ok := auth.PendingFrom(c.Request().Context()); ok {
		return row
	}
	return nil
}

// loginSecondStepPage asks for the code. Without a pending sign-in it
// sends the visitor to sign in (or, signed in already, on).
func (h *Handler) loginSecondStepPage(c echo.Context) error {
	next, rd := safeNext(queryOne(c, "next")), h.returnTarget(queryOne(c, "rd"))
	if currentSession(c) != nil {
		return redirect(c, cmp.Or(rd, next, h.path("/account")))
	}
	if pendingSession(c) == nil {
		return redirect(c, h.path("/account/login"))
	}
	f := views.LoginTwoStepForm{Next: next, Rd: rd}
	return h.render(c, http.StatusOK, loginSecondStepView.fullPage(h, c, f))
}

// loginSecondStep checks the code. Wrong codes are throttled per account
// (models.SecondStepFreeFailures); a wrong code and an expired step get the same
// answer after the same work (models.CompleteSecondStep).
func (h *Handler) loginSecondStep(c echo.Context) error {
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	vals, err := f.fields("code", "next", "rd")
	if err != nil {
		return err
	}
	next, rd := safeNext(vals["next"]), h.returnTarget(vals["rd"])
	row := pendingSession(c)
	if row == nil {
		if currentSession(c) != nil {
			return redirect(c, cmp.Or(rd, next, h.path("/account")))
		}
		return redirect(c, h.path("/account/login"))
	}
	fail := func(msg string) error {
		vm := views.LoginTwoStepForm{Next: next, Rd: rd, Errors: views.Errors{"code": msg}}
		return loginSecondStepView.answer(h, c, http.StatusUnprocessableEntity, vm)
	}
	code, ok := models.ParseStepCode(vals["code"])
	if !ok {
		// The shape alone: nothing counted, nothing looked up.
		return fail(codeMissing)
	}
	// CompleteSecondStep counts the guess first (a *LimitedError: 429).
	res, err := h.store.CompleteSecondStep(c.Request().Context(), models.SecondStepInput{
		Session: row, Code: code, Client: client(c), Compose: h.composeFactor(c),
	})
	switch {
	case errors.Is(err, models.ErrCodeInvalid):
		return fail(codeRefused)
	case errors.Is(err, models.ErrSessionNotFound):
		// Signed out meanwhile ("this wasn't me", a reset): start again.
		return redirect(c, h.path("/account/login"))
	case err != nil:
		return err
	}
	res.Session.Account = row.Account
	if err := h.startSession(c, res.ID, res.Session); err != nil {
		return err
	}
	h.setDeviceCookie(c, row.Account.Email)
	if res.Recovery {
		msg := fmt.Sprintf("You signed in with a recovery code; it no longer works. %s left: make new ones on the two-step sign-in page if you are running out.",
			recoveryLeft(res.RecoveryLeft))
		if err := h.setFlash(c, "info", msg); err != nil {
			return err
		}
	}
	return redirect(c, cmp.Or(rd, next, h.path("/account")))
}

// recoveryLeft says how many recovery codes are left.
func recoveryLeft(n int) string {
	if n == 1 {
		return "1 recovery code"
	}
	return fmt.Sprintf("%d recovery codes", n)
}
