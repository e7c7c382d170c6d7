package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// notMePage asks for confirmation: a GET (which mail scanners make) changes
// nothing.
func (h *Handler) notMePage(c echo.Context) error {
	token := c.QueryParam("token")
	if err := h.store.CheckNotMe(c.Request().Context(), token); err != nil {
		if errors.Is(err, models.ErrLinkInvalid) {
			return echo.NewHTTPError(http.StatusGone)
		}
		return err
	}
	return h.render(c, http.StatusOK, views.NotMePage(h.page(c, "Secure your account"), views.NotMeForm{Token: token}))
}

// notMe locks the current password, signs out every session of the account
// and emails a reset link, in one transaction (models.ConfirmNotMe). The
// link works once.
func (h *Handler) notMe(c echo.Context) error {
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	token, err := f.text("token")
	if err != nil {
		return err
	}
	mailed, err := h.store.ConfirmNotMe(c.Request().Context(), token, client(c), h.composeReset(c))
	if errors.Is(err, models.ErrLinkInvalid) {
		return echo.NewHTTPError(http.StatusGone)
	}
	if err != nil {
		return err
	}
	if currentSession(c) != nil {
		if err := h.endSession(c); err != nil {
			return err
		}
	}
	msg := "Your password is locked and every device has been signed out. We have emailed you a link to choose a new password."
	if !mailed {
		msg = "Your password is locked and every device has been signed out. We have already emailed you several reset links today: use the newest one."
	}
	if err := h.setFlash(c, "success", msg); err != nil {
		return err
	}
	return redirect(c, h.path("/account/login"))
}
