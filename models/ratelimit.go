package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
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
	// SignInFreeFailuresDevice is how many sign-in attempts a trusted
	// device cookie may make in an hour while exempt from the address's
	// back-off; past it the cookie is treated like no cookie at all.
	SignInFreeFailuresDevice int
	// RegistrationsPerHour caps registration attempts per IP.
	RegistrationsPerHour int
	// ValidationsPerMinute caps the inline-validation endpoints per IP.
	ValidationsPerMinute int
	// EmailChangesPerHour and EmailChangesPerHourIP cap change-of-address
	// requests per account and per IP (each one mails two addresses).
	EmailChangesPerHour   int
	EmailChangesPerHourIP int
}

// DefaultLimits are the documented defaults.
func DefaultLimits() Limits {
	return Limits{
		ResetMailsPerHour:        3,
		ResetPostsPerMinute:      10,
		SignInFreeFailures:       5,
		SignInFreeFailuresIP:     50,
		SignInMaxBlock:           15 * time.Minute,
		SignInFreeFailuresDevice: 10,
		RegistrationsPerHour:     10,
		ValidationsPerMinute:     300,
		EmailChangesPerHour:      5,
		EmailChangesPerHourIP:    20,
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

// limitKind is the first part of a rate_limits key: a row's key is its
// kind, a colon and a subject (an address, an IP unit, a nonce). Every
// kind is listed here, once, for the code that counts and for Cleanup,
// which keeps some kinds longer than others.
type limitKind string

const (
	limitRegisterIP  limitKind = "register-ip"    // registrations per IP unit
	limitForgotIP    limitKind = "forgot-ip"      // forgot-password POSTs per IP unit
	limitResetIP     limitKind = "reset-ip"       // reset-password POSTs per IP unit
	limitValidateIP  limitKind = "validate-ip"    // inline validations per IP unit
	limitSignInEmail limitKind = "signin-fail"    // sign-in attempts per address
	limitSignInIP    limitKind = "signin-fail-ip" // sign-in attempts per IP unit
	limitSignInDev   limitKind = "signin-device"  // sign-in attempts per trusted device cookie
	limitResetMail   limitKind = "reset-mail"     // reset emails per address
	limitNotMeMail   limitKind = "not-me-mail"    // "this wasn't me" reset emails per account
	limitPasskeyIP   limitKind = "passkey-ip"     // passkey ceremonies begun per IP unit
	// Change-of-address requests per account (public id) and per IP unit.
	limitEmailChange   limitKind = "email-change"
	limitEmailChangeIP limitKind = "email-change-ip"
	// Resent verification emails per account (public id).
	limitVerifyMail limitKind = "verify-mail"
	limitSecondStep limitKind = "second-factor" // second-step codes (TOTP or recovery) per account
	// usedNotMeLink is not a limit but a mark: one row per spent "this
	// wasn't me" link, which must outlive the link (see Cleanup).
	usedNotMeLink limitKind = "not-me"
)

// key is the rate_limits key of this kind for subject.
func (k limitKind) key(subject string) string { return string(k) + ":" + subject }

// like is a LIKE pattern matching every key of this kind (no kind holds
// LIKE's wildcards).
func (k limitKind) like() string { return string(k) + ":%" }

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

// ipKey maps a client address to the unit every per-IP limit counts: an
// IPv4 address is itself (an IPv4-mapped IPv6 address is its IPv4), an
// IPv6 address is its /64, since one subscriber usually holds a whole /64
// and could otherwise rotate through 2^64 addresses. Anything that does
// not parse (no proxy in front, a unix socket) is kept as it is.
func ipKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return clip(ip, 64)
	}
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		return addr.String()
	}
	p, err := addr.Prefix(64)
	if err != nil {
		return clip(ip, 64) // unreachable: any IPv6 address has a /64
	}
	return p.String()
}

// AllowRegistration counts one registration attempt from ip.
func (s *Store) AllowRegistration(ctx context.Context, ip string) error {
	return s.allow(ctx, limitRegisterIP.key(ipKey(ip)), s.limits.RegistrationsPerHour, time.Hour)
}

// AllowForgotPost counts one forgot-password POST from ip.
func (s *Store) AllowForgotPost(ctx context.Context, ip string) error {
	return s.allow(ctx, limitForgotIP.key(ipKey(ip)), s.limits.ResetPostsPerMinute, time.Minute)
}

// AllowResetPost counts one reset-password POST from ip.
func (s *Store) AllowResetPost(ctx context.Context, ip string) error {
	return s.allow(ctx, limitResetIP.key(ipKey(ip)), s.limits.ResetPostsPerMinute, time.Minute)
}

// AllowValidation counts one inline-validation request from ip, against a
// budget of its own.
func (s *Store) AllowValidation(ctx context.Context, ip string) error {
	return s.allow(ctx, limitValidateIP.key(ipKey(ip)), s.limits.ValidationsPerMinute, time.Minute)
}

