package app

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/latchkey-auth/latchkey/models"
)

// Config is every setting, read from the environment once and validated.
type Config struct {
	Addr          string
	BaseURL       *url.URL
	DatabaseURL   string
	SMTPURL       string
	MailFrom      string
	SessionSecret []byte
	ResetTTL      time.Duration
	// VerifyTTL (VERIFY_TTL) is how long an email-verification link works.
	VerifyTTL       time.Duration
	TrustedProxies  []*net.IPNet
	LogFormat       string
	SessionIdle     time.Duration
	SessionMax      time.Duration
	ShutdownTimeout time.Duration
	Limits          models.Limits
	// HashConcurrency bounds argon2id hashes in flight (memory budget ÷ m).
	HashConcurrency int
	HashWait        time.Duration
	// MetricsAddr, if set, serves Prometheus metrics on its own listener.
	MetricsAddr string
	// SendTimeout bounds one SMTP delivery; a claimed message is leased for
	// twice as long, after which a crashed worker's message is retried.
	SendTimeout time.Duration
	// DevAssetsDir, in dev mode, serves assets from this folder on disk.
	DevAssetsDir string

	// CookieDomain is COOKIE_DOMAIN: a parent domain of BASE_URL's host
	// (lower case, no leading dot) that the session cookie covers, so apps
	// on its subdomains receive it (SPEC §7); "" keeps the cookie
	// host-only.
	CookieDomain string

	// RequireVerifiedEmail (REQUIRE_VERIFIED_EMAIL): /auth/verify refuses
	// (403) accounts whose address is not verified.
	RequireVerifiedEmail bool
	// RequireMFA (REQUIRE_MFA): /auth/verify refuses (403) sessions that
	// did not use a second factor or a passkey.
	RequireMFA bool
}

// Production reports whether BASE_URL is https.
func (c *Config) Production() bool { return c.BaseURL.Scheme == "https" }

// DevMode is everything that is not production.
func (c *Config) DevMode() bool { return !c.Production() }

