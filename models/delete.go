package models

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// MailGoodbye is the "your account was deleted" email, the one row of an
// account that outlives it (until the outbox worker sends it and Cleanup
// removes the record).
const MailGoodbye MailKind = "goodbye"

// GoodbyeMail describes the "account deleted" email for the compose
// function that renders it. The account no longer exists when it is
// sent, so it carries only the address and how the deletion came about.
type GoodbyeMail struct {
	Email  string
	When   time.Time
	Client Client
	// ByOperator is set when an operator deleted the account from the
	// command line: there is no IP address or device to name.
	ByOperator bool
}

// ComposeGoodbye renders the "account deleted" email.
type ComposeGoodbye func(GoodbyeMail) (Message, error)

// DeleteAccountInput is what DeleteAccount needs.
type DeleteAccountInput struct {
	// Account is the account to delete, as the caller loaded it.
	Account *Account
	// CheckedHash is the password hash the caller checked the current
	// password against (CheckPassword): if the password changed since
	// (a reset that landed meanwhile), the deletion is refused with
	// ErrWrongPassword. "" for an operator, who gives no password.
	CheckedHash string
	// Device is the browser's trusted device (DeviceCookies.Verify), whose
	// sign-in counter goes with the account; the zero Device for none.
	Device Device
	// Client made the request (the zero Client for the command line,
	// which also makes the email say an operator did it).
	Client Client
	// ByOperator marks a deletion from the command line.
	ByOperator bool
	// Compose renders the goodbye email.
	Compose ComposeGoodbye
}

// DeleteAccount removes an account and everything of it in one
// transaction, all or nothing:
//
//   - every session, through the session-ending path (endSessions), so
//     /auth/verify on every instance refuses them as soon as it commits;
//   - every row of every table with an account_id column, found in the
//     schema itself (reset codes, security events, and whatever tables
//     later features add, whether or not they cascade);
//   - the rate-limit rows keyed by its address, its public id or its
//     numeric id, and the counter of the deleting browser's device cookie
//     (other device cookies name no account, so their counters cannot be
//     found; they hold nothing but a count and expire within a day);
//   - every email addressed to it in the outbox, sent or not;
//   - the account row.
//
// Then it queues the goodbye email to the address, rendered by compose:
// a failure there rolls everything back. ErrNotFound: the account is
// already gone.
func (s *Store) DeleteAccount(ctx context.Context, in DeleteAccountInput) error {
	client := in.Client.clean()
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		now := s.now()
		// Lock the account row (SQLite's transaction already holds the
		// write lock), so a concurrent password change or sign-in waits.
		sel := tx.NewSelect().Model((*Account)(nil)).Where("id = ?", in.Account.ID).Limit(1)
		if tx.Dialect().Name() == dialect.PG {
			sel = sel.For("UPDATE")
		}
		acc := new(Account)
		if err := sel.Scan(ctx, acc); err != nil {
			if isNoRows(err) {
				return ErrNotFound
			}
			return fmt.Errorf("load account: %w", err)
		}
		if in.CheckedHash != "" && acc.PasswordHash != in.CheckedHash {
			return ErrWrongPassword
		}

		if _, err := tx.NewDelete().Model((*Session)(nil)).Where("account_id = ?", acc.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		if err := s.endSessions(ctx, tx, q, nil, []int64{acc.ID}); err != nil {
			return err
		}

		tables, err := accountTables(ctx, tx)
		if err != nil {
			return err
		}
		for _, table := range tables {
			if table == "sessions" {
				continue // ended above
			}
			if _, err := tx.NewDelete().TableExpr("?", bun.Ident(table)).Where("account_id = ?", acc.ID).Exec(ctx); err != nil {
				return fmt.Errorf("delete from %s: %w", table, err)
			}
		}

		// Rate-limit keys are "kind:subject"; the subjects that name this
		// account are its address, its public id and its numeric id.
		for _, subject := range []string{acc.Email, acc.PublicID, strconv.FormatInt(acc.ID, 10)} {
			if _, err := tx.NewDelete().Model((*rateRow)(nil)).
				Where(`key LIKE ? ESCAPE '\'`, "%:"+escapeLike(subject)).Exec(ctx); err != nil {
				return fmt.Errorf("delete rate limits: %w", err)
			}
		}
		if in.Device.nonce != "" {
			if err := resetLimit(ctx, tx, limitSignInDev.key(in.Device.nonce)); err != nil {
				return err
			}
		}

		if _, err := tx.NewDelete().Model((*OutboxEmail)(nil)).Where("recipient = ?", acc.Email).Exec(ctx); err != nil {
			return fmt.Errorf("delete mail: %w", err)
		}
		if _, err := tx.NewDelete().Model((*Account)(nil)).Where("id = ?", acc.ID).Exec(ctx); err != nil {
			return fmt.Errorf("delete account: %w", err)
		}

		msg, err := in.Compose(GoodbyeMail{Email: acc.Email, When: now, Client: client, ByOperator: in.ByOperator})
		if err != nil {
			return fmt.Errorf("compose goodbye mail: %w", err)
		}
		msg.To = acc.Email // only ever the stored address
		return s.enqueue(ctx, tx, q, MailGoodbye, msg, now)
	})
	if err != nil {
		return fmt.Errorf("delete account: %w", err)
	}
	return nil
}

// accountTables lists the tables with an account_id column, from the
// schema itself, so a table a later migration adds is swept by
// DeleteAccount even if its foreign key does not cascade.
func accountTables(ctx context.Context, db bun.IDB) ([]string, error) {
	var q string
	if db.Dialect().Name() == dialect.PG {
		q = `SELECT table_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND column_name = 'account_id' ORDER BY table_name`
	} else {
		q = `SELECT m.name FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS c
			WHERE m.type = 'table' AND c.name = 'account_id' ORDER BY m.name`
	}
	var names []string
	if err := db.NewRaw(q).Scan(ctx, &names); err != nil {
		return nil, fmt.Errorf("list account tables: %w", err)
	}
	return names, nil
}

// escapeLike escapes LIKE's wildcards (and the escape character) in s, for
// a pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
