package app

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/latchkey-auth/latchkey/handlers"
	"github.com/latchkey-auth/latchkey/models"
)

// Serve is `latchkey serve`: log lines batched to w, the soft memory limit
// set, the app built with opts and run until ctx ends (see App.Run).
func Serve(ctx context.Context, cfg *Config, w io.Writer, opts ...Option) error {
	// Batched log writes: one write(2) per line was a tenth of the
	// server's CPU under load (bench: sign-in page GET throughput).
	buffered := newBufferedLog(w, 200*time.Millisecond)
	defer buffered.Close()
	log := NewLogger(cfg, buffered)
	SetMemoryLimit(cfg, log)
	a, err := New(ctx, cfg, append([]Option{WithLogger(log)}, opts...)...)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}

// NewLogger is the server's and the CLI's logger: LOG_FORMAT's handler,
// with each request's id added to the lines it writes.
func NewLogger(cfg *Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.LogFormat == "json" {
		return slog.New(handlers.RequestIDHandler{Handler: slog.NewJSONHandler(w, opts)})
	}
	return slog.New(handlers.RequestIDHandler{Handler: slog.NewTextHandler(w, opts)})
}

// SetMemoryLimit gives the garbage collector a soft limit sized for the
// hashing bound, unless GOMEMLIMIT says otherwise. The hasher already has
// each 19 MiB argon2id buffer collected before its slot is reused
// (models.Hasher); the limit is the safety net behind that, for whatever
// else a flood makes the heap hold (bench: peak RSS, 200 concurrent
// sign-ins).
func SetMemoryLimit(cfg *Config, log *slog.Logger) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	// 22 MiB for everything else (the runtime counts 20–25 MB for a server
	// holding 200 connections) plus the hashes' own memory: 60 MiB on 2
	// CPUs. Each buffer is exactly m KiB of pages, so there is no slack
	// per slot; with 64 MiB a 200-connection flood peaked 2–4 MB higher at
	// the same sign-in rate. Near the limit the runtime hands freed
	// buffers back to the OS and faults fresh ones in for every hash
	// (56 MiB cost sign-ins), so it is not set tighter than this.
	limit := int64(22<<20) + int64(cfg.HashConcurrency)*int64(models.HashParams.Memory)*1024
	debug.SetMemoryLimit(limit)
	log.Debug("memory limit set", "bytes", limit)
}
