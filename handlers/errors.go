package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// errorCopy is the text of each error page.
var errorCopy = map[int][2]string{
	http.StatusBadRequest:            {"Bad request", "The request could not be understood. Check what you entered and try again."},
	http.StatusForbidden:             {"Not allowed", "This request was refused. If you followed a link from another site, go to the page directly and try again."},
	http.StatusNotFound:              {"Page not found", "There is nothing at this address."},
	http.StatusMethodNotAllowed:      {"Not allowed", "This page does not accept that kind of request."},
	http.StatusGone:                  {"This link no longer works", "Reset links work once and only for a limited time."},
	http.StatusRequestEntityTooLarge: {"Too much data", "What you sent is larger than this form accepts."},
	http.StatusUnsupportedMediaType:  {"Unsupported form", "Send the form from the page itself."},
	http.StatusUnprocessableEntity:   {"Check the form", "Some of what you entered needs another look."},
	http.StatusTooManyRequests:       {"Too many attempts", "Please wait a little before trying again."},
	http.StatusInternalServerError:   {"Something went wrong", "We could not complete your request. Please try again in a moment."},
	http.StatusServiceUnavailable:    {"Temporarily unavailable", "We cannot complete your request right now. Please try again in a moment."},
}

// handleError is Echo's error handler: it maps errors to a status and an
// error page (or, for htmx, an alert fragment in the flash region), logs
// unexpected ones once, and does nothing if a response was already sent.
func (h *Handler) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	var he *echo.HTTPError
	var limited *models.LimitedError
	switch {
	case errors.As(err, &he):
		status = he.Code
	case errors.Is(err, models.ErrNotFound):
		status = http.StatusNotFound
	case errors.As(err, &limited):
		status = http.StatusTooManyRequests
		retryAfter(c, limited.RetryAfter)
	case errors.Is(err, models.ErrBusy):
		status = http.StatusServiceUnavailable
		retryAfter(c, time.Second)
	case errors.Is(err, context.Canceled) || c.Request().Context().Err() != nil:
		// The client went away; nobody will read the answer, so it is a
		// 499, not a 5xx. What failed after that is often a consequence
		// (a transaction rolled back under the cancelled context reports
		// sql.ErrTxDone), but it can also be a stalled database that
		// outlasted the client's patience: anything but the cancellation
		// itself is still logged, as a warning.
		status = 499
		if !errors.Is(err, context.Canceled) {
			h.log.WarnContext(c.Request().Context(), "request failed after the client left",
				"path", h.requestPath(c), "err", err)
		}
	default:
		if h.databaseDown(c.Request().Context()) {
			status = http.StatusServiceUnavailable
			retryAfter(c, 5*time.Second)
		}
		level := slog.LevelError
		if status == http.StatusServiceUnavailable {
			level = slog.LevelWarn
		}
		h.log.Log(c.Request().Context(), level, "request failed",
			"path", h.requestPath(c), "status", status, "err", err)
	}
	if status != 499 && clientGone(c) {
		// The client left before its answer was ready: whatever the
		// error was (typically a 400 for a body cut short, since a
		// failed body read cancels the request's context), nobody will
		// read it. The request line says 499 and nothing else is
		// logged: a client hanging up is no fault of ours, and a flood
		// of hang-ups must not become a flood of errors.
		status = 499
	}
	if status == 499 {
		c.Response().WriteHeader(status)
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	copyText, ok := errorCopy[status]
	if !ok {
		copyText = [2]string{statusText(status), ""}
	}
	e := views.ErrorPage{Status: status, Title: copyText[0], Message: copyText[1]}
	if status == http.StatusGone {
		e.Link, e.LinkText = "/account/forgot-password", "Ask for a new link"
	}
	var rerr error
	if isFragment(c) {
		// Keep the form; show the alert in the flash region instead.
		c.Response().Header().Set("HX-Retarget", "#flash")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
		rerr = h.render(c, status, views.Alert(e))
	} else {
		p := views.Page{Title: e.Title, Assets: h.assets.urls, DevMode: h.devMode}
		if acc := currentAccount(c); acc != nil {
			p.SignedIn, p.Email = true, acc.Email
		}
		rerr = h.render(c, status, views.ErrorView(p, e))
	}
	if rerr != nil {
		if clientGone(c) { // it left while the page was rendered
			c.Response().WriteHeader(499)
			return
		}
		h.log.ErrorContext(c.Request().Context(), "rendering error page failed", "err", rerr)
		_ = c.String(status, copyText[0])
	}
}

// clientGone reports whether the client has hung up: net/http cancels a
// request's context when its connection is closed or a read from it fails.
func clientGone(c echo.Context) bool { return c.Request().Context().Err() != nil }

// databaseDown tells a database outage (503) from a bug (500).
func (h *Handler) databaseDown(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	return h.store.Ping(ctx) != nil
}

func slogLevelFor(status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelWarn
	default:
		return slog.LevelInfo
	}
}
