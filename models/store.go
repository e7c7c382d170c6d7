package models

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/uptrace/bun"
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

// Store gives the account flows their dependencies: the database, the
// clock (injected so tests can move time), the password hasher and the
// sealer that encrypts outbox bodies.
type Store struct {
	DB       *bun.DB
	Hasher   *Hasher
	Sealer   *Sealer
	Clock    func() time.Time
	ResetTTL time.Duration
	// SessionIdle and SessionMax are the sliding and absolute session
	// lifetimes, enforced when a session is loaded.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// Limits holds the rate-limit numbers.
	Limits Limits
	// OnEnqueue, if set, is called after a transaction that queued email
	// commits, to wake the outbox worker without waiting for its poll.
	OnEnqueue func()
	// Links seals the tokens of one-time emailed links ("this wasn't
	// me"); its key is derived with KeyLinkTokens.
	Links *Sealer
	// OnQueued, if set, is given the outbox ids of the mail a transaction
	// queued, once it has committed: the CLI sends exactly the messages
	// it queued itself, and never claims another.
	OnQueued func(ids []int64)

	stmts statements // prepared statements on DB (see prepared.go)
}

// now returns the store's current time in UTC, truncated to microseconds so
// it survives a round trip through either database unchanged.
func (s *Store) now() time.Time {
	now := time.Now
	if s.Clock != nil {
		now = s.Clock
	}
	return now().UTC().Truncate(time.Microsecond)
}

// Now is the store's clock, for callers that schedule against it.
func (s *Store) Now() time.Time { return s.now() }

// inTx runs fn in a transaction and, once it has committed, wakes the
// outbox worker if fn queued mail.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, tx bun.Tx, q *queued) error) error {
	var q queued
	err := s.DB.RunInTx(ctx, &sql.TxOptions{}, func(ctx context.Context, tx bun.Tx) error {
		q = queued{}
		return fn(ctx, tx, &q)
	})
	if err == nil && q.mail && s.OnEnqueue != nil {
		s.OnEnqueue()
	}
	if err == nil && len(q.ids) > 0 && s.OnQueued != nil {
		s.OnQueued(q.ids)
	}
	return err
}

// queued records, within a transaction, whether mail was queued and the
// ids of the outbox rows.
type queued struct {
	mail bool
	ids  []int64
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.DB.PingContext(ctx)
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
