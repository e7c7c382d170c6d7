package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func TestProductionModeCookiesAndHeaders(t *testing.T) {
	app := testutil.StartApp(t, "sqlite", testutil.WithBaseURL("https://accounts.example"))
	b := app.NewBrowser(t)
	r := b.Post("/account/register", url.Values{"email": {"prod@example.com"}, "password": {oldPassword}}, "Origin", "https://accounts.example")
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d", r.StatusCode)
	}
	cookie := r.Header.Get("Set-Cookie")
	if !strings.HasPrefix(cookie, "__Host-latchkey_session=") || !strings.Contains(cookie, "Secure") ||
		!strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "Path=/") || strings.Contains(strings.ToLower(cookie), "domain=") {
		t.Errorf("production session cookie: %s", cookie)
	}
	if hsts := r.Header.Get("Strict-Transport-Security"); !strings.Contains(hsts, "max-age=") {
		t.Errorf("HSTS missing under https: %q", hsts)
	}
	for _, p := range []string{"/dev/mailbox", "/dev/styleguide"} {
		if got := b.Get(p).StatusCode; got != http.StatusNotFound {
			t.Errorf("%s in production: %d", p, got)
		}
	}
	// Emailed links use BASE_URL, whatever Host the request claims.
	b.Post("/account/forgot-password", url.Values{"email": {"prod@example.com"}}, "Origin", "https://accounts.example", "X-Forwarded-Host", "evil.example")
	m := app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0]
	if link := testutil.ResetLink(t, m); !strings.HasPrefix(link, "https://accounts.example/account/reset-password?code=") {
		t.Errorf("link %q not on BASE_URL", link)
	}
}

func TestHashingIsBoundedUnderASignInFlood(t *testing.T) {
	// One slot and a short wait: a flood gets 503 + Retry-After, never a
	// 500, and never more hashes than the bound at once.
	hasher, err := models.NewHasher(models.HashParams, 1, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	limits := models.DefaultLimits()
	limits.SignInFreeFailures, limits.SignInFreeFailuresIP = 1000, 1000
	app := testutil.StartApp(t, "sqlite", testutil.WithHasher(hasher), testutil.WithLimits(limits))
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	retryAfter := true
	peak := 0
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				mu.Lock()
				peak = max(peak, hasher.InFlight())
				mu.Unlock()
				time.Sleep(time.Millisecond)
			}
		}
	}()
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := app.NewBrowser(t).Post("/account/login", url.Values{"email": {"flood@example.com"}, "password": {"any password at all"}})
			mu.Lock()
			statuses[r.StatusCode]++
			if r.StatusCode == http.StatusServiceUnavailable && r.Header.Get("Retry-After") == "" {
				retryAfter = false
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	if statuses[http.StatusServiceUnavailable] == 0 || statuses[http.StatusInternalServerError] != 0 || !retryAfter {
		t.Errorf("statuses %v (Retry-After on every 503: %v)", statuses, retryAfter)
	}
	if peak > 1 {
		t.Errorf("%d hashes in flight, bound 1", peak)
	}
	t.Logf("16 concurrent sign-ins, 1 hashing slot: %v, peak in flight %d", statuses, peak)
}

func TestOversizedBodiesComputeNoHash(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	app.Register(t, "big@example.com", oldPassword)
	b := app.NewBrowser(t)
	huge := strings.Repeat("p", 2<<20)
	r := b.Post("/account/login", url.Values{"email": {"big@example.com"}, "password": {huge}})
	if r.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("2 MiB sign-in: %d", r.StatusCode)
	}
	// A checked password would have counted a failed sign-in.
	n, _ := app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventSignInFailed).Count(t.Context())
	var rl int
	if err := app.DB.NewRaw("SELECT count(*) FROM rate_limits WHERE key LIKE 'signin-fail%'").Scan(t.Context(), &rl); err != nil {
		t.Fatal(err)
	}
	if n != 0 || rl != 0 {
		t.Errorf("an oversized body reached the password check (events %d, counters %d)", n, rl)
	}
}

func TestPerIPLimitsOnRegistrationAndReset(t *testing.T) {
	limits := models.DefaultLimits()
	limits.RegistrationsPerHour, limits.ResetPostsPerMinute = 2, 2
	app := testutil.StartApp(t, "sqlite", testutil.WithLimits(limits))
	b := app.NewBrowser(t)
	for i, want := range []int{http.StatusSeeOther, http.StatusSeeOther, http.StatusTooManyRequests} {
		r := b.Post("/account/register", url.Values{"email": {"r" + string(rune('a'+i)) + "@example.com"}, "password": {oldPassword}})
		if r.StatusCode != want {
			t.Errorf("registration %d: %d, want %d", i+1, r.StatusCode, want)
		}
		if want == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	for i, want := range []int{http.StatusGone, http.StatusGone, http.StatusTooManyRequests} {
		r := b.Post("/account/reset-password", url.Values{"code": {strings.Repeat("C", 43)}, "password": {newPassword}})
		if r.StatusCode != want {
			t.Errorf("reset POST %d: %d, want %d", i+1, r.StatusCode, want)
		}
	}
	// Inline validation has its own budget: still fine.
	if r := b.Post("/account/validate/email", url.Values{"email": {"a@example.com"}}); r.StatusCode != http.StatusOK {
		t.Errorf("validation after the submit limits: %d", r.StatusCode)
	}
}

func TestServerLimits(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	cfg := app.Server.Config
	if cfg.ReadHeaderTimeout == 0 || cfg.ReadTimeout == 0 || cfg.WriteTimeout == 0 || cfg.IdleTimeout == 0 || cfg.MaxHeaderBytes == 0 || cfg.MaxHeaderBytes > 64<<10 {
		t.Errorf("server limits: %+v", cfg)
	}
	b := app.NewBrowser(t)
	r := b.Get("/", "X-Padding", strings.Repeat("a", 100<<10))
	if r.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("100 KiB of headers: %d", r.StatusCode)
	}
}

func TestParallelGuessesAreThrottledToo(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		app.Register(t, "target@example.com", oldPassword)
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for i := 0; i < 30; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := app.NewBrowser(t).Post("/account/login", url.Values{"email": {"target@example.com"}, "password": {"guess number " + string(rune('a'+i))}})
				mu.Lock()
				statuses[r.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		free := models.DefaultLimits().SignInFreeFailures
		if statuses[http.StatusUnprocessableEntity] > free+1 || statuses[http.StatusTooManyRequests] == 0 {
			t.Errorf("30 parallel guesses: %v; at most %d may be checked", statuses, free+1)
		}
	})
}

func TestPasswordConfirmIsChecked(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	r := app.NewBrowser(t).Post("/account/register", url.Values{"email": {"confirm@example.com"}, "password": {oldPassword}, "password_confirm": {oldPassword + "x"}})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "do not match") {
		t.Errorf("mismatched confirmation: %d", r.StatusCode)
	}
	r = app.NewBrowser(t).Post("/account/register", url.Values{"email": {"confirm@example.com"}, "password": {oldPassword}, "password_confirm": {oldPassword}})
	if r.StatusCode != http.StatusSeeOther {
		t.Errorf("matching confirmation: %d", r.StatusCode)
	}
}
