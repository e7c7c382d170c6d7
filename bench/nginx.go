package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// nginxExample is the shipped example the end-to-end row runs: Latchkey
// on a sibling subdomain of the app, so it needs no path prefix.
const nginxExample = "examples/nginx/latchkey-subdomain.conf"

// The hosts the example is rendered with; requests name them in Host.
const (
	benchAppHost  = "app.bench.test"
	benchAuthHost = "auth.bench.test"
)

var placeholderRE = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)\}`)

// renderNginx fills an nginx example's ${NAME} placeholders from vars, as
// envsubst with a list of names does (and as the proxy tests render the
// examples): nginx's own $variables are left alone, and a placeholder
// without a value is an error.
func renderNginx(text string, vars map[string]string) (string, error) {
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
		return "", fmt.Errorf("placeholders without a value: %v", missing)
	}
	return out, nil
}

// withoutAuthRequest is an nginx configuration with its auth_request
// directives taken out (auth_request_set and error_page stay: with no
// subrequest their variables are empty and nginx sends no header for
// them), so the same file serves the same page unprotected: the
// end-to-end row's baseline. It is an error if there was none.
func withoutAuthRequest(conf string) (string, error) {
	lines := strings.SplitAfter(conf, "\n")
	kept := lines[:0]
	removed := 0
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "auth_request" {
			removed++
			continue
		}
		kept = append(kept, l)
	}
	if removed == 0 {
		return "", errors.New("no auth_request directive to take out")
	}
	return strings.Join(kept, ""), nil
}

// nginxMain is a main configuration around a server-level file, every
// path inside dir, one worker, no access log (as the proxy tests run the
// examples).
func nginxMain(dir, site string, root bool) string {
	user := ""
	if root {
		// As root, the worker would switch to nobody, who cannot write
		// in the bench's temporary directory.
		user = "user root;"
	}
	return fmt.Sprintf(`%s
