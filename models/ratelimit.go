package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Limits are the rate-limit numbers. They live in the database so every
// instance shares them.
type Limits struct {
	// ResetMailsPerHour caps reset emails per address; over it the answer
	// is unchanged and nothing is sent.
	ResetMailsPerHour int
	// ResetPostsPerMinute caps forgot- and reset-password POSTs per IP.
	ResetPostsPerMinute int
	// SignInFreeFailures is how many failed sign-ins an address (or
	// SignInFreeFailuresIP an IP) gets in an hour before each further
	// failure doubles a waiting time, from one second up to SignInMaxBlock.
	SignInFreeFailures   int
	SignInFreeFailuresIP int
	SignInMaxBlock       time.Duration
	// RegistrationsPerHour caps registration attempts per IP.
	RegistrationsPerHour int
	// ValidationsPerMinute caps the inline-validation endpoints per IP.
	ValidationsPerMinute int
}

// DefaultLimits are the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		ResetMailsPerHour:    3,
		ResetPostsPerMinute:  10,
		SignInFreeFailures:   5,
		SignInFreeFailuresIP: 50,
		SignInMaxBlock:       15 * time.Minute,
		RegistrationsPerHour: 10,
		ValidationsPerMinute: 300,
	}
}

// LimitedError says a rate limit refused the request and when to retry.
type LimitedError struct {
	RetryAfter time.Duration
}

func (e *LimitedError) Error() string {
	return fmt.Sprintf("rate limited, retry after %s", e.RetryAfter)
}

// rateRow mirrors rate_limits.
type rateRow struct {
	bun.BaseModel `bun:"table:rate_limits,alias:rl"`

	Key          string     `bun:"key,pk"`
	WindowStart  time.Time  `bun:"window_start,notnull"`
	Count        int        `bun:"count,notnull"`
	BlockedUntil *time.Time `bun:"blocked_until"`
}

// hit counts one event for key in a fixed window and reports whether the
// count is still within limit; a single upsert, so concurrent instances
// never lose a count.
func hit(ctx context.Context, db bun.IDB, key string, limit int, window time.Duration, now time.Time) (bool, time.Duration, error) {
	row, err := count(ctx, db, key, window, now)
	if err != nil {
		return false, 0, err
	}
	if row.Count <= limit {
		return true, 0, nil
	}
	return false, max(row.WindowStart.Add(window).Sub(now), time.Second), nil
}

func count(ctx context.Context, db bun.IDB, key string, window time.Duration, now time.Time) (*rateRow, error) {
	stale := now.Add(-window)
	row := &rateRow{Key: key, WindowStart: now, Count: 1}
	_, err := db.NewInsert().Model(row).
		On("CONFLICT (key) DO UPDATE").
		Set("count = CASE WHEN rl.window_start <= ? THEN 1 ELSE rl.count + 1 END", stale).
		Set("window_start = CASE WHEN rl.window_start <= ? THEN ? ELSE rl.window_start END", stale, now).
		Set("blocked_until = CASE WHEN rl.window_start <= ? THEN NULL ELSE rl.blocked_until END", stale).
		Returning("window_start, count, blocked_until").
		Exec(ctx, row)
	if err != nil {
		return nil, fmt.Errorf("rate limit %s: %w", redactKey(key), err)
	}
	return row, nil
}

// redactKey keeps addresses out of error messages and logs.
func redactKey(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == ':' {
			return key[:i]
		}
	}
	return key
}

func resetLimit(ctx context.Context, db bun.IDB, key string) error {
	if _, err := db.NewDelete().Model((*rateRow)(nil)).Where("key = ?", key).Exec(ctx); err != nil {
		return fmt.Errorf("reset limit %s: %w", redactKey(key), err)
	}
	return nil
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

// Allow counts one request for key against limit per window and returns a
// *LimitedError when over it.
func (s *Store) Allow(ctx context.Context, key string, limit int, window time.Duration) error {
	ok, retry, err := hit(ctx, s.DB, key, limit, window, s.now())
	if err != nil {
		return err
	}
	if !ok {
		return &LimitedError{RetryAfter: retry}
	}
	return nil
}

// SignInBlocked reports whether sign-ins for this address or IP are in a
// back-off window, as a *LimitedError. It only reads.
func (s *Store) SignInBlocked(ctx context.Context, email, ip string) error {
	now := s.now()
	var rows []rateRow
	err := s.DB.NewSelect().Model(&rows).
		Where("key IN (?)", bun.List([]string{"signin-fail:" + email, "signin-fail-ip:" + ip})).
		Where("blocked_until > ?", now).Scan(ctx)
	if err != nil {
		return fmt.Errorf("sign-in blocked: %w", err)
	}
	var wait time.Duration
	for _, r := range rows {
		wait = max(wait, r.BlockedUntil.Sub(now))
	}
	if wait > 0 {
		return &LimitedError{RetryAfter: max(wait, time.Second)}
	}
	return nil
}

// SignInFailed counts a failed sign-in for the address (known or not, so
// throttling reveals nothing) and the IP, and starts or lengthens a
// back-off window once the free failures are spent: 1 s, 2 s, 4 s… up to
// SignInMaxBlock, never a permanent lock.
//
// acc, when the address belongs to an account, gets a failed-sign-in
// security event in the same transaction.
func (s *Store) SignInFailed(ctx context.Context, email string, client Client, acc *Account) error {
	ip := client.IP
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx, _ *queued) error {
		now := s.now()
		if acc != nil {
			if err := RecordEvent(ctx, tx, acc.ID, EventSignInFailed, client, now); err != nil {
				return err
			}
		}
		for _, k := range []struct {
			key  string
			free int
		}{{"signin-fail:" + email, s.Limits.SignInFreeFailures}, {"signin-fail-ip:" + ip, s.Limits.SignInFreeFailuresIP}} {
			row, err := count(ctx, tx, k.key, time.Hour, now)
			if err != nil {
				return err
			}
			over := row.Count - k.free
			if over <= 0 {
				continue
			}
			delay := s.Limits.SignInMaxBlock
			if over < 30 && time.Second<<(over-1) < delay {
				delay = time.Second << (over - 1)
			}
			if _, err := tx.NewUpdate().Model((*rateRow)(nil)).Set("blocked_until = ?", now.Add(delay)).
				Where("key = ?", k.key).Exec(ctx); err != nil {
				return fmt.Errorf("sign-in back-off: %w", err)
			}
		}
		return nil
	})
}
