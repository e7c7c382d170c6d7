package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/app"
	"github.com/latchkey-auth/latchkey/internal/testutil"
)

var env = testutil.Env

func TestConfig(t *testing.T) {
	cfg, err := app.LoadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.BaseURL.String() != "http://localhost:8080" || cfg.DatabaseURL != "sqlite:./data/latchkey.db" ||
		cfg.ResetTTL != time.Hour || cfg.VerifyTTL != 24*time.Hour || cfg.SessionIdle != 30*time.Minute || cfg.SessionMax != 12*time.Hour || !cfg.DevMode() {
		t.Errorf("defaults: %+v", cfg)
	}
	bad := []map[string]string{
		{"RESET_TTL": "soon"},
		{"RESET_TTL": "-1h"},
		{"VERIFY_TTL": "tomorrow"},
		{"VERIFY_TTL": "0s"},
		{"BASE_URL": "ftp://x"},
		{"BASE_URL": "http://x.example/a/../b"}, // a path prefix, but not a plain one (TestBaseURLPath)
		{"DATABASE_URL": "mysql://x"},
		{"LOG_FORMAT": "xml"},
		{"TRUSTED_PROXIES": "10.0.0.1"},
		{"SESSION_SECRET": "short"},
		{"SMTP_URL": "http://x"},
		{"ADDR": "8080"},
		{"BASE_URL": "https://accounts.example.com"}, // no secret, no SMTP
		{"SESSION_IDLE": "13h"},
		{"LIMIT_SIGNIN_FAILURES_PER_DEVICE": "0"},
		{"REQUIRE_VERIFIED_EMAIL": "yes"},
		{"REQUIRE_MFA": "on"},
	}
	for _, e := range bad {
		if _, err := app.LoadConfig(env(e)); err == nil {
			t.Errorf("%v accepted", e)
		}
	}
	if c, err := app.LoadConfig(env(map[string]string{"LIMIT_SIGNIN_FAILURES_PER_DEVICE": "4"})); err != nil || c.Limits.SignInFreeFailuresDevice != 4 {
		t.Errorf("LIMIT_SIGNIN_FAILURES_PER_DEVICE not read: %v", err)
	}
	if c, err := app.LoadConfig(env(map[string]string{"LIMIT_EMAIL_CHANGES_PER_HOUR": "2", "LIMIT_EMAIL_CHANGES_PER_HOUR_PER_IP": "7"})); err != nil ||
		c.Limits.EmailChangesPerHour != 2 || c.Limits.EmailChangesPerHourIP != 7 || cfg.Limits.EmailChangesPerHour != 5 || cfg.Limits.EmailChangesPerHourIP != 20 {
		t.Errorf("LIMIT_EMAIL_CHANGES_PER_HOUR(_PER_IP) not read, or other defaults: %v", err)
	}
	if _, err := app.LoadConfig(env(map[string]string{"LIMIT_EMAIL_CHANGES_PER_HOUR": "0"})); err == nil {
		t.Errorf("LIMIT_EMAIL_CHANGES_PER_HOUR=0 accepted")
	}
	if c, err := app.LoadConfig(env(map[string]string{"VERIFY_TTL": "48h"})); err != nil || c.VerifyTTL != 48*time.Hour {
		t.Errorf("VERIFY_TTL=48h not read: %v", err)
	}
	if cfg.RequireVerifiedEmail || cfg.RequireMFA {
		t.Errorf("REQUIRE_VERIFIED_EMAIL / REQUIRE_MFA default on: %v %v", cfg.RequireVerifiedEmail, cfg.RequireMFA)
	}
	if c, err := app.LoadConfig(env(map[string]string{"REQUIRE_VERIFIED_EMAIL": "true", "REQUIRE_MFA": "1"})); err != nil || !c.RequireVerifiedEmail || !c.RequireMFA {
		t.Errorf("REQUIRE_VERIFIED_EMAIL=true REQUIRE_MFA=1 not read: %v", err)
	}
	prod, err := app.LoadConfig(env(map[string]string{"BASE_URL": "https://accounts.example.com", "SESSION_SECRET": strings.Repeat("s", 32),
		"SMTP_URL": "smtp://mail.example.com:587", "TRUSTED_PROXIES": "10.0.0.0/8, 192.168.0.0/16"}))
	if err != nil || !prod.Production() || len(prod.TrustedProxies) != 2 {
		t.Errorf("production config: %v", err)
	}
}

