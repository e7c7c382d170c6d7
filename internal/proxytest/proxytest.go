// Package proxytest runs the shipped reverse-proxy examples (examples/nginx,
// examples/caddy) for real, unprivileged on loopback ports, in front of a
// test Latchkey and the example upstream app (examples/upstream/page).
//
// The example files are used as they ship: nginx's ${NAME} placeholders are
// filled in the way envsubst would (only the names given), and Caddy reads
// its {$NAME} placeholders from the environment. Without the nginx or caddy
// binary a test skips with a SKIPPING message, unless CI=true, where it
// fails.
package proxytest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/examples/upstream/page"
	"github.com/latchkey-auth/latchkey/internal/testutil"
)

// startTimeout bounds how long a proxy may take to listen.
const startTimeout = 20 * time.Second

// require finds a binary or skips (fails under CI=true) loudly.
func require(t testing.TB, name string, fallbacks ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range fallbacks {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := fmt.Sprintf("proxy tests need %s (apt-get install nginx-light caddy): not in PATH nor at %v", name, fallbacks)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("SKIPPING: " + msg)
	return ""
}

// RequireNginx returns the nginx binary's path.
func RequireNginx(t testing.TB) string {
	t.Helper()
	return require(t, "nginx", "/usr/sbin/nginx")
}

// RequireCaddy returns the caddy binary's path.
func RequireCaddy(t testing.TB) string {
	t.Helper()
	return require(t, "caddy", "/usr/bin/caddy")
}

// FreeAddr returns a loopback address with a port nothing listens on at
// the moment (the proxy is configured with it before it starts).
func FreeAddr(t testing.TB) string {
	t.Helper()
	return testutil.FreeAddr(t)
}

var placeholderRE = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)\}`)

// Render fills an nginx example's ${NAME} placeholders from vars (nginx's
// own $variables are left alone) and fails the test if one is left.
func Render(t testing.TB, text string, vars map[string]string) string {
	t.Helper()
	var missing []string
	out := placeholderRE.ReplaceAllStringFunc(text, func(m string) string {
		name := placeholderRE.FindStringSubmatch(m)[1]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
			return m
		}
		return v
	})
	if len(missing) > 0 {
		t.Fatalf("placeholders without a value: %v", missing)
	}
	return out
}

// Proxy is a running nginx or caddy.
type Proxy struct {
	// Addr is the loopback address it listens on.
	Addr string
	// Version is what the binary says it is.
	Version string
}

// StartNginx runs nginx with an example file from examples/nginx (a
// server-level configuration, included in the http context of a minimal
// main configuration with every path inside a temporary directory), its
// placeholders filled from vars. listen is one of the addresses the
// example listens on, waited for.
func StartNginx(t testing.TB, example string, vars map[string]string, listen string) *Proxy {
	t.Helper()
	bin := RequireNginx(t)
	src, err := os.ReadFile(testutil.RepoPath(t, filepath.Join("examples/nginx", example)))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	site := filepath.Join(dir, "site.conf")
	// #nosec G703 -- a fixed name in the test's own temporary directory
	if err := os.WriteFile(site, []byte(Render(t, string(src), vars)), 0o600); err != nil {
		t.Fatal(err)
	}
	user := ""
	if os.Geteuid() == 0 {
		// As root, nginx's workers would switch to nobody, who cannot
		// write in the test's temporary directory.
		user = "user root;"
	}
	main := fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log stderr notice;
events { worker_connections 256; }
http {
    # Shown when a test fails: what each request carried (Sec-Fetch-Site, Origin).
    log_format proxytest "$host $request $status sec-fetch-site=$http_sec_fetch_site origin=$http_origin";
    access_log /dev/stderr proxytest;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[3]s;
}
`, user, dir, site)
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(main), 0o600); err != nil {
		t.Fatal(err)
	}
	version := versionOf(t, bin, "-v")
	cmd := exec.Command(bin, "-c", conf, "-p", dir+"/", "-e", "stderr") // #nosec G204 -- test harness: the binary found above, paths it made
	start(t, cmd, "nginx", listen, syscall.SIGQUIT)
	return &Proxy{Addr: listen, Version: version}
}

