package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Session is a signed-in browser. The cookie holds a random id; the row is
// keyed by the id's SHA-256, so a copy of the table signs nobody in.
type Session struct {
	bun.BaseModel `bun:"table:sessions"`

	IDHash     string    `bun:"id_hash,pk"`
	AccountID  int64     `bun:"account_id,notnull"`
	CreatedAt  time.Time `bun:"created_at,notnull"`
	LastSeenAt time.Time `bun:"last_seen_at,notnull"`
	IP         string    `bun:"ip,notnull"`
	UserAgent  string    `bun:"user_agent,notnull"`
	AuthState  AuthState `bun:"auth_state,notnull"`
	// MFA is true when this session's sign-in used a second factor or a
	// passkey (X-Latchkey-MFA): SignInWithPasskey and CompleteSecondStep
	// set it.
	MFA bool `bun:"mfa,notnull"`

	// Account is loaded with the session in one query.
	Account *Account `bun:"rel:belongs-to,join:account_id=id"`
}

// AuthState is how far a session's sign-in has got. Only AuthFull signs
// anyone in; every other state is signed out to every page and check.
type AuthState string

// The authentication states of a session.
const (
	// AuthFull: every factor the account needs was checked.
	AuthFull AuthState = "full"
	// AuthSecondFactorPending: the password was checked, a second factor
	// is still due (SignInPending; CompleteSecondStep promotes it).
	AuthSecondFactorPending AuthState = "second_factor_pending"
)

// SignedIn reports whether the session signs its browser in; a nil
// session signs nobody in.
func (s *Session) SignedIn() bool { return s != nil && s.AuthState == AuthFull }

// touchEvery limits last-seen writes to one a minute per session.
const touchEvery = time.Minute

// HashSessionID returns the stored form of a session id.
func HashSessionID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// CreateSession starts a session for an account and returns its raw id,
// which only the cookie keeps.
func (s *Store) CreateSession(ctx context.Context, db bun.IDB, accountID int64, client Client) (string, *Session, error) {
	return s.createSession(ctx, db, accountID, client, AuthFull, false)
}

// createSession inserts a session row in the given state.
func (s *Store) createSession(ctx context.Context, db bun.IDB, accountID int64, client Client, state AuthState, mfa bool) (string, *Session, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	id := base64.RawURLEncoding.EncodeToString(b)
	client = client.clean()
	now := s.now()
	sess := &Session{
		IDHash: HashSessionID(id), AccountID: accountID, CreatedAt: now, LastSeenAt: now,
		IP: client.IP, UserAgent: client.UserAgent, AuthState: state, MFA: mfa,
	}
	if _, err := db.NewInsert().Model(sess).Exec(ctx); err != nil {
		return "", nil, fmt.Errorf("create session: %w", err)
	}
	return id, sess, nil
}

// SignIn starts a session for an authenticated account, clears the
// address's failed sign-in counter and records the event.
func (s *Store) SignIn(ctx context.Context, acc *Account, client Client) (string, *Session, error) {
	id, sess, err := s.signIn(ctx, acc, client, AuthFull)
	if err != nil {
		return "", nil, fmt.Errorf("sign in: %w", err)
	}
	return id, sess, nil
}

// SignInPending is SignIn for an account with a second factor
// (HasSecondFactor): the password was right, so the address's failed
// sign-in counter is cleared as by SignIn, but the session row it starts
// is AuthSecondFactorPending, which signs nobody in until
// CompleteSecondStep promotes it (within SecondStepTTL). No sign-in event
// yet: that is written when the second step succeeds.
func (s *Store) SignInPending(ctx context.Context, acc *Account, client Client) (string, *Session, error) {
	id, sess, err := s.signIn(ctx, acc, client, AuthSecondFactorPending)
	if err != nil {
		return "", nil, fmt.Errorf("sign in, second step pending: %w", err)
	}
	return id, sess, nil
}

// signIn is SignIn and SignInPending: the session row in state, in one
// transaction with the recheck of the password and the counters.
func (s *Store) signIn(ctx context.Context, acc *Account, client Client, state AuthState) (string, *Session, error) {
	var id string
	var sess *Session
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, _ *queued) error {
		// The password was checked outside this transaction. Lock the
		// account row and make sure the hash is still the one checked: a
		// reset or change that committed in between (and revoked every
		// session) must not be followed by a session for the old password.
		// On Postgres FOR UPDATE waits for such a change to commit; on
		// SQLite the transaction already holds the write lock.
		q := tx.NewSelect().Model((*Account)(nil)).Column("id").
			Where("id = ? AND password_hash = ?", acc.ID, acc.PasswordHash)
		if tx.Dialect().Name() == dialect.PG {
			q = q.For("UPDATE")
		}
		if n, err := q.Count(ctx); err != nil {
			return fmt.Errorf("recheck password: %w", err)
		} else if n == 0 {
			return ErrBadCredentials
		}
		var err error
		id, sess, err = s.createSession(ctx, tx, acc.ID, client, state, false)
		if err != nil {
			return err
		}
		if err := clearSignInAttempts(ctx, tx, acc.Email, client.clean().IP); err != nil {
			return err
		}
		if state != AuthFull {
			return nil
		}
		return RecordEvent(ctx, tx, acc.ID, EventSignIn, client, s.now())
	})
	return id, sess, err
}

// SignInNewAccount starts the first session of an account Register has
// just created and records the sign-in. No password check was reserved
// with SignInAttempt, so no sign-in counter is touched: clearing them here
// would let anyone wipe an IP's failed sign-ins by registering accounts.
func (s *Store) SignInNewAccount(ctx context.Context, acc *Account, client Client) (string, *Session, error) {
	var id string
	var sess *Session
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, _ *queued) error {
		var err error
		id, sess, err = s.CreateSession(ctx, tx, acc.ID, client)
		if err != nil {
			return err
		}
		return RecordEvent(ctx, tx, acc.ID, EventSignIn, client, s.now())
	})
	if err != nil {
		return "", nil, fmt.Errorf("sign in new account: %w", err)
	}
	return id, sess, nil
}

