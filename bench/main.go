// Command bench measures Latchkey side by side with floors measured in the
// same run, and prints one table per database:
//
//	go run ./bench                  # SQLite
//	go run ./bench -postgres        # SQLite, then Postgres (TEST_DATABASE_URL)
//	go run ./bench -smoke           # a few seconds: checks the machinery only
//	go run ./bench -cpuprofile cpu.pprof -memprofile mem.pprof
//	go run ./bench -soak [-postgres] [-duration 60s] [-concurrency N]
//	go run ./bench -soak -smoke     # a 5 s soak (CI)
//
// It builds the real binary as the Dockerfile does (CGO_ENABLED=0 go
// build -trimpath -ldflags='-s -w'), starts it with an SMTP sink running
// in this process, drives it over HTTP with keep-alive clients, and
// compares every figure with a baseline: a bare Echo server (in this
// process for throughput, as its own binary for size, start-up and
// memory), a direct SMTP send, HASH_CONCURRENCY goroutines hashing with
// argon2id in this process, chance (for an attacker's best latency
// threshold telling addresses with an account from those without). The machine is shared, so
// absolute numbers are noisy; ratios taken in the same run much less so.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey-auth/latchkey/bench/internal/bare"
)

// options are the command-line flags.
type options struct {
	postgres   bool
	duration   time.Duration
	smoke      bool
	strict     bool
	cpuProfile string
	memProfile string
	serverEnv  envList
	only       map[string]bool // load phases to run; empty: all
	// soak: one server, sign-ins, forgot-password and page views at once
	// for duration (see soak.go); postgres then means Postgres only.
	soak        bool
	concurrency int
}

// envList collects repeated -server-env KEY=VALUE flags.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }
func (e *envList) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

// plan sizes a run: the full one, or the smoke run CI uses to check that
// every phase works.
type plan struct {
	freshRuns, coldRuns int
	// enumRequests is the number of requests of each enumeration test
	// (forgot-password, sign-in), half of them for seeded accounts, each
	// address used once (well within the hourly allowances of reset
	// mails and of free failed sign-ins per address); enumRequests
	// accounts are seeded, half for either test.
	enumRequests int
	emailSamples int
	hashSamples  int
	duration     time.Duration // each throughput phase
	signIn       time.Duration // each sign-in phase (hashes are slow)
	warmup       time.Duration
	rounds       int // baseline/latchkey alternations for page and sign-in throughput
	rssRounds    int // flood/base pairs for peak RSS
	settle       time.Duration
	rssWorkers   int
}

// defaultHashConcurrency is HASH_CONCURRENCY for the server under test
// (Latchkey's default, one per CPU, set explicitly so the memory bound is
// known); -server-env HASH_CONCURRENCY=N overrides it.
var defaultHashConcurrency = runtime.GOMAXPROCS(0)

