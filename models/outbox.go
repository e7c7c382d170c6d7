package models

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// OutboxChannel is the Postgres NOTIFY channel that wakes every
// instance's worker when mail is queued.
const OutboxChannel = "latchkey_outbox"

// Outbox statuses.
const (
	OutboxPending = "pending"
	OutboxSending = "sending"
	OutboxSent    = "sent"
	OutboxFailed  = "failed"
)

// MailKind names what a queued email is for. The value is stored in
// outbox_emails.kind and bound into the sealed body's associated data, so
// existing values must never change.
type MailKind string

// The kinds of email the store queues.
const (
	MailReset           MailKind = "reset"
	MailPasswordChanged MailKind = "password-changed"
	// Passkey notifications (AddPasskey, RemovePasskey).
	MailPasskeyAdded   MailKind = "passkey-added"
	MailPasskeyRemoved MailKind = "passkey-removed"
	// Change of address (models/email_change.go).
	MailEmailChangeConfirm   MailKind = "email-change-confirm"
	MailEmailChangeTaken     MailKind = "email-change-taken"
	MailEmailChangeRequested MailKind = "email-change-requested"
	MailEmailChanged         MailKind = "email-changed"
	// Email verification (models/verify_email.go).
	MailVerifyEmail MailKind = "verify-email"
	// MailFactor: a second factor was added or removed, a recovery code
	// used (models/totp.go).
	MailFactor MailKind = "factor"
)

// OutboxEmail is a queued email. Its body (which may hold a reset code) is
// sealed with a key derived from SESSION_SECRET and wiped once sent.
type OutboxEmail struct {
	bun.BaseModel `bun:"table:outbox_emails"`

	ID            int64      `bun:"id,pk,autoincrement"`
	Kind          MailKind   `bun:"kind,notnull"`
	Recipient     string     `bun:"recipient,notnull"`
	SealedBody    []byte     `bun:"sealed_body"`
	Status        string     `bun:"status,notnull"`
	Attempts      int        `bun:"attempts,notnull"`
	NextAttemptAt time.Time  `bun:"next_attempt_at,notnull"`
	LastError     string     `bun:"last_error,notnull"`
	CreatedAt     time.Time  `bun:"created_at,notnull"`
	SentAt        *time.Time `bun:"sent_at"`
}

func outboxAD(kind MailKind, recipient string) []byte {
	return []byte("latchkey-outbox\x00" + string(kind) + "\x00" + recipient)
}

// enqueue seals and queues a message inside the caller's transaction.
func (s *Store) enqueue(ctx context.Context, tx bun.IDB, q *queued, kind MailKind, msg Message, now time.Time) error {
	plain, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	row := &OutboxEmail{
		Kind: kind, Recipient: msg.To, SealedBody: s.sealer.Seal(plain, outboxAD(kind, msg.To)),
		Status: OutboxPending, NextAttemptAt: now, CreatedAt: now,
	}
	if _, err := tx.NewInsert().Model(row).Returning("id").Exec(ctx); err != nil {
		return fmt.Errorf("enqueue: %w", err)
	}
	q.ids = append(q.ids, row.ID)
	if !q.mail && s.db.Dialect().Name() == dialect.PG {
		// Delivered at commit to every instance's worker (LISTEN).
		if _, err := tx.ExecContext(ctx, "SELECT pg_notify(?, '')", OutboxChannel); err != nil {
			return fmt.Errorf("enqueue: notify: %w", err)
		}
	}
	q.mail = true
	return nil
}

// OpenMessage decrypts a claimed row's message.
func (s *Store) OpenMessage(row *OutboxEmail) (Message, error) {
	var msg Message
	plain, err := s.sealer.Open(row.SealedBody, outboxAD(row.Kind, row.Recipient))
	if err != nil {
		return msg, fmt.Errorf("open outbox %d: %w", row.ID, err)
	}
	if err := json.Unmarshal(plain, &msg); err != nil {
		return msg, fmt.Errorf("open outbox %d: %w", row.ID, err)
	}
	msg.To = row.Recipient
	return msg, nil
}

