package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Email verification (SPEC §8): registering emails a code like a reset
// code (256 bits from crypto/rand, only its SHA-256 stored, VERIFY_TTL);
// opening the link marks the address verified. A GET does it: a mail
// scanner that opens the link has reached the same mailbox.

// DefaultVerifyTTL is VERIFY_TTL's default.
const DefaultVerifyTTL = 24 * time.Hour

// VerifyResendsPerHour caps the verification emails the account page's
// "send a new link" button sends for one account in an hour; past it the
// answer is unchanged and nothing is sent. The email sent at registration
// is not counted.
const VerifyResendsPerHour = 3

// ErrVerifyInvalid is a verification code that is unknown or expired (or
// was sent to an address the account no longer has).
var ErrVerifyInvalid = errors.New("verification code unknown or expired")

// EmailVerification is one emailed verification code, stored only as its
// SHA-256, with the address it proves.
type EmailVerification struct {
	bun.BaseModel `bun:"table:email_verifications"`

	CodeHash  string     `bun:"code_hash,pk"`
	AccountID int64      `bun:"account_id,notnull"`
	Email     string     `bun:"email,notnull"`
	CreatedAt time.Time  `bun:"created_at,notnull"`
	ExpiresAt time.Time  `bun:"expires_at,notnull"`
	UsedAt    *time.Time `bun:"used_at"`
	CreatedIP string     `bun:"created_ip,notnull"`
}

// VerifyMail describes a verification email for the compose function that
// renders it. Code is the raw code: it lives only in this value and,
// sealed, in the outbox row until the message is sent.
type VerifyMail struct {
	Email     string
	Code      string
	ExpiresAt time.Time
}

// ComposeVerify renders a verification email.
type ComposeVerify func(VerifyMail) (Message, error)

// queueVerification stores a new verification code for acc's current
// address and queues its email, inside the caller's transaction.
func (s *Store) queueVerification(ctx context.Context, tx bun.Tx, q *queued, acc *Account, client Client, now time.Time, compose ComposeVerify) error {
	if compose == nil {
		return errors.New("queue verification: no compose function")
	}
	code, hash := NewCode()
	expires := now.Add(s.verifyTTL)
	row := &EmailVerification{
		CodeHash: hash, AccountID: acc.ID, Email: acc.Email, CreatedAt: now, ExpiresAt: expires, CreatedIP: client.IP,
	}
	if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
		return fmt.Errorf("insert verification: %w", err)
	}
	msg, err := compose(VerifyMail{Email: acc.Email, Code: code, ExpiresAt: expires})
	if err != nil {
		return fmt.Errorf("compose verification mail: %w", err)
	}
	msg.To = acc.Email // only ever the stored address
	return s.enqueue(ctx, tx, q, MailVerifyEmail, msg, now)
}

// useUpVerifications marks every open verification code of an account
// used: once the address is proven (by a code or a completed reset) they
// have nothing left to do, and a later click says "already verified".
func useUpVerifications(ctx context.Context, tx bun.IDB, accountID int64, now time.Time) error {
	if _, err := tx.NewUpdate().Model((*EmailVerification)(nil)).
		Set("used_at = ?", now).
		Where("account_id = ? AND used_at IS NULL", accountID).
		Exec(ctx); err != nil {
		return fmt.Errorf("use up verification codes: %w", err)
	}
	return nil
}

// VerifyOutcome is what opening a verification link did.
type VerifyOutcome int

const (
	// Verified: the code was good and the address is now verified.
	Verified VerifyOutcome = iota + 1
	// AlreadyVerified: the code was used before (or the address was
	// proven another way meanwhile); nothing changed.
	AlreadyVerified
)

