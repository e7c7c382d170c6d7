package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// which Linux fixes at 100 on every architecture Go runs on (sysconf's
// _SC_CLK_TCK, without cgo).
const clockTick = 10 * time.Millisecond

// parseStatCPU returns utime + stime, in clock ticks, from the text of
// /proc/PID/stat. The second field (the command name, in parentheses) may
// hold spaces and parentheses itself, so the fields are counted from the
// last ')': utime and stime are fields 14 and 15 of the line, the 12th
// and 13th after it.
func parseStatCPU(stat []byte) (uint64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("/proc stat: no ')' after the command name")
	}
	fields := bytes.Fields(stat[end+1:])
	// fields[0] is the state (field 3), so field n is fields[n-3].
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(fields))
	}
	var ticks uint64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseUint(string(f), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: utime/stime %q: %w", f, err)
		}
		ticks += n
	}
	return ticks, nil
}

// cpuTime is the CPU time (user + system, every thread) a process has
// used so far.
func cpuTime(pid int) (time.Duration, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time: %w", err)
	}
	ticks, err := parseStatCPU(stat)
	if err != nil {
		return 0, err
	}
	return time.Duration(ticks) * clockTick, nil // #nosec G115 -- a process's ticks fit in an int64 of nanoseconds for 2,900 years
}

// perThousand is the CPU time per 1,000 requests (0 without requests).
func perThousand(cpu time.Duration, requests int) time.Duration {
	if requests <= 0 {
		return 0
	}
	return cpu * 1000 / time.Duration(requests)
}

// side is one kind of load in a set of alternating rounds: what it is
// called, what it sends and the status a request must get to count.
type side struct {
	what   string
	status int
	next   func(i int64) shot
}

// sideResult is a side's requests over all rounds and the CPU time the
// server process used while they ran.
type sideResult struct {
	loadResult
	status int // the side's, answers that count
	cpu    time.Duration
}

// cpuPerThousand is the server's CPU time per 1,000 answers of the
// side's status.
func (s sideResult) cpuPerThousand() time.Duration {
	return perThousand(s.cpu, s.count(s.status))
}

// add adds one round's requests and CPU time.
func (s *sideResult) add(r loadResult, cpu time.Duration) {
	s.samples, s.failed = append(s.samples, r.samples...), append(s.failed, r.failed...)
	s.elapsed, s.errors, s.cpu = s.elapsed+r.elapsed, s.errors+r.errors, s.cpu+cpu
	s.lastErr = firstErr(s.lastErr, r.lastErr)
}

// cpuRounds loads the sides one after the other from workers connections
// for d each, rounds times (after a warm-up of each), and reads pid's CPU
// time (utime + stime from /proc) before and after every round, so that
// each side is charged the server's CPU of its own rounds only. The
// rounds alternate so that a neighbour's burst on a shared machine
// weighs on every side alike. pid ≤ 0: CPU is not read.
func cpuRounds(ctx context.Context, hc *http.Client, pid, workers, rounds int, warmup, d time.Duration, sides []side) ([]sideResult, error) {
	out := make([]sideResult, len(sides))
	for i := range sides {
		out[i].status = sides[i].status
	}
	for _, s := range sides {
		if warmup > 0 { // vegeta reads a zero duration as "forever"
			load(ctx, hc, workers, warmup, -1, s.next)
		}
	}
	for range rounds {
		for i, s := range sides {
			var before, after time.Duration
			var err error
			if pid > 0 {
				if before, err = cpuTime(pid); err != nil {
					return nil, err
				}
			}
			r := load(ctx, hc, workers, d, -1, s.next)
			if pid > 0 {
				if after, err = cpuTime(pid); err != nil {
					return nil, err
				}
			}
			out[i].add(r, after-before)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		}
	}
	for i, s := range sides {
		if err := out[i].check(s.what, s.status); err != nil {
			return nil, err
		}
	}
	return out, nil
}
