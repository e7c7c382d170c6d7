package handlers_test

// X-Forwarded-For is believed only from trusted proxies.

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func TestForwardedForIsOnlyBelievedFromTrustedProxies(t *testing.T) {
	limits := models.DefaultLimits()
	limits.ResetPostsPerMinute = 2
	app := testutil.StartApp(t, "sqlite", testutil.WithLimits(limits))
	b := app.NewBrowser(t)
	for i := 0; i < 2; i++ {
		b.Post("/account/forgot-password", url.Values{"email": {"a@example.com"}}, "X-Forwarded-For", "203.0.113."+string(rune('1'+i)))
	}
	r := b.Post("/account/forgot-password", url.Values{"email": {"a@example.com"}}, "X-Forwarded-For", "203.0.113.99")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("rotating X-Forwarded-For bypassed the limit: %d", r.StatusCode)
	}

	trusted := testutil.StartApp(t, "sqlite", testutil.WithLimits(limits), testutil.WithTrustedProxies("127.0.0.1/32"))
	tb := trusted.NewBrowser(t)
	for i := 0; i < 3; i++ {
		r := tb.Post("/account/forgot-password", url.Values{"email": {"a@example.com"}}, "X-Forwarded-For", "203.0.113."+string(rune('1'+i)))
		if r.StatusCode != http.StatusOK {
			t.Errorf("distinct clients behind a trusted proxy: %d", r.StatusCode)
		}
	}
}
