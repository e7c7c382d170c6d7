package main

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// An enumeration test asks what an attacker asks: given the response
// times of requests for addresses that have an account and for addresses
// that do not, how well can a single latency threshold tell them apart?
// Ratios of medians or p99s say whether two distributions differ at one
// point, and a p99 of a few hundred samples moves with every neighbour's
// burst; the accuracy of the best threshold is what timing leaks, and
// 50 % (with as many of each class) is a coin toss.

// timed is one request of an enumeration run: how long its answer took
// and whether the address it named has an account.
type timed struct {
	lat   time.Duration
	known bool
}

// cut is a single-threshold classifier: it calls a request known when
// its latency is above at (knownAbove) or not above it (!knownAbove).
type cut struct {
	at         time.Duration
	knownAbove bool
}

// known is the cut's verdict on one latency.
func (c cut) known(lat time.Duration) bool { return (lat > c.at) == c.knownAbove }

// correct counts the requests of xs the cut labels right.
func (c cut) correct(xs []timed) int {
	n := 0
	for _, x := range xs {
		if c.known(x.lat) == x.known {
			n++
		}
	}
	return n
}

// String describes the cut as an attacker would apply it.
func (c cut) String() string {
	if c.knownAbove {
		return "known if > " + ms(c.at)
	}
	return "known if ≤ " + ms(c.at)
}

// bestCut sorts the latencies, tries every threshold (below all of them,
// and halfway between each pair of neighbouring distinct values) in both
// directions, and returns the cut that labels the most requests of xs
// right, with that number. Ties between equal latencies cannot be split,
// so equal latencies always get the same label.
func bestCut(xs []timed) (cut, int) {
	if len(xs) == 0 {
		return cut{}, 0
	}
	s := slices.Clone(xs)
	slices.SortFunc(s, func(a, b timed) int { return cmp.Compare(a.lat, b.lat) })
	knownTotal := 0
	for _, x := range s {
		if x.known {
			knownTotal++
		}
	}
	n := len(s)
	// k requests at or below the threshold, knownBelow of them known.
	best, bestRight := cut{at: s[0].lat - 1, knownAbove: true}, knownTotal
	if n-knownTotal > bestRight {
		best, bestRight = cut{at: s[0].lat - 1, knownAbove: false}, n-knownTotal
	}
	knownBelow := 0
	for k := 1; k <= n; k++ {
		if s[k-1].known {
			knownBelow++
		}
		if k < n && s[k].lat == s[k-1].lat {
			continue // a threshold here would split equal latencies
		}
		at := s[k-1].lat
		if k < n {
			at += (s[k].lat - s[k-1].lat) / 2
		}
		// Known above: the known ones above and the unknown ones below
		// are right; the other direction gets the rest right.
		right := (knownTotal - knownBelow) + (k - knownBelow)
		if right > bestRight {
			best, bestRight = cut{at: at, knownAbove: true}, right
		}
		if n-right > bestRight {
			best, bestRight = cut{at: at, knownAbove: false}, n-right
		}
	}
	return best, bestRight
}

// enumeration is what the attacker's test found in one run.
type enumeration struct {
	n int
	// heldOut counts the requests labelled right by a threshold chosen
	// on the other half of the run: the honest figure.
	heldOut int
	// inSample counts the requests labelled right by the best threshold
	// for the whole run, chosen on those very requests: optimistically
	// biased (with identical distributions it still beats 50 %, by about
	// 1/√n, since it picks the luckiest of n thresholds).
	inSample int
	best     cut
}

// enumerate runs the attacker's test on xs (in the order the requests
// were sent). The requests are split into two halves by alternation, so
// both halves span the run and see the same neighbours' load; the best
// threshold of each half labels the other half (two-fold
// cross-validation), and heldOut adds up both: every request is judged
// by a threshold that never saw it, and all n count towards the
// interval.
func enumerate(xs []timed) enumeration {
	var halves [2][]timed
	for i, x := range xs {
		halves[i%2] = append(halves[i%2], x)
	}
	e := enumeration{n: len(xs)}
	for h := range halves {
		c, _ := bestCut(halves[h])
		e.heldOut += c.correct(halves[1-h])
	}
	e.best, e.inSample = bestCut(xs)
	return e
}