// LoadSession finds the live session for a raw id, with its account, enforcing the idle and
// absolute lifetimes; an expired row is deleted. last_seen is refreshed at
// most once a minute.
func (s *Store) LoadSession(ctx context.Context, id string) (*Session, error) {
	return s.loadSession(ctx, HashSessionID(id))
}

func (s *Store) loadSession(ctx context.Context, idHash string) (*Session, error) {
	sess := new(Session)
	conn, where := s.prepared(idHash)
	err := s.db.NewSelect().Conn(conn).Model(sess).Relation("Account").Where("session.id_hash = ?", where...).Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrSessionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	now := s.now()
	if now.Sub(sess.LastSeenAt) >= s.sessionIdle || now.Sub(sess.CreatedAt) >= s.sessionMax {
		// Expired everywhere by the clock already; no instance needs telling.
		s.sessionCache.invalidate([]string{idHash}, nil)
		if _, err := s.db.NewDelete().Model((*Session)(nil)).Where("id_hash = ?", idHash).Exec(ctx); err != nil {
			return nil, fmt.Errorf("expire session: %w", err)
		}
		return nil, ErrSessionNotFound
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		sess.LastSeenAt = now
		if _, err := s.db.NewUpdate().Model((*Session)(nil)).Set("last_seen_at = ?", now).
			Where("id_hash = ?", idHash).Exec(ctx); err != nil {
			return nil, fmt.Errorf("touch session: %w", err)
		}
	}
	return sess, nil
}

// ExpiresAt is when the session ends unless it is used again: its idle
// timeout from the last use, or its absolute lifetime, whichever is first.
func (s *Store) ExpiresAt(sess *Session) time.Time {
	idle := sess.LastSeenAt.Add(s.sessionIdle)
	if hard := sess.CreatedAt.Add(s.sessionMax); hard.Before(idle) {
		return hard
	}
	return idle
}

// deleteSession removes one session row inside a transaction, and from
// every instance's session cache once it commits.
func (s *Store) deleteSession(ctx context.Context, tx bun.IDB, q *queued, idHash string) error {
	if _, err := tx.NewDelete().Model((*Session)(nil)).Where("id_hash = ?", idHash).Exec(ctx); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return s.endSessions(ctx, tx, q, []string{idHash}, nil)
}

// SignOut deletes a session and records the event.
func (s *Store) SignOut(ctx context.Context, sess *Session, client Client) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		if err := s.deleteSession(ctx, tx, q, sess.IDHash); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, sess.AccountID, EventSignOut, client, s.now())
	})
}

// RotateSession replaces a session's id (on privilege change) keeping its
// account, and returns the new raw id.
func (s *Store) RotateSession(ctx context.Context, sess *Session, client Client) (string, *Session, error) {
	var id string
	var fresh *Session
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		if err := s.deleteSession(ctx, tx, q, sess.IDHash); err != nil {
			return err
		}
		var err error
		id, fresh, err = s.CreateSession(ctx, tx, sess.AccountID, client)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("rotate session: %w", err)
	}
	return id, fresh, nil
}

// RevokeOtherSessions signs out every session of the account except keep.
func (s *Store) RevokeOtherSessions(ctx context.Context, sess *Session, client Client) (int, error) {
	var n int
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		res, err := tx.NewDelete().Model((*Session)(nil)).
			Where("account_id = ? AND id_hash <> ?", sess.AccountID, sess.IDHash).Exec(ctx)
		if err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		rows, _ := res.RowsAffected() // both drivers report it
		n = int(rows)
		// The whole account: the kept session is simply read again.
		if err := s.endSessions(ctx, tx, q, nil, []int64{sess.AccountID}); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, sess.AccountID, EventSessionsRevoked, client, s.now())
	})
	return n, err
}

// RevokeSession deletes one of the account's sessions by its id hash.
func (s *Store) RevokeSession(ctx context.Context, accountID int64, idHash string) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		res, err := tx.NewDelete().Model((*Session)(nil)).
			Where("account_id = ? AND id_hash = ?", accountID, idHash).Exec(ctx)
		if err != nil {
			return fmt.Errorf("revoke session: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return s.endSessions(ctx, tx, q, []string{idHash}, nil)
	})
}

// AccountSessions lists an account's live sessions, most recent first.
func (s *Store) AccountSessions(ctx context.Context, accountID int64) ([]Session, error) {
	now := s.now()
	var list []Session
	err := s.db.NewSelect().Model(&list).
		Where("account_id = ?", accountID).
		// A sign-in waiting for its second step is not signed in anywhere.
		Where("auth_state = ?", AuthFull).
		Where("last_seen_at > ?", now.Add(-s.sessionIdle)).
		Where("created_at > ?", now.Add(-s.sessionMax)).
		OrderExpr("last_seen_at DESC").
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("account sessions: %w", err)
	}
	return list, nil
}

// RevokeAllSessions signs out every session of an account ("this wasn't
// me").
func (s *Store) RevokeAllSessions(ctx context.Context, accountID int64, client Client) error {
	return s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		if _, err := tx.NewDelete().Model((*Session)(nil)).Where("account_id = ?", accountID).Exec(ctx); err != nil {
			return fmt.Errorf("revoke all sessions: %w", err)
		}
		if err := s.endSessions(ctx, tx, q, nil, []int64{accountID}); err != nil {
			return err
		}
		return RecordEvent(ctx, tx, accountID, EventSessionsRevoked, client, s.now())
	})
}
