package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The soak (go run ./bench -soak): one server process, and for the whole
// run at once sign-ins (right and wrong passwords), forgot-password posts
// (known and unknown addresses) and page views (anonymous, and /account
// for signed-in cookie jars). Every loop stops at its deadline or its
// request count, whichever comes first. It reports requests, 5xx,
// transport errors and p50/p99 per route; the server's RSS every second
// with its trend; goroutines and outbox backlog from the server's metrics
// listener; and reset emails accepted by the sink against the requests
// that should have caused one. Any 5xx, transport error, unexpected status
// or missing or extra email fails the run (exit 1).

// Soak routes: the tag of each sample.
const (
	rHome = iota
	rLoginPage
	rRegisterPage
	rForgotPage
	rAccount
	rSignInRight
	rSignInWrong
	rForgotKnown
	rForgotUnknown
	nRoutes
)

var soakRoutes = [nRoutes]struct {
	name string
	want int // the one status expected
}{
	rHome:          {"GET /", http.StatusOK},
	rLoginPage:     {"GET /account/login", http.StatusOK},
	rRegisterPage:  {"GET /account/register", http.StatusOK},
	rForgotPage:    {"GET /account/forgot-password", http.StatusOK},
	rAccount:       {"GET /account (signed in)", http.StatusOK},
	rSignInRight:   {"POST /account/login, right password", http.StatusSeeOther},
	rSignInWrong:   {"POST /account/login, wrong password", http.StatusUnprocessableEntity},
	rForgotKnown:   {"POST /account/forgot-password, known", http.StatusOK},
	rForgotUnknown: {"POST /account/forgot-password, unknown", http.StatusOK},
}

// Wrong passwords per address stay under LIMIT_SIGNIN_FAILURES (5 free
// per hour), so no back-off answers 429. Known addresses are asked for a
// reset up to forgotRounds times: the first three (the hourly allowance)
// send an email, the others must not.
const (
	wrongRounds  = 4
	forgotRounds = 6
)

// soakSample is one reading of the server, once a second.
type soakSample struct {
	at         time.Duration // since the clock started
	rss        int64
	goroutines float64 // -1: not available
	backlog    float64 // -1: not available
}

// routeErrors counts transport errors per route.
type routeErrors struct {
	n    [nRoutes]int64
	last error
}

