package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/notify"
	"github.com/latchkey-auth/latchkey/views"
)

// deletedFlash is the landing page's message after a deletion.
const deletedFlash = "Your account has been deleted. We have emailed you a confirmation."

var deleteAccountView = formView[views.DeleteAccountForm]{
	title: "Delete your account", fragment: views.DeleteAccountFormFragment, page: views.DeleteAccountPage,
}

func (h *Handler) deleteAccountPage(c echo.Context) error {
	row := signedIn(c)
	vm := views.DeleteAccountForm{Email: row.Account.Email}
	return h.render(c, http.StatusOK, deleteAccountView.fullPage(h, c, vm))
}

// deleteAccount needs the current password, checked as changing the
// password checks it (the sign-in limits, a failure in the security
// activity); success deletes the account and everything of it in one
// transaction (models.DeleteAccount), queues the goodbye email, drops
// this browser's cookies and goes to the landing page with a flash.
func (h *Handler) deleteAccount(c echo.Context) error {
	row := signedIn(c)
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	current, err := f.text("current_password")
	if err != nil {
		return err
	}
	acc := row.Account
	fail := func(msg string) error {
		vm := views.DeleteAccountForm{Email: acc.Email, Errors: views.Errors{"current_password": msg}, Focus: "current_password"}
		return deleteAccountView.answer(h, c, http.StatusUnprocessableEntity, vm)
	}
	switch {
	case current == "":
		return fail("Enter your current password.")
	case len(current) > models.MaxPasswordBytes:
		// No password that long was ever set: refused without hashing.
		return fail(wrongCurrent)
	}
	ctx := c.Request().Context()
	dev := h.trustedDevice(c, acc.Email)
	if ok, err := h.checkCurrentPassword(c, acc, current, dev); err != nil {
		return err
	} else if !ok {
		return fail(wrongCurrent)
	}
	err = h.store.DeleteAccount(ctx, models.DeleteAccountInput{
		Account: acc, CheckedHash: acc.PasswordHash, Device: dev, Client: client(c),
		Compose: notify.Goodbye(ctx, h.baseURL),
	})
	if errors.Is(err, models.ErrWrongPassword) {
		// The password changed between the check and the deletion.
		return fail(wrongCurrent)
	}
	if err != nil {
		return err
	}
	if err := h.dropSessionCookie(c); err != nil {
		return err
	}
	h.dropDeviceCookie(c)
	if err := h.setFlash(c, "success", deletedFlash); err != nil {
		return err
	}
	return redirect(c, h.path("/"))
}

// dropSessionCookie clears the session cookie of a session whose row is
// already gone (ended by the transaction that removed it), without
// another trip to the store.
func (h *Handler) dropSessionCookie(c echo.Context) error {
	sess, err := h.sessions.Get(c.Request(), h.sessions.name)
	if err != nil {
		return err
	}
	delete(sess.Values, keyRow)
	sess.Options.MaxAge = -1
	setSession(c, nil)
	return sess.Save(c.Request(), c.Response())
}

// dropDeviceCookie removes the device cookie: the account it vouched for
// is gone.
func (h *Handler) dropDeviceCookie(c echo.Context) {
	c.SetCookie(&http.Cookie{ // #nosec G124 -- Secure follows BASE_URL: plain http in dev mode cannot carry it
		Name:     deviceCookieName(h.secure),
		Path:     "/",
		MaxAge:   -1,
		Secure:   h.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}