// ClaimDue takes up to limit due messages for sending. Claiming records the
// attempt and leases the row until now+lease: a worker that dies mid-send
// leaves a row that becomes due again when the lease runs out. On Postgres
// rows locked by another instance's claim are skipped (SKIP LOCKED); on
// SQLite the single UPDATE runs under the database's one write lock.
func (s *Store) ClaimDue(ctx context.Context, limit int, lease time.Duration) ([]OutboxEmail, error) {
	now := s.now()
	sub := s.db.NewSelect().Model((*OutboxEmail)(nil)).Column("id").
		Where("status IN (?, ?)", OutboxPending, OutboxSending).
		Where("next_attempt_at <= ?", now).
		OrderExpr("next_attempt_at, id").
		Limit(int64(limit))
	if s.db.Dialect().Name() == dialect.PG {
		sub = sub.For("UPDATE SKIP LOCKED")
	}
	var rows []OutboxEmail
	err := s.db.NewUpdate().Model(&rows).
		Set("status = ?", OutboxSending).
		Set("attempts = attempts + 1").
		Set("next_attempt_at = ?", now.Add(lease)).
		Where("id IN (?)", sub).
		Returning("*").
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim outbox: %w", err)
	}
	return rows, nil
}

// ClaimQueued takes the messages with the given ids that are due, for a
// process that sends only the mail it queued itself (the CLI). A message
// another worker has already claimed or sent is left alone.
func (s *Store) ClaimQueued(ctx context.Context, ids []int64, lease time.Duration) ([]OutboxEmail, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	now := s.now()
	var rows []OutboxEmail
	// Only pending rows: a row in "sending" is under another worker's
	// lease (or waiting for it to run out), and is that worker's to finish.
	err := s.db.NewUpdate().Model(&rows).
		Set("status = ?", OutboxSending).
		Set("attempts = attempts + 1").
		Set("next_attempt_at = ?", now.Add(lease)).
		Where("id IN (?)", bun.List(ids)).
		Where("status = ?", OutboxPending).
		Where("next_attempt_at <= ?", now).
		Returning("*").
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim queued: %w", err)
	}
	return rows, nil
}

// The Mark functions only touch a row still under the caller's claim
// (status sending, same attempt number): a worker that outlived its lease
// cannot overwrite the outcome recorded by the one that took over.

// MarkSent records delivery and wipes the sealed body.
func (s *Store) MarkSent(ctx context.Context, row *OutboxEmail) error {
	id := row.ID
	now := s.now()
	_, err := s.db.NewUpdate().Model((*OutboxEmail)(nil)).
		Set("status = ?", OutboxSent).
		Set("sealed_body = NULL").
		Set("sent_at = ?", now).
		Set("last_error = ''").
		Where("id = ? AND status = ? AND attempts = ?", id, OutboxSending, row.Attempts).Exec(ctx)
	if err != nil {
		return fmt.Errorf("mark sent %d: %w", id, err)
	}
	return nil
}

// MarkRetry puts a message back in the queue for another attempt after
// delay.
func (s *Store) MarkRetry(ctx context.Context, row *OutboxEmail, delay time.Duration, reason string) error {
	id := row.ID
	next := s.now().Add(delay)
	_, err := s.db.NewUpdate().Model((*OutboxEmail)(nil)).
		Set("status = ?", OutboxPending).
		Set("next_attempt_at = ?", next).
		Set("last_error = ?", clip(reason, 500)).
		Where("id = ? AND status = ? AND attempts = ?", id, OutboxSending, row.Attempts).Exec(ctx)
	if err != nil {
		return fmt.Errorf("mark retry %d: %w", id, err)
	}
	return nil
}