// The image sets LATCHKEY_CONTAINER=1 (Dockerfile): there, a start without
// an https BASE_URL is refused unless LATCHKEY_DEV=1 asks for dev mode.
func TestContainerRefusesDevModeUnlessAskedFor(t *testing.T) {
	prod := map[string]string{"BASE_URL": "https://accounts.example.com", "SESSION_SECRET": strings.Repeat("s", 32),
		"SMTP_URL": "smtp://mail.example.com:587"}
	cases := []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"container, nothing set", map[string]string{}, false},
		{"container, http BASE_URL", map[string]string{"BASE_URL": "http://accounts.example.com"}, false},
		{"container, LATCHKEY_DEV=0", map[string]string{"LATCHKEY_DEV": "0"}, false},
		{"container, LATCHKEY_DEV=1", map[string]string{"LATCHKEY_DEV": "1"}, true},
		{"container, production", prod, true},
		{"container, LATCHKEY_DEV=yes (not a boolean)", map[string]string{"LATCHKEY_DEV": "yes"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := map[string]string{"LATCHKEY_CONTAINER": "1", "ADDR": ":8080", "DATABASE_URL": "sqlite:/data/latchkey.db"}
			for k, v := range c.env {
				e[k] = v
			}
			cfg, err := app.LoadConfig(env(e))
			if (err == nil) != c.ok {
				t.Errorf("%s: error %v, want ok=%v", c.name, err, c.ok)
			}
			if err != nil && !c.ok && !strings.Contains(c.name, "not a boolean") && !strings.Contains(err.Error(), "LATCHKEY_DEV=1") {
				t.Errorf("%s: the error does not name the opt-in: %v", c.name, err)
			}
			if c.name == "container, LATCHKEY_DEV=1" && err == nil && (!cfg.DevMode() || cfg.BaseURL.String() != "http://localhost:8080") {
				t.Errorf("%s: dev mode %v, BASE_URL %s", c.name, cfg.DevMode(), cfg.BaseURL)
			}
		})
	}
	// Outside the container dev mode needs no opt-in.
	if _, err := app.LoadConfig(env(map[string]string{"ADDR": ":8080"})); err != nil {
		t.Errorf("outside a container: %v", err)
	}
}

// With BASE_URL unset, emailed links follow ADDR: changing only the port
// must not leave them pointing at localhost:8080.
func TestDevBaseURLFollowsADDR(t *testing.T) {
	cases := map[string]string{
		"":                    "http://localhost:8080", // ADDR's default
		"127.0.0.1:8080":      "http://localhost:8080",
		"127.0.0.1:9000":      "http://localhost:9000",
		"localhost:9001":      "http://localhost:9001",
		"[::1]:9002":          "http://localhost:9002",
		":9003":               "http://localhost:9003",
		"0.0.0.0:9004":        "http://localhost:9004",
		"[::]:9005":           "http://localhost:9005",
		"192.168.1.20:9006":   "http://192.168.1.20:9006",
		"dev.example.lan:80":  "http://dev.example.lan:80",
		"[2001:db8::7]:9007":  "http://[2001:db8::7]:9007",
		"devbox.internal:443": "http://devbox.internal:443",
	}
	for addr, want := range cases {
		name := "ADDR=" + addr
		if addr == "" {
			name = "ADDR empty"
		}
		t.Run(name, func(t *testing.T) {
			cfg, err := app.LoadConfig(env(map[string]string{"ADDR": addr}))
			if err != nil {
				t.Errorf("ADDR=%q: %v", addr, err)
				return
			}
			if got := cfg.BaseURL.String(); got != want || !cfg.DevMode() {
				t.Errorf("ADDR=%q: BASE_URL %s (dev mode %v), want %s", addr, got, cfg.DevMode(), want)
			}
		})
	}
	// An explicit BASE_URL wins.
	cfg, err := app.LoadConfig(env(map[string]string{"ADDR": ":9000", "BASE_URL": "http://accounts.test"}))
	if err != nil || cfg.BaseURL.String() != "http://accounts.test" {
		t.Errorf("explicit BASE_URL: %v %v", cfg, err)
	}
}

