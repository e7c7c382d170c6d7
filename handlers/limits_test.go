package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// escalate repeats try (failed sign-ins) until the answer is a 429 whose
// Retry-After shows the back-off at its cap, moving the app's clock past
// each shorter window on the way. The cap is minutes long, so what a test
// checks next does not race a one-second window.
func escalate(t *testing.T, app *testutil.App, try func(i int) *testutil.Response) {
	t.Helper()
	for i := 0; i < 80; i++ {
		r := try(i)
		switch r.StatusCode {
		case http.StatusUnprocessableEntity:
		case http.StatusTooManyRequests:
			secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
			if err != nil || secs < 1 {
				t.Fatalf("429 with Retry-After %q", r.Header.Get("Retry-After"))
			}
			if time.Duration(secs)*time.Second >= models.DefaultLimits().SignInMaxBlock-time.Minute {
				return
			}
			app.Clock.Advance(time.Duration(secs) * time.Second)
		default:
			t.Fatalf("failed sign-in %d: %d", i, r.StatusCode)
		}
	}
	t.Fatalf("80 failed sign-ins never reached the capped back-off")
}

func TestPerIPLimitsCountAnIPv6Slash64AsOneClient(t *testing.T) {
	limits := models.DefaultLimits()
	limits.RegistrationsPerHour, limits.ResetPostsPerMinute, limits.ValidationsPerMinute = 2, 2, 2
	limits.SignInFreeFailuresIP = 2
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		// Each case uses its own /64; every request comes from a new
		// address inside it, as an attacker holding the /64 would send.
		from := func(net string, i int) []string {
			return []string{"X-Forwarded-For", fmt.Sprintf("2001:db8:%s:%x:%x:%x:%x", net, i*7919%0x10000, i*104729%0x10000, i/0x10000, i%0x10000+1)}
		}
		cases := []struct {
			name, net string
			post      func(b *testutil.Browser, i int, hdr []string) *testutil.Response
			ok        int
		}{
			{"registration", "a:1", func(b *testutil.Browser, i int, hdr []string) *testutil.Response {
				return b.Post("/account/register", url.Values{"email": {fmt.Sprintf("r%d@example.com", i)}, "password": {oldPassword}}, hdr...)
			}, http.StatusSeeOther},
			{"forgot password", "a:2", func(b *testutil.Browser, i int, hdr []string) *testutil.Response {
				return b.Post("/account/forgot-password", url.Values{"email": {"f@example.com"}}, hdr...)
			}, http.StatusOK},
			{"reset password", "a:3", func(b *testutil.Browser, i int, hdr []string) *testutil.Response {
				return b.Post("/account/reset-password", url.Values{"code": {strings.Repeat("C", 43)}, "password": {newPassword}}, hdr...)
			}, http.StatusGone},
			{"inline validation", "a:4", func(b *testutil.Browser, i int, hdr []string) *testutil.Response {
				return b.Post("/account/validate/email", url.Values{"email": {"v@example.com"}}, hdr...)
			}, http.StatusOK},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				for i, want := range []int{c.ok, c.ok, http.StatusTooManyRequests} {
					r := c.post(app.NewBrowser(t), i, from(c.net, i))
					if r.StatusCode != want {
						t.Errorf("%s, address %d of one /64: %d, want %d", c.name, i+1, r.StatusCode, want)
					}
				}
				// Another /64 is another client.
				if r := c.post(app.NewBrowser(t), 9, from(c.net+"0", 0)); r.StatusCode != c.ok {
					t.Errorf("%s from the next /64: %d, want %d", c.name, r.StatusCode, c.ok)
				}
			})
		}

		// Failed sign-ins (each for another address, so only the per-IP
		// count can throttle them) from addresses of one /64 reach the
		// per-IP back-off as one client would.
		escalate(t, app, func(i int) *testutil.Response {
			return app.NewBrowser(t).Post("/account/login", url.Values{"email": {fmt.Sprintf("g%d@example.com", i)}, "password": {"wrong guess"}}, from("b:1", i)...)
		})
		if r := app.NewBrowser(t).Post("/account/login", url.Values{"email": {"other@example.com"}, "password": {"wrong guess"}}, from("b:2", 0)...); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("sign-in from the next /64: %d, want 422", r.StatusCode)
		}
	}, testutil.WithTrustedProxies("127.0.0.1/32"), testutil.WithLimits(limits))
}

func TestRegistrationDoesNotRefundFailedSignIns(t *testing.T) {
	limits := models.DefaultLimits()
	limits.SignInFreeFailuresIP = 3
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		fail := func(i int) *testutil.Response {
			return app.NewBrowser(t).Post("/account/login", url.Values{"email": {fmt.Sprintf("n%d@example.com", i)}, "password": {"wrong guess"}})
		}
		ipCount := func() int {
			var n int
			if err := app.DB.NewRaw("SELECT count FROM rate_limits WHERE key = 'signin-fail-ip:127.0.0.1'").Scan(t.Context(), &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		// The attacker spends the IP's free failures…
		for i := 0; i < limits.SignInFreeFailuresIP; i++ {
			if r := fail(i); r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("failure %d: %d", i, r.StatusCode)
			}
		}
		// …registers accounts from the same IP…
		for i := 0; i < 2; i++ {
			app.Register(t, fmt.Sprintf("sock%d@example.com", i), oldPassword)
		}
		if n := ipCount(); n != limits.SignInFreeFailuresIP {
			t.Errorf("after registering, the IP's failed sign-ins count %d, want %d", n, limits.SignInFreeFailuresIP)
		}
		// …and still meets the back-off at the next failure.
		if r := fail(10); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("the failure that opens the back-off: %d", r.StatusCode)
		}
		if r := fail(11); r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("registrations refunded failed sign-ins: %d, want 429", r.StatusCode)
		}
	}, testutil.WithLimits(limits))
}

