package models

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/driver/pgdriver"
)

// Sentinel errors the handlers map to responses.
var (
	ErrNotFound        = errors.New("not found")
	ErrEmailTaken      = errors.New("email address already registered")
	ErrBadCredentials  = errors.New("email or password is incorrect")
	ErrResetInvalid    = errors.New("reset code unknown, used or expired")
	ErrWrongPassword   = errors.New("current password is incorrect")
	ErrSessionNotFound = errors.New("session not found or expired")
	ErrLinkInvalid     = errors.New("link unknown, used or expired")
)

// StoreOptions is what a Store is built from. Zero durations and zero
// Limits take the documented defaults.
type StoreOptions struct {
	// Hasher hashes and checks passwords; the account flows need it.
	Hasher *Hasher
	// Sealer encrypts outbox bodies; its key is derived with KeyOutbox.
	Sealer *Sealer
	// Links seals the tokens of one-time emailed links ("this wasn't
	// me"); its key is derived with KeyLinkTokens.
	Links *Sealer
	// Factors seals TOTP secrets at rest; its key is derived with
	// KeyTOTPSecrets.
	Factors *Sealer
	// Clock is the current time (time.Now if nil); tests move it.
	Clock func() time.Time
	// ResetTTL is how long a reset code (and a one-time link) lives.
	ResetTTL time.Duration
	// VerifyTTL is how long an email-verification or change-of-address
	// link lives (VERIFY_TTL; 24h if zero).
	VerifyTTL time.Duration
	// SessionIdle and SessionMax are the sliding and absolute session
	// lifetimes, enforced when a session is loaded.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// Limits holds the rate-limit numbers.
	Limits Limits
	// SessionCacheMaxAge replaces SessionCacheMaxAge (tests make it long,
	// so that only invalidation can drop an entry).
	SessionCacheMaxAge time.Duration
}

// Store gives the account flows their dependencies: the database, the
// clock, the password hasher and the sealers. It is built once by
// NewStore and not changed afterwards; the database handle stays inside
// models, so every caller goes through the store's domain methods.
type Store struct {
	db          *bun.DB
	hasher      *Hasher
	sealer      *Sealer
	links       *Sealer
	factors     *Sealer
	clock       func() time.Time
	resetTTL    time.Duration
	verifyTTL   time.Duration
	sessionIdle time.Duration
	sessionMax  time.Duration
	limits      Limits
	// mailQueued is signalled after a transaction that queued email
	// commits, so the outbox worker wakes without waiting for its poll.
	mailQueued chan struct{}

	stmts statements // prepared statements on db (see prepared.go)

	// sessionCache serves LoadSessionCached (see sessioncache.go).
	sessionCache *sessionCache
}

