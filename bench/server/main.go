// Command server is the Latchkey the bench's load phases drive: the
// product's own serve path (app.Serve, configured from the environment
// like `latchkey serve`), plus two things the release binary never
// carries: the bare Echo floor on a second listener of the same process
// ($LATCHKEY_BENCH_BARE_ADDR) and runtime/pprof profiles of the whole run
// ($LATCHKEY_CPUPROFILE, $LATCHKEY_MEMPROFILE). Assets are read from
// $LATCHKEY_BENCH_ASSETS (the repository's assets/ folder), the files the
// release binary embeds.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/latchkey-auth/latchkey/app"
	"github.com/latchkey-auth/latchkey/bench/internal/bare"
	"github.com/latchkey-auth/latchkey/bench/internal/profiling"
)

func main() {
	stopProfiling := profiling.Start(os.Getenv, os.Stderr)
	stopBare := bare.StartInProcess(os.Getenv, os.Stderr)
	code := serve()
	stopBare()
	stopProfiling()
	os.Exit(code)
}

func serve() int {
	cfg, err := app.LoadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench server: configuration error:", err)
		return 2
	}
	assets := os.Getenv("LATCHKEY_BENCH_ASSETS")
	if assets == "" {
		fmt.Fprintln(os.Stderr, "bench server: LATCHKEY_BENCH_ASSETS (the assets/ folder) is not set")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Serve(ctx, cfg, os.Stderr, app.WithAssets(os.DirFS(assets)), app.WithVersion("bench")); err != nil {
		fmt.Fprintln(os.Stderr, "bench server:", err)
		return 1
	}
	return 0
}
