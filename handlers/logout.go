package handlers

import (
	"mime"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// logoutRoute is the sign-out route: the one POST that a page on a sibling
// subdomain may send (sameSiteSignOut).
const logoutRoute = "/account/logout"

// logout deletes this session's row (so a copied cookie is dead), clears
// the cookies and tells the browser to drop its cookies too, then goes to
// an accepted rd (SPEC §7: an app's own sign-out button sends its users
// back to it) or to the landing page.
func (h *Handler) logout(c echo.Context) error {
	rd, err := h.logoutTarget(c)
	if err != nil {
		return err
	}
	if row := currentSession(c); row != nil {
		if err := h.store.SignOut(c.Request().Context(), row, client(c)); err != nil {
			return err
		}
	}
	if err := h.endSession(c); err != nil {
		return err
	}
	c.Response().Header().Set("Clear-Site-Data", `"cookies"`)
	if rd != "" {
		return redirect(c, rd)
	}
	return redirect(c, h.path("/"))
}

// logoutTarget reads the sign-out's rd: the form field, or else the
// query parameter (an app's button may put it in its form's action).
// Sign-out never needed a body, so a POST without a urlencoded one is
// still a sign-out, with no rd.
func (h *Handler) logoutTarget(c echo.Context) (string, error) {
	rd := ""
	if mt, _, err := mime.ParseMediaType(c.Request().Header.Get(echo.HeaderContentType)); err == nil && mt == echo.MIMEApplicationForm {
		f, err := parseForm(c)
		if err != nil {
			return "", err
		}
		if rd, err = f.text("rd"); err != nil {
			return "", err
		}
	}
	if rd == "" {
		rd = queryOne(c, "rd")
	}
	return h.returnTarget(rd), nil
}

// sameSiteSignOut reports whether a POST that Go's cross-origin check
// refused is a sign-out from an app on a sibling subdomain: the route is
// the sign-out, the browser says same-site, COOKIE_DOMAIN is set and the
// Origin is a bare origin whose host is inside it, https in production
// (the same host and scheme rule as a return target: where the session
// cookie goes). Every other POST stays same-origin. A forged sign-out is
// only a nuisance, and only a host already trusted with the session
// cookie can send one.
func (h *Handler) sameSiteSignOut(c echo.Context) bool {
	r := c.Request()
	if h.cookieDomain == "" || r.Method != http.MethodPost || c.Path() != logoutRoute ||
		r.Header.Get("Sec-Fetch-Site") != "same-site" {
		return false
	}
	origins := r.Header.Values("Origin")
	if len(origins) != 1 || origins[0] == "" || origins[0][0] == '/' {
		return false // a local path would pass the return-target rule
	}
	u, err := url.Parse(origins[0])
	if err != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	_, ok := h.returnTo.Check(origins[0])
	return ok
}
