package testutil

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/app"
	"github.com/latchkey-auth/latchkey/handlers"
	"github.com/latchkey-auth/latchkey/mail"
	"github.com/latchkey-auth/latchkey/models"
)

// App is a running Latchkey: real database, real SMTP delivery through the
// outbox worker, real HTTP.
type App struct {
	// URL is where Latchkey's routes are: the server's origin, plus
	// BASE_URL's path prefix if it has one (WithBasePath), so that
	// Browser paths ("/account/login") work with or without a prefix.
	URL string
	// Origin is the server's origin alone (scheme, host and port).
	Origin string
	DB     *bun.DB
	Store  *models.Store
	Clock  *Clock
	SMTP   *SMTPServer
	Worker *mail.Worker
	Server *httptest.Server
	// Logs collects everything the app logged, for secrecy checks.
	Logs *SafeBuffer
	// Mailbox is the dev mailbox (WithDevMailbox only).
	Mailbox *mail.Mailbox
}

// AppOption adjusts an App (or a store from NewStore) before it is built.
type AppOption func(*appConfig)

type appConfig struct {
	trustedProxies []*net.IPNet
	limits         *models.Limits
	hasher         *models.Hasher
	devMailbox     bool
	db             *bun.DB
	baseURL        string
	basePath       string
	logTo          io.Writer
	secret         string
	smtpURL        string
	tuning         *mail.Tuning
	cookieDomain   string
	env            map[string]string
	cacheMaxAge    time.Duration
	localhost      bool
}

