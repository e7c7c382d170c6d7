package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// Benchmarks (not timed tests) of the answers that must not depend on
// whether an address has an account. Each pair runs over HTTP against a
// real app on SQLite and reports its median and p99 per request next to
// ns/op, so benchstat shows both sides:
//
//	go test -run '^$' -bench 'ForgotPassword|SignIn' ./handlers/ | benchstat -
//
// Limits are lifted (WithLimits) because one client repeats one request
// here; every other part is the production path.

// reportLatency adds the median and p99 of the per-request durations.
func reportLatency(b *testing.B, ds []time.Duration) {
	b.Helper()
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(p float64) time.Duration { return ds[min(int(p*float64(len(ds))), len(ds)-1)] }
	b.ReportMetric(float64(at(0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(at(0.99).Nanoseconds()), "p99-ns")
}

func unlimited() models.Limits {
	l := models.DefaultLimits()
	l.ResetMailsPerHour, l.ResetPostsPerMinute = 1<<30, 1<<30
	l.SignInFreeFailures, l.SignInFreeFailuresIP = 1<<30, 1<<30
	return l
}

// BenchmarkForgotPassword posts the forgot-password form for an address
// with an account (/known: a code row, an event and a queued email) and
// for one without (/unknown).
func BenchmarkForgotPassword(b *testing.B) {
	app := testutil.StartApp(b, "sqlite", testutil.WithLimits(unlimited()))
	app.Register(b, "known@example.com", "correct horse battery staple")
	for _, tc := range []struct{ name, email string }{
		{"known", "known@example.com"},
		{"unknown", "ghost@example.com"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			browser := app.NewBrowser(b)
			var ds []time.Duration
			for b.Loop() {
				t0 := time.Now()
				resp := browser.Post("/account/forgot-password", url.Values{"email": {tc.email}})
				ds = append(ds, time.Since(t0))
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			reportLatency(b, ds)
		})
	}
}

// BenchmarkSignIn posts a wrong password for an account
// (/wrong-password) and any password for an address without one
// (/unknown-address), with the production argon2id parameters, so the
// dummy check the unknown address pays for is the real cost.
func BenchmarkSignIn(b *testing.B) {
	hasher, err := models.NewHasher(models.HashParams, 4, 30*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	app := testutil.StartApp(b, "sqlite", testutil.WithLimits(unlimited()), testutil.WithHasher(hasher))
	app.Register(b, "known@example.com", "correct horse battery staple")
	for _, tc := range []struct{ name, email string }{
		{"wrong-password", "known@example.com"},
		{"unknown-address", "ghost@example.com"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			browser := app.NewBrowser(b)
			var ds []time.Duration
			i := 0
			for b.Loop() {
				i++
				form := url.Values{"email": {tc.email}, "password": {fmt.Sprintf("not the password %d", i)}}
				t0 := time.Now()
				resp := browser.Post("/account/login", form)
				ds = append(ds, time.Since(t0))
				if resp.StatusCode != http.StatusUnprocessableEntity {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
			reportLatency(b, ds)
		})
	}
}

// discardWriter is a ResponseWriter that keeps only the status and drops
// the body, so BenchmarkPage measures the handler chain and not a
// recorder's buffering.
type discardWriter struct {
	hd     http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.hd }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }

// BenchmarkPage serves GET /account/login through the whole middleware
// chain in process (/login) next to a bare Echo handler returning a fixed
// string (/bare): the per-request CPU and allocations Latchkey adds,
// without the network. go run ./bench measures the same over loopback.
func BenchmarkPage(b *testing.B) {
	app := testutil.StartApp(b, "sqlite", testutil.WithLogTo(io.Discard))
	bare := echo.New()
	bare.GET("/", func(c echo.Context) error { return c.String(http.StatusOK, "ok") })
	for _, tc := range []struct {
		name, path string
		h          http.Handler
	}{
		{"bare", "/", bare},
		{"login", "/account/login", app.Server.Config.Handler},
	} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, tc.path, nil)
			req.RemoteAddr = "127.0.0.1:50000"
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{hd: http.Header{}}
				tc.h.ServeHTTP(w, req)
				if w.status != http.StatusOK && w.status != 0 {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}
