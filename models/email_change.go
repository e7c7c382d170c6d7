package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Change of address (SPEC §8): the signed-in owner asks for a new address
// (RequestEmailChange); a link goes to the new address and a notice with
// "this wasn't me" to the current one; nothing changes until the link is
// opened (ConfirmEmailChange). One open request per account: a new one
// supersedes the last, and so does any new password or "this wasn't me".

// EmailChange is one requested change of address, stored only as its
// code's SHA-256. The row dies with its account (ON DELETE CASCADE).
type EmailChange struct {
	bun.BaseModel `bun:"table:email_changes"`

	CodeHash         string     `bun:"code_hash,pk"`
	AccountID        int64      `bun:"account_id,notnull"`
	NewEmail         string     `bun:"new_email,notnull"`
	CreatedAt        time.Time  `bun:"created_at,notnull"`
	ExpiresAt        time.Time  `bun:"expires_at,notnull"`
	UsedAt           *time.Time `bun:"used_at"`
	CreatedIP        string     `bun:"created_ip,notnull"`
	CreatedUserAgent string     `bun:"created_user_agent,notnull"`
	UsedIP           *string    `bun:"used_ip"`
}

// Errors of the change of address.
var (
	// ErrEmailUnchanged: the new address is the account's own.
	ErrEmailUnchanged = errors.New("the new address is the current one")
	// ErrEmailInUse: at confirmation, the new address belongs to another
	// account (taken since the request, or lost to a concurrent change).
	ErrEmailInUse = errors.New("the new address is in use by another account")
)

// EmailChangeStep says which change-of-address email to render.
type EmailChangeStep int

const (
	// ChangeConfirm goes to the new address: the confirmation link.
	ChangeConfirm EmailChangeStep = iota + 1
	// ChangeTaken goes to a new address that belongs to another account:
	// someone tried to use it; no link.
	ChangeTaken
	// ChangeRequested goes to the current address: a change was asked
	// for, with the "this wasn't me" link.
	ChangeRequested
	// ChangeDone goes to the old address once the change is confirmed.
	ChangeDone
)

// EmailChangeMail describes one change-of-address email for the compose
// function that renders it. The store sets the recipient.
type EmailChangeMail struct {
	Step     EmailChangeStep
	OldEmail string
	NewEmail string
	// Code is the raw confirmation code (ChangeConfirm only): it lives in
	// this value and, sealed, in the outbox row until sent.
	Code string
	// ExpiresAt is when the confirmation link stops working.
	ExpiresAt time.Time
	// When and Client say when and by whom the step was taken.
	When   time.Time
	Client Client
	// NotMeToken is the sealed one-time token of the "this wasn't me"
	// link (ChangeRequested only; see ConfirmNotMe).
	NotMeToken string
}

// ComposeEmailChange renders a change-of-address email.
type ComposeEmailChange func(EmailChangeMail) (Message, error)

// mailKindOf is the outbox kind of each step's email.
var mailKindOf = map[EmailChangeStep]MailKind{
	ChangeConfirm:   MailEmailChangeConfirm,
	ChangeTaken:     MailEmailChangeTaken,
	ChangeRequested: MailEmailChangeRequested,
	ChangeDone:      MailEmailChanged,
}

// composeChange renders and queues one change-of-address email to to.
func (s *Store) composeChange(ctx context.Context, tx bun.IDB, q *queued, to string, m EmailChangeMail, compose ComposeEmailChange, now time.Time) error {
	msg, err := compose(m)
	if err != nil {
		return fmt.Errorf("compose email-change mail: %w", err)
	}
	msg.To = to // only ever the address the store chose
	return s.enqueue(ctx, tx, q, mailKindOf[m.Step], msg, now)
}

// EmailChangeRequest is what RequestEmailChange needs.
type EmailChangeRequest struct {
	// Account asks for the change; its current password was checked.
	Account *Account
	// NewEmail is the new address, already through NormalizeEmail.
	NewEmail string
	Client   Client
	Compose  ComposeEmailChange
}

