// Package app builds every long-lived dependency of Latchkey once (the
// database, store, hasher, sealers, mailer, metrics, outbox worker and
// handlers) and runs them: for main, for every test helper and for
// anything else that starts a Latchkey, so a new dependency is added here
// and nowhere else.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/handlers"
	"github.com/latchkey-auth/latchkey/internal/metrics"
	"github.com/latchkey-auth/latchkey/mail"
	"github.com/latchkey-auth/latchkey/models"
)

// App is a built Latchkey: every dependency constructed, the database
// migrated and the secret checked. Run serves it; Close releases it.
type App struct {
	cfg      *Config
	log      *slog.Logger
	db       *bun.DB
	ownDB    bool // opened by New, so closed by Close
	migrated int
	store    *models.Store
	mailbox  *mail.Mailbox
	worker   *mail.Worker
	metrics  *metrics.Metrics
	server   *http.Server
	listener net.Listener
	// devAssets is the folder assets are served from in dev mode, if any.
	devAssets string
}

// Option adjusts how New builds an App: what main takes from the process
// (assets, version, logger) and what tests replace (clock, hasher, an
// open database, a listener, worker timing).
type Option func(*options)

type options struct {
	log        *slog.Logger
	db         *bun.DB
	clock      func() time.Time
	hasher     *models.Hasher
	hashParams *argon2id.Params
	assets     fs.FS
	version    string
	devMode    *bool
	listener   net.Listener
	tuning     mail.Tuning
	// cacheMaxAge replaces models.SessionCacheMaxAge (tests).
	cacheMaxAge time.Duration
}

// WithLogger sets the logger (slog.Default() otherwise).
func WithLogger(log *slog.Logger) Option { return func(o *options) { o.log = log } }

// WithDB runs on an already opened database instead of opening
// Config.DatabaseURL; New still migrates it and checks the secret, and
// Close leaves it open for its owner.
func WithDB(db *bun.DB) Option { return func(o *options) { o.db = db } }

// WithClock replaces the store's clock (tests move time with it).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithSessionCacheMaxAge replaces the session cache's maximum age
// (models.SessionCacheMaxAge): tests make it long, so that only
// invalidation can drop an entry.
func WithSessionCacheMaxAge(d time.Duration) Option { return func(o *options) { o.cacheMaxAge = d } }

// WithHasher replaces the password hasher built from the configuration.
func WithHasher(h *models.Hasher) Option { return func(o *options) { o.hasher = h } }

// WithHashParams hashes new passwords with p instead of
// models.HashParams (tests use cheap parameters).
func WithHashParams(p argon2id.Params) Option { return func(o *options) { o.hashParams = &p } }

// WithAssets sets the static files served under /assets/ (main passes the
// embedded folder). In dev mode Config.DevAssetsDir, if set, wins.
func WithAssets(fsys fs.FS) Option { return func(o *options) { o.assets = fsys } }

// WithVersion sets the version /healthz reports.
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// WithDevMode overrides the dev mode that BASE_URL implies: tests run
// http servers with SMTP and without the /dev routes.
func WithDevMode(on bool) Option { return func(o *options) { o.devMode = &on } }

// WithListener makes Run serve on ln instead of listening on Config.Addr.
func WithListener(ln net.Listener) Option { return func(o *options) { o.listener = ln } }

// WithWorkerTuning sets the outbox worker's timing; its zero fields take
// the configuration's send timeout (and twice that as the lease) or the
// worker's defaults.
func WithWorkerTuning(t mail.Tuning) Option { return func(o *options) { o.tuning = t } }

