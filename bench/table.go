package main

import (
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// row is one line of the table. baseline and latchkey are measured in the
// same run; ratio is latchkey ÷ baseline; context holds absolute
// percentiles and whatever explains the figure.
type row struct {
	metric, baseline, latchkey, ratio, target, result, context string
}

func printTable(w io.Writer, rows []row) {
	cells := func(r row) []string {
		return []string{r.metric, r.baseline, r.latchkey, r.ratio, r.target, r.result, r.context}
	}
	grid := make([][]string, 0, len(rows))
	for _, r := range rows {
		grid = append(grid, cells(r))
	}
	printGrid(w, []string{"metric", "baseline", "latchkey", "ratio", "target", "result", "context (p50/p99 etc.)"}, grid)
}

// printGrid prints a Markdown table with padded columns.
func printGrid(w io.Writer, header []string, rows [][]string) {
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	line := func(cs []string) {
		var sb strings.Builder
		sb.WriteString("|")
		for i, c := range cs {
			sb.WriteString(" " + c + strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)) + " |")
		}
		fmt.Fprintln(w, sb.String())
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", widths[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
}

func passIf(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	// Three decimals, so a ratio just under a target never prints as
	// equal to it.
	return fmt.Sprintf("%.3f×", a/b)
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 1:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.0f ms", v)
	}
}

// mb formats bytes in megabytes (10^6), the unit of the targets.
func mb[T int | int64](n T) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// mib formats bytes in mebibytes (argon2's m is in KiB).
func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }

// kb formats bytes in kilobytes (10^3).
func kb(n int) string { return fmt.Sprintf("%.1f KB", float64(n)/1e3) }

func reqs(rate float64) string {
	if rate < 100 {
		return fmt.Sprintf("%.1f/s", rate)
	}
	return fmt.Sprintf("%.0f/s", rate)
}