// soak runs the soak on one database and prints its report; the exit code
// is 1 when anything failed.
func (b *bench) soak(ctx context.Context, stdout io.Writer) (int, error) {
	o := b.opts
	dialect := "sqlite"
	if o.postgres {
		dialect = "postgres"
	}
	d := o.duration
	secs := max(int(d/time.Second), 1)
	workers := o.concurrency
	signInWorkers := min(workers, 4*b.hashConcurrency) // beyond, HASH_WAIT sheds sign-ins with 503 by design
	resetLimit := serverEnvInt(o.serverEnv, "LIMIT_RESET_EMAILS_PER_HOUR", 3)

	dbs, err := newDatabases(ctx, dialect, b.tmp)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err := dbs.close(); err != nil {
			b.progress("cleanup: %v", err)
		}
	}()
	databaseURL, err := dbs.fresh(ctx)
	if err != nil {
		return 0, err
	}
	metricsAddr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	env := append(b.serverEnv(databaseURL), "METRICS_ADDR="+metricsAddr)
	if o.cpuProfile != "" {
		env = append(env, "LATCHKEY_CPUPROFILE="+absPath(o.cpuProfile))
	}
	if o.memProfile != "" {
		env = append(env, "LATCHKEY_MEMPROFILE="+absPath(o.memProfile))
	}
	b.progress("%s: starting the server (migrations applied at start)", dialect)
	srv, err := startProc(ctx, b.server, b.tmp, env, "server.log")
	if err != nil {
		return 0, err
	}
	defer srv.stop()

	// Accounts, before the clock starts: seeded in the database with one
	// real hash (right passwords; wrong ones spread so no address reaches
	// the back-off; reset requests), plus a few registered over HTTP whose
	// cookie jars stay signed in for GET /account.
	right := names("s", 50)
	wrong := names("w", max(20, 15*secs))
	known := names("k", max(10, 5*workers*secs/4))
	b.progress("seeding %d accounts; registering 8 over HTTP", len(right)+len(wrong)+len(known))
	if err := seedAccounts(ctx, databaseURL, append(append(append([]string(nil), right...), wrong...), known...)); err != nil {
		return 0, err
	}
	hc := newClient(3 * workers)
	jars := make([]*http.Client, 8)
	registeredBefore := b.sink.count()
	for i := range jars {
		jar, err := cookiejar.New(nil)
		if err != nil {
			return 0, err
		}
		jars[i] = &http.Client{Transport: hc.Transport, Jar: jar, Timeout: hc.Timeout, CheckRedirect: hc.CheckRedirect}
		form := url.Values{"email": {fmt.Sprintf("j%05d@soak.example", i)}, "password": {seedPassword}, "password_confirm": {seedPassword}}
		if status, err := postForm(ctx, jars[i], srv.url+"/account/register", form, b.ips.next()); err != nil || status != http.StatusSeeOther {
			return 0, fmt.Errorf("register over HTTP: %d %v\n%s", status, err, srv.logTail())
		}
		if status, _, _, err := get(ctx, jars[i], srv.url+"/account", nil); err != nil || status != http.StatusOK {
			return 0, fmt.Errorf("GET /account after registering: %d %v", status, err)
		}
	}

	// Each registration queues a verification email: let them all arrive
	// before the clock starts, so the reset emails are counted alone.
	if n := b.sink.waitCount(registeredBefore+len(jars), 30*time.Second); n < registeredBefore+len(jars) {
		return 0, fmt.Errorf("verification emails of the HTTP registrations: %d of %d arrived", n-registeredBefore, len(jars))
	}

	// GET /account carries each registered account's session cookie.
	accountHeaders := make([]http.Header, len(jars))
	for i, jc := range jars {
		u, _ := url.Parse(srv.url + "/account") // the server's own URL parses
		var cookies []string
		for _, c := range jc.Jar.Cookies(u) {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
		accountHeaders[i] = http.Header{"User-Agent": {userAgent}, "Cookie": {strings.Join(cookies, "; ")}}
	}
	pagePaths := [...]string{rHome: "/", rLoginPage: "/account/login", rRegisterPage: "/account/register", rForgotPage: "/account/forgot-password"}
	pages := func(i int64) shot {
		r := int(i % 5)
		if r == rAccount {
			return getShot(srv.url+"/account", accountHeaders[(i/5)%int64(len(jars))], r)
		}
		return getShot(srv.url+pagePaths[r], nil, r)
	}
	signIns := func(i int64) shot {
		k := i / 2
		email, password, r := right[k%int64(len(right))], seedPassword, rSignInRight
		if i%2 == 1 {
			email, password, r = wrong[k%int64(len(wrong))], "not the password", rSignInWrong
		}
		return formShot(srv.url+"/account/login", url.Values{"email": {email}, "password": {password}}, b.ips.next(), r)
	}
	knownOf := func(i int64) int { return int((i / 2) % int64(len(known))) }
	forgot := func(i int64) shot {
		email, r := known[knownOf(i)], rForgotKnown
		if i%2 == 1 {
			email, r = fmt.Sprintf("u%05d@soak.example", i/2), rForgotUnknown // never registered
		}
		return formShot(srv.url+"/account/forgot-password", url.Values{"email": {email}}, b.ips.next(), r)
	}

	// The server, once a second from the start of the clock.
	mc := &http.Client{Timeout: 2 * time.Second}
	var samples []soakSample
	var sampleErr error
	start := time.Now()
	take := func() {
		m, err := srv.memStatus()
		if err != nil {
			sampleErr = firstErr(sampleErr, err)
			return
		}
		g, bl := scrapeMetrics(ctx, mc, "http://"+metricsAddr+"/metrics")
		samples = append(samples, soakSample{at: time.Since(start), rss: m.rss, goroutines: g, backlog: bl})
	}
	mailBefore := b.sink.count()
	load0 := loadAverage()
	b.progress("soak: %s, %d page-view, %d sign-in and %d forgot-password workers, one server on %s", d, workers, signInWorkers, workers, dialect)
	take()
	stopSampling, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
				take()
			}
		}
	}()
	var results [3]loadResult
	var wg sync.WaitGroup
	for i, l := range []struct {
		workers int
		max     int64
		next    func(int64) shot
	}{
		{workers, int64(100_000 * secs), pages}, // far above what 2 CPUs serve
		{signInWorkers, int64(2 * wrongRounds * len(wrong)), signIns},
		{workers, int64(2 * forgotRounds * len(known)), forgot},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = load(ctx, hc, l.workers, d, l.max, l.next)
		}()
	}
	wg.Wait()
	var errs routeErrors
	asked := make([]int, len(known)) // answered reset requests per known address
	for _, r := range results {
		for _, f := range r.failed {
			errs.n[f.tag]++
			errs.last = fmt.Errorf("%s: %w", soakRoutes[f.tag].name, r.lastErr)
		}
		for _, s := range r.samples {
			if s.tag == rForgotKnown && s.status == http.StatusOK {
				asked[knownOf(s.i)]++
			}
		}
	}
	close(stopSampling)
	<-sampled
	take()
	clock := time.Since(start)
	load1 := loadAverage()
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}

	// Mail: every known-address request within the allowance must have
	// sent exactly one email once the outbox has drained.
	wantMail, overLimit := 0, 0
	for i := range asked {
		n := asked[i]
		wantMail += min(n, resetLimit)
		overLimit += max(n-resetLimit, 0)
	}
	drainWait, linger := time.Minute, 3*time.Second
	if o.smoke {
		drainWait, linger = 30*time.Second, time.Second
	}
	b.progress("waiting for the outbox to drain (%d emails expected)", wantMail)
	t0 := time.Now()
	b.sink.waitCount(mailBefore+wantMail, drainWait)
	drained := time.Since(t0)
	time.Sleep(linger) // a duplicate would arrive now
	got := b.sink.received()
	missing, extra, toUnknown := 0, 0, 0
	for i, a := range known {
		want := min(asked[i], resetLimit)
		missing += max(want-got[a], 0)
		extra += max(got[a]-want, 0)
		delete(got, a)
	}
	for i := range jars {
		delete(got, fmt.Sprintf("j%05d@soak.example", i)) // their verification emails, before the clock
	}
	for _, n := range got {
		toUnknown += n // nobody else is sent anything during the soak
	}
	accepted := b.sink.count() - mailBefore
	// Idle keep-alive connections each hold a server goroutine: close
	// them, so the reading after the drain shows what the server keeps.
	hc.CloseIdleConnections()
	time.Sleep(100 * time.Millisecond)
	take()
	if sampleErr != nil {
		return 0, fmt.Errorf("reading the server's memory: %w", sampleErr)
	}
	afterDrain := samples[len(samples)-1]
	samples = samples[:len(samples)-1]
	stopStart := time.Now()
	stopErr := srv.stop()
	stopTook := time.Since(stopStart)
	errorLines, warnLines, firstLines, logErr := scanServerLog(srv.logPath, 10)

	// Report.
	var all []sample
	for _, r := range results {
		all = append(all, r.samples...)
	}
	var fails []string
	grid := make([][]string, 0, nRoutes+1)
	total, total5xx, totalErrs := 0, 0, int64(0)
	for r := range nRoutes {
		var lat []time.Duration
		statuses := map[int]int{}
		n5xx, unexpected := 0, 0
		for _, s := range all {
			if s.tag != r {
				continue
			}
			lat = append(lat, s.lat)
			statuses[s.status]++
			if s.status >= 500 {
				n5xx++
			}
			if s.status != soakRoutes[r].want {
				unexpected++
			}
		}
		nErr := errs.n[r]
		total, total5xx, totalErrs = total+len(lat), total5xx+n5xx, totalErrs+nErr
		if n5xx > 0 {
			fails = append(fails, fmt.Sprintf("%s: %d × 5xx", soakRoutes[r].name, n5xx))
		} else if unexpected > 0 {
			fails = append(fails, fmt.Sprintf("%s: %d answers other than %d", soakRoutes[r].name, unexpected, soakRoutes[r].want))
		}
		if nErr > 0 {
			fails = append(fails, fmt.Sprintf("%s: %d transport errors", soakRoutes[r].name, nErr))
		}
		if len(lat) == 0 && nErr == 0 {
			fails = append(fails, soakRoutes[r].name+": no request completed")
		}
		grid = append(grid, []string{soakRoutes[r].name, strconv.Itoa(len(lat)), reqs(float64(len(lat)) / d.Seconds()),
			strconv.Itoa(n5xx), strconv.FormatInt(nErr, 10), ms(percentile(lat, 50)), ms(percentile(lat, 99)), statusList(statuses)})
	}
	grid = append(grid, []string{"all", strconv.Itoa(total), reqs(float64(total) / d.Seconds()), strconv.Itoa(total5xx), strconv.FormatInt(totalErrs, 10), "", "", ""})

	fmt.Fprintf(stdout, "\nLatchkey soak: %s · %s %s/%s · %d CPUs · load average %s → %s · %s (clock %s) · workers: %d page views, %d sign-ins, %d forgot-password · HASH_CONCURRENCY=%d%s\n",
		dialect, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), load0, load1, d, clock.Round(100*time.Millisecond),
		workers, signInWorkers, workers, b.hashConcurrency, map[bool]string{true: " · SMOKE RUN (figures meaningless)"}[o.smoke])
	printGrid(stdout, []string{"route", "requests", "rate", "5xx", "errors", "p50", "p99", "statuses"}, grid)
	first, last := samples[0], samples[len(samples)-1]
	lo, hi := first.rss, first.rss
	for _, s := range samples {
		lo, hi = min(lo, s.rss), max(hi, s.rss)
	}
	fmt.Fprintf(stdout, "RSS (VmRSS, %d samples, 1 s apart): start %s · end %s · min %s · max %s · %s after the outbox drained\n",
		len(samples), mb(first.rss), mb(last.rss), mb(lo), mb(hi), mb(afterDrain.rss))
	fmt.Fprintf(stdout, "  series, MB: %s\n", series(samples, 12, func(s soakSample) string { return fmt.Sprintf("%.1f", float64(s.rss)/1e6) }))
	fmt.Fprintf(stdout, "  trend: %s\n", rssTrend(samples))
	if first.goroutines >= 0 && last.goroutines >= 0 {
		gHi, bHi := 0.0, 0.0
		for _, s := range samples {
			gHi, bHi = max(gHi, s.goroutines), max(bHi, s.backlog)
		}
		fmt.Fprintf(stdout, "goroutines (go_goroutines on METRICS_ADDR): start %.0f · end %.0f · max %.0f · %.0f after the drain and idle connections closed\n",
			first.goroutines, last.goroutines, gHi, afterDrain.goroutines)
		fmt.Fprintf(stdout, "outbox backlog (latchkey_outbox_backlog): start %.0f · end %.0f · max %.0f · %.0f after the drain\n",
			first.backlog, last.backlog, bHi, afterDrain.backlog)
		fmt.Fprintf(stdout, "  series: %s\n", series(samples, 12, func(s soakSample) string { return fmt.Sprintf("%.0f", s.backlog) }))
	} else {
		fmt.Fprintln(stdout, "goroutines: metrics endpoint not readable")
	}
	fmt.Fprintf(stdout, "emails: %d reset requests for known addresses (%d within the %d/hour allowance, %d over it) → %d emails accepted by the sink; missing %d, extra %d, to unknown addresses %d; drained %s after the clock stopped\n",
		wantMail+overLimit, wantMail, resetLimit, overLimit, accepted, missing, extra, toUnknown, drained.Round(10*time.Millisecond))
	if missing > 0 || extra > 0 || toUnknown > 0 || accepted != wantMail {
		fails = append(fails, fmt.Sprintf("emails: %d accepted, %d expected (missing %d, extra %d, to unknown %d)", accepted, wantMail, missing, extra, toUnknown))
	}
	stopNote := fmt.Sprintf("stopped cleanly on SIGTERM in %s", stopTook.Round(10*time.Millisecond))
	if stopErr != nil {
		stopNote = "did not stop cleanly: " + stopErr.Error()
		fails = append(fails, "server "+stopNote)
	}
	fmt.Fprintf(stdout, "server: %s; log: %d ERROR and %d WARN lines\n", stopNote, errorLines, warnLines)
	if logErr != nil {
		fmt.Fprintf(stdout, "  (log not fully read: %v)\n", logErr)
	}
	for _, l := range firstLines {
		fmt.Fprintln(stdout, "  "+l)
	}
	if errs.last != nil {
		fmt.Fprintf(stdout, "last transport error: %v\n", errs.last)
	}
	if len(fails) > 0 {
		fmt.Fprintf(stdout, "result: FAIL\n  %s\n", strings.Join(fails, "\n  "))
		return 1, nil
	}
	fmt.Fprintln(stdout, "result: PASS (no 5xx, no transport error, every status as expected, every email sent once)")
	return 0, nil
}