// New builds the app: the secret (SESSION_SECRET, or in dev mode the one
// kept in ./data/secret), the database (opened and migrated), the secret
// check, the store, the mailer (SMTP, or the dev mailbox without
// SMTP_URL), metrics, the outbox worker and the handlers. cfg is not
// modified.
func New(ctx context.Context, cfg *Config, opts ...Option) (_ *App, err error) {
	o := collect(opts)
	c := *cfg
	fromEnv := c.SessionSecret != nil
	if !fromEnv {
		if c.SessionSecret, err = devSecret("data"); err != nil {
			return nil, err
		}
	}
	a := &App{cfg: &c, log: o.log, db: o.db, listener: o.listener}
	if a.db == nil {
		if a.db, err = models.Open(ctx, c.DatabaseURL); err != nil {
			return nil, err
		}
		a.ownDB = true
	}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	if a.migrated, err = models.Migrate(ctx, a.db); err != nil {
		return nil, err
	}
	if err := models.CheckSecret(ctx, a.db, c.SessionSecret); err != nil {
		if errors.Is(err, models.ErrSecretMismatch) && !fromEnv {
			return nil, fmt.Errorf("%w (SESSION_SECRET is unset, so the dev secret in %s was used; set SESSION_SECRET to the server's)",
				err, filepath.Join("data", "secret"))
		}
		return nil, err
	}
	if a.store, err = newStore(a.db, &c, o); err != nil {
		return nil, err
	}
	var sender mail.Sender
	if c.SMTPURL != "" {
		smtp, err := mail.NewSMTP(c.SMTPURL, c.MailFrom)
		if err != nil {
			return nil, err
		}
		sender = smtp
	} else {
		a.mailbox = mail.NewMailbox(50, a.log)
		sender = a.mailbox
	}
	if c.MetricsAddr != "" {
		a.metrics = metrics.New(a.store.OutboxBacklog)
	}
	tuning := o.tuning
	if tuning.SendTimeout == 0 {
		tuning.SendTimeout = c.SendTimeout
	}
	if tuning.Lease == 0 {
		tuning.Lease = 2 * tuning.SendTimeout
	}
	a.worker = &mail.Worker{Store: a.store, Sender: sender, Log: a.log, Metrics: a.metrics, Tuning: tuning}
	devMode := c.DevMode()
	if o.devMode != nil {
		devMode = *o.devMode
	}
	h, err := handlers.New(handlers.Deps{
		Store: a.store, Log: a.log, BaseURL: c.BaseURL, Secret: c.SessionSecret,
		DevMode: devMode, Mailbox: a.mailbox, Assets: a.assets(o.assets),
		TrustedProxies: c.TrustedProxies, Version: o.version, Metrics: a.metrics,
		CookieDomain:         c.CookieDomain,
		RequireVerifiedEmail: c.RequireVerifiedEmail, RequireMFA: c.RequireMFA,
	})
	if err != nil {
		return nil, err
	}
	a.server = h.Server(c.Addr)
	return a, nil
}

// NewStore builds the store over an open, migrated database as New does:
// the hasher, the sealers whose keys derive from cfg.SessionSecret, the
// lifetimes and the limits. It is for tests that need the store alone;
// of the options it reads WithClock, WithHasher, WithHashParams and
// WithSessionCacheMaxAge.
func NewStore(db *bun.DB, cfg *Config, opts ...Option) (*models.Store, error) {
	return newStore(db, cfg, collect(opts))
}

func newStore(db *bun.DB, cfg *Config, o options) (*models.Store, error) {
	if len(cfg.SessionSecret) == 0 {
		return nil, errors.New("store: no session secret")
	}
	sealer, err := models.NewSealer(models.DeriveKey(cfg.SessionSecret, models.KeyOutbox))
	if err != nil {
		return nil, err
	}
	links, err := models.NewSealer(models.DeriveKey(cfg.SessionSecret, models.KeyLinkTokens))
	if err != nil {
		return nil, err
	}
	factors, err := models.NewSealer(models.DeriveKey(cfg.SessionSecret, models.KeyTOTPSecrets))
	if err != nil {
		return nil, err
	}
	hasher := o.hasher
	if hasher == nil {
		params := models.HashParams
		if o.hashParams != nil {
			params = *o.hashParams
		}
		if hasher, err = models.NewHasher(params, cfg.HashConcurrency, cfg.HashWait); err != nil {
			return nil, err
		}
	}
	return models.NewStore(db, models.StoreOptions{
		Hasher: hasher, Sealer: sealer, Links: links, Factors: factors, Clock: o.clock, ResetTTL: cfg.ResetTTL, VerifyTTL: cfg.VerifyTTL,
		SessionIdle: cfg.SessionIdle, SessionMax: cfg.SessionMax, Limits: cfg.Limits,
		SessionCacheMaxAge: o.cacheMaxAge,
	}), nil
}

func collect(opts []Option) options {
	o := options{log: slog.Default(), version: "dev"}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// assets returns the given assets, or in dev mode with
// LATCHKEY_DEV_ASSETS=DIR the files on disk (make dev), so a designer's
// edits show without a rebuild.
func (a *App) assets(embedded fs.FS) fs.FS {
	if dir := a.cfg.DevAssetsDir; dir != "" && a.cfg.DevMode() {
		a.devAssets = dir
		return os.DirFS(dir)
	}
	return embedded
}

// Close releases what New opened: the database, unless WithDB handed it
// in.
func (a *App) Close() error {
	if a.ownDB && a.db != nil {
		return a.db.Close()
	}
	return nil
}

// Config is the configuration in force (with the dev secret filled in
// when SESSION_SECRET was unset).
func (a *App) Config() *Config { return a.cfg }

// Log is the app's logger.
func (a *App) Log() *slog.Logger { return a.log }

// Store is the account store.
func (a *App) Store() *models.Store { return a.store }

// Worker is the outbox worker (Run starts it; the CLI sends its own mail
// with SendQueued).
func (a *App) Worker() *mail.Worker { return a.worker }

// Mailbox is the dev mailbox, or nil when mail goes out over SMTP.
func (a *App) Mailbox() *mail.Mailbox { return a.mailbox }

// Migrated is how many migrations New applied.
func (a *App) Migrated() int { return a.migrated }

// Server is the HTTP server Run serves, with its timeouts and limits set
// (tests wrap it in an httptest.Server).
func (a *App) Server() *http.Server { return a.server }

// Handler is every route behind every middleware.
func (a *App) Handler() http.Handler { return a.server.Handler }
