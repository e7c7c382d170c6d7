package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, c := range []struct {
		name, stat string
		want       uint64
	}{
		// A real line (fields 14 and 15: utime 1234, stime 567).
		{"plain", "4242 (latchkey-bench) S 1 4242 4242 0 -1 4194560 1510 0 0 0 1234 567 0 0 20 0 9 0 123 1000 200 18446744073709551615\n", 1801},
		// The command name may hold spaces and parentheses.
		{"odd name", "7 (a) b (c) R 1 7 7 0 -1 0 0 0 0 0 10 20 0 0 20 0 1 0 5 0 0\n", 30},
	} {
		got, err := parseStatCPU([]byte(c.stat))
		if err != nil || got != c.want {
			t.Errorf("%s: parseStatCPU = %d, %v; want %d", c.name, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "12 no-parens S 1", "1 (x) S 1 2 3", "1 (x) S 1 2 3 4 5 6 7 8 9 10 x 12 13"} {
		if got, err := parseStatCPU([]byte(bad)); err == nil {
			t.Errorf("parseStatCPU(%q) = %d, want an error", bad, got)
		}
	}
}

func TestCPUTimeOfThisProcessGrows(t *testing.T) {
	before, err := cpuTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Burn at least two clock ticks of CPU (not of wall-clock time).
	x := uint64(1)
	for after := before; after < before+2*clockTick; {
		for range 1 << 20 {
			x = x*6364136223846793005 + 1442695040888963407
		}
		if after, err = cpuTime(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	loopSink.Add(x)
}

func TestPerThousand(t *testing.T) {
	if got := perThousand(50*time.Millisecond, 2500); got != 20*time.Millisecond {
		t.Errorf("perThousand(50ms, 2500) = %s, want 20ms", got)
	}
	if got := perThousand(time.Second, 0); got != 0 {
		t.Errorf("perThousand(1s, 0) = %s, want 0", got)
	}
}

// TestCPURoundsKeepsSidesApart loads two handlers in alternating rounds
// and checks that each side's answers are filed under it, and that a side
// whose requests do not get its status is an error.
func TestCPURoundsKeepsSidesApart(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/no" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	hc := newClient(2)
	sides := []side{
		{what: "yes", status: http.StatusOK, next: func(int64) shot { return getShot(srv.URL+"/yes", nil, 0) }},
		{what: "no", status: http.StatusUnauthorized, next: func(int64) shot { return getShot(srv.URL+"/no", nil, 0) }},
	}
	res, err := cpuRounds(t.Context(), hc, os.Getpid(), 2, 2, 10*time.Millisecond, 50*time.Millisecond, sides)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if n := r.count(sides[i].status); n == 0 || n != len(r.samples) {
			t.Errorf("%s: %d of %d answers %d (%s)", sides[i].what, n, len(r.samples), sides[i].status, r.statuses())
		}
		if r.cpu < 0 {
			t.Errorf("%s: CPU %s", sides[i].what, r.cpu)
		}
	}
	sides[1].status = http.StatusOK
	if _, err := cpuRounds(t.Context(), hc, os.Getpid(), 2, 1, 0, 20*time.Millisecond, sides); err == nil {
		t.Error("a side answered 401 where 200 was expected: no error")
	}
}
