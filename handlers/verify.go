package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// The forward-auth routes (SPEC §7).
const (
	pathVerify = "/auth/verify"
	pathWhoami = "/auth/whoami"
)

// The identity headers of a 200 from /auth/verify, in canonical form.
const (
	headerUser          = "X-Latchkey-User"
	headerEmail         = "X-Latchkey-Email"
	headerEmailVerified = "X-Latchkey-Email-Verified"
	headerMFA           = "X-Latchkey-Mfa" // X-Latchkey-MFA; header names are case-insensitive
)

var (
	headerTrue  = one("true")
	headerFalse = one("false")
)

func boolHeader(b bool) []string {
	if b {
		return headerTrue
	}
	return headerFalse
}

// forwardAuth is what the forward-auth routes need, built once.
type forwardAuth struct {
	// signIn is the sign-in page's absolute URL (h.absURL).
	signIn string
	// stylesheet is the absolute URL of the stylesheet, for the 403 page.
	stylesheet string
	// httpOrigins: dev mode, where an original request's missing
	// X-Forwarded-Proto means http.
	httpOrigins     bool
	requireVerified bool
	requireMFA      bool
}

// newForwardAuth builds the forward-auth settings; absURL is h.absURL
// (Latchkey's absolute URLs, under BASE_URL's path prefix) and css the
// stylesheet's route.
func newForwardAuth(d Deps, absURL func(string) string, css string) forwardAuth {
	return forwardAuth{
		signIn: absURL("/account/login"), stylesheet: absURL(css),
		httpOrigins:     d.BaseURL.Scheme != "https",
		requireVerified: d.RequireVerifiedEmail, requireMFA: d.RequireMFA,
	}
}

// verify is the proxy's question, asked for every request of the app it
// guards: who is signed in? Signed in: 200, empty, with every identity
// header. Signed out: 401 with Location (nginx, or anything but a browser
// navigation, with a JSON body) or 302 (a browser navigation behind Caddy
// or Traefik) to the sign-in page, with the original URL as rd when it is
// an accepted return target. Refused by REQUIRE_VERIFIED_EMAIL or
// REQUIRE_MFA: 403 with a page or JSON saying what to do, never a
// redirect. It hashes no password and writes nothing but a last-seen
// update at most once a minute; a signed-out check creates nothing.
func (h *Handler) verify(c echo.Context) error {
	hd := c.Response().Header()
	hd["Cache-Control"] = noStore
	sess, err := h.forwardAuthSession(c)
	if err != nil {
		return err
	}
	if sess == nil {
		return h.verifySignedOut(c)
	}
	acc := sess.Account
	verified := acc.EmailVerifiedAt != nil
	switch {
	case h.fa.requireVerified && !verified:
		return h.verifyRefused(c, views.ReasonEmailUnverified)
	case h.fa.requireMFA && !sess.MFA:
		return h.verifyRefused(c, views.ReasonMFARequired)
	}
	// Always all four, so a proxy that copies them never passes on a
	// client's own value for one that is missing.
	hd[headerUser] = []string{acc.PublicID}
	hd[headerEmail] = []string{acc.Email}
	hd[headerEmailVerified] = boolHeader(verified)
	hd[headerMFA] = boolHeader(sess.MFA)
	return c.NoContent(http.StatusOK)
}

// signedOutAnswer is the JSON body of a signed-out 401.
type signedOutAnswer struct {
	Error  string `json:"error"`
	SignIn string `json:"sign_in,omitempty"`
}

func (h *Handler) verifySignedOut(c echo.Context) error {
	r := c.Request()
	orig := originalRequest(r, h.fa.httpOrigins)
	to := h.fa.signIn
	// The one return-target rule (SPEC §7): only where the session cookie
	// goes.
	if rd, ok := h.returnTo.Check(orig.url); ok {
		to += "?rd=" + url.QueryEscape(rd)
	}
	c.Response().Header()[echo.HeaderLocation] = []string{to}
	if !orig.nginx && browserNavigation(r, orig.method) {
		return c.NoContent(http.StatusFound)
	}
	// nginx's auth_request passes only 2xx, 401 and 403: its
	// configuration turns this 401 into a redirect to Location.
	return c.JSON(http.StatusUnauthorized, signedOutAnswer{Error: "signed_out", SignIn: to})
}

// refusedAnswer is the JSON body of a 403 from /auth/verify.
type refusedAnswer struct {
	Error   string `json:"error"`
	Message string `json:"message"`
	URL     string `json:"url"`
}

// verifyRefused answers a signed-in browser the configuration refuses:
// 403, with a page (a browser navigation) or JSON naming what to do and
// where. Never a redirect: sending it to sign in again would loop.
func (h *Handler) verifyRefused(c echo.Context, reason string) error {
	vm := views.ForbiddenCopy[reason]
	vm.Link = h.absURL(vm.Link)
	r := c.Request()
	if !browserNavigation(r, originalRequest(r, h.fa.httpOrigins).method) {
		return c.JSON(http.StatusForbidden, refusedAnswer{Error: reason, Message: vm.Message, URL: vm.Link})
	}
	vm.Stylesheet = h.fa.stylesheet
	return h.render(c, http.StatusForbidden, views.ForbiddenPage(vm))
}

