package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// PasswordReset is one emailed reset code, stored only as its SHA-256.
type PasswordReset struct {
	bun.BaseModel `bun:"table:password_resets"`

	CodeHash         string     `bun:"code_hash,pk"`
	AccountID        int64      `bun:"account_id,notnull"`
	CreatedAt        time.Time  `bun:"created_at,notnull"`
	ExpiresAt        time.Time  `bun:"expires_at,notnull"`
	UsedAt           *time.Time `bun:"used_at"`
	CreatedIP        string     `bun:"created_ip,notnull"`
	CreatedUserAgent string     `bun:"created_user_agent,notnull"`
	UsedIP           *string    `bun:"used_ip"`
}

// ResetMail describes a reset email for the compose function that renders
// it. Code is the raw code: it lives only in this value and, sealed, in the
// outbox row until the message is sent.
type ResetMail struct {
	Email     string
	Code      string
	ExpiresAt time.Time
	Client    Client
}

// ComposeReset renders a reset email.
type ComposeReset func(ResetMail) (Message, error)

// RequestReset handles "forgot password" for a normalised address. For an
// existing account within its hourly allowance it stores a new code's hash
// and queues the email in the same transaction. Unknown addresses do the
// same reads, the same rate-limit write and the same rendering and
// sealing, so both answers take the same time; the caller answers both the
// same way.
func (s *Store) RequestReset(ctx context.Context, email string, client Client, compose ComposeReset) error {
	client = client.clean()
	code, hash := NewCode()
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		now := s.now()
		acc, err := AccountByEmail(ctx, tx, email)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		// Counted for every address, known or not, so the write happens on
		// both paths.
		allowed, _, err := hit(ctx, tx, limitResetMail.key(email), s.limits.ResetMailsPerHour, time.Hour, now)
		if err != nil {
			return err
		}
		expires := now.Add(s.resetTTL)
		msg, err := compose(ResetMail{Email: email, Code: code, ExpiresAt: expires, Client: client})
		if err != nil {
			return fmt.Errorf("compose reset mail: %w", err)
		}
		if acc == nil || !allowed {
			// Seal anyway: same work as the queued path.
			_ = s.sealer.Seal([]byte(msg.HTML+msg.Text), []byte("reset"))
			return nil
		}
		reset := &PasswordReset{
			CodeHash: hash, AccountID: acc.ID, CreatedAt: now, ExpiresAt: expires,
			CreatedIP: client.IP, CreatedUserAgent: client.UserAgent,
		}
		if _, err := tx.NewInsert().Model(reset).Exec(ctx); err != nil {
			return fmt.Errorf("insert reset: %w", err)
		}
		if err := RecordEvent(ctx, tx, acc.ID, EventResetRequested, client, now); err != nil {
			return err
		}
		msg.To = acc.Email // only ever the stored address
		return s.enqueue(ctx, tx, q, MailReset, msg, now)
	})
	if err != nil {
		return fmt.Errorf("request reset: %w", err)
	}
	return nil
}

// LookupReset returns the open (unused, unexpired) reset with this code
// hash, with its account. It never changes anything: mail scanners GET
// links too.
func (s *Store) LookupReset(ctx context.Context, codeHash string) (*PasswordReset, *Account, error) {
	reset := new(PasswordReset)
	err := s.db.NewSelect().Model(reset).
		Where("code_hash = ?", codeHash).
		Where("used_at IS NULL").
		Where("expires_at > ?", s.now()).
		Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, ErrResetInvalid
	}
	if err != nil {
		return nil, nil, fmt.Errorf("lookup reset: %w", err)
	}
	acc, err := AccountByID(ctx, s.db, reset.AccountID)
	if err != nil {
		return nil, nil, fmt.Errorf("lookup reset: %w", err)
	}
	return reset, acc, nil
}

// CompleteReset sets a new password with a reset code, all or nothing: the
// code is claimed with one conditional UPDATE (so of two concurrent
// attempts exactly one wins), the hash stored, the address marked verified,
// the using IP recorded, the account's other codes invalidated, every
// session revoked, a "password changed" email queued and an event written.
// The password must already have passed CheckPasswordPolicy for the
// account's address (see LookupReset).
func (s *Store) CompleteReset(ctx context.Context, codeHash, password string, client Client, compose ComposeChanged) (*Account, error) {
	client = client.clean()
	// Hash before the transaction so the write lock is not held for it.
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return nil, fmt.Errorf("complete reset: %w", err)
	}
	var acc *Account
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		now := s.now()
		var accountID int64
		err := tx.NewUpdate().Model((*PasswordReset)(nil)).
			Set("used_at = ?", now).
			Set("used_ip = ?", client.IP).
			Where("code_hash = ?", codeHash).
			Where("used_at IS NULL").
			Where("expires_at > ?", now).
			Returning("account_id").
			Scan(ctx, &accountID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrResetInvalid
		}
		if err != nil {
			return fmt.Errorf("claim code: %w", err)
		}
		acc, err = AccountByID(ctx, tx, accountID)
		if err != nil {
			return err
		}
		return s.applyNewPassword(ctx, tx, q, newPassword{
			Account: acc, Hash: hash, Change: ChangedByReset, Client: client, Now: now, Compose: compose,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("complete reset: %w", err)
	}
	return acc, nil
}