// StartCaddy runs caddy with an example file from examples/caddy, its
// {$NAME} placeholders filled from env, imported below a global block
// that switches the admin endpoint off and binds to loopback only. listen
// is the address to wait for.
func StartCaddy(t testing.TB, example string, env map[string]string, listen string) *Proxy {
	t.Helper()
	bin := RequireCaddy(t)
	dir := t.TempDir()
	wrapper := fmt.Sprintf("{\n\tadmin off\n\tdefault_bind 127.0.0.1\n}\n\nimport %s\n",
		testutil.RepoPath(t, filepath.Join("examples/caddy", example)))
	conf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(conf, []byte(wrapper), 0o600); err != nil {
		t.Fatal(err)
	}
	version := versionOf(t, bin, "version")
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile") // #nosec G204 -- test harness: the binary found above, a file it wrote
	// Caddy keeps state under HOME/XDG directories: the test's own.
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir+"/data", "XDG_CONFIG_HOME="+dir+"/config")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	start(t, cmd, "caddy", listen, syscall.SIGTERM)
	return &Proxy{Addr: listen, Version: version}
}

func versionOf(t testing.TB, bin string, arg string) string {
	t.Helper()
	out, err := exec.Command(bin, arg).CombinedOutput() // #nosec G204 -- test harness: a binary found by Require*
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", bin, arg, err, out)
	}
	return strings.TrimSpace(string(out))
}

// start runs cmd until the test ends (then stops it with sig and waits),
// and waits until something accepts connections at listen. Its output
// goes to the test log when the test fails (always with PROXYTEST_LOG=1).
func start(t testing.TB, cmd *exec.Cmd, name, listen string, sig os.Signal) {
	t.Helper()
	out := &testutil.SafeBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(sig)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			if t.Failed() || os.Getenv("PROXYTEST_LOG") != "" {
				t.Logf("%s output:\n%s", name, out.String())
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited before listening on %s: %v\n%s", name, listen, err, out.String())
		default:
		}
		conn, err := net.DialTimeout("tcp", listen, time.Second)
		if err == nil {
			_ = conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not listening on %s after %s: %v\n%s", name, listen, startTimeout, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Request is what the upstream app received.
type Request struct {
	Method, URI string
	Header      http.Header
}

// Upstream is the example app (examples/upstream/page) served on a
// loopback port, remembering every request it gets.
type Upstream struct {
	// Addr is its host:port.
	Addr string
	mu   sync.Mutex
	reqs []Request
}

// StartUpstream serves the example app until the test ends.
func StartUpstream(t testing.TB, cfg page.Config) *Upstream {
	t.Helper()
	u := &Upstream{}
	h := page.Handler(cfg)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.reqs = append(u.reqs, Request{Method: r.Method, URI: r.RequestURI, Header: r.Header.Clone()})
		u.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.Addr = strings.TrimPrefix(srv.URL, "http://")
	return u
}

// Requests returns every request received so far.
func (u *Upstream) Requests() []Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Request(nil), u.reqs...)
}

// Count is the number of requests received so far.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// Last returns the latest request, failing the test if none came.
func (u *Upstream) Last(t testing.TB) Request {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("the upstream app received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// LoopbackTransport returns an HTTP transport that connects every host
// name ending in suffix (e.g. ".example.test") to 127.0.0.1, keeping the
// port: virtual hosts without DNS, as Chromium's --host-resolver-rules
// "MAP *.example.test 127.0.0.1" does.
func LoopbackTransport(suffix string) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, hostport string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", hostport, err)
		}
		if strings.HasSuffix(host, suffix) {
			hostport = net.JoinHostPort("127.0.0.1", port)
		}
		return d.DialContext(ctx, network, hostport)
	}
	return tr
}

// Kind is a reverse proxy whose example is tested.
type Kind string

// The proxies with tested examples.
const (
	Nginx Kind = "nginx"
	Caddy Kind = "caddy"
)

// Shape is how the app and Latchkey share (or not) an origin.
type Shape string

const (
	// OneOrigin: the app at /, Latchkey under /latchkey/ on the same
	// origin (BASE_URL with a path prefix).
	OneOrigin Shape = "one-origin"
	// Subdomains: the app on app.example.test, Latchkey on
	// auth.example.test, COOKIE_DOMAIN=example.test.
	Subdomains Shape = "subdomains"
)

