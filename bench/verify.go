package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/models"
)

// verifyConns is the concurrency of the forward-auth checks: a proxy's
// few keep-alive connections to Latchkey.
const verifyConns = 8

// originalURL is the protected app's page every check asks about, as
// nginx's auth_request sends it (X-Original-URL). Its host is not
// Latchkey's, so a signed-out answer's sign-in URL carries no rd: the
// check costs what the rule costs to refuse it.
const originalURL = "http://app.bench.test/dashboard?tab=1"

// identityHeaders are the headers a signed-in check always carries
// (SPEC §7).
var identityHeaders = []string{"X-Latchkey-User", "X-Latchkey-Email", "X-Latchkey-Email-Verified", "X-Latchkey-MFA"}

// verifyHeader is what nginx's auth_request subrequest carries: the
// original URL and method, the visitor's address and, signed in, the
// visitor's cookies.
func verifyHeader(cookie, clientIP string) http.Header {
	h := http.Header{
		"X-Original-Url":    {originalURL},
		"X-Original-Method": {http.MethodGet},
		"X-Forwarded-For":   {clientIP},
		"User-Agent":        {userAgent},
	}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	return h
}

// errNoVerify says the server under test has no /auth/verify (a build from
// before the forward-auth work).
var errNoVerify = errors.New("GET /auth/verify is 404: not in this build")

// checkVerify makes one signed-out and, given a cookie, one signed-in
// check and returns an error unless they answer as SPEC §7 says: 401
// with a Location to the sign-in page, and 200 with every identity
// header.
func checkVerify(ctx context.Context, hc *http.Client, base, cookie string) error {
	status, _, hd, err := get(ctx, hc, base+"/auth/verify", verifyHeader("", "10.250.0.1"))
	if err != nil {
		return err
	}
	if status == http.StatusNotFound {
		return errNoVerify
	}
	if status != http.StatusUnauthorized || !strings.Contains(hd.Get("Location"), "/account/login") {
		return fmt.Errorf("signed-out GET /auth/verify (nginx style): %d, Location %q; want 401 to the sign-in page", status, hd.Get("Location"))
	}
	if cookie == "" {
		return nil
	}
	status, _, hd, err = get(ctx, hc, base+"/auth/verify", verifyHeader(cookie, "10.250.0.1"))
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("signed-in GET /auth/verify: %d, want 200", status)
	}
	for _, name := range identityHeaders {
		if hd.Get(name) == "" {
			return fmt.Errorf("signed-in GET /auth/verify: no %s", name)
		}
	}
	return nil
}

// signInCookie signs in as email (the seeded password) and returns the
// Cookie header a browser would send afterwards.
func signInCookie(ctx context.Context, hc *http.Client, base, email, clientIP string) (string, error) {
	form := url.Values{"email": {email}, "password": {seedPassword}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/account/login", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", clientIP)
	req.Header.Set("User-Agent", userAgent)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	_ = resp.Body.Close() // a redirect: nothing to read
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("sign in as %s: %d, want 303", email, resp.StatusCode)
	}
	var pairs []string
	for _, c := range resp.Cookies() {
		if c.MaxAge >= 0 && c.Value != "" {
			pairs = append(pairs, c.Name+"="+c.Value)
		}
	}
	if len(pairs) == 0 {
		return "", fmt.Errorf("sign in as %s: no cookie set", email)
	}
	return strings.Join(pairs, "; "), nil
}

// signOut posts the sign-out form with the session's cookies.
func signOut(ctx context.Context, hc *http.Client, base, cookie, clientIP string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/account/logout", strings.NewReader(""))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", clientIP)
	req.Header.Set("Cookie", cookie)
	status, _, _, err := send(hc, req)
	if err != nil {
		return err
	}
	if status != http.StatusSeeOther {
		return fmt.Errorf("sign out: %d, want 303", status)
	}
	return nil
}

// verifyStatus makes one nginx-style check and returns its status.
func verifyStatus(ctx context.Context, hc *http.Client, base string, header http.Header) (int, error) {
	status, _, _, err := get(ctx, hc, base+"/auth/verify", header)
	return status, err
}

// missingRow is the row of a measurement this run cannot make: a FAIL,
// except in a smoke run, which checks the machinery only.
func (b *bench) missingRow(metric, why string) row {
	result := "FAIL"
	if b.opts.smoke {
		result = "skip"
	}
	return row{metric: metric, baseline: "—", latchkey: "—", ratio: "—", target: "runs", result: result, context: why}
}

