package handlers

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
)

const headerRequestID = "X-Request-Id"

// requestID gives every request a fresh id, in the context (for log lines)
// and in the response header. An incoming X-Request-Id is not trusted.
func (h *Handler) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// A random per-process prefix and a counter: unique across
		// instances and restarts, and cheaper than crypto/rand on every
		// request (request ids need not be unpredictable).
		id := h.idPrefix + strconv.FormatUint(h.idCounter.Add(1), 16)
		c.Response().Header()[headerRequestID] = []string{id}
		c.SetRequest(c.Request().WithContext(WithRequestID(c.Request().Context(), id)))
		return next(c)
	}
}

// logRequests writes one line per request. It logs the path without the
// query string: reset links carry their code there.
func (h *Handler) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		status := c.Response().Status
		level := slogLevelFor(status)
		elapsed := time.Since(start)
		h.metrics.ObserveRequest(c.Path(), c.Request().Method, status, elapsed)
		// LogAttrs: typed attributes, no boxing; this runs on every request.
		h.log.LogAttrs(c.Request().Context(), level, "request",
			slog.String("method", c.Request().Method),
			slog.String("path", h.requestPath(c)),
			slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000),
			slog.String("ip", c.RealIP()),
			slog.Int64("bytes", c.Response().Size),
		)
		return nil
	}
}

// recoverPanics turns a panic into a 500 with the stack in the log.
func (h *Handler) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				h.log.ErrorContext(c.Request().Context(), "panic", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
				err = errors.New("panic recovered")
			}
		}()
		return next(c)
	}
}

// contentSecurityPolicy allows only our own scripts and styles: no inline
// script, no eval (htmx is configured not to need it).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaderValues are the headers every response carries, in
// canonical form, built once. no-referrer everywhere: reset pages must not
// leak their URL, and nothing else needs a referrer.
var securityHeaderValues = []headerValue{
	{"Content-Security-Policy", one(contentSecurityPolicy)},
	{"X-Content-Type-Options", one("nosniff")},
	{"X-Frame-Options", one("DENY")},
	{"Referrer-Policy", one("no-referrer")},
	{"Cross-Origin-Opener-Policy", one("same-origin")},
	{"Cross-Origin-Resource-Policy", one("same-origin")},
	{"Permissions-Policy", one("camera=(), microphone=(), geolocation=(), interest-cohort=()")},
}

var hstsValue = one("max-age=63072000; includeSubDomains")

// headerValue is a header set the same way on many responses.
type headerValue struct {
	key   string // canonical
	value []string
}

// one makes a header value that responses can share instead of
// allocating their own: its length equals its capacity, so Header.Add
// copies before appending and Header.Set replaces it; nothing here writes
// into it.
func one(v string) []string { return []string{v} }

// securityHeaders sets the headers every response carries. Keys are
// already canonical and values shared, so they are assigned directly
// (Header.Set would canonicalise and allocate again on every request).
func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		for _, kv := range securityHeaderValues {
			hd[kv.key] = kv.value
		}
		hd["Content-Security-Policy"] = h.csp
		if h.secure {
			hd["Strict-Transport-Security"] = hstsValue
		}
		return next(c)
	}
}

// crossOrigin refuses cross-site POSTs with 403, deciding on
// Sec-Fetch-Site first and then Origin (Go's CrossOriginProtection), with
// BASE_URL as a trusted origin. It covers every POST, htmx ones included;
// the one exception is a sign-out from a sibling subdomain inside
// COOKIE_DOMAIN (sameSiteSignOut, SPEC §7).
func (h *Handler) crossOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := h.cop.Check(c.Request()); err != nil && !h.sameSiteSignOut(c) {
			return echo.NewHTTPError(http.StatusForbidden, "cross-origin request refused")
		}
		return next(c)
	}
}

// limitBody refuses bodies over the cap with 413: at once when
// Content-Length says so, and while reading otherwise (chunked bodies).
func (h *Handler) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > h.maxBody {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		}
		if r.Body != nil && r.Body != http.NoBody { // most GETs have no body at all
			r.Body = http.MaxBytesReader(c.Response(), r.Body, h.maxBody)
		}
		return next(c)
	}
}

func retryAfter(c echo.Context, d time.Duration) {
	secs := int(d.Round(time.Second).Seconds())
	if secs < 1 {
		secs = 1
	}
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
}