// NewStore builds a Store over an open, migrated database.
func NewStore(db *bun.DB, o StoreOptions) *Store {
	s := &Store{
		db: db, hasher: o.Hasher, sealer: o.Sealer, links: o.Links, factors: o.Factors, clock: o.Clock,
		resetTTL: o.ResetTTL, verifyTTL: o.VerifyTTL, sessionIdle: o.SessionIdle, sessionMax: o.SessionMax, limits: o.Limits,
		mailQueued: make(chan struct{}, 1),
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	// On Postgres the cache waits for the LISTEN that keeps it fresh
	// (SessionCacheListening); SQLite has one serving process.
	maxAge := o.SessionCacheMaxAge
	if maxAge == 0 {
		maxAge = SessionCacheMaxAge
	}
	s.sessionCache = newSessionCache(s.clock, maxAge, SessionCacheEntries, db.Dialect().Name() != dialect.PG)
	if s.resetTTL == 0 {
		s.resetTTL = time.Hour
	}
	if s.verifyTTL == 0 {
		s.verifyTTL = DefaultVerifyTTL
	}
	if s.sessionIdle == 0 {
		s.sessionIdle = 30 * time.Minute
	}
	if s.sessionMax == 0 {
		s.sessionMax = 12 * time.Hour
	}
	if s.limits == (Limits{}) {
		s.limits = DefaultLimits()
	}
	return s
}

// now returns the store's current time in UTC, truncated to microseconds so
// it survives a round trip through either database unchanged.
func (s *Store) now() time.Time {
	return s.clock().UTC().Truncate(time.Microsecond)
}

// Now is the store's clock, for callers that schedule against it.
func (s *Store) Now() time.Time { return s.now() }

// ResetTTL is how long a reset code lives.
func (s *Store) ResetTTL() time.Duration { return s.resetTTL }

// VerifyTTL is how long an email-verification or change-of-address link
// lives.
func (s *Store) VerifyTTL() time.Duration { return s.verifyTTL }

// SessionMax is a session's absolute lifetime (the cookie's Max-Age).
func (s *Store) SessionMax() time.Duration { return s.sessionMax }

// Limits returns the rate-limit numbers in force.
func (s *Store) Limits() Limits { return s.limits }

// MailQueued receives a value after a transaction that queued email has
// committed (several commits may share one value): the outbox worker
// waits on it, so new mail goes out without waiting for its poll.
func (s *Store) MailQueued() <-chan struct{} { return s.mailQueued }

// inTx runs fn in a transaction and, once it has committed, wakes the
// outbox worker if fn queued mail and hands the ids to a TrackQueued
// context.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx, q *queued) error) error {
	var q queued
	err := s.db.RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
		q = queued{}
		return fn(ctx, tx, &q)
	})
	if len(q.endedSessions) > 0 || len(q.endedAccounts) > 0 {
		// After the commit, so no fill can read the rows again; even after
		// a failed one, since dropping cache entries is always safe (a
		// commit whose answer was lost may still have happened).
		s.sessionCache.invalidate(q.endedSessions, q.endedAccounts)
	}
	if err == nil && q.mail {
		select {
		case s.mailQueued <- struct{}{}:
		default: // a wake-up is already pending
		}
	}
	if err == nil && len(q.ids) > 0 {
		if t, ok := ctx.Value(trackKey{}).(*tracker); ok {
			t.add(q.ids)
		}
	}
	return err
}

// queued records, within a transaction, whether mail was queued, the
// ids of the outbox rows, and the sessions ended (see endSessions).
type queued struct {
	mail bool
	ids  []int64

	endedSessions []string
	endedAccounts []int64
}

// trackKey is the context key of a TrackQueued tracker.
type trackKey struct{}

// tracker collects outbox ids; calls under one context may run at once.
type tracker struct {
	mu  sync.Mutex
	ids []int64
}

func (t *tracker) add(ids []int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ids = append(t.ids, ids...)
}

// TrackQueued returns a context under which the store records the outbox
// ids of the mail each committed transaction queued, and a function that
// returns those ids so far. The CLI sends exactly the messages it queued
// itself this way, and never claims another process's.
func TrackQueued(ctx context.Context) (context.Context, func() []int64) {
	t := &tracker{}
	return context.WithValue(ctx, trackKey{}, t), func() []int64 {
		t.mu.Lock()
		defer t.mu.Unlock()
		return append([]int64(nil), t.ids...)
	}
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.db.PingContext(ctx)
}

// AccountByEmail finds an account by its canonical address.
func (s *Store) AccountByEmail(ctx context.Context, email string) (*Account, error) {
	return AccountByEmail(ctx, s.db, email)
}

// RecentEvents returns an account's latest security events, newest first.
func (s *Store) RecentEvents(ctx context.Context, accountID int64, limit int) ([]SecurityEvent, error) {
	return RecentEvents(ctx, s.db, accountID, limit)
}

// DeleteSession removes one session row by the hash of its id.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		return s.deleteSession(ctx, tx, q, idHash)
	})
}

// OutboxListener returns a listener for OutboxChannel on Postgres, where
// several instances share the outbox, and nil on SQLite, where one process
// writes and the in-process wake-up (MailQueued) is enough. The caller
// closes it.
func (s *Store) OutboxListener() *pgdriver.Listener {
	if s.db.Dialect().Name() != dialect.PG {
		return nil
	}
	return pgdriver.NewListener(s.db)
}

// Client describes who is acting: recorded on resets, sessions and events.
type Client struct {
	IP        string
	UserAgent string
}

// clip shortens free text (user agents) to what is worth storing.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && s[n]&0xc0 == 0x80 {
		n--
	}
	return s[:n]
}

func (c Client) clean() Client {
	ua := c.UserAgent
	if !CleanText(ua) {
		ua = ""
	}
	return Client{IP: clip(c.IP, 64), UserAgent: clip(ua, 256)}
}
