package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// sample is one answered request: when it ended, how long it took, its
// status, its sequence number in the run and the tag its shot carried.
type sample struct {
	end    time.Time
	lat    time.Duration
	status int
	i      int64
	tag    int
	// setCookie: the answer set a cookie.
	setCookie bool
}

// loadResult is everything a load run saw.
type loadResult struct {
	samples []sample
	failed  []sample // transport errors (status 0), for their tags
	errors  int
	lastErr error
	start   time.Time
	elapsed time.Duration // from start to the last request issued
}

// shot is one request of a load run and the tag its answer is filed
// under (known or unknown address, a route, …).
type shot struct {
	method, url string
	header      http.Header
	body        []byte
	tag         int
}

// getShot is a GET of u with these headers (nil: the User-Agent only;
// the map is shared, not copied, so build it once per run).
func getShot(u string, header http.Header, tag int) shot {
	if header == nil {
		header = benchHeader
	}
	return shot{method: http.MethodGet, url: u, header: header, tag: tag}
}

// benchHeader is what every request of the bench carries.
var benchHeader = http.Header{"User-Agent": {userAgent}}

// formShot posts a urlencoded form from a simulated client address.
func formShot(u string, form url.Values, clientIP string, tag int) shot {
	return shot{method: http.MethodPost, url: u, body: []byte(form.Encode()), tag: tag, header: http.Header{
		"Content-Type":    {"application/x-www-form-urlencoded"},
		"X-Forwarded-For": {clientIP},
		"User-Agent":      {userAgent},
	}}
}

// load sends the shots next(0), next(1), … with vegeta's attacker from
// workers connections, each sending its next request as soon as its last
// was answered (a closed loop: the server's throughput at this
// concurrency), until d has passed, max requests have been sent (max < 0:
// no bound) or ctx ends. Requests in flight at the deadline are finished,
// not cancelled, so no work is thrown away; steady() cuts the ramps off.
func load(ctx context.Context, hc *http.Client, workers int, d time.Duration, max int64, next func(i int64) shot) loadResult {
	return loadPaced(ctx, hc, workers, vegeta.Rate{}, d, max, next)
}

// burstPacer sends its first burst requests at once, as a closed loop of
// that many workers does when it starts, and then paces the rest as then
// does (counting from the end of the burst).
type burstPacer struct {
	burst uint64
	then  vegeta.Rate
}

// Pace implements vegeta.Pacer.
func (p burstPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits < p.burst {
		return 0, false
	}
	return p.then.Pace(elapsed, hits-p.burst)
}

// Rate implements vegeta.Pacer (vegeta reads it only for its reports).
func (p burstPacer) Rate(elapsed time.Duration) float64 { return p.then.Rate(elapsed) }

// loadPaced is load at the pace p sets (an open loop, whatever the
// answers take: vegeta.Rate for a constant rate, burstPacer for a burst
// first; the zero vegeta.Rate is load's closed loop), with up to workers
// requests in flight.
func loadPaced(ctx context.Context, hc *http.Client, workers int, pacer vegeta.Pacer, d time.Duration, max int64, next func(i int64) shot) loadResult {
	var n atomic.Int64
	targeter := func(t *vegeta.Target) error {
		i := n.Add(1) - 1
		if (max >= 0 && i >= max) || ctx.Err() != nil {
			return vegeta.ErrNoTargets
		}
		s := next(i)
		t.Method, t.Header, t.Body = s.method, s.header, s.body
		// The fragment is never sent; it names the request in its result.
		t.URL = s.url + "#" + strconv.FormatInt(i, 10) + "." + strconv.Itoa(s.tag)
		return nil
	}
	// Workers and MaxWorkers alike: exactly this many requests in flight
	// at most. MaxBody(0): answers are drained, not kept.
	if workers < 1 {
		workers = 1
	}
	n64 := uint64(workers) // #nosec G115 -- at least 1, at most a few hundred
	atk := vegeta.NewAttacker(vegeta.Client(hc), vegeta.Workers(n64), vegeta.MaxWorkers(n64), vegeta.MaxBody(0))
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	res := loadResult{start: time.Now()}
	for r := range atk.Attack(targeter, pacer, d, "") {
		if r.Code == 0 && r.Error == vegeta.ErrNoTargets.Error() {
			continue // the end of a bounded run, not a request
		}
		s := sample{end: r.End(), lat: r.Latency, status: int(r.Code), setCookie: len(r.Headers["Set-Cookie"]) > 0}
		if _, frag, ok := strings.Cut(r.URL, "#"); ok {
			is, tag, _ := strings.Cut(frag, ".")
			s.i, _ = strconv.ParseInt(is, 10, 64)
			s.tag, _ = strconv.Atoi(tag)
		}
		if r.Code == 0 {
			if ctx.Err() != nil {
				continue // interrupted: not a failure of the server
			}
			res.errors++
			res.lastErr = errors.New(r.Error)
			res.failed = append(res.failed, s)
			continue
		}
		res.samples = append(res.samples, s)
	}
	res.elapsed = min(time.Since(res.start), d)
	return res
}