// VerifyEmail acts on a verification code, all or nothing: the code is
// claimed with one conditional UPDATE (single use), the account's address
// marked verified if it is still the address the code was sent to, its
// other codes used up, its cached sessions dropped (so /auth/verify sees
// the change at once) and an event written. A code already used, or any
// code of an address that is verified by now, is AlreadyVerified and
// changes nothing. Anything else (unknown, expired, an address the account
// no longer has) is ErrVerifyInvalid.
func (s *Store) VerifyEmail(ctx context.Context, codeHash string, client Client) (*Account, VerifyOutcome, error) {
	client = client.clean()
	var (
		acc     *Account
		outcome VerifyOutcome
	)
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		acc, outcome = nil, 0
		now := s.now()
		var row EmailVerification
		err := tx.NewUpdate().Model(&row).
			Set("used_at = ?", now).
			Where("code_hash = ?", codeHash).
			Where("used_at IS NULL").
			Where("expires_at > ?", now).
			Returning("account_id, email").
			Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			// Not claimable: used, expired or unknown.
			return s.alreadyVerified(ctx, tx, codeHash, &acc, &outcome)
		}
		if err != nil {
			return fmt.Errorf("claim code: %w", err)
		}
		if acc, err = AccountByID(ctx, tx, row.AccountID); err != nil {
			return err
		}
		if acc.Email != row.Email {
			// The address changed since the code was sent.
			return ErrVerifyInvalid
		}
		if acc.EmailVerifiedAt != nil {
			// Proven meanwhile (another code, a reset): the code is spent,
			// nothing else changes.
			outcome = AlreadyVerified
			return nil
		}
		if _, err := tx.NewUpdate().Model((*Account)(nil)).
			Set("email_verified_at = ?", now).
			Set("updated_at = ?", now).
			Where("id = ?", acc.ID).
			Exec(ctx); err != nil {
			return fmt.Errorf("mark verified: %w", err)
		}
		acc.EmailVerifiedAt = &now
		if err := useUpVerifications(ctx, tx, acc.ID, now); err != nil {
			return err
		}
		// No session ends, but the cached ones carry the old account row:
		// the same invalidation (and NOTIFY) makes /auth/verify re-read it.
		if err := s.endSessions(ctx, tx, q, nil, []int64{acc.ID}); err != nil {
			return err
		}
		outcome = Verified
		return RecordEvent(ctx, tx, acc.ID, EventEmailVerified, client, now)
	})
	if errors.Is(err, ErrVerifyInvalid) {
		return nil, 0, ErrVerifyInvalid
	}
	if err != nil {
		return nil, 0, fmt.Errorf("verify email: %w", err)
	}
	return acc, outcome, nil
}

// alreadyVerified decides a code that could not be claimed: a code we
// know, for the address its account still has and which is verified by
// now, says so; anything else is ErrVerifyInvalid.
func (s *Store) alreadyVerified(ctx context.Context, tx bun.Tx, codeHash string, acc **Account, outcome *VerifyOutcome) error {
	var row EmailVerification
	err := tx.NewSelect().Model(&row).Where("code_hash = ?", codeHash).Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrVerifyInvalid
	}
	if err != nil {
		return fmt.Errorf("look up code: %w", err)
	}
	a, err := AccountByID(ctx, tx, row.AccountID)
	if errors.Is(err, ErrNotFound) {
		return ErrVerifyInvalid
	}
	if err != nil {
		return err
	}
	if a.Email != row.Email || a.EmailVerifiedAt == nil {
		return ErrVerifyInvalid
	}
	*acc, *outcome = a, AlreadyVerified
	return nil
}

// ResendOutcome is what asking for a new verification link did.
type ResendOutcome int

const (
	// ResendQueued: a new link is on its way, or the hourly allowance is
	// spent and nothing was sent (the answer is the same).
	ResendQueued ResendOutcome = iota + 1
	// ResendNotNeeded: the address is verified already; nothing was sent.
	ResendNotNeeded
)

// ResendVerification emails the account a new verification link, in one
// transaction: the address re-read (a verified one needs nothing), the
// account's hourly allowance counted (VerifyResendsPerHour; past it
// nothing is stored or sent, and the outcome is the same), a new code's
// hash stored and the email queued. Earlier codes stay valid until they
// expire or one of them is used.
func (s *Store) ResendVerification(ctx context.Context, accountID int64, client Client, compose ComposeVerify) (ResendOutcome, error) {
	client = client.clean()
	var outcome ResendOutcome
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		now := s.now()
		acc, err := AccountByID(ctx, tx, accountID)
		if err != nil {
			return err
		}
		if acc.EmailVerifiedAt != nil {
			outcome = ResendNotNeeded
			return nil
		}
		outcome = ResendQueued
		allowed, _, err := hit(ctx, tx, limitVerifyMail.key(acc.PublicID), VerifyResendsPerHour, time.Hour, now)
		if err != nil {
			return err
		}
		if !allowed {
			return nil
		}
		return s.queueVerification(ctx, tx, q, acc, client, now, compose)
	})
	if err != nil {
		return 0, fmt.Errorf("resend verification: %w", err)
	}
	return outcome, nil
}