daemon off;
worker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log notice;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[3]s;
}
`, user, dir, site)
}

// nginxProc is a running nginx.
type nginxProc struct {
	cmd    *exec.Cmd
	addr   string
	dir    string
	exited chan struct{}
}

// startNginx runs bin with conf (a server-level configuration) in a
// directory of its own under tmp and waits until addr accepts
// connections.
func startNginx(ctx context.Context, bin, tmp, name, conf, addr string) (*nginxProc, error) {
	dir := filepath.Join(tmp, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	site := filepath.Join(dir, "site.conf")
	if err := os.WriteFile(site, []byte(conf), 0o600); err != nil { // #nosec G703 -- a file in the bench's own temporary folder
		return nil, err
	}
	main := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(main, []byte(nginxMain(dir, site, os.Geteuid() == 0)), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-c", main, "-p", dir+"/", "-e", filepath.Join(dir, "error.log")) // #nosec G204 -- the nginx found in PATH, files the bench wrote
	out, err := os.Create(filepath.Join(dir, "output.log"))                                    // #nosec G304 -- in the bench's temp dir
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child keeps its own descriptor
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start nginx: %w", err)
	}
	p := &nginxProc{cmd: cmd, addr: addr, dir: dir, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-p.exited:
			return nil, fmt.Errorf("nginx exited before listening on %s:\n%s", addr, p.logs())
		case <-ctx.Done():
			p.stop()
			return nil, ctx.Err()
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.Close() // it listens: that is all we wanted to know
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("nginx is not listening on %s after 20 s:\n%s", addr, p.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop asks nginx to finish gracefully (SIGQUIT) and kills it after 10 s.
func (p *nginxProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *nginxProc) logs() string {
	var sb strings.Builder
	for _, f := range []string{"output.log", "error.log"} {
		b, _ := os.ReadFile(filepath.Join(p.dir, f)) // #nosec G304 G703 -- best effort, for error messages; a file in the bench's own temporary folder
		sb.Write(b)
	}
	return sb.String()
}

// nginxBinary finds nginx in PATH or where Debian puts it.
func nginxBinary() (string, bool) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, true
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", true
	}
	return "", false
}

// nginxVersion is what nginx -v says (on stderr).
func nginxVersion(bin string) string {
	out, err := exec.Command(bin, "-v").CombinedOutput() // #nosec G204 -- the nginx found in PATH
	if err != nil {
		return "nginx (version unknown)"
	}
	return strings.TrimPrefix(strings.TrimSpace(string(out)), "nginx version: ")
}

// upstreamPage is the protected app in the end-to-end row: a trivial
// page, so that the row shows what the check costs rather than what an
// app costs. It names the user the proxy passed on, so a run can see the
// identity headers arrive.
func upstreamPage() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("X-Bench-Seen-User", r.Header.Get("X-Latchkey-User"))
		_, _ = fmt.Fprint(w, "<!doctype html><title>App</title><p>Hello from the protected app.</p>\n")
	})
}

// verifyNginx runs the shipped nginx example (Latchkey on a sibling
// subdomain) in front of a trivial upstream and compares a protected page
// (auth_request to /auth/verify, then the upstream) with the same page
// through the same file minus its auth_request directive, signed in,
// from verifyConns connections, in alternating rounds.
func (b *bench) verifyNginx(ctx context.Context, srv *proc, known, _ []string) ([]row, error) {
	metric := fmt.Sprintf("protected page through nginx vs unprotected (%d conns)", verifyConns)
	bin, ok := nginxBinary()
	if !ok {
		return []row{b.missingRow(metric, "nginx is not installed (apt-get install nginx-light)")}, nil
	}
	src, err := os.ReadFile(filepath.Join(b.root, nginxExample))
	if errors.Is(err, os.ErrNotExist) {
		return []row{b.missingRow(metric, nginxExample+" is not in this tree")}, nil
	}
	if err != nil {
		return nil, err
	}
	hc := newClient(verifyConns)
	cookie, err := signInCookie(ctx, hc, srv.url, known[0], b.ips.next())
	if err != nil {
		return nil, err
	}
	if err := checkVerify(ctx, hc, srv.url, ""); errors.Is(err, errNoVerify) {
		return []row{b.missingRow(metric, err.Error())}, nil
	} else if err != nil {
		return nil, err
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	app := &http.Server{Handler: upstreamPage(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = app.Serve(ln) }() // ends with ErrServerClosed
	defer app.Close()

	protected, plain := map[string]string{}, map[string]string{}
	for _, m := range []map[string]string{protected, plain} {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		m["LISTEN"], m["APP_HOST"], m["AUTH_HOST"] = addr, benchAppHost, benchAuthHost
		m["LATCHKEY_UPSTREAM"], m["APP_UPSTREAM"] = strings.TrimPrefix(srv.url, "http://"), ln.Addr().String()
	}
	withAuth, err := renderNginx(string(src), protected)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nginxExample, err)
	}
	rendered, err := renderNginx(string(src), plain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nginxExample, err)
	}
	noAuth, err := withoutAuthRequest(rendered)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nginxExample, err)
	}
	version := nginxVersion(bin)
	b.progress("verify through nginx (%s, %s): a protected page vs the same page without auth_request, %d round(s) of %s, %d connections", version, nginxExample, b.plan.rounds, b.plan.duration, verifyConns)
	np, err := startNginx(ctx, bin, b.tmp, "nginx-protected", withAuth, protected["LISTEN"])
	if err != nil {
		return nil, err
	}
	defer np.stop()
	nb, err := startNginx(ctx, bin, b.tmp, "nginx-plain", noAuth, plain["LISTEN"])
	if err != nil {
		return nil, err
	}
	defer nb.stop()

	page := func(cookie string) http.Header {
		h := http.Header{"Host": {benchAppHost}, "User-Agent": {userAgent}, "Accept-Encoding": {"gzip, deflate, br, zstd"}}
		if cookie != "" {
			h.Set("Cookie", cookie)
		}
		return h
	}
	// Before the load: the protected page lets the signed-in visitor
	// through with an identity, and sends a signed-out one to sign in;
	// the plain one serves the page to anyone.
	for _, c := range []struct {
		addr, cookie string
		status       int
		user         bool
	}{
		{protected["LISTEN"], cookie, http.StatusOK, true},
		{protected["LISTEN"], "", http.StatusFound, false},
		{plain["LISTEN"], "", http.StatusOK, false},
	} {
		status, _, hd, err := get(ctx, hc, "http://"+c.addr+"/dashboard", page(c.cookie))
		if err != nil {
			return nil, err
		}
		if status != c.status || (c.user && hd.Get("X-Bench-Seen-User") == "") {
			return nil, fmt.Errorf("through nginx at %s (cookie %t): %d, user %q; want %d (user: %t)\n%s",
				c.addr, c.cookie != "", status, hd.Get("X-Bench-Seen-User"), c.status, c.user, np.logs())
		}
	}
	signedIn := page(cookie)
	sides := []side{
		{what: "GET /dashboard through nginx, no auth_request", status: http.StatusOK, next: func(int64) shot {
			return getShot("http://"+plain["LISTEN"]+"/dashboard", signedIn, 0)
		}},
		{what: "GET /dashboard through nginx, auth_request", status: http.StatusOK, next: func(int64) shot {
			return getShot("http://"+protected["LISTEN"]+"/dashboard", signedIn, 0)
		}},
	}
	res, err := cpuRounds(ctx, hc, srv.cmd.Process.Pid, verifyConns, b.plan.rounds, b.plan.warmup, b.plan.duration, sides)
	if err != nil {
		return nil, fmt.Errorf("%w\nnginx (protected):\n%s", err, np.logs())
	}
	base, prot := res[0], res[1]
	rb, rp := base.rate(http.StatusOK), prot.rate(http.StatusOK)
	lat, blat := prot.latencies(http.StatusOK, -1), base.latencies(http.StatusOK, -1)
	return []row{{metric: metric, baseline: reqs(rb), latchkey: reqs(rp), ratio: ratio(rp, rb), target: "≥ 0.50×", result: passIf(rp >= 0.5*rb),
		context: fmt.Sprintf("%s, %s as shipped (baseline: the same file without auth_request), a trivial upstream in the bench's process; p50/p99 %s/%s (unprotected %s/%s); latchkey's CPU %.1f µs per protected page; %s",
			version, nginxExample, ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(percentile(blat, 50)), ms(percentile(blat, 99)),
			prot.cpuPerThousand().Seconds()*1e3, prot.statuses())}}, nil
}