func collect(opts []AppOption) appConfig {
	c := appConfig{secret: TestSecret}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithBaseURL sets BASE_URL (https means production mode: Secure and
// __Host- cookies, HSTS, no /dev routes).
func WithBaseURL(u string) AppOption { return func(c *appConfig) { c.baseURL = u } }

// WithLocalhost serves the app as http://localhost:PORT (BASE_URL and
// App.URL) instead of 127.0.0.1: WebAuthn needs a domain name as its
// relying party id, so passkeys work only there.
func WithLocalhost() AppOption { return func(c *appConfig) { c.localhost = true } }

// WithCookieDomain sets COOKIE_DOMAIN (BASE_URL's host must be inside it).
func WithCookieDomain(d string) AppOption { return func(c *appConfig) { c.cookieDomain = d } }

// WithBasePath serves Latchkey under a path prefix: BASE_URL is the test
// server's own origin plus prefix ("http://127.0.0.1:PORT/latchkey", SPEC
// §7). App.URL includes the prefix; App.Origin does not.
func WithBasePath(prefix string) AppOption { return func(c *appConfig) { c.basePath = prefix } }

// WithDB runs the app on an already opened, migrated database (for
// example one reached through a Proxy).
func WithDB(db *bun.DB) AppOption { return func(c *appConfig) { c.db = db } }

// WithDevMailbox runs the app in dev mode with the in-memory mailbox
// instead of SMTP.
func WithDevMailbox() AppOption { return func(c *appConfig) { c.devMailbox = true } }

// WithTrustedProxies believes X-Forwarded-For from these networks.
func WithTrustedProxies(cidrs ...string) AppOption {
	return func(c *appConfig) {
		for _, s := range cidrs {
			_, n, err := net.ParseCIDR(s)
			if err != nil {
				panic(err)
			}
			c.trustedProxies = append(c.trustedProxies, n)
		}
	}
}

// WithLogTo sends the app's log, at the production level (info), to w
// only: for benchmarks, where the test log's cost would be measured too.
func WithLogTo(w io.Writer) AppOption { return func(c *appConfig) { c.logTo = w } }

// WithLimits replaces the default rate limits.
func WithLimits(l models.Limits) AppOption { return func(c *appConfig) { c.limits = &l } }

// WithHasher replaces the fast test hasher.
func WithHasher(h *models.Hasher) AppOption { return func(c *appConfig) { c.hasher = h } }

// WithSecret replaces TestSecret as SESSION_SECRET (at least 32 bytes).
func WithSecret(secret string) AppOption { return func(c *appConfig) { c.secret = secret } }

// WithSMTP sends mail to this SMTP_URL (BuildApp; StartApp starts its own
// server).
func WithSMTP(url string) AppOption { return func(c *appConfig) { c.smtpURL = url } }

// WithWorkerTuning replaces the outbox worker's test timing.
func WithWorkerTuning(t mail.Tuning) AppOption { return func(c *appConfig) { c.tuning = &t } }

// WithSessionCacheMaxAge replaces the session cache's 500 ms maximum age:
// a long one makes tests of invalidation deterministic.
func WithSessionCacheMaxAge(d time.Duration) AppOption {
	return func(c *appConfig) { c.cacheMaxAge = d }
}

// WithEnv sets configuration variables (name, value pairs) that
// app.LoadConfig reads, such as REQUIRE_MFA=true.
func WithEnv(kv ...string) AppOption {
	return func(c *appConfig) {
		if c.env == nil {
			c.env = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			c.env[kv[i]] = kv[i+1]
		}
	}
}

// config is the test server's configuration: the production defaults
// (app.LoadConfig on an environment of the test's choosing) with the
// typed settings the options give.
func (c *appConfig) config(t testing.TB, addr, baseURL string) *app.Config {
	t.Helper()
	env := map[string]string{"SESSION_SECRET": c.secret, "ADDR": addr, "BASE_URL": baseURL, "SMTP_URL": c.smtpURL,
		"COOKIE_DOMAIN": c.cookieDomain}
	for k, v := range c.env {
		env[k] = v
	}
	cfg, err := app.LoadConfig(Env(env))
	if err != nil {
		t.Fatalf("test configuration: %v", err)
	}
	// The test hasher's bounds: room for parallel tests, time for -race.
	cfg.HashConcurrency, cfg.HashWait = 4, 5*time.Second
	if c.limits != nil {
		cfg.Limits = *c.limits
	}
	cfg.TrustedProxies = c.trustedProxies
	return cfg
}

// storeOptions are the app.Options every test store is built with.
func (c *appConfig) storeOptions(clock *Clock) []app.Option {
	opts := []app.Option{app.WithClock(clock.Now), app.WithHashParams(TestHashParams())}
	if c.hasher != nil {
		opts = append(opts, app.WithHasher(c.hasher))
	}
	if c.cacheMaxAge != 0 {
		opts = append(opts, app.WithSessionCacheMaxAge(c.cacheMaxAge))
	}
	return opts
}

// build builds Latchkey on c.db through app.New, configured for addr and
// c.baseURL. The log goes to keep (if not nil) and, with -v, to the test
// log; or only to the WithLogTo writer.
func (c *appConfig) build(t testing.TB, clock *Clock, addr string, keep io.Writer) *app.App {
	t.Helper()
	logs := io.Writer(testWriter{t})
	if keep != nil {
		logs = io.MultiWriter(keep, logs)
	}
	var handler slog.Handler = slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	if c.logTo != nil {
		handler = slog.NewTextHandler(c.logTo, nil)
	}
	tuning := mail.Tuning{Poll: 200 * time.Millisecond, BackoffBase: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond}
	if c.tuning != nil {
		tuning = *c.tuning
	}
	opts := append(c.storeOptions(clock), app.WithDB(c.db), app.WithLogger(slog.New(handlers.RequestIDHandler{Handler: handler})),
		app.WithAssets(os.DirFS(RepoPath(t, "assets"))), app.WithVersion("test"), app.WithWorkerTuning(tuning),
		// Only the dev mailbox makes a dev server: the others serve http
		// without /dev routes, as production would.
		app.WithDevMode(c.devMailbox && !strings.HasPrefix(c.baseURL, "https:")))
	a, err := app.New(context.Background(), c.config(t, addr, c.baseURL), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// BuildApp builds Latchkey on db through app.New, as StartApp does, but
// serves nothing and starts no worker: for tests of the outbox worker and
// of what the command line builds. Mail goes to WithSMTP's server or the
// WithDevMailbox mailbox.
func BuildApp(t testing.TB, db *bun.DB, clock *Clock, opts ...AppOption) *app.App {
	t.Helper()
	c := collect(opts)
	c.db = db
	if c.smtpURL == "" && !c.devMailbox {
		t.Fatal("BuildApp: WithSMTP or WithDevMailbox")
	}
	if c.baseURL == "" {
		c.baseURL = "http://127.0.0.1"
	}
	return c.build(t, clock, "127.0.0.1:0", nil)
}

// StartApp runs Latchkey on a fresh database of the given dialect: built
// by app.New, its handler served by an httptest.Server and its
// background work (outbox worker, LISTEN, cleanup) running.
func StartApp(t testing.TB, dialect string, opts ...AppOption) *App {
	t.Helper()
	c := collect(opts)
	if c.db == nil {
		c.db = NewDB(t, dialect)
	}
	clock := NewClock()
	smtpSrv := StartSMTP(t)
	if !c.devMailbox {
		c.smtpURL = smtpSrv.URL()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() }) // if build fails; closed twice is harmless
	origin := "http://" + ln.Addr().String()
	if c.localhost {
		origin = "http://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	if c.baseURL == "" {
		c.baseURL = origin + c.basePath
	}
	logs := &SafeBuffer{}
	a := c.build(t, clock, ln.Addr().String(), logs)
	srv := httptest.NewUnstartedServer(a.Handler())
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Config = a.Server()
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.RunWorkers(ctx); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
	})
	prefix := ""
	if u, err := url.Parse(c.baseURL); err == nil {
		prefix = strings.TrimSuffix(u.Path, "/")
	}
	if !c.localhost {
		origin = srv.URL
	}
	return &App{URL: origin + prefix, Origin: origin, DB: c.db, Store: a.Store(), Clock: clock, SMTP: smtpSrv, Worker: a.Worker(), Server: srv, Logs: logs, Mailbox: a.Mailbox()}
}

// RepoPath returns a path inside the repository, from any package's tests.
func RepoPath(t testing.TB, rel string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(dir + "/go.mod"); err == nil {
			return dir + "/" + rel
		}
		parent := dir[:strings.LastIndex(dir, "/")]
		if parent == dir || parent == "" {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// SafeBuffer is a bytes buffer safe for concurrent writers.
type SafeBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *SafeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written.
func (s *SafeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Browser is an HTTP client with a cookie jar that does not follow
// redirects, so tests see every 303.
type Browser struct {
	t    testing.TB
	app  *App
	HTTP *http.Client
	// Header is added to every request (for example User-Agent).
	Header http.Header
}

// NewClient returns an HTTP client with a cookie jar that does not follow
// redirects.
func NewClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// NewBrowser returns a fresh client for the app.
func (a *App) NewBrowser(t testing.TB) *Browser {
	return &Browser{t: t, app: a, Header: http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}},
		HTTP: NewClient()}
}

// Response is a finished response with its body read.
type Response struct {
	*http.Response
	Body string
}

// Doc parses the body as HTML.
func (r *Response) Doc(t testing.TB) *goquery.Document {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// Text returns the trimmed text of the first element matching sel.
func (r *Response) Text(t testing.TB, sel string) string {
	t.Helper()
	return strings.TrimSpace(r.Doc(t).Find(sel).First().Text())
}

// Do sends a request and reads the response.
func (b *Browser) Do(req *http.Request) *Response {
	b.t.Helper()
	for k, v := range b.Header {
		if req.Header.Get(k) == "" {
			req.Header[k] = v
		}
	}
	resp, err := b.HTTP.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return &Response{Response: resp, Body: string(body)}
}

// Get fetches a path (or an absolute URL).
func (b *Browser) Get(path string, headers ...string) *Response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(path), nil)
	if err != nil {
		b.t.Fatal(err)
	}
	setHeaders(req, headers)
	return b.Do(req)
}

// Post sends a urlencoded form; headers are name, value pairs.
func (b *Browser) Post(path string, form url.Values, headers ...string) *Response {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	setHeaders(req, headers)
	return b.Do(req)
}

func setHeaders(req *http.Request, headers []string) { // a name given twice makes two lines
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
}

func (b *Browser) abs(path string) string {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path
	}
	return b.app.URL + path
}

// Cookie returns the value of a cookie the browser holds for the app.
func (b *Browser) Cookie(name string) string {
	u, _ := url.Parse(b.app.URL)
	for _, c := range b.HTTP.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var linkRE = regexp.MustCompile(`https?://\S+/account/reset-password\?code=[A-Za-z0-9_-]+`)

// ResetLink extracts the reset link from an email's text part.
func ResetLink(t testing.TB, e Email) string {
	t.Helper()
	link := linkRE.FindString(e.Text)
	if link == "" {
		t.Fatalf("no reset link in email %q:\n%s", e.Subject, e.Text)
	}
	return link
}

// Register creates an account through the web form and returns the
// browser, signed in.
func (a *App) Register(t testing.TB, email, password string) *Browser {
	t.Helper()
	b := a.NewBrowser(t)
	resp := b.Post("/account/register", url.Values{"email": {email}, "password": {password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register %s: status %d\n%s", email, resp.StatusCode, resp.Body)
	}
	return b
}
