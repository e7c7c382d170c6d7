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
		c.Set(headerRequestID, id)
		c.Response().Header().Set(headerRequestID, id)
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
			slog.String("path", c.Request().URL.Path),
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
var securityHeaderValues = [][2]string{
	{"Content-Security-Policy", contentSecurityPolicy},
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "DENY"},
	{"Referrer-Policy", "no-referrer"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"},
}

// securityHeaders sets the headers every response carries. Keys are
// already canonical, so they are assigned directly (Header.Set would
// canonicalise them again on every request).
func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		for _, kv := range securityHeaderValues {
			hd[kv[0]] = []string{kv[1]}
		}
		if h.secure {
			hd["Strict-Transport-Security"] = []string{"max-age=63072000; includeSubDomains"}
		}
		return next(c)
	}
}

// crossOrigin refuses cross-site POSTs with 403, deciding on
// Sec-Fetch-Site first and then Origin (Go's CrossOriginProtection), with
// BASE_URL as a trusted origin. It covers every POST, htmx ones included.
func (h *Handler) crossOrigin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := h.cop.Check(c.Request()); err != nil {
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
		r.Body = http.MaxBytesReader(c.Response(), r.Body, h.maxBody)
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
