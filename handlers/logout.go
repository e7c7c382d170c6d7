package handlers

import (
	"github.com/labstack/echo/v4"
)

// logout deletes this session's row (so a copied cookie is dead), clears
// the cookies and tells the browser to drop its cookies too.
func (h *Handler) logout(c echo.Context) error {
	if row := currentSession(c); row != nil {
		if err := h.store.SignOut(c.Request().Context(), row, client(c)); err != nil {
			return err
		}
	}
	if err := h.endSession(c); err != nil {
		return err
	}
	c.Response().Header().Set("Clear-Site-Data", `"cookies"`)
	return redirect(c, "/")
}
