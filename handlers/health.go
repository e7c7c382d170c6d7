package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// healthz says the process is up.
func (h *Handler) healthz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.String(http.StatusOK, "ok\n")
}

// Bodies of /readyz, fixed so every answer of one status is byte for byte
// the same.
var (
	readyOK          = []byte(`{"status":"ok"}` + "\n")
	readyUnavailable = []byte(`{"status":"unavailable"}` + "\n")
)

// readyz says whether the database answers, and nothing else. It is
// public, so it must not carry state that requests change: the outbox
// backlog it used to report went to 1 while a known address's reset email
// was in flight and so told anyone polling it which addresses have an
// account. The backlog is the latchkey_outbox_backlog gauge on
// METRICS_ADDR.
func (h *Handler) readyz(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := h.store.Ping(ctx); err != nil {
		return c.JSONBlob(http.StatusServiceUnavailable, readyUnavailable)
	}
	return c.JSONBlob(http.StatusOK, readyOK)
}