// LoadConfig reads and validates the environment. getenv is os.Getenv in
// production and a map in tests (testutil builds its servers' Config this
// way too, so they run with the production defaults).
func LoadConfig(getenv func(string) string) (*Config, error) {
	str := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var errs []error
	dur := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive Go duration (like 30m or 1h)", name, v))
			return def
		}
		return d
	}
	flag := func(name string) bool {
		v := getenv(name)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not 1 or 0", name, v))
		}
		return b
	}
	num := func(name string, def int) int {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%s: %q is not a positive whole number", name, v))
			return def
		}
		return n
	}

	cfg := &Config{
		Addr:            str("ADDR", "127.0.0.1:8080"),
		DatabaseURL:     str("DATABASE_URL", "sqlite:./data/latchkey.db"),
		SMTPURL:         getenv("SMTP_URL"),
		MailFrom:        str("MAIL_FROM", "Latchkey <no-reply@localhost>"),
		LogFormat:       str("LOG_FORMAT", "text"),
		ResetTTL:        dur("RESET_TTL", time.Hour),
		VerifyTTL:       dur("VERIFY_TTL", models.DefaultVerifyTTL),
		SessionIdle:     dur("SESSION_IDLE", 30*time.Minute),
		SessionMax:      dur("SESSION_MAX", 12*time.Hour),
		ShutdownTimeout: dur("SHUTDOWN_TIMEOUT", 15*time.Second),
		// One hash per CPU: more only queue inside the CPU and hold more
		// 19 MiB buffers at once.
		HashConcurrency: num("HASH_CONCURRENCY", runtime.GOMAXPROCS(0)),
		HashWait:        dur("HASH_WAIT", 2*time.Second),
		MetricsAddr:     getenv("METRICS_ADDR"),
		SendTimeout:     dur("OUTBOX_SEND_TIMEOUT", 30*time.Second),
		DevAssetsDir:    getenv("LATCHKEY_DEV_ASSETS"),
	}
	lim := models.DefaultLimits()
	lim.ResetMailsPerHour = num("LIMIT_RESET_EMAILS_PER_HOUR", lim.ResetMailsPerHour)
	lim.ResetPostsPerMinute = num("LIMIT_RESET_POSTS_PER_MINUTE", lim.ResetPostsPerMinute)
	lim.SignInFreeFailures = num("LIMIT_SIGNIN_FAILURES", lim.SignInFreeFailures)
	lim.SignInFreeFailuresIP = num("LIMIT_SIGNIN_FAILURES_PER_IP", lim.SignInFreeFailuresIP)
	lim.SignInFreeFailuresDevice = num("LIMIT_SIGNIN_FAILURES_PER_DEVICE", lim.SignInFreeFailuresDevice)
	lim.SignInMaxBlock = dur("LIMIT_SIGNIN_MAX_BLOCK", lim.SignInMaxBlock)
	lim.RegistrationsPerHour = num("LIMIT_REGISTRATIONS_PER_HOUR", lim.RegistrationsPerHour)
	lim.ValidationsPerMinute = num("LIMIT_VALIDATIONS_PER_MINUTE", lim.ValidationsPerMinute)
	lim.EmailChangesPerHour = num("LIMIT_EMAIL_CHANGES_PER_HOUR", lim.EmailChangesPerHour)
	lim.EmailChangesPerHourIP = num("LIMIT_EMAIL_CHANGES_PER_HOUR_PER_IP", lim.EmailChangesPerHourIP)
	cfg.Limits = lim

	// Forward auth's refusals (SPEC §7): strict booleans, so a typo is a
	// start-up error rather than an open door.
	boolean := func(name string) bool {
		v := getenv(name)
		if v == "" {
			return false
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not true or false", name, v))
		}
		return b
	}
	cfg.RequireVerifiedEmail = boolean("REQUIRE_VERIFIED_EMAIL")
	cfg.RequireMFA = boolean("REQUIRE_MFA")

	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		errs = append(errs, fmt.Errorf("ADDR: %q is not host:port", cfg.Addr))
	}
	if cfg.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(cfg.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("METRICS_ADDR: %q is not host:port", cfg.MetricsAddr))
		}
	}
	// Dev mode's default origin follows ADDR, so that changing the port
	// alone still emails links that work.
	base, err := parseBaseURL(str("BASE_URL", devBaseURL(cfg.Addr)))
	if err != nil {
		errs = append(errs, err)
		base = &url.URL{Scheme: "http", Host: "localhost:8080"}
	}
	cfg.BaseURL = base
	if !strings.HasPrefix(cfg.DatabaseURL, "sqlite:") && !strings.HasPrefix(cfg.DatabaseURL, "postgres://") &&
		!strings.HasPrefix(cfg.DatabaseURL, "postgresql://") {
		errs = append(errs, errors.New("DATABASE_URL: must be sqlite:PATH or postgres://…"))
	}
	if cfg.SMTPURL != "" {
		u, err := url.Parse(cfg.SMTPURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			errs = append(errs, errors.New("SMTP_URL: must be smtp://[user:pass@]host:port or smtps://…"))
		}
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q must be text or json", cfg.LogFormat))
	}
	if cfg.SessionIdle > cfg.SessionMax {
		errs = append(errs, errors.New("SESSION_IDLE must not exceed SESSION_MAX"))
	}
	if v := getenv("TRUSTED_PROXIES"); v != "" {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			_, n, err := net.ParseCIDR(part)
			if err != nil {
				errs = append(errs, fmt.Errorf("TRUSTED_PROXIES: %q is not a CIDR like 10.0.0.0/8", part))
				continue
			}
			cfg.TrustedProxies = append(cfg.TrustedProxies, n)
		}
	}
	if s := getenv("SESSION_SECRET"); s != "" {
		if len(s) < 32 {
			errs = append(errs, errors.New("SESSION_SECRET: must be at least 32 bytes"))
		}
		cfg.SessionSecret = []byte(s)
	}
	if cfg.Production() {
		if cfg.SessionSecret == nil {
			errs = append(errs, errors.New("SESSION_SECRET is required when BASE_URL is https (at least 32 random bytes)"))
		}
		if cfg.SMTPURL == "" {
			errs = append(errs, errors.New("SMTP_URL is required when BASE_URL is https"))
		}
	}
	// The image sets LATCHKEY_CONTAINER=1. A container publishes its port,
	// so it must not fall into dev mode (generated secret, reset links in
	// the log) by omission: it runs production unless dev mode is asked
	// for by name.
	container, devOptIn := flag("LATCHKEY_CONTAINER"), flag("LATCHKEY_DEV")
	if container && cfg.DevMode() && !devOptIn {
		errs = append(errs, errors.New("BASE_URL: required in the container, as https://your.host (with SESSION_SECRET and SMTP_URL); "+
			"to try dev mode instead, set LATCHKEY_DEV=1 (its /dev pages answer only clients inside the container)"))
	}
	// COOKIE_DOMAIN (forward auth, SPEC §7).
	if d := getenv("COOKIE_DOMAIN"); d != "" {
		if err := checkCookieDomain(d, cfg.BaseURL, cfg.DevMode()); err != nil {
			errs = append(errs, err)
		} else {
			cfg.CookieDomain = d
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cfg, nil
}

// checkCookieDomain accepts a COOKIE_DOMAIN a browser will honour and that
// covers BASE_URL's host. It is written exactly as the Domain attribute
// will be sent: lower-case ASCII letters, digits and hyphens in dot-separated
// labels, with no leading or trailing dot, no port and no IP address (a
// typo should stop the start, not be silently rewritten). In production it
// needs at least two labels and must not be a public suffix (co.uk,
// github.io): browsers drop a cookie whose Domain is one, which would leave
// every sign-in silently without a session. Dev mode also accepts a single
// label such as localhost or a name from /etc/hosts, but not a top-level
// domain.
func checkCookieDomain(d string, base *url.URL, dev bool) error {
	const want = "a parent domain like example.com (lower case, no scheme, leading dot or port)"
	if len(d) > 253 || net.ParseIP(d) != nil {
		return fmt.Errorf("COOKIE_DOMAIN: %q is not %s", d, want)
	}
	labels := strings.Split(d, ".")
	for _, l := range labels {
		if !dnsLabel(l) {
			return fmt.Errorf("COOKIE_DOMAIN: %q is not %s", d, want)
		}
	}
	if len(labels) == 1 && !dev {
		return fmt.Errorf("COOKIE_DOMAIN: %q is a single label; in production it must be a registrable domain like example.com", d)
	}
	// A single label is a public suffix by the list's default rule; only
	// the real top-level domains (com, dev…) are refused among those.
	if suffix, icann := publicsuffix.PublicSuffix(d); suffix == d && (len(labels) > 1 || icann) {
		return fmt.Errorf("COOKIE_DOMAIN: %q is a public suffix, on which browsers refuse cookies; use your own domain under it", d)
	}
	host := strings.ToLower(base.Hostname())
	if host != d && !strings.HasSuffix(host, "."+d) {
		return fmt.Errorf("COOKIE_DOMAIN: BASE_URL's host %q is not %q or inside it, so the session cookie could not be set", host, d)
	}
	return nil
}

// dnsLabel reports whether l is a lower-case host name label: 1–63
// letters, digits and hyphens, not starting or ending with a hyphen.
func dnsLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}