// whoamiAnswer is /auth/whoami's JSON.
type whoamiAnswer struct {
	ID            string        `json:"id"`
	Email         string        `json:"email"`
	EmailVerified bool          `json:"email_verified"`
	MFA           bool          `json:"mfa"`
	Session       whoamiSession `json:"session"`
}

type whoamiSession struct {
	CreatedAt  string `json:"created_at"`
	LastSeenAt string `json:"last_seen_at"`
	ExpiresAt  string `json:"expires_at"`
}

// whoami tells servers and single-page apps who is signed in, as JSON.
func (h *Handler) whoami(c echo.Context) error {
	c.Response().Header()["Cache-Control"] = noStore
	sess, err := h.forwardAuthSession(c)
	if err != nil {
		return err
	}
	if sess == nil {
		return c.JSON(http.StatusUnauthorized, signedOutAnswer{Error: "signed_out"})
	}
	acc := sess.Account
	return c.JSON(http.StatusOK, whoamiAnswer{
		ID: acc.PublicID, Email: acc.Email, EmailVerified: acc.EmailVerifiedAt != nil, MFA: sess.MFA,
		Session: whoamiSession{
			CreatedAt: rfc3339(sess.CreatedAt), LastSeenAt: rfc3339(sess.LastSeenAt), ExpiresAt: rfc3339(h.store.ExpiresAt(sess)),
		},
	})
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// forwardAuthSession returns the request's signed-in session through the
// session cache, or nil. A session whose sign-in is not complete
// (AuthState) is signed out here as everywhere.
func (h *Handler) forwardAuthSession(c echo.Context) (*models.Session, error) {
	cookie, err := c.Request().Cookie(h.sessions.name)
	if err != nil || cookie.Value == "" || len(cookie.Value) > 100 {
		return nil, nil
	}
	sess, err := h.store.LoadSessionCached(c.Request().Context(), cookie.Value)
	if errors.Is(err, models.ErrSessionNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !sess.SignedIn() || sess.Account == nil {
		return nil, nil
	}
	return sess, nil
}

// original is the request the proxy is asking about.
type original struct {
	// url is the original absolute URL, or "" when the proxy did not say.
	url    string
	method string
	// nginx: the proxy is nginx's auth_request (X-Original-URL).
	nginx bool
}

// originalRequest reads the proxied request from X-Original-URL and
// X-Original-Method (nginx) or X-Forwarded-Method, -Proto, -Host and
// -Uri (Caddy, Traefik). Without them, the check itself is taken as the
// request. The URL is only ever used through the return-target rule.
func originalRequest(r *http.Request, allowHTTP bool) original {
	if u := r.Header.Get("X-Original-Url"); u != "" {
		return original{url: u, method: orDefault(r.Header.Get("X-Original-Method"), r.Method), nginx: true}
	}
	o := original{method: orDefault(r.Header.Get("X-Forwarded-Method"), r.Method)}
	host := r.Header.Get("X-Forwarded-Host")
	if host == "" {
		return o
	}
	proto := strings.ToLower(r.Header.Get("X-Forwarded-Proto"))
	if proto == "" {
		proto = "https"
		if allowHTTP {
			proto = "http"
		}
	}
	uri := orDefault(r.Header.Get("X-Forwarded-Uri"), "/")
	if (proto == "http" || proto == "https") && uri[0] == '/' {
		o.url = proto + "://" + host + uri
	}
	return o
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// browserNavigation reports whether the original request was a browser
// navigation, which a redirect or a page suits: method GET or HEAD, not
// htmx, not XMLHttpRequest-style, and an Accept that does not ask for
// JSON alone. The headers are the check's own: proxies pass the client's
// headers on.
func browserNavigation(r *http.Request, method string) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	if r.Header.Get("HX-Request") != "" || r.Header.Get("X-Requested-With") != "" {
		return false
	}
	return !jsonOnly(r.Header.Values("Accept"))
}

// jsonOnly reports whether an Accept header asks for JSON and not for
// HTML: it names application/json or a +json type and neither text/html
// nor application/xhtml+xml (ranges with q=0 do not count). A browser's
// navigation always names text/html; "*/*" alone (curl) is no JSON-only
// request.
func jsonOnly(accept []string) bool {
	sawJSON := false
	for _, line := range accept {
		for _, part := range strings.Split(line, ",") {
			mt, params, _ := strings.Cut(part, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			if refusedRange(params) {
				continue
			}
			switch {
			case mt == "text/html", mt == "application/xhtml+xml":
				return false
			case mt == "application/json", strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"):
				sawJSON = true
			}
		}
	}
	return sawJSON
}

// refusedRange reports whether a media range's parameters say q=0.
func refusedRange(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			v = strings.TrimSpace(v)
			return v == "0" || strings.Trim(v, "0.") == "" && strings.HasPrefix(v, "0")
		}
	}
	return false
}
