// Command latchkey is an account system with safe password resets, as one
// binary: `latchkey [serve]`, `migrate`, `user create EMAIL`,
// `user set-password EMAIL`, `healthcheck`, `version`. This file reads the
// configuration and chooses the subcommand; package app builds and serves
// the server, cli.go holds the other commands.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey-auth/latchkey/app"
	"github.com/latchkey-auth/latchkey/handlers"
	"github.com/latchkey-auth/latchkey/internal/bare"
	"github.com/latchkey-auth/latchkey/internal/profiling"
	"github.com/latchkey-auth/latchkey/models"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	// A no-op unless built with -tags pprof (see go run ./bench -cpuprofile).
	stopProfiling := profiling.Start(os.Getenv, os.Stderr)
	// A no-op unless built with -tags benchbare (go run ./bench's floor for
	// page throughput, served from this process).
	stopBare := bare.StartInProcess(os.Getenv, os.Stderr)
	code := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stopBare()
	stopProfiling()
	os.Exit(code)
}

// run is main with its inputs explicit, so tests can drive the CLI.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd == "version" {
		fmt.Fprintln(stdout, "latchkey", version)
		return 0
	}
	cfg, err := app.LoadConfig(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "latchkey: configuration error:\n"+indent(err.Error()))
		return 2
	}
	if cmd == "healthcheck" {
		return healthcheck(cfg, stderr)
	}
	logOut := io.Writer(stderr)
	if cmd == "serve" {
		buffered := newBufferedLog(stderr, 200*time.Millisecond)
		defer buffered.Close()
		logOut = buffered
	}
	log := newLogger(cfg, logOut)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cmd != "serve" {
		if err := requireSharedSecret(cfg); err != nil {
			fmt.Fprintln(stderr, "latchkey:", err)
			return 2
		}
	}

	var runErr error
	switch {
	case cmd == "serve":
		runErr = serve(ctx, cfg, log)
	case cmd == "migrate":
		runErr = withApp(ctx, cfg, log, func(a *app.App) error {
			fmt.Fprintln(stdout, "migrations applied:", a.Migrated())
			return nil
		})
	case cmd == "user" && len(args) == 2 && args[0] == "create":
		runErr = withApp(ctx, cfg, log, func(a *app.App) error { return userCreate(ctx, a, args[1], stdin, stdout) })
	case cmd == "user" && len(args) == 2 && args[0] == "set-password":
		runErr = withApp(ctx, cfg, log, func(a *app.App) error { return userSetPassword(ctx, a, args[1], stdin, stdout) })
	default:
		fmt.Fprintln(stderr, "usage: latchkey [serve] | migrate | user create EMAIL | user set-password EMAIL | healthcheck | version")
		return 2
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "latchkey:", runErr)
		return 1
	}
	return 0
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }

func newLogger(cfg *app.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.LogFormat == "json" {
		return slog.New(handlers.RequestIDHandler{Handler: slog.NewJSONHandler(w, opts)})
	}
	return slog.New(handlers.RequestIDHandler{Handler: slog.NewTextHandler(w, opts)})
}

// serve runs the server until a signal, then shuts down gracefully (see
// app.App.Run).
func serve(ctx context.Context, cfg *app.Config, log *slog.Logger) error {
	setMemoryLimit(cfg, log)
	a, err := app.New(ctx, cfg, app.WithLogger(log), app.WithAssets(assetsFS()), app.WithVersion(version))
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}

// setMemoryLimit gives the garbage collector a soft limit sized for the
// hashing bound, unless GOMEMLIMIT says otherwise. The hasher already has
// each 19 MiB argon2id buffer collected before its slot is reused
// (models.Hasher); the limit is the safety net behind that, for whatever
// else a flood makes the heap hold.
func setMemoryLimit(cfg *app.Config, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	// 22 MiB for everything else (the runtime counts 20–25 MB for a server
	// holding 200 connections) plus the hashes' own memory: 60 MiB on 2
	// CPUs. Each buffer is exactly m KiB of pages, so there is no slack
	// per slot; with 64 MiB a 200-connection flood peaked 2–4 MB higher at
	// the same sign-in rate (go run ./bench -only signin -server-env
	// GOMEMLIMIT=64MiB). Near the limit the runtime hands freed buffers
	// back to the OS and faults fresh ones in for every hash (56 MiB cost
	// sign-ins), so it is not set tighter than this.
	limit := int64(22<<20) + int64(cfg.HashConcurrency)*int64(models.HashParams.Memory)*1024
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit set", "bytes", limit)
}
