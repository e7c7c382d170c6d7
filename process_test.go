package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// TestMain lets the test binary double as the server: a child started
// with LATCHKEY_TEST_SERVER=1 runs `latchkey serve` with its environment,
// so process-level tests (signals, kill -9, several instances) exercise
// the real main without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("LATCHKEY_TEST_SERVER") == "1" {
		os.Exit(run([]string{"serve"}, os.Stdin, os.Stdout, os.Stderr, os.Getenv))
	}
	os.Exit(m.Run())
}

// server is a Latchkey process started by a test.
type server struct {
	t   *testing.T
	cmd *exec.Cmd
	URL string
	// health is polled until the server answers 200: /healthz, under
	// BASE_URL's path prefix if it has one.
	health string
	env    []string
	logs   *testutil.SafeBuffer
	done   chan error
}

// startServer runs a server process with env on top of the test's
// environment and waits for /healthz.
func startServer(t *testing.T, env map[string]string) *server {
	t.Helper()
	addr := env["ADDR"] // a test that needs the address in BASE_URL chooses it
	if addr == "" {
		addr = testutil.FreeAddr(t)
	}
	vars := []string{"LATCHKEY_TEST_SERVER=1", "ADDR=" + addr, "SESSION_SECRET=" + testutil.TestSecret}
	health := "http://" + addr + "/healthz"
	if base, ok := env["BASE_URL"]; !ok {
		vars = append(vars, "BASE_URL=http://"+addr)
	} else if u, err := url.Parse(base); err == nil {
		health = "http://" + addr + strings.TrimSuffix(u.Path, "/") + "/healthz"
	}
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	s := &server{t: t, URL: "http://" + addr, health: health, env: vars, logs: &testutil.SafeBuffer{}}
	s.start()
	t.Cleanup(func() {
		s.kill()
		if t.Failed() {
			t.Logf("logs of %s:\n%s", s.URL, s.logs.String())
		}
	})
	return s
}

