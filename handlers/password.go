package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// wrongCurrent answers a current password that does not match.
const wrongCurrent = "That is not your current password."

var changePasswordView = formView[views.ChangePasswordForm]{
	title: "Change your password", fragment: views.ChangePasswordFormFragment, page: views.ChangePasswordPage,
}

func (h *Handler) changePasswordPage(c echo.Context) error {
	row := signedIn(c)
	vm := views.ChangePasswordForm{Email: row.Account.Email}
	return h.render(c, http.StatusOK, changePasswordView.fullPage(h, c, vm))
}

// changePassword needs the current password; success revokes every other
// session, rotates this one's id, queues the notification and flashes.
func (h *Handler) changePassword(c echo.Context) error {
	row := signedIn(c)
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	vals, err := f.fields("current_password", "password", "password_confirm")
	if err != nil {
		return err
	}
	acc := row.Account
	fail := func(errs views.Errors) error {
		vm := views.ChangePasswordForm{Email: acc.Email, Errors: errs, Focus: firstError(errs, "current_password", "password")}
		return changePasswordView.answer(h, c, http.StatusUnprocessableEntity, vm)
	}
	errs := views.Errors{}
	if vals["current_password"] == "" {
		errs["current_password"] = "Enter your current password."
	} else if len(vals["current_password"]) > models.MaxPasswordBytes {
		// No password that long was ever set: refused without hashing.
		errs["current_password"] = wrongCurrent
	}
	password, msg := checkNewPassword(vals["password"], vals["password_confirm"], acc.Email)
	if msg != "" {
		errs["password"] = msg
	}
	if len(errs) > 0 {
		return fail(errs)
	}
	ctx := c.Request().Context()
	if ok, err := h.checkCurrentPassword(c, acc, vals["current_password"], h.trustedDevice(c, acc.Email)); err != nil {
		return err
	} else if !ok {
		return fail(views.Errors{"current_password": wrongCurrent})
	}
	if err := h.store.SetPassword(ctx, models.SetPasswordInput{
		Account: acc, Password: password, Change: models.ChangedBySelf,
		Client: client(c), KeepSession: row.IDHash, Compose: h.composeChanged(c),
	}); err != nil {
		return err
	}
	id, fresh, err := h.store.RotateSession(ctx, row, client(c))
	if err != nil {
		return err
	}
	fresh.Account = acc
	if err := h.startSession(c, id, fresh); err != nil {
		return err
	}
	if err := h.setFlash(c, "success", "Your password has been changed. Other devices have been signed out."); err != nil {
		return err
	}
	return redirect(c, h.path("/account"))
}

// checkCurrentPassword checks the signed-in account's password before a
// sensitive change, throttled like sign-in (the guess is counted first, a
// failure is recorded, a success gives the attempt back). It reports
// false, with no error, for a wrong password; the caller answers with its
// form and wrongCurrent. dev is the browser's trusted device cookie.
func (h *Handler) checkCurrentPassword(c echo.Context, acc *models.Account, raw string, dev models.Device) (bool, error) {
	ctx := c.Request().Context()
	if err := h.store.SignInAttempt(ctx, acc.Email, c.RealIP(), dev); err != nil {
		return false, err
	}
	if err := h.store.CheckPassword(ctx, acc, models.NormalizePassword(raw)); err != nil {
		if !errors.Is(err, models.ErrWrongPassword) {
			return false, err
		}
		if err := h.store.SignInFailed(ctx, client(c), acc); err != nil {
			return false, err
		}
		return false, nil
	}
	if err := h.store.ClearSignInAttempts(ctx, acc.Email, c.RealIP()); err != nil {
		return false, err
	}
	return true, nil
}
