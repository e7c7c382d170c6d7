package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Run serves HTTP (on the WithListener listener, or Config.Addr), the
// metrics listener if METRICS_ADDR is set, and the background work
// (RunWorkers) until ctx ends, then shuts down gracefully: stop accepting,
// finish in-flight requests and the current send, return.
func (a *App) Run(ctx context.Context) error {
	cfg, log := a.cfg, a.log
	if a.devAssets != "" {
		log.Info("serving assets from disk (dev)", "dir", a.devAssets)
	}
	ln := a.listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return err
		}
	}
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workersDone := make(chan struct{})
	go func() {
		defer close(workersDone)
		a.RunWorkers(workerCtx)
	}()
	mode := "production"
	if cfg.DevMode() {
		mode = "dev"
	}
	if a.mailbox != nil {
		if host, _, _ := net.SplitHostPort(cfg.Addr); !isLoopback(host) {
			log.Warn("dev mode on a non-loopback address: /dev/* answer only clients on this machine, and reset links " +
				"are printed to this log. Set BASE_URL=https://… and SMTP_URL for production.")
		}
	}
	log.Info("latchkey listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL.String(), "mode", mode,
		"database", strings.SplitN(cfg.DatabaseURL, ":", 2)[0], "smtp", cfg.SMTPURL != "", "migrations_applied", a.migrated)

	srv := a.server
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	var metricsSrv *http.Server
	if a.metrics != nil {
		metricsSrv = &http.Server{Addr: cfg.MetricsAddr, Handler: a.metrics.Handler(),
			ReadHeaderTimeout: 5 * time.Second, WriteTimeout: 10 * time.Second}
		go func() {
			if err := metricsSrv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				serveErr <- fmt.Errorf("metrics: %w", err)
			}
		}()
		log.Info("metrics listening", "addr", cfg.MetricsAddr)
	}
	select {
	case err := <-serveErr:
		stopWorker()
		<-workersDone
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if metricsSrv != nil {
		_ = metricsSrv.Shutdown(shutdownCtx)
	}
	stopWorker()
	select {
	case <-workersDone:
	case <-shutdownCtx.Done():
		log.Warn("shutdown timeout: outbox worker still busy")
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// RunWorkers runs the background work until ctx ends and all of it has
// stopped: the outbox worker, its Postgres LISTEN and the hourly cleanup.
// Run calls it; tests that serve HTTP through httptest call it too.
func (a *App) RunWorkers(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		a.worker.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		a.worker.ListenPostgres(ctx)
	}()
	go func() {
		defer wg.Done()
		a.cleanupLoop(ctx)
	}()
	wg.Wait()
}

// cleanupLoop prunes old rows hourly.
func (a *App) cleanupLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := a.store.Cleanup(ctx, 7*24*time.Hour); err != nil && ctx.Err() == nil {
			a.log.Warn("cleanup failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
