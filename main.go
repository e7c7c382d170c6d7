// Command latchkey is an account system with safe password resets, as one
// binary: `latchkey [serve]`, `migrate`, `user create EMAIL`,
// `user set-password EMAIL`, `healthcheck`, `version`.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/latchkey-auth/latchkey/handlers"
	"github.com/latchkey-auth/latchkey/internal/bare"
	"github.com/latchkey-auth/latchkey/internal/metrics"
	"github.com/latchkey-auth/latchkey/internal/profiling"
	"github.com/latchkey-auth/latchkey/mail"
	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/notify"
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
	cfg, err := loadConfig(getenv)
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
		runErr = withApp(ctx, cfg, log, func(a *app) error {
			fmt.Fprintln(stdout, "migrations applied:", a.migrated)
			return nil
		})
	case cmd == "user" && len(args) == 2 && args[0] == "create":
		runErr = withApp(ctx, cfg, log, func(a *app) error { return userCreate(ctx, a, args[1], stdin, stdout) })
	case cmd == "user" && len(args) == 2 && args[0] == "set-password":
		runErr = withApp(ctx, cfg, log, func(a *app) error { return userSetPassword(ctx, a, args[1], stdin, stdout) })
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

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if cfg.LogFormat == "json" {
		return slog.New(handlers.RequestIDHandler{Handler: slog.NewJSONHandler(w, opts)})
	}
	return slog.New(handlers.RequestIDHandler{Handler: slog.NewTextHandler(w, opts)})
}

// app is every long-lived dependency, built once.
type app struct {
	cfg      *Config
	log      *slog.Logger
	store    *models.Store
	mailbox  *mail.Mailbox
	worker   *mail.Worker
	metrics  *metrics.Metrics
	migrated int
}

// withApp opens the database, migrates, builds the store and the mail
// worker, runs fn and closes everything.
func withApp(ctx context.Context, cfg *Config, log *slog.Logger, fn func(*app) error) error {
	secret := cfg.SessionSecret
	fromEnv := secret != nil
	if !fromEnv {
		var err error
		if secret, err = devSecret("data"); err != nil {
			return err
		}
		cfg.SessionSecret = secret
	}
	db, err := models.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := models.Migrate(ctx, db)
	if err != nil {
		return err
	}
	if err := models.CheckSecret(ctx, db, secret); err != nil {
		if errors.Is(err, models.ErrSecretMismatch) && !fromEnv {
			return fmt.Errorf("%w (SESSION_SECRET is unset, so the dev secret in %s was used; set SESSION_SECRET to the server's)",
				err, filepath.Join("data", "secret"))
		}
		return err
	}
	sealer, err := models.NewSealer(models.DeriveKey(secret, models.KeyOutbox))
	if err != nil {
		return err
	}
	links, err := models.NewSealer(models.DeriveKey(secret, models.KeyLinkTokens))
	if err != nil {
		return err
	}
	hasher, err := models.NewHasher(models.HashParams, cfg.HashConcurrency, cfg.HashWait)
	if err != nil {
		return err
	}
	a := &app{cfg: cfg, log: log, migrated: n}
	a.store = &models.Store{
		DB: db, Hasher: hasher, Sealer: sealer, Links: links, ResetTTL: cfg.ResetTTL,
		SessionIdle: cfg.SessionIdle, SessionMax: cfg.SessionMax, Limits: cfg.Limits,
	}
	var sender mail.Sender
	if cfg.SMTPURL != "" {
		smtp, err := mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom)
		if err != nil {
			return err
		}
		sender = smtp
	} else {
		a.mailbox = mail.NewMailbox(50, log)
		sender = a.mailbox
	}
	if cfg.MetricsAddr != "" {
		a.metrics = metrics.New(a.store.OutboxBacklog)
	}
	a.worker = &mail.Worker{Store: a.store, Sender: sender, Log: log, Metrics: a.metrics,
		SendTimeout: cfg.SendTimeout, Lease: 2 * cfg.SendTimeout}
	a.store.OnEnqueue = a.worker.Notify
	return fn(a)
}

// requireSharedSecret refuses a command other than serve against Postgres
// without SESSION_SECRET: the dev secret file lives in ./data under the
// working directory, so a command run from anywhere but the server's
// folder would get a secret of its own. With SQLite's default the data
// directory holds both the database and the secret, so dev needs no setup.
func requireSharedSecret(cfg *Config) error {
	if cfg.SessionSecret != nil || strings.HasPrefix(cfg.DatabaseURL, "sqlite:") {
		return nil
	}
	return errors.New("SESSION_SECRET is required with a Postgres DATABASE_URL: set it to the secret the server uses")
}

