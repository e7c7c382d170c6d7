package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// revokePoll is how often the other instance is asked while the bench
// waits for it to refuse a revoked session: the figures' resolution.
const revokePoll = 2 * time.Millisecond

// revokeLimit is how long the bench waits for a refusal (or, before the
// revocation, for the other instance to accept a new session).
const revokeLimit = 10 * time.Second

// revocation measures how long a session ended on one instance (A, the
// server of the other phases) is still accepted by another (B, a second
// server on the same Postgres database): for each of n sessions, sign in
// on A, check on B until it answers 200, sign out on A, then check on B
// every revokePoll until it refuses; the time is from the sign-out
// request's start to the first refusal. The very next check on A is
// recorded too (SPEC §7: refused at once on the instance that ended it).
func (b *bench) revocation(ctx context.Context, srv *proc, known, _ []string) ([]row, error) {
	n := 100
	if b.opts.smoke {
		n = 3
	}
	metric := fmt.Sprintf("revocation → refusal on another instance (n=%d)", n)
	if !strings.HasPrefix(envValue(srv.env, "DATABASE_URL"), "postgres") {
		return []row{{metric: metric, baseline: "—", latchkey: "—", ratio: "—", target: "max < 1 s", result: "skip",
			context: "Postgres only: instances share a database server"}}, nil
	}
	hc := newClient(2)
	if err := checkVerify(ctx, hc, srv.url, ""); errors.Is(err, errNoVerify) {
		return []row{b.missingRow(metric, err.Error())}, nil
	} else if err != nil {
		return nil, err
	}
	b.progress("revocation: %d sessions signed in and out on one server, refusal polled every %s on a second server on the same database", n, revokePoll)
	other, err := startProc(ctx, srv.bin, srv.dir, twinEnv(srv.env), "other.log")
	if err != nil {
		return nil, err
	}
	defer func() { _ = other.stop() }()

	var times []time.Duration
	refusedAtOnce := 0
	for i := range n {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		email := known[i%len(known)]
		ip := b.ips.next()
		cookie, err := signInCookie(ctx, hc, srv.url, email, ip)
		if err != nil {
			return nil, err
		}
		h := verifyHeader(cookie, ip)
		if _, err := pollVerify(ctx, hc, other.url, h, http.StatusOK); err != nil {
			return nil, fmt.Errorf("the other instance never accepted a new session: %w", err)
		}
		t0 := time.Now()
		if err := signOut(ctx, hc, srv.url, cookie, ip); err != nil {
			return nil, err
		}
		status, err := verifyStatus(ctx, hc, srv.url, h)
		if err != nil {
			return nil, err
		}
		if status == http.StatusUnauthorized {
			refusedAtOnce++
		}
		at, err := pollVerify(ctx, hc, other.url, h, http.StatusUnauthorized)
		if err != nil {
			return nil, fmt.Errorf("the other instance still accepts a signed-out session: %w", err)
		}
		times = append(times, at.Sub(t0))
	}
	worst := percentile(times, 100)
	return []row{{metric: metric, baseline: "1000 ms bound", latchkey: ms(worst) + " max", ratio: ratio(worst.Seconds(), 1),
		target: "max < 1 s", result: passIf(worst < time.Second && refusedAtOnce == n),
		context: fmt.Sprintf("p50/p99/max %s/%s/%s, from the sign-out request on A to B's first 401, B polled every %s; the very next check on A refused %d/%d",
			ms(percentile(times, 50)), ms(percentile(times, 99)), ms(worst), revokePoll, refusedAtOnce, n)}}, nil
}

// pollVerify checks every revokePoll until the answer is want and returns
// when that answer arrived; after revokeLimit it gives up.
func pollVerify(ctx context.Context, hc *http.Client, base string, h http.Header, want int) (time.Time, error) {
	deadline := time.Now().Add(revokeLimit)
	last := 0
	for {
		status, err := verifyStatus(ctx, hc, base, h)
		if err != nil {
			return time.Time{}, err
		}
		if status == want {
			return time.Now(), nil
		}
		last = status
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("GET /auth/verify still %d after %s, want %d", last, revokeLimit, want)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(revokePoll):
		}
	}
}

// twinEnv is a server's environment without what belongs to that one
// process (profiles, the bare listener), for a second instance.
func twinEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "LATCHKEY_") || strings.HasPrefix(kv, "LATCHKEY_BENCH_ASSETS=") {
			out = append(out, kv)
		}
	}
	return out
}
