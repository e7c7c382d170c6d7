package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// sample is one request: when it ended, how long it took, its status and
// a tag the caller chose (known or unknown address, for example).
type sample struct {
	end    time.Time
	lat    time.Duration
	status int
	tag    int
}

// loadResult is everything a load run saw.
type loadResult struct {
	samples []sample
	errors  int
	lastErr error
	start   time.Time
	elapsed time.Duration // from start to the last request issued
}

// load runs fn from workers goroutines, issuing requests until d has
// passed, max requests have been issued (max < 0: no bound) or ctx ends.
// Requests in flight at the deadline are finished, not cancelled, so no
// work is thrown away; steady() cuts the ramps off. fn gets a sequence
// number unique across workers and returns its tag, status and error.
func load(ctx context.Context, workers int, d time.Duration, max int64, fn func(ctx context.Context, i int64) (tag, status int, err error)) loadResult {
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	res := loadResult{start: time.Now()}
	deadline := res.start.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []sample
			var errs int
			var lastErr error
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if max >= 0 && i >= max {
					break
				}
				t0 := time.Now()
				tag, status, err := fn(ctx, i)
				t1 := time.Now()
				if err != nil {
					if ctx.Err() != nil {
						break // interrupted: not a failure of the server
					}
					errs++
					lastErr = err
					continue
				}
				mine = append(mine, sample{end: t1, lat: t1.Sub(t0), status: status, tag: tag})
			}
			mu.Lock()
			res.samples = append(res.samples, mine...)
			res.errors += errs
			if lastErr != nil {
				res.lastErr = lastErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = min(time.Since(res.start), d)
	return res
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
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d×%d", k, m[k]))
	}
	if r.errors > 0 {
		parts = append(parts, fmt.Sprintf("errors×%d", r.errors))
	}
	return strings.Join(parts, " ")
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

func send(hc *http.Client, req *http.Request) (int, []byte, http.Header, error) {
	req.Header.Set("User-Agent", "latchkey-bench/1")
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
