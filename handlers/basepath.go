package handlers

import (
	"strings"

	"github.com/labstack/echo/v4"
)

// keyOutsideBase marks (in the echo.Context) a request whose path is not
// under BASE_URL's path prefix.
const keyOutsideBase = "latchkey.outside_base"

// stripBase is the pre-routing middleware of a BASE_URL with a path
// prefix (SPEC §7: https://example.com/latchkey). A request under the
// prefix is routed, guarded and handled as the same request without it,
// so routes, middleware and handlers know only their own paths
// ("/account"), and links and redirects put the prefix back (path). Any
// other request keeps its path and is marked; outsideBase answers it 404.
// Both the decoded and the raw path must carry the prefix, since Echo
// routes on the raw one when there is one.
func (h *Handler) stripBase(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// Echo routes the *http.Request it was handed, so its URL is
		// changed in place (as Echo's own Rewrite middleware does).
		u := c.Request().URL
		p, ok := trimBase(u.Path, h.basePath)
		raw := u.RawPath
		if ok && raw != "" {
			raw, ok = trimBase(raw, h.basePath)
		}
		if !ok {
			c.Set(keyOutsideBase, true)
			return next(c)
		}
		u.Path, u.RawPath = p, raw
		return next(c)
	}
}

// trimBase removes the prefix base from p: "/latchkey/x" is "/x", and
// "/latchkey" itself is "/". A path merely starting with the same letters
// ("/latchkeys") is not under it.
func trimBase(p, base string) (string, bool) {
	rest, ok := strings.CutPrefix(p, base)
	switch {
	case !ok:
		return "", false
	case rest == "":
		return "/", true
	case rest[0] != '/':
		return "", false
	}
	return rest, true
}

// outsideBase answers 404 to a request stripBase found outside the
// prefix. It runs after the request id, the log line and the security
// headers, so the 404 is an ordinary one.
func (h *Handler) outsideBase(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Get(keyOutsideBase) != nil {
			return echo.ErrNotFound
		}
		return next(c)
	}
}

// requestPath is the path the client asked for, prefix included, for log
// lines (which operators match against their proxy's).
func (h *Handler) requestPath(c echo.Context) string {
	p := c.Request().URL.Path
	if h.basePath == "" || c.Get(keyOutsideBase) != nil {
		return p
	}
	return h.basePath + p
}