// serve runs the HTTP server and the outbox worker until a signal, then
// shuts down gracefully: stop accepting, finish in-flight requests and the
// current send, exit.
func serve(ctx context.Context, cfg *Config, log *slog.Logger) error {
	setMemoryLimit(cfg, log)
	return withApp(ctx, cfg, log, func(a *app) error {
		h, err := handlers.New(handlers.Deps{
			Store: a.store, Log: log, BaseURL: cfg.BaseURL, Secret: cfg.SessionSecret,
			DevMode: cfg.DevMode(), Mailbox: a.mailbox, Assets: assetsFor(cfg, log),
			TrustedProxies: cfg.TrustedProxies, Version: version, Metrics: a.metrics,
		})
		if err != nil {
			return err
		}
		srv := h.Server(cfg.Addr)
		ln, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return err
		}
		workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
		var wg sync.WaitGroup
		wg.Add(3)
		go func() {
			defer wg.Done()
			a.worker.Run(workerCtx)
		}()
		go func() {
			defer wg.Done()
			a.worker.ListenPostgres(workerCtx)
		}()
		go func() {
			defer wg.Done()
			cleanupLoop(workerCtx, a)
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
			wg.Wait()
			return err
		case <-ctx.Done():
		}
		log.Info("shutting down", "timeout", cfg.ShutdownTimeout)
		shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		err = srv.Shutdown(shutdownCtx)
		if metricsSrv != nil {
			_ = metricsSrv.Shutdown(shutdownCtx)
		}
		stopWorker()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-shutdownCtx.Done():
			log.Warn("shutdown timeout: outbox worker still busy")
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("shutdown: %w", err)
		}
		log.Info("stopped")
		return nil
	})
}

// assetsFor returns the embedded assets, or in dev mode with
// LATCHKEY_DEV_ASSETS=DIR the files on disk (make dev), so a designer's
// edits show without a rebuild.
func assetsFor(cfg *Config, log *slog.Logger) fs.FS {
	if dir := cfg.DevAssetsDir; dir != "" && cfg.DevMode() {
		log.Info("serving assets from disk (dev)", "dir", dir)
		return os.DirFS(dir)
	}
	return assetsFS()
}

// setMemoryLimit gives the garbage collector a soft limit sized for the
// hashing bound, unless GOMEMLIMIT says otherwise. The hasher already has
// each 19 MiB argon2id buffer collected before its slot is reused
// (models.Hasher); the limit is the safety net behind that, for whatever
// else a flood makes the heap hold.
func setMemoryLimit(cfg *Config, log *slog.Logger) {
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

// isLoopback reports whether a listen host only accepts local connections.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// cleanupLoop prunes old rows hourly.
func cleanupLoop(ctx context.Context, a *app) {
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

// healthcheck GETs /healthz on ADDR: the container's probe, since a
// distroless image has no shell or curl.
func healthcheck(cfg *Config, stderr io.Writer) int {
	host, port, _ := net.SplitHostPort(cfg.Addr) // validated by loadConfig
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + "/healthz")
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "healthcheck: status", resp.StatusCode)
		return 1
	}
	return 0
}

// readPassword reads one line from stdin.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, models.MaxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input (one line expected)")
	}
	return line, nil
}

// cliCredentials normalises the address argument and reads the password
// from stdin, applying the same policy as the web forms.
func cliCredentials(rawEmail string, stdin io.Reader) (email, password string, err error) {
	email, err = models.NormalizeEmail(rawEmail)
	if err != nil {
		// A *FieldError already reads "email: …".
		return "", "", err
	}
	raw, err := readPassword(stdin)
	if err != nil {
		return "", "", err
	}
	password, ferr := models.CheckPasswordPolicy(raw, email)
	if ferr != nil {
		return "", "", fmt.Errorf("password: %s", ferr.Message)
	}
	return email, password, nil
}

// userCreate creates an account with the password read from stdin.
func userCreate(ctx context.Context, a *app, rawEmail string, stdin io.Reader, stdout io.Writer) error {
	email, password, err := cliCredentials(rawEmail, stdin)
	if err != nil {
		return err
	}
	if _, err := a.store.Register(ctx, email, password, models.Client{}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "created", email)
	return nil
}

// userSetPassword is the web flow's SetPassword from the command line:
// same policy, every session revoked, the notification email queued. With
// SMTP_URL the command sends that email itself (only that one: other mail
// in the shared outbox is the server's); without it, it stays queued for
// the running server, whose dev mailbox shows it.
func userSetPassword(ctx context.Context, a *app, rawEmail string, stdin io.Reader, stdout io.Writer) error {
	email, password, err := cliCredentials(rawEmail, stdin)
	if err != nil {
		return err
	}
	acc, err := models.AccountByEmail(ctx, a.store.DB, email)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("no account for %s", email)
	}
	if err != nil {
		return err
	}
	var queued []int64
	a.store.OnQueued = func(ids []int64) { queued = append(queued, ids...) }
	if err := a.store.SetPassword(ctx, models.SetPasswordInput{
		Account: acc, Password: password, Change: models.ChangedByOperator, Compose: notify.Changed(ctx, a.cfg.BaseURL),
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "password set for %s; every session signed out\n", email)
	if a.cfg.SMTPURL == "" {
		fmt.Fprintln(stdout, "notification email queued: the running server sends it (no SMTP_URL: it shows in the server's /dev/mailbox)")
		return nil
	}
	sent, err := a.worker.SendQueued(ctx, queued)
	if err != nil {
		return fmt.Errorf("password set, but the notification email could not be sent (it stays queued for the server): %w", err)
	}
	if sent == len(queued) {
		fmt.Fprintln(stdout, "notification email sent to", email)
	} else {
		fmt.Fprintln(stdout, "notification email queued: the server's outbox worker sends it")
	}
	return nil
}