// RequestEmailChange records a change of address to confirm, all in one
// transaction: the account's open request (if any) is superseded, a new
// code's hash stored (valid VerifyTTL), and two emails queued: to the new
// address the confirmation link, to the current one a notice with the
// "this wasn't me" link; and an event written. Nothing else changes until
// the link is used (ConfirmEmailChange).
//
// A new address that belongs to another account gets, instead of the
// link, an email saying someone tried to use it; everything else is the
// same (a row is stored whose code nobody ever sees, the earlier request
// is superseded, the notice goes out), so neither the answer, its timing
// nor the requester's mailbox tells the two apart. Only the account's own
// address is refused (ErrEmailUnchanged).
func (s *Store) RequestEmailChange(ctx context.Context, in EmailChangeRequest) error {
	client := in.Client.clean()
	code, hash := NewCode()
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		now := s.now()
		// The account as it is now, not as the session loaded it.
		acc, err := AccountByID(ctx, tx, in.Account.ID)
		if err != nil {
			return err
		}
		if acc.Email == in.NewEmail {
			return ErrEmailUnchanged
		}
		if err := cancelEmailChanges(ctx, tx, acc.ID, now); err != nil {
			return err
		}
		taken, err := tx.NewSelect().Model((*Account)(nil)).Where("email = ?", in.NewEmail).Exists(ctx)
		if err != nil {
			return fmt.Errorf("new address: %w", err)
		}
		expires := now.Add(s.verifyTTL)
		change := &EmailChange{
			CodeHash: hash, AccountID: acc.ID, NewEmail: in.NewEmail, CreatedAt: now, ExpiresAt: expires,
			CreatedIP: client.IP, CreatedUserAgent: client.UserAgent,
		}
		if _, err := tx.NewInsert().Model(change).Exec(ctx); err != nil {
			return fmt.Errorf("insert email change: %w", err)
		}
		token, err := s.notMeToken(acc, now)
		if err != nil {
			return err
		}
		m := EmailChangeMail{
			Step: ChangeConfirm, OldEmail: acc.Email, NewEmail: in.NewEmail, Code: code,
			ExpiresAt: expires, When: now, Client: client,
		}
		if taken {
			m.Step, m.Code = ChangeTaken, ""
		}
		if err := s.composeChange(ctx, tx, q, in.NewEmail, m, in.Compose, now); err != nil {
			return err
		}
		m.Step, m.Code, m.NotMeToken = ChangeRequested, "", token
		if err := s.composeChange(ctx, tx, q, acc.Email, m, in.Compose, now); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, acc.ID, EventEmailChangeRequested, client, now)
	})
	if errors.Is(err, ErrEmailUnchanged) {
		return ErrEmailUnchanged
	}
	if err != nil {
		return fmt.Errorf("request email change: %w", err)
	}
	return nil
}

// cancelEmailChanges ends every open change-of-address request of an
// account: its links stop working.
func cancelEmailChanges(ctx context.Context, tx bun.IDB, accountID int64, now time.Time) error {
	if _, err := tx.NewUpdate().Model((*EmailChange)(nil)).
		Set("used_at = ?", now).
		Where("account_id = ? AND used_at IS NULL", accountID).
		Exec(ctx); err != nil {
		return fmt.Errorf("cancel email changes: %w", err)
	}
	return nil
}

// PendingEmailChange returns the account's open change-of-address request
// (unused, unexpired), or nil.
func (s *Store) PendingEmailChange(ctx context.Context, accountID int64) (*EmailChange, error) {
	change := new(EmailChange)
	err := s.db.NewSelect().Model(change).
		Where("account_id = ?", accountID).
		Where("used_at IS NULL").
		Where("expires_at > ?", s.now()).
		OrderExpr("created_at DESC").
		Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pending email change: %w", err)
	}
	return change, nil
}

// EmailChangeConfirmation is what ConfirmEmailChange needs.
type EmailChangeConfirmation struct {
	// CodeHash is the hash of the link's code (ParseCode).
	CodeHash string
	// Session is the confirming browser's signed-in session, or nil. It
	// stays signed in if it belongs to the account that changes; every
	// other session of that account is revoked.
	Session *Session
	Client  Client
	Compose ComposeEmailChange
}

// EmailChanged is the outcome of a confirmed change of address.
type EmailChanged struct {
	// Account is the account with its new address.
	Account  *Account
	OldEmail string
	// KeptSession is true when the confirming session belongs to the
	// account and stayed signed in.
	KeptSession bool
}

