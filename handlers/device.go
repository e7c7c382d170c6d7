package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
)

// deviceCookieName names the device cookie; under https it carries the
// __Host- prefix like the session cookie (Secure, Path=/, no Domain).
func deviceCookieName(secure bool) string {
	if secure {
		return "__Host-latchkey_device"
	}
	return "latchkey_device"
}

// trustedDevice returns the device the request's device cookie proves for
// this canonical address, or the zero Device (no cookie, a forged or
// expired one, or one issued for another address).
func (h *Handler) trustedDevice(c echo.Context, email string) models.Device {
	cookie, err := c.Cookie(deviceCookieName(h.secure))
	if err != nil {
		return models.Device{}
	}
	dev, _ := h.devices.Verify(cookie.Value, email, h.store.Now()) // not ok is the zero Device
	return dev
}

// setDeviceCookie gives the browser, after a successful sign-in, a device
// cookie for the address: a fresh nonce each time, so the device's failure
// count starts afresh. It outlives the session on purpose; a sign-out's
// Clear-Site-Data: "cookies" does remove it in browsers that honour that.
func (h *Handler) setDeviceCookie(c echo.Context, email string) {
	c.SetCookie(&http.Cookie{ // #nosec G124 -- Secure follows BASE_URL: plain http in dev mode cannot carry it
		Name:     deviceCookieName(h.secure),
		Value:    h.devices.Issue(email, h.store.Now()),
		Path:     "/",
		MaxAge:   int(models.DeviceCookieLifetime.Seconds()),
		Secure:   h.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}