// verifyThroughput measures GET /auth/verify, nginx style, signed in and
// signed out, from verifyConns connections, against the bare Echo handler
// inside the same server process, in alternating rounds; each side is
// charged the server process's CPU time (utime + stime) of its own
// rounds. Then the signed-out check's footprint (verifyFootprint).
func (b *bench) verifyThroughput(ctx context.Context, srv *proc, known, _ []string) ([]row, error) {
	hc := newClient(verifyConns)
	sessions := min(16, len(known))
	if b.opts.smoke {
		sessions = min(2, len(known))
	}
	cookies := make([]string, 0, sessions)
	for _, email := range known[:sessions] {
		c, err := signInCookie(ctx, hc, srv.url, email, b.ips.next())
		if err != nil {
			return nil, err
		}
		cookies = append(cookies, c)
	}
	if err := checkVerify(ctx, hc, srv.url, cookies[0]); err != nil {
		if errors.Is(err, errNoVerify) {
			return []row{b.missingRow("verify (nginx style), signed in and out", err.Error())}, nil
		}
		return nil, err
	}
	b.progress("verify: %d round(s) of %s each of the bare Echo handler in the same process, GET /auth/verify signed in (%d sessions) and signed out, %d connections, server CPU from /proc",
		b.plan.rounds, b.plan.duration, sessions, verifyConns)
	in := make([]http.Header, len(cookies))
	for i, c := range cookies {
		in[i] = verifyHeader(c, fmt.Sprintf("10.251.0.%d", i+1))
	}
	out := verifyHeader("", "10.251.1.1")
	sides := []side{
		{what: "bare GET / (same process)", status: http.StatusOK, next: func(int64) shot { return getShot(srv.bareURL+"/", nil, 0) }},
		{what: "GET /auth/verify signed in", status: http.StatusOK, next: func(i int64) shot {
			return getShot(srv.url+"/auth/verify", in[i%int64(len(in))], 0)
		}},
		{what: "GET /auth/verify signed out", status: http.StatusUnauthorized, next: func(int64) shot { return getShot(srv.url+"/auth/verify", out, 0) }},
	}
	res, err := cpuRounds(ctx, hc, srv.cmd.Process.Pid, verifyConns, b.plan.rounds, b.plan.warmup, b.plan.duration, sides)
	if err != nil {
		return nil, err
	}
	bare, lkIn, lkOut := res[0], res[1], res[2]
	rows := []row{
		verifyCPURow("verify signed in: server CPU per 1,000 checks", bare, lkIn, "≤ 2.00×", true),
		verifyRateRow("verify signed in: throughput", bare, lkIn, "≥ 0.50×", true),
		verifyCPURow("verify signed out: server CPU per 1,000 checks", bare, lkOut, "report", false),
		verifyRateRow("verify signed out: throughput", bare, lkOut, "report", false),
	}
	more, err := b.verifyFootprint(ctx, srv, hc, out)
	if err != nil {
		return nil, err
	}
	return append(rows, more...), nil
}

// verifyCPURow compares the server's CPU per 1,000 answers; judged
// rows pass at ≤ 2× the floor's.
func verifyCPURow(metric string, bare, lk sideResult, target string, judged bool) row {
	fb, fl := bare.cpuPerThousand(), lk.cpuPerThousand()
	r := row{metric: fmt.Sprintf("%s (%d conns)", metric, verifyConns), baseline: ms(fb), latchkey: ms(fl),
		ratio: ratio(fl.Seconds(), fb.Seconds()), target: target, result: "info",
		context: fmt.Sprintf("floor: bare Echo in the same process; utime+stime from /proc over alternating rounds: latchkey %s for %d checks, bare %s for %d requests (%.1f µs vs %.1f µs each)",
			ms(lk.cpu), lk.count(lk.status), ms(bare.cpu), bare.count(bare.status), fl.Seconds()*1e3, fb.Seconds()*1e3)}
	if judged {
		r.result = passIf(fb > 0 && fl <= 2*fb)
	}
	return r
}