// MarkFailed gives up on a message (permanent SMTP failure or too many
// attempts) and wipes its sealed body; the row stays as a record.
func (s *Store) MarkFailed(ctx context.Context, row *OutboxEmail, reason string) error {
	id := row.ID
	_, err := s.db.NewUpdate().Model((*OutboxEmail)(nil)).
		Set("status = ?", OutboxFailed).
		Set("sealed_body = NULL").
		Set("last_error = ?", clip(reason, 500)).
		Where("id = ? AND status = ? AND attempts = ?", id, OutboxSending, row.Attempts).Exec(ctx)
	if err != nil {
		return fmt.Errorf("mark failed %d: %w", id, err)
	}
	return nil
}

// OutboxBacklog counts messages waiting to be sent.
func (s *Store) OutboxBacklog(ctx context.Context) (int, error) {
	n, err := s.db.NewSelect().Model((*OutboxEmail)(nil)).
		Where("status IN (?, ?)", OutboxPending, OutboxSending).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("outbox backlog: %w", err)
	}
	return int(n), nil
}

// NextDue returns when the earliest queued message becomes due, or false.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var row OutboxEmail
	err := s.db.NewSelect().Model(&row).Column("next_attempt_at").
		Where("status IN (?, ?)", OutboxPending, OutboxSending).
		OrderExpr("next_attempt_at").Limit(1).Scan(ctx)
	if err != nil {
		if isNoRows(err) {
			return time.Time{}, false, nil
		}
		return time.Time{}, false, fmt.Errorf("next due: %w", err)
	}
	return row.NextAttemptAt, true, nil
}

// usedLinkKeep is how long Cleanup keeps the mark of a spent "this wasn't
// me" link: two days past the longest a link lives.
const usedLinkKeep = NotMeTTL + 2*24*time.Hour

// Cleanup deletes sent and failed mail older than keep, expired or used
// reset and verification codes and change-of-address requests older than keep, dead sessions and stale rate-limit rows.
func (s *Store) Cleanup(ctx context.Context, keep time.Duration) error {
	now := s.now()
	cut := now.Add(-keep)
	steps := []struct {
		name string
		q    *bun.DeleteQuery
	}{
		{"outbox", s.db.NewDelete().Model((*OutboxEmail)(nil)).
			Where("status IN (?, ?) AND created_at < ?", OutboxSent, OutboxFailed, cut)},
		{"resets", s.db.NewDelete().Model((*PasswordReset)(nil)).
			Where("expires_at < ? OR (used_at IS NOT NULL AND used_at < ?)", cut, cut)},
		{"verifications", s.db.NewDelete().Model((*EmailVerification)(nil)).
			Where("expires_at < ? OR (used_at IS NOT NULL AND used_at < ?)", cut, cut)},
		{"email changes", s.db.NewDelete().Model((*EmailChange)(nil)).
			Where("expires_at < ? OR (used_at IS NOT NULL AND used_at < ?)", cut, cut)},
		{"sessions", s.db.NewDelete().Model((*Session)(nil)).
			Where("last_seen_at < ? OR created_at < ?", now.Add(-s.sessionIdle), now.Add(-s.sessionMax))},
		// TOTP set-ups never confirmed.
		{"pending totp", s.db.NewDelete().Model((*TOTPFactor)(nil)).
			Where("confirmed_at IS NULL AND created_at < ?", now.Add(-PendingTOTPTTL))},
		// Marks of spent one-time links must outlive the link (NotMeTTL);
		// every other row's window is at most a day.
		{"rate limits", s.db.NewDelete().TableExpr("rate_limits").
			Where("window_start < ? AND (blocked_until IS NULL OR blocked_until < ?) AND key NOT LIKE ?", now.Add(-24*time.Hour), now, usedNotMeLink.like())},
		{"used links", s.db.NewDelete().TableExpr("rate_limits").
			Where("window_start < ? AND key LIKE ?", now.Add(-usedLinkKeep), usedNotMeLink.like())},
		{"webauthn ceremonies", s.db.NewDelete().Model((*Ceremony)(nil)).Where("expires_at < ?", now)},
	}
	for _, st := range steps {
		if _, err := st.q.Exec(ctx); err != nil {
			return fmt.Errorf("cleanup %s: %w", st.name, err)
		}
	}
	return nil
}
