package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"latchkey/internal/testutil"
	"latchkey/models"
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
