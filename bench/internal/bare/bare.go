// Package bare is the floor go run ./bench compares Latchkey with: a bare
// Echo server answering GET / and GET /healthz with a fixed string, no
// middleware. The bench serves it three ways: as its own binary
// (bench/bare, the floor for size, start-up and idle RSS), inside the
// bench process, and inside the bench's Latchkey server
// (bench/server, see inprocess.go), the floor for page throughput.
package bare

import (
	"net"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// New returns the bare Echo server.
func New() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "Hello, World!") })
	e.GET("/healthz", func(c echo.Context) error { return c.String(http.StatusOK, "ok\n") })
	return e
}

// Serve serves New() on ln until srv is closed; srv is returned at once.
func Serve(ln net.Listener) *http.Server {
	srv := &http.Server{Handler: New(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with ErrServerClosed, or with the process
	return srv
}