// parallel runs fn from n goroutines, each calling it again as soon as
// it returns, for d; it returns the calls finished per second. (For
// work that is not a request: argon2id hashes in this process.)
func parallel(n int, d time.Duration, fn func()) float64 {
	var done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Go(func() {
			for time.Since(start) < d {
				fn()
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

// steady keeps the requests that ended between warmup after the start and
// the deadline: the steady state, without the ramp-up (all workers
// starting at once) and the wind-down (requests finishing after the last
// was issued).
func (r loadResult) steady(warmup time.Duration) loadResult {
	from, to := r.start.Add(warmup), r.start.Add(r.elapsed)
	out := loadResult{errors: r.errors, lastErr: r.lastErr, start: from, elapsed: to.Sub(from)}
	for _, s := range r.samples {
		if !s.end.Before(from) && !s.end.After(to) {
			out.samples = append(out.samples, s)
		}
	}
	return out
}

// rate is the number of answers with this status per second.
func (r loadResult) rate(status int) float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.count(status)) / r.elapsed.Seconds()
}

// latencies returns the latencies of samples with this status (0: any)
// and tag (-1: any).
func (r loadResult) latencies(status, tag int) []time.Duration {
	var out []time.Duration
	for _, s := range r.samples {
		if (status == 0 || s.status == status) && (tag < 0 || s.tag == tag) {
			out = append(out, s.lat)
		}
	}
	return out
}

// count returns how many samples had this status.
func (r loadResult) count(status int) int {
	n := 0
	for _, s := range r.samples {
		if s.status == status {
			n++
		}
	}
	return n
}

// statuses summarises the statuses seen, like "303×812 503×40".
func (r loadResult) statuses() string {
	m := map[int]int{}
	for _, s := range r.samples {
		m[s.status]++
	}
	out := statusList(m)
	if r.errors > 0 {
		out = strings.TrimSpace(out + fmt.Sprintf(" errors×%d", r.errors))
	}
	return out
}

// check fails a run that saw no expected answer or any transport error:
// the machinery, not the product, is then broken.
func (r loadResult) check(what string, want int) error {
	if r.errors > 0 {
		return fmt.Errorf("%s: %d transport errors, last: %w", what, r.errors, r.lastErr)
	}
	if r.count(want) == 0 {
		return fmt.Errorf("%s: no %d answer (%s)", what, want, r.statuses())
	}
	return nil
}

// percentile returns the p-th percentile (0–100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

// newClient returns a keep-alive HTTP client for conns concurrent
// requests that never follows redirects nor decompresses (so sizes are
// what travelled).
func newClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns + 8,
		MaxIdleConnsPerHost: conns + 8,
		IdleConnTimeout:     60 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// get fetches a URL and drains the body (so the connection is reused).
func get(ctx context.Context, hc *http.Client, u string, header http.Header) (int, []byte, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	// net/http sends req.Host, never a Host header (vegeta does the same).
	if host := header.Get("Host"); host != "" {
		req.Host = host
	}
	return send(hc, req)
}

// postForm sends a urlencoded form from a simulated client address.
func postForm(ctx context.Context, hc *http.Client, u string, form url.Values, clientIP string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", clientIP)
	status, _, _, err := send(hc, req)
	return status, err
}

// userAgent names the bench in the server's logs.
const userAgent = "latchkey-bench/1"

func send(hc *http.Client, req *http.Request) (int, []byte, http.Header, error) {
	req.Header.Set("User-Agent", userAgent)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, body, resp.Header, nil
}

// clientIPs hands out a distinct simulated client address per request
// (10.0.0.0/8), so per-IP limits never see the same client twice.
type clientIPs struct{ n atomic.Uint32 }

func (c *clientIPs) next() string {
	n := c.n.Add(1)
	return fmt.Sprintf("10.%d.%d.%d", n>>16&0xff, n>>8&0xff, n&0xff)
}