// BasePath is BASE_URL's path prefix ("/latchkey"), or "" when Latchkey
// has its origin to itself: every route lives under it (SPEC §7).
func (c *Config) BasePath() string { return c.BaseURL.Path }

// parseBaseURL reads BASE_URL: an http(s) origin, optionally with a path
// prefix (https://example.com/latchkey, SPEC §7), returned with the
// prefix normalised (no trailing slash; "" for none).
func parseBaseURL(raw string) (*url.URL, error) {
	base, err := url.Parse(raw)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.Opaque != "" ||
		base.User != nil || base.RawQuery != "" || base.ForceQuery || base.Fragment != "" || strings.ContainsAny(raw, "?#") {
		return nil, errors.New("BASE_URL: must be an origin like https://accounts.example.com, optionally with a path prefix " +
			"like https://example.com/latchkey (no user, query or fragment)")
	}
	prefix, err := basePath(base)
	if err != nil {
		return nil, fmt.Errorf("BASE_URL: %w", err)
	}
	base.Path, base.RawPath = prefix, ""
	return base, nil
}

// basePath checks and normalises BASE_URL's path. The prefix is written
// into routes, links, redirects and emails as it is, so it is kept to
// characters that mean the same thing everywhere: no percent-encoding
// (the raw and decoded paths must be one string), no empty, "." or ".."
// segments (which browsers and proxies rewrite).
func basePath(u *url.URL) (string, error) {
	p := strings.TrimSuffix(u.Path, "/")
	if p == "" {
		return "", nil
	}
	if u.RawPath != "" || !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q must be plain /segments of letters, digits and - . _ ~", u.EscapedPath())
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", fmt.Errorf("path %q has an empty, . or .. segment", p)
		}
		for _, r := range seg {
			if !isUnreserved(r) {
				return "", fmt.Errorf("path %q must be plain /segments of letters, digits and - . _ ~", p)
			}
		}
	}
	return p, nil
}

// isUnreserved reports whether r is one of RFC 3986's unreserved
// characters, which need no escaping anywhere in a URL or in HTML.
func isUnreserved(r rune) bool {
	return r < 0x80 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r))
}

// devBaseURL is BASE_URL's default: this server as a browser on the same
// machine reaches it, http://localhost:PORT for a loopback or wildcard
// ADDR and http://HOST:PORT for any other host. An invalid ADDR (already
// reported) gives http://localhost:8080.
func devBaseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "http://localhost:8080"
	}
	if host == "" || isLoopback(host) {
		host = "localhost"
	} else if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// isLoopback reports whether a listen host only accepts local connections.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// devSecret returns the dev-mode secret kept in ./data/secret, creating it
// once.
func devSecret(dir string) ([]byte, error) {
	path := filepath.Join(dir, "secret")
	if b, err := os.ReadFile(path); err == nil && len(b) >= 32 { // #nosec G304 -- a fixed file under the data directory
		return b, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("dev secret: %w", err)
	}
	b := make([]byte, 48)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	secret := []byte(fmt.Sprintf("%x", b))
	if err := os.WriteFile(path, secret, 0o600); err != nil {
		return nil, fmt.Errorf("dev secret: %w", err)
	}
	return secret, nil
}