func (s *server) start() {
	s.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout = s.logs
	cmd.Stderr = s.logs
	cmd.Dir = s.t.TempDir()
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	s.done = make(chan error, 1)
	go func() { s.done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.health)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-s.done:
			s.done <- err // for kill in the cleanup
			s.t.Fatalf("server exited at start: %v\n%s", err, s.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("server did not become healthy:\n%s", s.logs.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// kill ends the process with SIGKILL (no chance to clean up) and waits
// for it to exit. It reads only s.cmd and s.done (not ProcessState, which
// the waiting goroutine writes); killing an exited process does nothing.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	err := <-s.done
	s.done <- err
}

// stop sends SIGTERM and returns the exit error (nil for exit 0).
func (s *server) stop(timeout time.Duration) error {
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(timeout):
		s.t.Fatalf("server still running %s after SIGTERM\n%s", timeout, s.logs.String())
		return nil
	}
}

func (s *server) restart() {
	s.t.Helper()
	s.start()
}

func browser(t *testing.T) *http.Client {
	return testutil.NewClient()
}

func post(t *testing.T, c *http.Client, u string, form url.Values, hdr ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func get(t *testing.T, c *http.Client, u string) *http.Response {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

const pw = "correct horse battery staple"

func TestGracefulShutdown(t *testing.T) {
	smtp := testutil.StartSMTP(t)
	srv := startServer(t, map[string]string{"DATABASE_URL": testutil.NewDatabaseURL(t, "sqlite"), "SMTP_URL": smtp.URL()})
	c := browser(t)
	if r := post(t, c, srv.URL+"/account/register", url.Values{"email": {"grace@example.com"}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d", r.StatusCode)
	}

	// The registration's verification email is out of the way first.
	smtp.WaitForSubject(t, "Confirm your email address for Latchkey", 1, 10*time.Second)
	// A send in progress when SIGTERM arrives is finished.
	smtp.Delay(1500 * time.Millisecond)
	post(t, browser(t), srv.URL+"/account/forgot-password", url.Values{"email": {"grace@example.com"}})
	time.Sleep(300 * time.Millisecond) // the worker is inside DATA now

	// A request in flight when SIGTERM arrives is answered.
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "email=nobody%40example.com"
	fmt.Fprintf(conn, "POST /account/forgot-password HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:5])
	time.Sleep(100 * time.Millisecond)

	stopped := make(chan error, 1)
	go func() { stopped <- srv.stop(20 * time.Second) }()
	time.Sleep(200 * time.Millisecond)
	// New connections are refused once shutdown has begun.
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(srv.URL, "http://"), time.Second); err == nil {
		c.Close()
		t.Errorf("server still accepts new connections during shutdown")
	}
	fmt.Fprint(conn, body[5:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("in-flight request: %d", resp.StatusCode)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, srv.logs.String())
	}
	if got := smtp.Emails(); len(got) != 2 {
		t.Fatalf("the send in progress was not finished: %d emails (with the verification email)", len(got))
	}
	db := openDB(t, srv)
	var row models.OutboxEmail
	if err := db.NewSelect().Model(&row).Where("kind = 'reset'").Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	if row.Status != models.OutboxSent {
		t.Errorf("finished send recorded as %q", row.Status)
	}
}

// openDB opens the server's database from the test.
func openDB(t *testing.T, s *server) *bun.DB {
	t.Helper()
	for _, kv := range s.env {
		if v, ok := strings.CutPrefix(kv, "DATABASE_URL="); ok {
			db, err := models.Open(context.Background(), v)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		}
	}
	t.Fatal("no DATABASE_URL")
	return nil
}

func TestCrashLosesNothing(t *testing.T) {
	for _, dialect := range testutil.Dialects {
		t.Run(dialect, func(t *testing.T) {
			smtp := testutil.StartSMTP(t)
			smtp.Stop() // mail cannot leave before the crash
			dbURL := testutil.NewDatabaseURL(t, dialect)
			// A short send timeout keeps the lease on a message claimed by the
			// killed process short.
			srv := startServer(t, map[string]string{"DATABASE_URL": dbURL, "SMTP_URL": smtp.URL(), "OUTBOX_SEND_TIMEOUT": "2s"})
			c := browser(t)
			post(t, c, srv.URL+"/account/register", url.Values{"email": {"phoenix@example.com"}, "password": {pw}})
			start := time.Now()
			if r := post(t, browser(t), srv.URL+"/account/forgot-password", url.Values{"email": {"phoenix@example.com"}}); r.StatusCode != http.StatusOK {
				t.Fatalf("forgot with SMTP down: %d", r.StatusCode)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("forgot waited on SMTP: %s", d)
			}
			srv.kill()

			smtp.Restart(t)
			srv.restart()
			mail := smtp.WaitForSubject(t, "Reset your Latchkey password", 1, 30*time.Second)[0]
			link := testutil.ResetLink(t, mail)
			code := link[strings.Index(link, "code=")+5:]

			// Kill the server at moments around completing the reset; after
			// each restart the reset is either wholly done or not at all.
			done := false
			for i := 0; i < 4 && !done; i++ {
				newPW := fmt.Sprintf("sturdy passphrase number %d", i)
				killed := make(chan struct{})
				go func() {
					defer close(killed)
					time.Sleep(time.Duration(i) * 3 * time.Millisecond)
					srv.kill()
				}()
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/account/reset-password", strings.NewReader(url.Values{"code": {code}, "password": {newPW}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if resp, err := c.Do(req); err == nil {
					resp.Body.Close()
				}
				// The killer is done with srv (and the process has exited)
				// before restart replaces srv.cmd and srv.done.
				<-killed
				srv.restart()
				db := openDB(t, srv)
				ctx := context.Background()
				hash, _ := models.ParseCode(code)
				var reset models.PasswordReset
				if err := db.NewSelect().Model(&reset).Where("code_hash = ?", hash).Scan(ctx); err != nil {
					t.Fatal(err)
				}
				acc, _ := models.AccountByEmail(ctx, db, "phoenix@example.com")
				oldOK := checkPassword(t, acc, pw)
				newOK := checkPassword(t, acc, newPW)
				changedMails, _ := db.NewSelect().Model((*models.OutboxEmail)(nil)).Where("kind = 'password-changed'").Count(ctx)
				events, _ := db.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventResetCompleted).Count(ctx)
				switch {
				case reset.UsedAt == nil:
					if !oldOK || newOK || changedMails != 0 || events != 0 {
						t.Fatalf("half-done reset: code unused but old=%v new=%v mails=%d events=%d", oldOK, newOK, changedMails, events)
					}
				default:
					if oldOK || !newOK || changedMails != 1 || events != 1 || reset.UsedIP == nil {
						t.Fatalf("half-done reset: code used but old=%v new=%v mails=%d events=%d", oldOK, newOK, changedMails, events)
					}
					done = true
				}
			}
			if !done {
				// Never won the race to finish before the kill: finish now.
				if r := post(t, c, srv.URL+"/account/reset-password", url.Values{"code": {code}, "password": {"after all the restarts"}}); r.StatusCode != http.StatusSeeOther {
					t.Fatalf("reset after restarts: %d", r.StatusCode)
				}
			}
			smtp.WaitForSubject(t, "Your Latchkey password was changed", 1, 20*time.Second)
		})
	}
}

func checkPassword(t *testing.T, acc *models.Account, password string) bool {
	t.Helper()
	h, err := models.NewHasher(models.HashParams, 1, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ok, _, err := h.Check(context.Background(), password, acc.PasswordHash)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestSeveralInstancesBehaveAsOne(t *testing.T) {
	dbURL := testutil.NewDatabaseURL(t, "postgres")
	smtp := testutil.StartSMTP(t)
	env := map[string]string{"DATABASE_URL": dbURL, "SMTP_URL": smtp.URL(), "BASE_URL": "http://accounts.test",
		"LIMIT_REGISTRATIONS_PER_HOUR": "100", "LIMIT_RESET_POSTS_PER_MINUTE": "100"}
	// Started at once: migrations are serialised by the advisory lock.
	var wg sync.WaitGroup
	servers := make([]*server, 3)
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i] = startServer(t, env)
		}()
	}
	wg.Wait()
	a, b, c := servers[0], servers[1], servers[2]

	// The cookie jar ignores ports, so one browser visits all three.
	user := browser(t)
	if r := post(t, user, a.URL+"/account/register", url.Values{"email": {"multi@example.com"}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("register on A: %d", r.StatusCode)
	}
	if r := get(t, user, b.URL+"/account"); r.StatusCode != http.StatusOK {
		t.Errorf("session from A not valid on B: %d", r.StatusCode)
	}

	// Ten accounts ask for a reset on different instances: ten emails,
	// each delivered once, whichever worker took it.
	for i := 0; i < 10; i++ {
		email := fmt.Sprintf("m%d@example.com", i)
		post(t, browser(t), servers[i%3].URL+"/account/register", url.Values{"email": {email}, "password": {pw}})
		post(t, browser(t), servers[(i+1)%3].URL+"/account/forgot-password", url.Values{"email": {email}})
	}
	post(t, browser(t), b.URL+"/account/forgot-password", url.Values{"email": {"multi@example.com"}})
	mails := smtp.WaitForSubject(t, "Reset your Latchkey password", 11, 20*time.Second)
	time.Sleep(time.Second) // would a duplicate arrive?
	seen := map[string]int{}
	for _, m := range smtp.Emails() {
		if m.Subject == "Reset your Latchkey password" {
			seen[m.To[0]]++
		}
	}
	for to, n := range seen {
		if n != 1 {
			t.Errorf("%s got %d reset emails", to, n)
		}
	}
	if len(seen) != 11 {
		t.Errorf("%d recipients, want 11 (%d emails)", len(seen), len(mails))
	}

	// A code requested on B is completed on C.
	var link string
	for _, m := range smtp.Emails() {
		if m.To[0] == "multi@example.com" && m.Subject == "Reset your Latchkey password" {
			link = testutil.ResetLink(t, m)
		}
	}
	if !strings.HasPrefix(link, "http://accounts.test/") {
		t.Errorf("link not on BASE_URL: %s", link)
	}
	code := link[strings.Index(link, "code=")+5:]
	if r := post(t, browser(t), c.URL+"/account/reset-password", url.Values{"code": {code}, "password": {"changed on another instance"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("complete on C: %d", r.StatusCode)
	}
	if r := get(t, user, a.URL+"/account"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("session on A survived a reset done on C: %d", r.StatusCode)
	}

	// Failed sign-ins are counted across instances. Spread round robin,
	// ten failures give no instance more than four, under the five free
	// ones: only a shared count can answer 429. (Which attempt gets it
	// depends on timing: the first back-off window is one second, about
	// what one argon2id check takes on a loaded machine; the windows
	// double, so a shared count refuses one within ten.)
	refusedAt := 0
	for i := 0; i < 10 && refusedAt == 0; i++ {
		r := post(t, browser(t), servers[i%3].URL+"/account/login", url.Values{"email": {"multi@example.com"}, "password": {"wrong guess"}})
		switch r.StatusCode {
		case http.StatusTooManyRequests:
			refusedAt = i + 1
		case http.StatusUnprocessableEntity:
		default:
			t.Fatalf("failure %d: %d", i+1, r.StatusCode)
		}
	}
	if refusedAt == 0 || refusedAt < 6 {
		t.Errorf("failures spread over 3 instances: first 429 at attempt %d, want one from the 6th on", refusedAt)
	}
	for _, s := range servers {
		if err := s.stop(20 * time.Second); err != nil {
			t.Errorf("exit: %v", err)
		}
	}
}

// TestSignOutReachesEveryInstanceWithinASecond: three instances on one
// Postgres database. A session signed in on A and checked (so cached) on
// B and C is refused by B and C soon after it is signed out on A: within
// 1 s (SPEC §7), which holds by construction through the session cache's
// 500 ms maximum age; NOTIFY makes it near-instant. The measured
// latencies are logged.
func TestSignOutReachesEveryInstanceWithinASecond(t *testing.T) {
	dbURL := testutil.NewDatabaseURL(t, "postgres")
	smtp := testutil.StartSMTP(t)
	env := map[string]string{"DATABASE_URL": dbURL, "SMTP_URL": smtp.URL(), "BASE_URL": "http://accounts.test"}
	servers := make([]*server, 3)
	for i := range servers {
		servers[i] = startServer(t, env)
	}
	a, others := servers[0], servers[1:]

	user := browser(t)
	if r := post(t, user, a.URL+"/account/register", url.Values{"email": {"everywhere@example.com"}, "password": {pw}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("register on A: %d", r.StatusCode)
	}
	u, _ := url.Parse(a.URL)
	var cookie string
	for _, c := range user.Jar.Cookies(u) {
		if c.Name == "latchkey_session" {
			cookie = c.Value
		}
	}
	if cookie == "" {
		t.Fatal("no session cookie after registering")
	}
	// check asks an instance about the session, as Caddy would for an API
	// call (a signed-out answer is then 401, not a redirect).
	check := func(s *server) int {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/auth/verify", nil)
		req.Header.Set("Accept", "application/json")
		req.AddCookie(&http.Cookie{Name: "latchkey_session", Value: cookie})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("verify on %s: %v", s.URL, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, s := range others {
		for range 5 { // the first fills the cache, the rest read it
			if code := check(s); code != http.StatusOK {
				t.Fatalf("verify on %s before sign-out: %d", s.URL, code)
			}
		}
	}

	if r := post(t, user, a.URL+"/account/logout", nil); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out on A: %d", r.StatusCode)
	}
	signedOut := time.Now()
	if code := check(a); code != http.StatusUnauthorized {
		t.Errorf("A, where the session ended, answered %d to the very next check", code)
	}
	var wg sync.WaitGroup
	for _, s := range others {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				code := check(s)
				elapsed := time.Since(signedOut)
				if code == http.StatusUnauthorized {
					t.Logf("%s refused the ended session after %s", s.URL, elapsed.Round(time.Millisecond))
					return
				}
				if code != http.StatusOK {
					t.Errorf("%s: %d", s.URL, code)
					return
				}
				if elapsed > time.Second {
					t.Errorf("%s still accepts the session %s after sign-out (SPEC §7: within 1 s)", s.URL, elapsed.Round(time.Millisecond))
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
}