// Env is a protected app: a proxy running a shipped example in front of
// the example upstream app and a test Latchkey.
type Env struct {
	// AppURL is the app's public origin (the proxy's), no trailing slash.
	AppURL string
	// LatchkeyURL is Latchkey's public URL, its BASE_URL.
	LatchkeyURL string
	// Latchkey is the Latchkey behind the proxy.
	Latchkey *testutil.App
	// Upstream is the app behind the proxy.
	Upstream *Upstream
	// Proxy is the running proxy.
	Proxy *Proxy
	// Transport reaches the proxy for the shape's host names.
	Transport *http.Transport
}

// Start runs Latchkey (SQLite) with opts, the example upstream app, and the
// proxy's shipped example for the shape in front of both.
func Start(t testing.TB, kind Kind, shape Shape, opts ...testutil.AppOption) *Env {
	t.Helper()
	// Find the binary before building anything, to skip early.
	switch kind {
	case Nginx:
		RequireNginx(t)
	case Caddy:
		RequireCaddy(t)
	default:
		t.Fatalf("unknown proxy %q", kind)
	}
	listen := FreeAddr(t)
	_, port, _ := net.SplitHostPort(listen)
	e := &Env{}
	switch shape {
	case OneOrigin:
		e.AppURL = "http://" + listen
		e.LatchkeyURL = e.AppURL + "/latchkey"
		e.Transport = http.DefaultTransport.(*http.Transport).Clone()
	case Subdomains:
		e.AppURL = "http://app.example.test:" + port
		e.LatchkeyURL = "http://auth.example.test:" + port
		e.Transport = LoopbackTransport(".example.test")
		opts = append(opts, testutil.WithCookieDomain("example.test"))
	default:
		t.Fatalf("unknown shape %q", shape)
	}
	// The proxy is the only client Latchkey sees: it believes its
	// X-Forwarded-For.
	opts = append([]testutil.AppOption{testutil.WithBaseURL(e.LatchkeyURL), testutil.WithTrustedProxies("127.0.0.1/32")}, opts...)
	e.Latchkey = testutil.StartApp(t, "sqlite", opts...)
	e.Upstream = StartUpstream(t, page.Config{LatchkeyURL: e.LatchkeyURL, AppURL: e.AppURL})
	latchkeyAddr := e.Latchkey.Server.Listener.Addr().String()
	switch {
	case kind == Nginx && shape == OneOrigin:
		e.Proxy = StartNginx(t, "latchkey.conf", map[string]string{
			"LISTEN": listen, "SERVER_NAME": "127.0.0.1", "LATCHKEY_UPSTREAM": latchkeyAddr, "APP_UPSTREAM": e.Upstream.Addr,
		}, listen)
	case kind == Nginx && shape == Subdomains:
		e.Proxy = StartNginx(t, "latchkey-subdomain.conf", map[string]string{
			"LISTEN": listen, "APP_HOST": "app.example.test", "AUTH_HOST": "auth.example.test",
			"LATCHKEY_UPSTREAM": latchkeyAddr, "APP_UPSTREAM": e.Upstream.Addr,
		}, listen)
	case kind == Caddy && shape == OneOrigin:
		e.Proxy = StartCaddy(t, "Caddyfile", map[string]string{
			"APP_SITE": e.AppURL, "LATCHKEY_UPSTREAM": latchkeyAddr, "APP_UPSTREAM": e.Upstream.Addr,
		}, listen)
	case kind == Caddy && shape == Subdomains:
		e.Proxy = StartCaddy(t, "Caddyfile.subdomain", map[string]string{
			"APP_SITE": e.AppURL, "AUTH_SITE": e.LatchkeyURL, "LATCHKEY_UPSTREAM": latchkeyAddr, "APP_UPSTREAM": e.Upstream.Addr,
		}, listen)
	}
	t.Logf("%s %s: %s; app %s, Latchkey %s", kind, shape, e.Proxy.Version, e.AppURL, e.LatchkeyURL)
	return e
}

// Client returns a cookie-keeping HTTP client through the proxy that does
// not follow redirects.
func (e *Env) Client() *http.Client {
	c := testutil.NewClient()
	c.Transport = e.Transport
	return c
}
