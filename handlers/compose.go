package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/notify"
)

// composeReset renders the reset email (notify.Reset); the model calls it
// inside the transaction that queues it.
func (h *Handler) composeReset(c echo.Context) models.ComposeReset {
	return notify.Reset(c.Request().Context(), h.baseURL)
}

// composeChanged renders the "password changed" email (notify.Changed).
func (h *Handler) composeChanged(c echo.Context) models.ComposeChanged {
	return notify.Changed(c.Request().Context(), h.baseURL)
}

// composeEmailChange renders the change-of-address emails
// (notify.EmailChange).
func (h *Handler) composeEmailChange(c echo.Context) models.ComposeEmailChange {
	return notify.EmailChange(c.Request().Context(), h.baseURL)
}

// composeVerify renders the email-verification email (notify.Verify).
func (h *Handler) composeVerify(c echo.Context) models.ComposeVerify {
	return notify.Verify(c.Request().Context(), h.baseURL)
}

// composeFactor renders the second-factor emails (notify.Factor).
func (h *Handler) composeFactor(c echo.Context) models.ComposeFactor {
	return notify.Factor(c.Request().Context(), h.baseURL)
}
