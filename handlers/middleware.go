package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
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
		b := make([]byte, 8)
		_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
		id := hex.EncodeToString(b)
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
		h.log.Log(c.Request().Context(), level, "request",
			"method", c.Request().Method,
			"path", c.Request().URL.Path,
			"status", status,
			"duration_ms", float64(elapsed.Microseconds())/1000,
			"ip", c.RealIP(),
			"bytes", c.Response().Size,
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

// securityHeaders sets the headers every response carries.
func (h *Handler) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		// no-referrer everywhere: reset pages must not leak their URL, and
		// nothing else needs a referrer.
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cross-Origin-Resource-Policy", "same-origin")
		hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		if h.secure {
			hd.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
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
