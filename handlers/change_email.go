package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// Change of address (SPEC §8): GET,POST /account/email asks for it (signed
// in, with the current password); GET /account/email/confirm?code=… (signed
// in or not) makes it.

// sameEmail answers a "new" address that is the account's own.
const sameEmail = "That is already your address. Enter the new one."

var changeEmailView = formView[views.ChangeEmailForm]{
	title: "Change your email address", fragment: views.ChangeEmailFormFragment, page: views.ChangeEmailPage,
}

func (h *Handler) changeEmailPage(c echo.Context) error {
	vm, err := h.changeEmailForm(c, signedIn(c).Account, true)
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, changeEmailView.fullPage(h, c, vm))
}

// changeEmailForm is the form's view model for acc; withPending adds the
// open change, which only the page (not the fragment) shows.
func (h *Handler) changeEmailForm(c echo.Context, acc *models.Account, withPending bool) (views.ChangeEmailForm, error) {
	vm := views.ChangeEmailForm{Current: acc.Email}
	if !withPending {
		return vm, nil
	}
	pending, err := h.store.PendingEmailChange(c.Request().Context(), acc.ID)
	if err != nil {
		return vm, err
	}
	if pending != nil {
		vm.Pending = &views.PendingEmailChange{NewEmail: pending.NewEmail, ExpiresAt: stamp(pending.ExpiresAt)}
	}
	return vm, nil
}

// changeEmail asks for a change of address: the current password is
// checked as the change-password form checks it (its limits included),
// then models.RequestEmailChange stores the request and queues the link
// to the new address and the notice to the current one. A new address
// that belongs to another account gets the very same answer.
func (h *Handler) changeEmail(c echo.Context) error {
	row := signedIn(c)
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	vals, err := f.fields("email", "current_password")
	if err != nil {
		return err
	}
	acc := row.Account
	fail := func(errs views.Errors) error {
		vm, err := h.changeEmailForm(c, acc, !isFragment(c))
		if err != nil {
			return err
		}
		vm.Email, vm.Errors, vm.Focus = vals["email"], errs, firstError(errs, "email", "current_password")
		return changeEmailView.answer(h, c, http.StatusUnprocessableEntity, vm)
	}
	errs := views.Errors{}
	newEmail, err := models.NormalizeEmail(vals["email"])
	switch {
	case err != nil:
		errs["email"] = fieldMessage(err)
	case newEmail == acc.Email:
		errs["email"] = sameEmail
	}
	if vals["current_password"] == "" {
		errs["current_password"] = "Enter your current password."
	} else if len(vals["current_password"]) > models.MaxPasswordBytes {
		// No password that long was ever set: refused without hashing.
		errs["current_password"] = wrongCurrent
	}
	if len(errs) > 0 {
		return fail(errs)
	}
	ctx := c.Request().Context()
	// Each request mails two addresses, one of them anyone's.
	if err := h.store.AllowEmailChange(ctx, acc, c.RealIP()); err != nil {
		return err
	}
	if ok, err := h.checkCurrentPassword(c, acc, vals["current_password"], h.trustedDevice(c, acc.Email)); err != nil {
		return err
	} else if !ok {
		return fail(views.Errors{"current_password": wrongCurrent})
	}
	err = h.store.RequestEmailChange(ctx, models.EmailChangeRequest{
		Account: acc, NewEmail: newEmail, Client: client(c), Compose: h.composeEmailChange(c),
	})
	if errors.Is(err, models.ErrEmailUnchanged) { // changed by another tab meanwhile
		return fail(views.Errors{"email": sameEmail})
	}
	if err != nil {
		return err
	}
	msg := "We have emailed a link to " + newEmail + ". Your address changes when you open it; until then, sign in with " + acc.Email + "."
	if err := h.setFlash(c, "success", msg); err != nil {
		return err
	}
	return redirect(c, h.path("/account"))
}

// confirmEmail opens a change-of-address link: the GET itself makes the
// change (models.ConfirmEmailChange), as opening the link is what proves
// the new mailbox. The confirming browser stays signed in if it is signed
// in to that account; every other session of the account ends.
func (h *Handler) confirmEmail(c echo.Context) error {
	hash, ok := models.ParseCode(c.QueryParam("code"))
	if !ok {
		return h.emailConfirmAnswer(c, http.StatusGone, views.EmailConfirmResult{State: views.EmailConfirmInvalid})
	}
	sess := currentSession(c)
	res, err := h.store.ConfirmEmailChange(c.Request().Context(), models.EmailChangeConfirmation{
		CodeHash: hash, Session: sess, Client: client(c), Compose: h.composeEmailChange(c),
	})
	switch {
	case errors.Is(err, models.ErrLinkInvalid):
		return h.emailConfirmAnswer(c, http.StatusGone, views.EmailConfirmResult{State: views.EmailConfirmInvalid})
	case errors.Is(err, models.ErrEmailInUse):
		return h.emailConfirmAnswer(c, http.StatusConflict, views.EmailConfirmResult{State: views.EmailConfirmInUse})
	case err != nil:
		return err
	}
	if res.KeptSession {
		// The rest of this request (the layout) sees the new address; a
		// copy, since the loaded row is not ours to change.
		acc, kept := *res.Account, *sess
		kept.Account = &acc
		setSession(c, &kept)
	}
	return h.emailConfirmAnswer(c, http.StatusOK, views.EmailConfirmResult{
		State: views.EmailConfirmDone, Email: res.Account.Email, SignedIn: res.KeptSession,
	})
}

// emailConfirmTitles are the confirmation page's titles by outcome.
var emailConfirmTitles = map[views.EmailConfirmState]string{
	views.EmailConfirmDone:    "Your email address has changed",
	views.EmailConfirmInUse:   "That address is already in use",
	views.EmailConfirmInvalid: "This link no longer works",
}

func (h *Handler) emailConfirmAnswer(c echo.Context, status int, r views.EmailConfirmResult) error {
	return h.render(c, status, views.EmailConfirmPage(h.page(c, emailConfirmTitles[r.State]), r))
}