// verifyRateRow compares throughput; judged rows pass at ≥ 0.5× the
// floor's.
func verifyRateRow(metric string, bare, lk sideResult, target string, judged bool) row {
	rb, rl := bare.rate(bare.status), lk.rate(lk.status)
	lat, blat := lk.latencies(lk.status, -1), bare.latencies(bare.status, -1)
	r := row{metric: fmt.Sprintf("%s (%d conns)", metric, verifyConns), baseline: reqs(rb), latchkey: reqs(rl),
		ratio: ratio(rl, rb), target: target, result: "info",
		context: fmt.Sprintf("p50/p99 %s/%s (bare %s/%s); %s", ms(percentile(lat, 50)), ms(percentile(lat, 99)),
			ms(percentile(blat, 50)), ms(percentile(blat, 99)), lk.statuses())}
	if judged {
		r.result = passIf(rl >= 0.5*rb)
	}
	return r
}

// verifyFootprint sends many signed-out checks (300,000; a few thousand
// in a smoke run) and shows that they leave nothing behind: the server's
// RSS at the end within 10 % of its start, no row added to any table,
// no cookie set.
func (b *bench) verifyFootprint(ctx context.Context, srv *proc, hc *http.Client, out http.Header) ([]row, error) {
	n := int64(300_000)
	if b.opts.smoke {
		n = 3_000
	}
	metric := fmt.Sprintf("RSS after %d signed-out checks", n)
	dbURL := envValue(srv.env, "DATABASE_URL")
	b.progress("verify footprint: %d signed-out checks, %d connections; RSS, table rows and Set-Cookie before and after", n, verifyConns)
	rowsBefore, err := tableRows(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	start, err := srv.memStatus()
	if err != nil {
		return nil, err
	}
	if err := srv.resetPeak(); err != nil {
		return nil, fmt.Errorf("reset VmHWM: %w", err)
	}
	res := load(ctx, hc, verifyConns, time.Hour, n, func(int64) shot { return getShot(srv.url+"/auth/verify", out, 0) })
	if err := res.check("GET /auth/verify signed out", http.StatusUnauthorized); err != nil {
		return nil, err
	}
	end, err := srv.memStatus()
	if err != nil {
		return nil, err
	}
	rowsAfter, err := tableRows(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	grown := tableGrowth(rowsBefore, rowsAfter)
	cookies := 0
	for _, s := range res.samples {
		if s.setCookie {
			cookies++
		}
	}
	answered := res.count(http.StatusUnauthorized)
	ok := float64(end.rss) <= 1.1*float64(start.rss) && len(grown) == 0 && cookies == 0 && answered == int(n)
	rowNote := "no table grew"
	if len(grown) > 0 {
		rowNote = "rows added: " + strings.Join(grown, ", ")
	}
	return []row{{metric: metric, baseline: mb(start.rss) + " start", latchkey: mb(end.rss), ratio: ratio(float64(end.rss), float64(start.rss)),
		target: "≤ 1.10×, nothing stored", result: passIf(ok),
		context: fmt.Sprintf("peak %s; %s; answers that set a cookie: %d; %s; %.0f checks/s",
			mb(end.hwm), rowNote, cookies, res.statuses(), float64(answered)/res.elapsed.Seconds())}}, nil
}

// envValue is the last value of key in env (os/exec keeps the last one).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if rest, ok := strings.CutPrefix(kv, key+"="); ok {
			v = rest
		}
	}
	return v
}

// tableRows counts the rows of every table of the database (migrations'
// own bookkeeping aside).
func tableRows(ctx context.Context, databaseURL string) (map[string]int64, error) {
	db, err := models.Open(ctx, databaseURL)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	list := "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
	if strings.HasPrefix(databaseURL, "postgres") {
		list = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
	}
	rs, err := db.QueryContext(ctx, list)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	var names []string
	for rs.Next() {
		var name string
		if err := rs.Scan(&name); err != nil {
			_ = rs.Close() // the scan error is the one to report
			return nil, err
		}
		if !strings.HasPrefix(name, "bun_migration") {
			names = append(names, name)
		}
	}
	if err := errors.Join(rs.Err(), rs.Close()); err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	for _, name := range names {
		var n int64
		// The names come from the database's own catalogue.
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM "`+name+`"`).Scan(&n); err != nil { // #nosec G202 -- a table name from the catalogue, quoted
			return nil, fmt.Errorf("count %s: %w", name, err)
		}
		counts[name] = n
	}
	return counts, nil
}

// tableGrowth lists the tables with more rows after than before, as
// "name +n", sorted.
func tableGrowth(before, after map[string]int64) []string {
	var out []string
	for name, n := range after {
		if d := n - before[name]; d > 0 {
			out = append(out, fmt.Sprintf("%s +%d", name, d))
		}
	}
	slices.Sort(out)
	return out
}