// wilson is the Wilson score interval for k successes in n trials at z
// standard deviations (1.96: 95 %). Unlike p ± z·√(p(1−p)/n) it stays
// inside [0, 1] and keeps its coverage near 0 and 1 and for small n.
func wilson(k, n int, z float64) (lo, hi float64) {
	if n == 0 {
		return 0, 1
	}
	p, nf := float64(k)/float64(n), float64(n)
	d := 1 + z*z/nf
	centre := (p + z*z/(2*nf)) / d
	half := z / d * math.Sqrt(p*(1-p)/nf+z*z/(4*nf*nf))
	return max(centre-half, 0), min(centre+half, 1)
}

// z95 is the standard normal quantile of a two-sided 95 % interval.
const z95 = 1.959963984540054

// enumOrder returns the classes of n requests, half of them known (the
// odd one out, if n is odd, unknown), in random order, and for each
// request the index of its address within its class, so each address is
// used once.
func enumOrder(n int) (known []bool, idx []int) {
	known = make([]bool, n)
	for i := range n / 2 {
		known[i] = true
	}
	// #nosec G404 -- the order of the bench's requests; nothing secret.
	rand.Shuffle(n, func(i, j int) { known[i], known[j] = known[j], known[i] })
	idx = make([]int, n)
	var next [2]int
	for i, k := range known {
		c := 0
		if k {
			c = 1
		}
		idx[i] = next[c]
		next[c]++
	}
	return known, idx
}

// timings returns the answers of an enumeration run in the order their
// requests were sent, labelled by their tags (tagKnown: an address with
// an account).
func timings(r loadResult) []timed {
	s := slices.Clone(r.samples)
	slices.SortFunc(s, func(a, b sample) int { return cmp.Compare(a.i, b.i) })
	xs := make([]timed, len(s))
	for i, x := range s {
		xs[i] = timed{lat: x.lat, known: x.tag == tagKnown}
	}
	return xs
}

// Tags of enumeration requests.
const (
	tagKnown   = 0
	tagUnknown = 1
)

// pct formats a fraction as a percentage.
func pct(f float64) string { return fmt.Sprintf("%.1f %%", 100*f) }

// enumRow is the table row of an enumeration run: the held-out accuracy
// against chance, its interval, the in-sample best, and the medians and
// p99s of either class for context. The target is met when the accuracy
// is at most 55 %; the context says whether the interval's upper bound
// is below that too (with n in the thousands it is, for a server that
// leaks nothing).
func enumRow(metric string, xs []timed, extra string) row {
	const target = 0.55
	e := enumerate(xs)
	acc := float64(e.heldOut) / float64(e.n)
	lo, hi := wilson(e.heldOut, e.n, z95)
	var kn, un []time.Duration
	for _, x := range xs {
		if x.known {
			kn = append(kn, x.lat)
		} else {
			un = append(un, x.lat)
		}
	}
	below := "also ≤ 55 %"
	if hi > target {
		below = "above 55 %: too few requests to rule a leak out"
	}
	k50, u50, k99, u99 := percentile(kn, 50), percentile(un, 50), percentile(kn, 99), percentile(un, 99)
	context := fmt.Sprintf("threshold chosen on one half, accuracy on the other (both ways); 95 %% CI %s–%s (Wilson, n=%d; upper bound %s); in-sample best %s (%s; optimistic: chosen on the same requests); known/unknown p50 %s/%s (%s), p99 %s/%s (%s)",
		pct(lo), pct(hi), e.n, below, pct(float64(e.inSample)/float64(e.n)), e.best,
		ms(k50), ms(u50), ratio(k50.Seconds(), u50.Seconds()), ms(k99), ms(u99), ratio(k99.Seconds(), u99.Seconds()))
	if extra != "" {
		context += "; " + extra
	}
	return row{metric: fmt.Sprintf("%s (%d+%d)", metric, len(kn), len(un)), baseline: "50.0 % chance", latchkey: pct(acc),
		ratio: ratio(acc, 0.5), target: "≤ 55.0 %", result: passIf(acc <= target), context: context}
}