// COOKIE_DOMAIN is written as the Domain attribute will be sent, must
// cover BASE_URL's host, and must be a domain browsers accept cookies
// for; a bad one stops the start with an error naming what is wrong.
func TestCookieDomainConfig(t *testing.T) {
	prod := func(base, domain string) map[string]string {
		return map[string]string{"BASE_URL": base, "COOKIE_DOMAIN": domain, "SESSION_SECRET": strings.Repeat("s", 32),
			"SMTP_URL": "smtp://mail.example.com:587"}
	}
	dev := func(base, domain string) map[string]string {
		return map[string]string{"BASE_URL": base, "COOKIE_DOMAIN": domain}
	}
	good := []struct {
		env  map[string]string
		want string
	}{
		{prod("https://auth.example.com", "example.com"), "example.com"},
		{prod("https://example.com", "example.com"), "example.com"},
		{prod("https://a.b.example.co.uk:8443", "example.co.uk"), "example.co.uk"},
		{prod("https://login.apps.example.com", "apps.example.com"), "apps.example.com"},
		{dev("http://auth.localhost:8080", "localhost"), "localhost"}, // one label: dev mode only
		{dev("http://localhost:8080", "localhost"), "localhost"},
		{dev("http://auth.lvh.me:8080", "lvh.me"), "lvh.me"},
		{prod("https://auth.example.com", ""), ""},
	}
	for _, c := range good {
		cfg, err := app.LoadConfig(env(c.env))
		if err != nil || cfg.CookieDomain != c.want {
			t.Errorf("%v: %v, CookieDomain %q, want %q", c.env, err, cfg.CookieDomain, c.want)
		}
	}
	bad := []struct {
		env map[string]string
		// mention: what the error must name.
		mention []string
	}{
		{prod("https://auth.example.com", "other.com"), []string{"auth.example.com", "other.com"}},
		{prod("https://auth.example.com", "app.example.com"), []string{"auth.example.com", "app.example.com"}},
		{prod("https://badexample.com", "example.com"), []string{"badexample.com", "example.com"}},
		{prod("https://example.com", "auth.example.com"), []string{"example.com", "auth.example.com"}},
		{prod("https://10.0.0.1", "example.com"), []string{"10.0.0.1", "example.com"}},
		{prod("https://auth.example.com", ".example.com"), []string{"COOKIE_DOMAIN"}},
		{prod("https://auth.example.com", "Example.com"), []string{"COOKIE_DOMAIN"}},
		{prod("https://auth.example.com", "example.com."), []string{"COOKIE_DOMAIN"}},
		{prod("https://auth.example.com", "example.com:443"), []string{"COOKIE_DOMAIN"}},
		{prod("https://auth.example.com", "https://example.com"), []string{"COOKIE_DOMAIN"}},
		{prod("https://auth.example.com", "exa mple.com"), []string{"COOKIE_DOMAIN"}},
		{prod("https://auth.example.com", "exämple.com"), []string{"COOKIE_DOMAIN"}},
		{prod("https://auth.example.com", "-example.com"), []string{"COOKIE_DOMAIN"}},
		{prod("https://auth.example.com", "example..com"), []string{"COOKIE_DOMAIN"}},
		{prod("https://auth.example.com", "example.com/x"), []string{"COOKIE_DOMAIN"}},
		{prod("https://auth.example.com", "com"), []string{"COOKIE_DOMAIN", "single label"}},
		{prod("https://auth.localhost", "localhost"), []string{"COOKIE_DOMAIN", "single label"}},
		{prod("https://auth.example.co.uk", "co.uk"), []string{"COOKIE_DOMAIN", "public suffix"}},
		{prod("https://me.github.io", "github.io"), []string{"COOKIE_DOMAIN", "public suffix"}},
		{prod("https://10.0.0.1", "10.0.0.1"), []string{"COOKIE_DOMAIN"}},
		{dev("http://auth.example.com", "example.org"), []string{"auth.example.com", "example.org"}},
		{dev("http://127.0.0.1:8080", "localhost"), []string{"127.0.0.1", "localhost"}},
		{dev("http://auth.com", "com"), []string{"COOKIE_DOMAIN", "public suffix"}},
	}
	for _, c := range bad {
		_, err := app.LoadConfig(env(c.env))
		if err == nil {
			t.Errorf("%v accepted", c.env)
			continue
		}
		for _, m := range c.mention {
			if !strings.Contains(err.Error(), m) {
				t.Errorf("%v: error %q does not name %q", c.env, err, m)
			}
		}
	}
}

