package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// TestBestCutSeparable: when every known request is slower than every
// unknown one, a threshold labels all of them right, in sample and held
// out, whichever class is the slow one.
func TestBestCutSeparable(t *testing.T) {
	for _, knownSlow := range []bool{true, false} {
		var xs []timed
		for i := range 1000 {
			known := i%3 == 0 // unbalanced on purpose, interleaved
			lat := time.Duration(100+i%97) * time.Millisecond
			if known == knownSlow {
				lat += 200 * time.Millisecond
			}
			xs = append(xs, timed{lat: lat, known: known})
		}
		c, right := bestCut(xs)
		if right != len(xs) {
			t.Errorf("knownSlow=%v: best cut %v labels %d of %d right, want all", knownSlow, c, right, len(xs))
		}
		if c.knownAbove != knownSlow {
			t.Errorf("knownSlow=%v: best cut %v points the wrong way", knownSlow, c)
		}
		e := enumerate(xs)
		if e.heldOut != len(xs) || e.inSample != len(xs) || e.n != len(xs) {
			t.Errorf("knownSlow=%v: enumerate = %+v, want all %d right held out and in sample", knownSlow, e, len(xs))
		}
	}
}

// TestBestCutIdentical: with both classes drawn from the same
// distribution (a fixed seed, so the figures are deterministic), the
// held-out accuracy is a coin toss and the in-sample best only a little
// better (its optimism).
func TestBestCutIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	xs := make([]timed, 2000)
	for i := range xs {
		// Jittered, with ties (whole 10 µs steps), like real timings.
		lat := 100*time.Millisecond + time.Duration(r.NormFloat64()*300)*10*time.Microsecond
		xs[i] = timed{lat: lat, known: i < len(xs)/2}
	}
	r.Shuffle(len(xs), func(i, j int) { xs[i].known, xs[j].known = xs[j].known, xs[i].known })
	e := enumerate(xs)
	held, in := float64(e.heldOut)/float64(e.n), float64(e.inSample)/float64(e.n)
	t.Logf("identical distributions, n=%d: held out %.3f, in sample %.3f (%v)", e.n, held, in, e.best)
	if held < 0.46 || held > 0.54 {
		t.Errorf("held-out accuracy %.3f with identical distributions, want ≈ 0.5", held)
	}
	if in < 0.5 || in > 0.54 {
		t.Errorf("in-sample accuracy %.3f with identical distributions, want in [0.5, 0.54]", in)
	}

	// Identical latencies cannot be told apart at all.
	same := []timed{{time.Millisecond, true}, {time.Millisecond, false}, {time.Millisecond, true}, {time.Millisecond, false}}
	if _, right := bestCut(same); right != 2 {
		t.Errorf("equal latencies: %d of 4 right, want 2", right)
	}
}

// TestBestCutSweep checks the sweep on a small case worked by hand: the
// best cut needs the direction with known requests fast.
func TestBestCutSweep(t *testing.T) {
	xs := []timed{
		{1 * time.Millisecond, true}, {2 * time.Millisecond, true}, {3 * time.Millisecond, false},
		{4 * time.Millisecond, true}, {5 * time.Millisecond, false}, {6 * time.Millisecond, false},
	}
	c, right := bestCut(xs)
	// ≤ 2.5 ms known: 5 of 6 (the 4 ms one is wrong); ≤ 4.5 ms known:
	// also 5 of 6; the first found is kept.
	if right != 5 || c.knownAbove || c.at != 2500*time.Microsecond {
		t.Errorf("bestCut = %v, %d right; want known if ≤ 2.50 ms, 5 right", c, right)
	}
	if got := c.correct(xs); got != right {
		t.Errorf("correct = %d, bestCut said %d", got, right)
	}
}

// TestWilson compares the interval with values computed independently
// (the closed form evaluated in Python; 81 of 263 is the worked example
// in Newcombe's 1998 comparison of intervals).
func TestWilson(t *testing.T) {
	for _, c := range []struct {
		k, n   int
		lo, hi float64
	}{
		{81, 263, 0.2552885198782742, 0.36620957698280004},
		{50, 100, 0.4038315303659956, 0.5961684696340044},
		{0, 10, 0, 0.2775327998628892},
		{520, 1000, 0.4890177246575191, 0.5508292050030589},
	} {
		t.Run(fmt.Sprintf("%d of %d", c.k, c.n), func(t *testing.T) {
			lo, hi := wilson(c.k, c.n, z95)
			if math.Abs(lo-c.lo) > 1e-9 || math.Abs(hi-c.hi) > 1e-9 {
				t.Errorf("wilson(%d, %d) = %.6f–%.6f, want %.6f–%.6f", c.k, c.n, lo, hi, c.lo, c.hi)
			}
		})
	}
}

// TestEnumOrder: half the requests are known, each address of either
// class is used exactly once.
func TestEnumOrder(t *testing.T) {
	known, idx := enumOrder(101)
	seen := map[bool]map[int]bool{true: {}, false: {}}
	for i, k := range known {
		if seen[k][idx[i]] {
			t.Fatalf("address %d of class known=%v used twice", idx[i], k)
		}
		seen[k][idx[i]] = true
	}
	if len(seen[true]) != 50 || len(seen[false]) != 51 {
		t.Errorf("%d known and %d unknown, want 50 and 51", len(seen[true]), len(seen[false]))
	}
	for k, s := range seen {
		for i := range len(s) {
			if !s[i] {
				t.Errorf("known=%v: index %d unused (indices not 0…n-1)", k, i)
			}
		}
	}
}