func main() {
	var o options
	flag.BoolVar(&o.postgres, "postgres", false, "also run on Postgres (TEST_DATABASE_URL or "+defaultPostgresURL+"); a throwaway database is created and dropped")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each throughput phase (-soak: of the whole run, default 60s)")
	flag.BoolVar(&o.smoke, "smoke", false, "a few seconds' run that checks the machinery, not the targets (CI)")
	flag.BoolVar(&o.strict, "strict", false, "exit 3 when a target fails")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write the server's CPU profile to `file` (the server is built with -tags pprof)")
	flag.StringVar(&o.memProfile, "memprofile", "", "write the server's allocation profile to `file`")
	flag.Var(&o.serverEnv, "server-env", "extra `KEY=VALUE` for the server under test, after the bench's own (repeatable; for experiments such as GOMEMLIMIT or HASH_CONCURRENCY)")
	flag.BoolVar(&o.soak, "soak", false, "soak: sign-ins, forgot-password and page views at once against one server for -duration (default 60s; -smoke: 5s), on SQLite or, with -postgres, Postgres; fails on any 5xx")
	flag.IntVar(&o.concurrency, "concurrency", 4*runtime.NumCPU(), "soak: workers per kind of traffic (sign-ins at most 4 × HASH_CONCURRENCY)")
	only := flag.String("only", "", "run only these load `phases` (comma-separated: "+strings.Join(phaseNames, ",")+"), to profile one")
	flag.Parse()
	if o.soak {
		durationSet := false
		flag.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
		switch {
		case o.smoke:
			o.duration = 5 * time.Second
		case !durationSet:
			o.duration = 60 * time.Second
		}
		if o.concurrency < 1 || o.duration <= 0 {
			fmt.Fprintln(os.Stderr, "bench: -soak needs -concurrency ≥ 1 and a positive -duration")
			os.Exit(2)
		}
	}
	if *only != "" {
		o.only = map[string]bool{}
		for _, name := range strings.Split(*only, ",") {
			if !slices.Contains(phaseNames, name) {
				fmt.Fprintf(os.Stderr, "bench: -only: unknown phase %q (want %s)\n", name, strings.Join(phaseNames, ","))
				os.Exit(2)
			}
			o.only[name] = true
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, o, os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) (int, error) {
	p := plan{freshRuns: 5, coldRuns: 10, enumRequests: 1000, emailSamples: 100, hashSamples: 15,
		duration: o.duration, signIn: o.duration, warmup: min(o.duration/5, time.Second), rounds: 3, rssRounds: 5, settle: 2 * time.Second, rssWorkers: 200}
	if o.smoke {
		p = plan{freshRuns: 1, coldRuns: 2, enumRequests: 40, emailSamples: 5, hashSamples: 2,
			duration: 300 * time.Millisecond, signIn: time.Second, warmup: 300 * time.Millisecond, rounds: 1, rssRounds: 1, settle: 200 * time.Millisecond, rssWorkers: 20}
	}
	root, benchDir, err := moduleRoot()
	if err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp("", "latchkey-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)

	b := &bench{opts: o, plan: p, root: root, benchDir: benchDir, tmp: tmp, log: stderr, hashConcurrency: defaultHashConcurrency}
	for _, kv := range o.serverEnv {
		if v, ok := strings.CutPrefix(kv, "HASH_CONCURRENCY="); ok {
			if _, err := fmt.Sscan(v, &b.hashConcurrency); err != nil || b.hashConcurrency < 1 {
				return 0, fmt.Errorf("-server-env %s: not a positive number", kv)
			}
		}
	}
	if err := b.build(ctx); err != nil {
		return 0, err
	}
	if b.sink, err = startSink(); err != nil {
		return 0, err
	}
	defer b.sink.close()
	if o.soak {
		return b.soak(ctx, stdout)
	}
	bareURL, closeBare, err := startBareInProcess()
	if err != nil {
		return 0, err
	}
	defer closeBare()
	b.bareURL = bareURL

	dialects := []string{"sqlite"}
	if o.postgres {
		dialects = append(dialects, "postgres")
	}
	failed := false
	for _, d := range dialects {
		load0 := loadAverage()
		rows, err := b.runDialect(ctx, d)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", d, err)
		}
		fmt.Fprintf(stdout, "\nLatchkey bench: %s · %s %s/%s · %d CPUs · load average %s → %s · %s\n",
			d, runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), load0, loadAverage(), p.describe(o.smoke))
		printTable(stdout, rows)
		for _, r := range rows {
			failed = failed || r.result == "FAIL"
		}
	}
	if o.cpuProfile != "" || o.memProfile != "" {
		fmt.Fprintln(stdout, "\nProfiles of the server process (read with go tool pprof -top FILE, or -http=:8000 FILE):")
		for _, d := range dialects {
			for _, f := range []string{o.cpuProfile, o.memProfile} {
				if f != "" {
					fmt.Fprintln(stdout, "  "+profilePath(f, d))
				}
			}
		}
	}
	if o.smoke {
		fmt.Fprintln(stdout, "\nsmoke run: every phase ran; figures from so short a run are not meaningful")
		return 0, nil
	}
	if failed && o.strict {
		return 3, nil
	}
	return 0, nil
}

func (p plan) describe(smoke bool) string {
	if smoke {
		return "SMOKE RUN (figures meaningless)"
	}
	return fmt.Sprintf("%s per throughput phase", p.duration)
}

// bench is one run's shared state.
type bench struct {
	opts options
	plan plan
	root string // the repository: the product module
	// benchDir is this module (bench/): the bare floor and the bench's
	// server are built from it.
	benchDir string
	tmp      string
	log      io.Writer
	bin      string // release build, measured for size, start-up and idle RSS
	server   string // binary for the load phases: bench/server (or the release build)
	bare     string // bare Echo binary, the floor for size, start-up and RSS
	bareURL  string // bare Echo handler in this (the bench's) process, for context
	sink     *sink
	ips      clientIPs
	// hashConcurrency is the server's HASH_CONCURRENCY.
	hashConcurrency int
}

func (b *bench) progress(format string, args ...any) {
	fmt.Fprintf(b.log, "· "+format+"\n", args...)
}

func (b *bench) build(ctx context.Context) error {
	b.bin = filepath.Join(b.tmp, "latchkey")
	if b.opts.soak {
		b.progress("building latchkey (CGO_ENABLED=0 go build -trimpath -ldflags='-s -w', as the Dockerfile does)")
		if err := goBuild(ctx, b.root, b.bin, ".", "-ldflags=-s -w"); err != nil {
			return err
		}
	} else {
		b.progress("building latchkey and the bare Echo baseline (CGO_ENABLED=0 go build -trimpath -ldflags='-s -w', as the Dockerfile does)")
		b.bare = filepath.Join(b.tmp, "bare")
		if err := goBuild(ctx, b.root, b.bin, ".", "-ldflags=-s -w"); err != nil {
			return err
		}
		if err := goBuild(ctx, b.benchDir, b.bare, "./bare", "-ldflags=-s -w"); err != nil {
			return err
		}
	}
	// The load phases run bench/server: the product's serve path
	// (app.Serve) with the page-throughput floor on a second listener of
	// the same process and, when profiling, runtime/pprof. The soak needs
	// neither and runs the release build unless it is profiled.
	profiling := b.opts.cpuProfile != "" || b.opts.memProfile != ""
	if b.opts.soak && !profiling {
		b.server = b.bin
		return nil
	}
	flags := "-ldflags=-s -w"
	if profiling {
		flags = "-ldflags=" // symbols kept for pprof
	}
	b.server = filepath.Join(b.tmp, "latchkey-bench")
	b.progress("building the load-phase server (bench/server %s)", flags)
	return goBuild(ctx, b.benchDir, b.server, "./server", flags)
}

// startBareInProcess serves the bare Echo handler from this process, for
// context: here it shares its process with the load generator.
func startBareInProcess() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := bare.Serve(ln)
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// serverEnv is the environment of a Latchkey under test. Limits keep their
// defaults: requests come from distinct X-Forwarded-For addresses (trusted
// from 127.0.0.1 only), the enumeration tests use each address once
// (within the hourly allowances of reset mails and of free failed
// sign-ins), and the other sign-ins succeed, so no limit throttles the
// bench.
func (b *bench) serverEnv(databaseURL string) []string {
	env := []string{
		"DATABASE_URL=" + databaseURL,
		"SMTP_URL=" + b.sink.url(),
		"SESSION_SECRET=latchkey-bench-secret-0123456789abcdef0123456789",
		"TRUSTED_PROXIES=127.0.0.1/32",
		fmt.Sprintf("HASH_CONCURRENCY=%d", defaultHashConcurrency),
		"LOG_FORMAT=text",
		// bench/server reads the assets the release binary embeds from here.
		"LATCHKEY_BENCH_ASSETS=" + filepath.Join(b.root, "assets"),
	}
	// Later entries win (os/exec keeps the last value of a duplicate key).
	return append(env, b.opts.serverEnv...)
}

func profilePath(path, dialect string) string {
	if dialect == "sqlite" {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + dialect + ext
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}