// BASE_URL may carry a path prefix (SPEC §7): kept in BaseURL, normalised,
// exposed as BasePath; anything a browser or proxy would rewrite, or that
// would need escaping, is a start-up error.
func TestBaseURLPath(t *testing.T) {
	good := []struct{ in, url, path string }{
		{"http://localhost:8080", "http://localhost:8080", ""},
		{"http://localhost:8080/", "http://localhost:8080", ""},
		{"http://localhost:8080/latchkey", "http://localhost:8080/latchkey", "/latchkey"},
		{"http://localhost:8080/latchkey/", "http://localhost:8080/latchkey", "/latchkey"},
		{"http://example.test/auth/latch-key_2.v~1", "http://example.test/auth/latch-key_2.v~1", "/auth/latch-key_2.v~1"},
		{"http://EXAMPLE.test/Latchkey", "http://EXAMPLE.test/Latchkey", "/Latchkey"},
	}
	for _, c := range good {
		t.Run("good "+c.in, func(t *testing.T) {
			cfg, err := app.LoadConfig(env(map[string]string{"BASE_URL": c.in}))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if cfg.BaseURL.String() != c.url || cfg.BasePath() != c.path {
				t.Errorf("BaseURL %q, BasePath %q; want %q, %q", cfg.BaseURL, cfg.BasePath(), c.url, c.path)
			}
			if !cfg.DevMode() {
				t.Errorf("http BASE_URL with a path is production")
			}
		})
	}
	bad := []string{
		"http://localhost:8080/latchkey?x=1",
		"http://localhost:8080/latchkey?",
		"http://localhost:8080/latchkey#top",
		"http://localhost:8080/latchkey#",
		"http://localhost:8080//latchkey",
		"http://localhost:8080/latchkey//x",
		"http://localhost:8080//",
		"http://localhost:8080/a/../latchkey",
		"http://localhost:8080/..",
		"http://localhost:8080/./latchkey",
		"http://localhost:8080/l%61tchkey",
		"http://localhost:8080/latch%2Fkey",
		"http://localhost:8080/latch key",
		"http://localhost:8080/latch%20key",
		"http://localhost:8080/lätchkey",
		"http://localhost:8080/latch;key",
		"http://localhost:8080/latch'key",
		"http://localhost:8080/latch\\key",
		"http://user@localhost:8080/latchkey",
		"localhost:8080/latchkey",
		"/latchkey",
	}
	for _, in := range bad {
		t.Run("bad "+in, func(t *testing.T) {
			if cfg, err := app.LoadConfig(env(map[string]string{"BASE_URL": in})); err == nil {
				t.Errorf("accepted as %q (prefix %q)", cfg.BaseURL, cfg.BasePath())
			} else if !strings.Contains(err.Error(), "BASE_URL") {
				t.Errorf("error does not name BASE_URL: %v", err)
			}
		})
	}
	// The production rule compares the scheme only: a path changes nothing.
	prod, err := app.LoadConfig(env(map[string]string{"BASE_URL": "https://example.com/latchkey", "SESSION_SECRET": strings.Repeat("s", 32),
		"SMTP_URL": "smtp://mail.example.com:587"}))
	if err != nil || !prod.Production() || prod.BasePath() != "/latchkey" || prod.BaseURL.Host != "example.com" {
		t.Errorf("https BASE_URL with a path: %v %+v", err, prod)
	}
}
