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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/handlers"
	"github.com/latchkey-auth/latchkey/mail"
	"github.com/latchkey-auth/latchkey/models"
)

// App is a running Latchkey: real database, real SMTP delivery through the
// outbox worker, real HTTP.
type App struct {
	URL    string
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

// AppOption adjusts an App before it starts.
type AppOption func(*appConfig)

type appConfig struct {
	trustedProxies []*net.IPNet
	limits         *models.Limits
	hasher         *models.Hasher
	devMailbox     bool
	db             *bun.DB
	baseURL        string
	logTo          io.Writer
}

// WithBaseURL sets BASE_URL (https means production mode: Secure and
// __Host- cookies, HSTS, no /dev routes).
func WithBaseURL(u string) AppOption { return func(c *appConfig) { c.baseURL = u } }

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

// StartApp runs Latchkey on a fresh database of the given dialect.
func StartApp(t testing.TB, dialect string, opts ...AppOption) *App {
	t.Helper()
	var cfg appConfig
	for _, o := range opts {
		o(&cfg)
	}
	db := cfg.db
	if db == nil {
		db = NewDB(t, dialect)
	}
	clock := NewClock()
	store := NewStore(t, db, clock)
	if cfg.limits != nil {
		store.Limits = *cfg.limits
	}
	if cfg.hasher != nil {
		store.Hasher = cfg.hasher
	}
	smtpSrv := StartSMTP(t)
	logs := &SafeBuffer{}
	var logTo slog.Handler = slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug})
	if cfg.logTo != nil {
		logTo = slog.NewTextHandler(cfg.logTo, nil)
	}
	log := slog.New(handlers.RequestIDHandler{Handler: logTo})
	var sender mail.Sender
	var mailbox *mail.Mailbox
	if cfg.devMailbox {
		mailbox = mail.NewMailbox(50, log)
		sender = mailbox
	} else {
		smtpSender, err := mail.NewSMTP(smtpSrv.URL(), "Latchkey <no-reply@localhost>")
		if err != nil {
			t.Fatal(err)
		}
		sender = smtpSender
	}
	worker := &mail.Worker{Store: store, Sender: sender, Log: log, Poll: 200 * time.Millisecond,
		BackoffBase: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond}
	store.OnEnqueue = worker.Notify

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("http://" + ln.Addr().String())
	if cfg.baseURL != "" {
		base, _ = url.Parse(cfg.baseURL)
	}
	h, err := handlers.New(handlers.Deps{
		Store: store, Log: log, BaseURL: base, Secret: []byte(TestSecret),
		Assets: os.DirFS(RepoPath(t, "assets")), TrustedProxies: cfg.trustedProxies, Version: "test",
		DevMode: cfg.devMailbox && base.Scheme != "https", Mailbox: mailbox,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h.Echo())
	_ = srv.Listener.Close()
	srv.Listener = ln
	srv.Config = h.Server(ln.Addr().String())
	srv.Start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { worker.Run(ctx); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
	})
	return &App{URL: srv.URL, DB: db, Store: store, Clock: clock, SMTP: smtpSrv, Worker: worker, Server: srv, Logs: logs, Mailbox: mailbox}
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