func TestDeviceCookieKeepsTheOwnerInDuringAnAttack(t *testing.T) {
	limits := models.DefaultLimits()
	limits.SignInFreeFailuresDevice = 3
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const owner, other = "owner@example.com", "other@example.com"
		app.Register(t, owner, oldPassword)
		app.Register(t, other, oldPassword)
		login := func(b *testutil.Browser, email, password, ip string) *testutil.Response {
			return b.Post("/account/login", url.Values{"email": {email}, "password": {password}}, "X-Forwarded-For", ip)
		}
		// withDevice is a fresh browser holding only a device cookie.
		u, err := url.Parse(app.URL)
		if err != nil {
			t.Fatal(err)
		}
		withDevice := func(value string) *testutil.Browser {
			b := app.NewBrowser(t)
			b.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "latchkey_device", Value: value, Path: "/"}})
			return b
		}
		attack := func() {
			escalate(t, app, func(i int) *testutil.Response {
				return login(app.NewBrowser(t), owner, "wrong guess", fmt.Sprintf("203.0.113.%d", i%250+1))
			})
		}

		// The owner signs in once and gets a device cookie.
		home := app.NewBrowser(t)
		r := login(home, owner, oldPassword, "198.51.100.7")
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("owner sign-in: %d", r.StatusCode)
		}
		var set string
		for _, c := range r.Header.Values("Set-Cookie") {
			if strings.HasPrefix(c, "latchkey_device=") {
				set = c
			}
		}
		for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=31536000"} {
			if !strings.Contains(set, attr) {
				t.Errorf("device cookie lacks %s: %q", attr, set)
			}
		}
		device := home.Cookie("latchkey_device")
		otherDevice := login(app.NewBrowser(t), other, oldPassword, "198.51.100.8").Cookies()
		if device == "" || len(otherDevice) == 0 {
			t.Fatalf("no device cookie after sign-in")
		}
		var otherValue string
		for _, c := range otherDevice {
			if c.Name == "latchkey_device" {
				otherValue = c.Value
			}
		}
		tampered := []byte(device)
		if tampered[10] == 'A' {
			tampered[10] = 'B'
		} else {
			tampered[10] = 'A'
		}

		// Attackers from many IPs put the address in back-off.
		attack()

		// Strangers stay out, with the right password too, and the answer
		// for a known address is the one an unknown address gets.
		strangers := map[string]*testutil.Browser{
			"no cookie":                app.NewBrowser(t),
			"tampered cookie":          withDevice(string(tampered)),
			"another address's cookie": withDevice(otherValue),
		}
		for name, b := range strangers {
			t.Run(name, func(t *testing.T) {
				r := login(b, owner, oldPassword, "192.0.2.50")
				if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
					t.Errorf("stranger with %s during the attack: %d, want 429", name, r.StatusCode)
				}
			})
		}
		// The owner's browser is not locked out by strangers.
		owned := withDevice(device)
		if r := login(owned, owner, oldPassword, "192.0.2.51"); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("owner with the device cookie during the attack: %d, want 303", r.StatusCode)
		}
		fresh := owned.Cookie("latchkey_device")
		if fresh == "" || fresh == device {
			t.Errorf("the device cookie was not renewed at sign-in")
		}

		// The device's own limit: SignInFreeFailuresDevice attempts an
		// hour, then it is a stranger like any other.
		attack() // the owner's success cleared the address's count
		for i := 0; i < limits.SignInFreeFailuresDevice; i++ {
			if r := login(owned, owner, "a wrong guess", "192.0.2.52"); r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("device failure %d: %d, want 422", i+1, r.StatusCode)
			}
		}
		if r := login(owned, owner, oldPassword, "192.0.2.52"); r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("device past its own limit: %d, want 429", r.StatusCode)
		}
	}, testutil.WithTrustedProxies("127.0.0.1/32"), testutil.WithLimits(limits))
}

func TestDeviceCookieUnderHTTPS(t *testing.T) {
	app := testutil.StartApp(t, "sqlite", testutil.WithBaseURL("https://accounts.example"))
	app.Register(t, "secure@example.com", oldPassword)
	r := app.NewBrowser(t).Post("/account/login", url.Values{"email": {"secure@example.com"}, "password": {oldPassword}}, "Origin", "https://accounts.example")
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", r.StatusCode)
	}
	var set string
	for _, c := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "__Host-latchkey_device=") {
			set = c
		}
	}
	for _, attr := range []string{"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(set, attr) {
			t.Errorf("device cookie under https lacks %s: %q", attr, set)
		}
	}
	if strings.Contains(strings.ToLower(set), "domain=") {
		t.Errorf("device cookie sets a Domain: %q", set)
	}
}