// names returns n addresses prefix00000@soak.example….
func names(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%05d@soak.example", prefix, i)
	}
	return out
}

// serverEnvInt returns the last -server-env value of key as a number, or
// def.
func serverEnvInt(env []string, key string, def int) int {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				def = n
			}
		}
	}
	return def
}

// scrapeMetrics reads go_goroutines and latchkey_outbox_backlog from the
// Prometheus text exposition (-1 when absent or unreadable).
func scrapeMetrics(ctx context.Context, hc *http.Client, u string) (goroutines, backlog float64) {
	goroutines, backlog = -1, -1
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return
	}
	resp, err := hc.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		switch name {
		case "go_goroutines":
			goroutines = v
		case "latchkey_outbox_backlog":
			backlog = v
		}
	}
	return
}

// series shows about n readings spread over the run, formatted by f.
func series(s []soakSample, n int, f func(soakSample) string) string {
	step := max(1, (len(s)+n-1)/n)
	var parts []string
	for i := 0; i < len(s); i += step {
		parts = append(parts, f(s[i]))
	}
	if (len(s)-1)%step != 0 {
		parts = append(parts, f(s[len(s)-1]))
	}
	return fmt.Sprintf("%s (every %d s)", strings.Join(parts, " "), step)
}

// rssTrend compares the last third's mean with the middle third's (the
// first third is the warm-up: pools, caches and the heap filling) and
// gives the least-squares slope of the second half.
func rssTrend(s []soakSample) string {
	if len(s) < 6 {
		return fmt.Sprintf("too few samples (%d) for a trend", len(s))
	}
	mean := func(xs []soakSample) float64 {
		sum := 0.0
		for _, x := range xs {
			sum += float64(x.rss)
		}
		return sum / float64(len(xs))
	}
	n := len(s)
	mid, last := mean(s[n/3:2*n/3]), mean(s[2*n/3:])
	change := (last - mid) / mid
	// Slope of the second half, MB per minute.
	half := s[n/2:]
	var sx, sy, sxx, sxy float64
	for _, p := range half {
		x, y := p.at.Seconds(), float64(p.rss)/1e6
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	k := float64(len(half))
	slope := 0.0
	if den := k*sxx - sx*sx; den != 0 {
		slope = (k*sxy - sx*sy) / den * 60
	}
	what := "no growth trend"
	if change > 0.10 {
		what = "GROWTH"
	}
	return fmt.Sprintf("%s: last third mean %s vs middle third %s (%+.1f%%); second-half slope %+.2f MB/min",
		what, mb(int64(math.Round(last))), mb(int64(math.Round(mid))), 100*change, slope)
}

// statusList formats statuses like "200×812 503×40".
func statusList(m map[int]int) string {
	var parts []string
	for code := 100; code < 600; code++ {
		if n, ok := m[code]; ok {
			parts = append(parts, fmt.Sprintf("%d×%d", code, n))
		}
	}
	return strings.Join(parts, " ")
}

// scanServerLog counts the server's ERROR and WARN lines (text or JSON
// format) and returns the first few of them.
func scanServerLog(path string, keep int) (errorLines, warnLines int, first []string, err error) {
	f, err := os.Open(path) // #nosec G304 -- the server's log in the bench's own temp dir
	if err != nil {
		return 0, 0, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "level=ERROR") || strings.Contains(line, `"level":"ERROR"`):
			errorLines++
		case strings.Contains(line, "level=WARN") || strings.Contains(line, `"level":"WARN"`):
			warnLines++
		default:
			continue
		}
		if len(first) < keep {
			if len(line) > 600 {
				line = line[:600] + "…"
			}
			first = append(first, line)
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return errorLines, warnLines, first, err
	}
	return errorLines, warnLines, first, nil
}