// ConfirmEmailChange switches an account to its new address with a
// confirmation code, all or nothing in one transaction: the code claimed
// with one conditional UPDATE (unknown, used, superseded or expired:
// ErrLinkInvalid), the address replaced if it is still free (else
// ErrEmailInUse and nothing changes: of two accounts confirming the same
// address at once, exactly one wins, by the unique constraint on
// accounts.email) and marked verified, every other session revoked (all
// of them unless in.Session is the account's), the account's open reset
// codes and change requests ended, an event written and a notice queued
// to the old address.
func (s *Store) ConfirmEmailChange(ctx context.Context, in EmailChangeConfirmation) (*EmailChanged, error) {
	client := in.Client.clean()
	var out *EmailChanged
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		out = nil
		now := s.now()
		var accountID int64
		var newEmail string
		err := tx.NewUpdate().Model((*EmailChange)(nil)).
			Set("used_at = ?", now).
			Set("used_ip = ?", client.IP).
			Where("code_hash = ?", in.CodeHash).
			Where("used_at IS NULL").
			Where("expires_at > ?", now).
			Returning("account_id, new_email").
			Scan(ctx, &accountID, &newEmail)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrLinkInvalid
		}
		if err != nil {
			return fmt.Errorf("claim code: %w", err)
		}
		acc := new(Account)
		sel := tx.NewSelect().Model(acc).Where("id = ?", accountID)
		if tx.Dialect().Name() == dialect.PG {
			// Serialise with sign-ins and password changes of this account.
			sel = sel.For("UPDATE")
		}
		if err := sel.Limit(1).Scan(ctx); err != nil {
			return fmt.Errorf("account: %w", err)
		}
		taken, err := tx.NewSelect().Model((*Account)(nil)).
			Where("email = ? AND id <> ?", newEmail, acc.ID).Exists(ctx)
		if err != nil {
			return fmt.Errorf("new address: %w", err)
		}
		if taken {
			return ErrEmailInUse
		}
		// Another transaction may take the address between the check and
		// this update (Postgres; SQLite runs one writer at a time): the
		// unique constraint decides, and the loser rolls back whole.
		if _, err := tx.NewUpdate().Model((*Account)(nil)).
			Set("email = ?", newEmail).
			Set("email_verified_at = ?", now).
			Set("updated_at = ?", now).
			Where("id = ?", acc.ID).Exec(ctx); err != nil {
			if IsUniqueViolation(err) {
				return ErrEmailInUse
			}
			return fmt.Errorf("update address: %w", err)
		}
		old := acc.Email
		acc.Email, acc.EmailVerifiedAt, acc.UpdatedAt = newEmail, &now, now
		// Codes mailed to the old address must not outlive it.
		if _, err := tx.NewUpdate().Model((*PasswordReset)(nil)).
			Set("used_at = ?", now).
			Where("account_id = ? AND used_at IS NULL", acc.ID).
			Exec(ctx); err != nil {
			return fmt.Errorf("invalidate reset codes: %w", err)
		}
		if err := cancelEmailChanges(ctx, tx, acc.ID, now); err != nil {
			return err
		}
		keep := in.Session != nil && in.Session.AccountID == acc.ID
		del := tx.NewDelete().Model((*Session)(nil)).Where("account_id = ?", acc.ID)
		if keep {
			del = del.Where("id_hash <> ?", in.Session.IDHash)
		}
		if _, err := del.Exec(ctx); err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		// The whole account: a kept session is read again, new address
		// and all.
		if err := s.endSessions(ctx, tx, q, nil, []int64{acc.ID}); err != nil {
			return err
		}
		if err := RecordEvent(ctx, tx, acc.ID, EventEmailChanged, client, now); err != nil {
			return err
		}
		m := EmailChangeMail{Step: ChangeDone, OldEmail: old, NewEmail: acc.Email, When: now, Client: client}
		if err := s.composeChange(ctx, tx, q, old, m, in.Compose, now); err != nil {
			return err
		}
		out = &EmailChanged{Account: acc, OldEmail: old, KeptSession: keep}
		return nil
	})
	switch {
	case errors.Is(err, ErrLinkInvalid):
		return nil, ErrLinkInvalid
	case errors.Is(err, ErrEmailInUse):
		return nil, ErrEmailInUse
	case err != nil:
		return nil, fmt.Errorf("confirm email change: %w", err)
	}
	return out, nil
}

// AllowEmailChange counts one change-of-address request for the account
// and one for ip, and refuses it (a *LimitedError) when either is over
// its hourly limit: every request mails two addresses, one of them
// anyone's.
func (s *Store) AllowEmailChange(ctx context.Context, acc *Account, ip string) error {
	var refused *LimitedError
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, _ *queued) error {
		refused = nil
		now := s.now()
		for _, l := range []struct {
			key   string
			limit int
		}{
			{limitEmailChange.key(acc.PublicID), s.limits.EmailChangesPerHour},
			{limitEmailChangeIP.key(ipKey(ip)), s.limits.EmailChangesPerHourIP},
		} {
			ok, retry, err := hit(ctx, tx, l.key, l.limit, time.Hour, now)
			if err != nil {
				return err
			}
			if !ok && (refused == nil || retry > refused.RetryAfter) {
				refused = &LimitedError{RetryAfter: retry}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("email change limit: %w", err)
	}
	if refused != nil {
		return refused
	}
	return nil
}
