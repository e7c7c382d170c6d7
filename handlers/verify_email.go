package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// Email verification (SPEC §8).

// verifyEmail acts on an emailed verification link. Opening it is the
// proof (a mail scanner that opens it has reached the same mailbox), so a
// GET marks the address verified; the link then works no more. Opening it
// again says so without an error; an unknown or expired link is a 410
// page that says how to get a new one. Signed in or not, alike.
func (h *Handler) verifyEmail(c echo.Context) error {
	vm := views.VerifyEmailResult{SignedIn: currentSession(c) != nil, State: views.VerifyStateInvalid}
	// A missing, repeated or malformed code is refused before the
	// database, like an unknown one.
	hash, ok := models.ParseCode(queryOne(c, "code"))
	if !ok {
		return h.verifyEmailGone(c, vm)
	}
	acc, outcome, err := h.store.VerifyEmail(c.Request().Context(), hash, client(c))
	if errors.Is(err, models.ErrVerifyInvalid) {
		return h.verifyEmailGone(c, vm)
	}
	if err != nil {
		return err
	}
	vm.Email = acc.Email
	title := "Your address is verified"
	vm.State = views.VerifyStateVerified
	if outcome == models.AlreadyVerified {
		title, vm.State = "Already verified", views.VerifyStateAlready
	}
	return h.render(c, http.StatusOK, views.VerifyEmailResultPage(h.page(c, title), vm))
}

// verifyEmailGone is the 410 answer for a link that does not work (an
// alert for htmx).
func (h *Handler) verifyEmailGone(c echo.Context, vm views.VerifyEmailResult) error {
	if isFragment(c) {
		return echo.NewHTTPError(http.StatusGone)
	}
	return h.render(c, http.StatusGone, views.VerifyEmailResultPage(h.page(c, "This link no longer works"), vm))
}

// resendVerification emails the signed-in account a new verification
// link. Past the hourly allowance (models.VerifyResendsPerHour) the answer
// is the same and nothing is sent.
func (h *Handler) resendVerification(c echo.Context) error {
	row := signedIn(c)
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	// The form has no fields, but what it carries must still be clean.
	if err := f.clean(); err != nil {
		return err
	}
	outcome, err := h.store.ResendVerification(c.Request().Context(), row.AccountID, client(c), h.composeVerify(c))
	if err != nil {
		return err
	}
	msg := "We have emailed a new link to " + row.Account.Email + ". Open it to verify your address."
	if outcome == models.ResendNotNeeded {
		msg = "Your address is already verified."
	}
	if err := h.setFlash(c, "success", msg); err != nil {
		return err
	}
	return redirect(c, h.path("/account"))
}
