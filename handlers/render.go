package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/views"
)

// render buffers the component first, so a failing render still becomes a
// clean 500 instead of half a page. The buffer comes from templ's pool; an
// unusually large one is left to the garbage collector rather than kept.
func (h *Handler) render(c echo.Context, status int, comp templ.Component) error {
	buf := templ.GetBuffer()
	defer func() {
		if buf.Cap() < 1<<20 {
			templ.ReleaseBuffer(buf)
		}
	}()
	if err := comp.Render(h.viewContext(c), buf); err != nil {
		return err
	}
	return writeHTML(c, status, buf.Bytes())
}

// viewContext is the context views render in: the request's, with
// BASE_URL's path prefix for the templates' path helper.
func (h *Handler) viewContext(c echo.Context) context.Context {
	return views.WithBasePath(c.Request().Context(), h.basePath)
}

// path is the URL path of one of Latchkey's own routes ("/account") under
// BASE_URL's path prefix ("/latchkey/account"; the route itself without
// one). Every redirect, HX-Redirect, next default and link a handler
// builds goes through it; templates have their own (views' path), and
// view-model fields hold routes, which the templates prefix.
func (h *Handler) path(route string) string { return h.basePath + route }

// absURL is the absolute URL of one of Latchkey's own routes, on BASE_URL
// ("https://example.com/latchkey/account/login"): for Location headers
// and links that leave this origin.
func (h *Handler) absURL(route string) string {
	return h.baseURL.Scheme + "://" + h.baseURL.Host + h.path(route)
}

// Header values every HTML answer shares (see one).
var (
	htmlType   = one(echo.MIMETextHTMLCharsetUTF8)
	noStore    = one("no-store")
	varyHTMX   = one("HX-Request, HX-Request-Type")
	varyShared = one("HX-Request, HX-Request-Type, Accept-Encoding")
)

// writeHTML sends a rendered page or fragment with the headers every HTML
// answer carries.
func writeHTML(c echo.Context, status int, body []byte) error {
	return sendHTML(c, status, body, []string{strconv.Itoa(len(body))}, varyHTMX)
}

// sendHTML writes body with its length (already formatted) and Vary value.
func sendHTML(c echo.Context, status int, body []byte, length, vary []string) error {
	hd := c.Response().Header()
	hd[echo.HeaderContentType] = htmlType
	// Every page shows account data or carries a form.
	hd["Cache-Control"] = noStore
	if v, ok := hd["Vary"]; ok {
		hd["Vary"] = append(v, vary...)
	} else {
		hd["Vary"] = vary
	}
	// A known length lets net/http send headers and body in one write
	// instead of switching to chunked encoding past 2 KiB.
	hd[echo.HeaderContentLength] = length
	return c.Blob(status, echo.MIMETextHTMLCharsetUTF8, body)
}

// formView is a form's two renderings: the fragment htmx swaps in place,
// and the page around it for everything else.
type formView[VM any] struct {
	title    string
	fragment func(VM) templ.Component
	page     func(views.Page, VM) templ.Component
}

// fullPage is the page around the form, with the layout's data.
func (v formView[VM]) fullPage(h *Handler, c echo.Context, vm VM) templ.Component {
	return v.page(h.page(c, v.title), vm)
}

// answer sends the form back with status (422 after a failed submit): the
// fragment to an htmx request, the whole page otherwise.
func (v formView[VM]) answer(h *Handler, c echo.Context, status int, vm VM) error {
	if isFragment(c) {
		return h.render(c, status, v.fragment(vm))
	}
	return h.render(c, status, v.fullPage(h, c, vm))
}

// isFragment reports whether the request is an htmx partial request. htmx
// sends HX-Request-Type "full" for history restores and boosted
// navigations: those get whole pages.
func isFragment(c echo.Context) bool {
	r := c.Request()
	return r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Request-Type") != "full"
}

// redirect ends a successful form post: 303 for plain posts, HX-Redirect
// for htmx (fetch would silently follow a 303 and swap the next page into
// the form). to is a URL as the browser must see it: h.path("/account")
// for Latchkey's own pages, or an already checked next or rd.
func redirect(c echo.Context, to string) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", to)
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.NoContent(http.StatusOK)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// page gathers what the layout needs: asset URLs, who is signed in, and
// the flash message (read once, then gone).
func (h *Handler) page(c echo.Context, title string) views.Page {
	p := views.Page{Title: title, Assets: h.assets.urls, DevMode: h.devMode}
	if acc := currentAccount(c); acc != nil {
		p.SignedIn = true
		p.Email = acc.Email
	}
	p.Flash = h.popFlash(c)
	return p
}

// firstError names the first field with an error, in form order, for the
// autofocus after a failed submit.
func firstError(errs views.Errors, order ...string) string {
	for _, f := range order {
		if errs[f] != "" {
			return f
		}
	}
	return ""
}

func statusText(code int) string { return strings.TrimSpace(http.StatusText(code)) }
