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

// SignInAttempt reserves one password check for this address and this IP,
// before any hashing, and refuses it (a *LimitedError) while either is in a
// back-off window. Each attempt is counted at once, in the same statement
// that reads the counter, so requests sent in parallel cannot all slip
// through before the first failure is recorded. Once the free attempts of
// the hour are spent, one attempt at a time may start a back-off window
// (1 s, 2 s, 4 s… up to SignInMaxBlock, never a permanent lock) and go on;
// the others are refused. Known and unknown addresses are counted alike,
// so throttling reveals nothing. A successful sign-in clears the address's
// count (ClearSignInAttempts).
func (s *Store) SignInAttempt(ctx context.Context, email, ip string) error {
	var refused *LimitedError
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, _ *queued) error {
		refused = nil
		now := s.now()
		for _, k := range []struct {
			key  string
			free int
		}{{"signin-fail:" + email, s.Limits.SignInFreeFailures}, {"signin-fail-ip:" + ip, s.Limits.SignInFreeFailuresIP}} {
			row, err := count(ctx, tx, k.key, time.Hour, now)
			if err != nil {
				return err
			}
			if row.BlockedUntil != nil && row.BlockedUntil.After(now) {
				refused = &LimitedError{RetryAfter: max(row.BlockedUntil.Sub(now), time.Second)}
				return nil
			}
			over := row.Count - k.free - 1
			if over < 0 {
				continue
			}
			delay := s.Limits.SignInMaxBlock
			if over < 30 && time.Second<<over < delay {
				delay = time.Second << over
			}
			// Only one attempt may open the window; on Postgres the row
			// lock taken by the upsert serialises the contenders.
			res, err := tx.NewUpdate().Model((*rateRow)(nil)).Set("blocked_until = ?", now.Add(delay)).
				Where("key = ?", k.key).
				Where("blocked_until IS NULL OR blocked_until <= ?", now).
				Exec(ctx)
			if err != nil {
				return fmt.Errorf("sign-in back-off: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				refused = &LimitedError{RetryAfter: time.Second}
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sign-in attempt: %w", err)
	}
	if refused != nil {
		return refused
	}
	return nil
}

// clearSignInAttempts forgets the address's count and gives the IP back
// the attempt a success used.
func clearSignInAttempts(ctx context.Context, db bun.IDB, email, ip string) error {
	if err := resetLimit(ctx, db, "signin-fail:"+email); err != nil {
		return err
	}
	if _, err := db.NewUpdate().Model((*rateRow)(nil)).Set("count = count - 1").
		Where("key = ? AND count > 0", "signin-fail-ip:"+ip).Exec(ctx); err != nil {
		return fmt.Errorf("sign-in attempts: %w", err)
	}
	return nil
}

// ClearSignInAttempts is called after a password check succeeds outside
// sign-in (changing the password).
func (s *Store) ClearSignInAttempts(ctx context.Context, email, ip string) error {
	return clearSignInAttempts(ctx, s.DB, email, ip)
}

// SignInFailed records a failed password check for an account in its
// security activity (the attempt was already counted by SignInAttempt).
// acc is nil for unknown addresses, which leave no trace.
func (s *Store) SignInFailed(ctx context.Context, client Client, acc *Account) error {
	if acc == nil {
		return nil
	}
	return RecordEvent(ctx, s.DB, acc.ID, EventSignInFailed, client, s.now())
}