// allow counts one request for key against limit per window and returns a
// *LimitedError when over it. Callers outside models use the Allow…
// methods above, which choose the key and the limit.
func (s *Store) allow(ctx context.Context, key string, limit int, window time.Duration) error {
	ok, retry, err := hit(ctx, s.db, key, limit, window, s.now())
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
//
// dev is the browser's device cookie, if it holds a valid one for this
// address (DeviceCookies.Verify): such a browser has signed in to the
// address before, so strangers' failures, which put the address in
// back-off, do not lock it out. It has a budget of its own instead
// (SignInFreeFailuresDevice attempts an hour, counted like the others);
// past it the cookie counts for nothing. The per-IP limit always applies.
func (s *Store) SignInAttempt(ctx context.Context, email, ip string, dev Device) error {
	var refused *LimitedError
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, _ *queued) error {
		refused = nil
		now := s.now()
		type limitKey struct {
			key  string
			free int
		}
		var keys []limitKey
		trusted := false
		if dev.nonce != "" {
			row, err := count(ctx, tx, limitSignInDev.key(dev.nonce), time.Hour, now)
			if err != nil {
				return err
			}
			trusted = row.Count <= s.limits.SignInFreeFailuresDevice
		}
		if !trusted {
			keys = append(keys, limitKey{limitSignInEmail.key(email), s.limits.SignInFreeFailures})
		}
		keys = append(keys, limitKey{limitSignInIP.key(ipKey(ip)), s.limits.SignInFreeFailuresIP})
		for _, k := range keys {
			var err error
			if refused, err = s.backoff(ctx, tx, k.key, k.free, time.Hour, s.limits.SignInMaxBlock, now); err != nil || refused != nil {
				return err
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

// backoff counts one attempt for key in a window (opened by its first
// attempt), in the same statement that reads the counter, and refuses it
// (a *LimitedError, nil error) while the key is in a back-off window. Once
// the free attempts of the window are spent, one attempt at a time may
// open a back-off window (1 s, 2 s, 4 s… up to maxBlock) and go on; the
// others are refused.
func (s *Store) backoff(ctx context.Context, tx bun.IDB, key string, free int, window, maxBlock time.Duration, now time.Time) (*LimitedError, error) {
	row, err := count(ctx, tx, key, window, now)
	if err != nil {
		return nil, err
	}
	if row.BlockedUntil != nil && row.BlockedUntil.After(now) {
		return &LimitedError{RetryAfter: max(row.BlockedUntil.Sub(now), time.Second)}, nil
	}
	over := row.Count - free - 1
	if over < 0 {
		return nil, nil
	}
	delay := maxBlock
	if over < 30 && time.Second<<over < delay {
		delay = time.Second << over
	}
	// Only one attempt may open the window; on Postgres the row lock
	// taken by the upsert serialises the contenders.
	res, err := tx.NewUpdate().Model((*rateRow)(nil)).Set("blocked_until = ?", now.Add(delay)).
		Where("key = ?", key).
		Where("blocked_until IS NULL OR blocked_until <= ?", now).
		Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("back-off: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &LimitedError{RetryAfter: time.Second}, nil
	}
	return nil, nil
}

// clearSignInAttempts forgets the address's count and gives the IP back
// the attempt a success used. Only a success that SignInAttempt reserved
// may call it: anything else (a registration) would refund a failure.
func clearSignInAttempts(ctx context.Context, db bun.IDB, email, ip string) error {
	if err := resetLimit(ctx, db, limitSignInEmail.key(email)); err != nil {
		return err
	}
	if _, err := db.NewUpdate().Model((*rateRow)(nil)).Set("count = count - 1").
		Where("key = ? AND count > 0", limitSignInIP.key(ipKey(ip))).Exec(ctx); err != nil {
		return fmt.Errorf("sign-in attempts: %w", err)
	}
	return nil
}

// ClearSignInAttempts is called after a password check succeeds outside
// sign-in (changing the password).
func (s *Store) ClearSignInAttempts(ctx context.Context, email, ip string) error {
	return clearSignInAttempts(ctx, s.db, email, ip)
}

// SignInFailed records a failed password check for an account in its
// security activity (the attempt was already counted by SignInAttempt).
// acc is nil for unknown addresses, which leave no trace but still pay
// for one committed write: without it the event's commit made a wrong
// password for a known address measurably slower than an unknown address
// on Postgres (go run ./bench -postgres -only signin-enum: 54.9 % best
// threshold accuracy, 95 % CI 51.8–58.0 %). The write rewrites the IP's
// counter row, which SignInAttempt has just written, to the same value.
func (s *Store) SignInFailed(ctx context.Context, client Client, acc *Account) error {
	if acc == nil {
		if _, err := s.db.NewUpdate().Model((*rateRow)(nil)).Set("count = count").
			Where("key = ?", limitSignInIP.key(ipKey(client.IP))).Exec(ctx); err != nil {
			return fmt.Errorf("sign-in failed: %w", err)
		}
		return nil
	}
	return RecordEvent(ctx, s.db, acc.ID, EventSignInFailed, client, s.now())
}
