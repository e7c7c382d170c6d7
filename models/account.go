package models

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Account is a user: a unique canonical (lower-cased) address and an
// argon2id password hash.
type Account struct {
	bun.BaseModel `bun:"table:accounts"`

	ID int64 `bun:"id,pk,autoincrement"`
	// PublicID is the account's stable opaque id (32 lower-case hex
	// digits, 128 random bits): the one to show outside the server, since
	// ID is sequential. Set on insert (see BeforeAppendModel).
	PublicID        string     `bun:"public_id,notnull"`
	Email           string     `bun:"email,notnull"`
	PasswordHash    string     `bun:"password_hash,notnull"`
	EmailVerifiedAt *time.Time `bun:"email_verified_at"`
	// PasswordLockedAt is set when the owner reports "this wasn't me": the
	// password then signs nobody in until a new one is set.
	PasswordLockedAt *time.Time `bun:"password_locked_at"`
	CreatedAt        time.Time  `bun:"created_at,notnull"`
	UpdatedAt        time.Time  `bun:"updated_at,notnull"`
}

var _ bun.BeforeAppendModelHook = (*Account)(nil)

// BeforeAppendModel gives an account being inserted its public id, so
// every insert path (registration, the CLI, bulk loads) has one.
func (a *Account) BeforeAppendModel(_ context.Context, q bun.Query) error {
	if _, ok := q.(*bun.InsertQuery); ok && a.PublicID == "" {
		a.PublicID = NewPublicID()
	}
	return nil
}

// publicIDBytes is the size of a public id before hex encoding.
const publicIDBytes = 16

// NewPublicID returns a fresh opaque account id: 128 bits from
// crypto/rand, lower-case hex.
func NewPublicID() string {
	b := make([]byte, publicIDBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b)
}

// AccountByPublicID finds an account by its public id.
func AccountByPublicID(ctx context.Context, db bun.IDB, publicID string) (*Account, error) {
	acc := new(Account)
	err := db.NewSelect().Model(acc).Where("public_id = ?", publicID).Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("account by public id: %w", err)
	}
	return acc, nil
}

// Message is a rendered email ready to queue.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// PasswordChange says how a password came to be replaced. It decides the
// security event, whether the address counts as proven, and what the
// "password changed" email says. The zero value is no change at all, so a
// caller that forgets to choose is refused rather than guessed for.
type PasswordChange int

const (
	// ChangedByReset: the owner used an emailed reset code (CompleteReset),
	// which also proves the address.
	ChangedByReset PasswordChange = iota + 1
	// ChangedBySelf: the signed-in owner changed it on the account page,
	// giving the current password.
	ChangedBySelf
	// ChangedByOperator: an operator set it from the command line; there
	// is no client to name.
	ChangedByOperator
)

// String names the change for logs and errors.
func (c PasswordChange) String() string {
	switch c {
	case ChangedByReset:
		return "reset"
	case ChangedBySelf:
		return "self"
	case ChangedByOperator:
		return "operator"
	}
	return fmt.Sprintf("PasswordChange(%d)", int(c))
}

// ChangedMail describes a "your password was changed" notification for the
// compose function that renders it.
type ChangedMail struct {
	Account *Account
	When    time.Time
	Client  Client
	How     PasswordChange
	// NotMeToken is the sealed one-time token of the email's "this wasn't
	// me" link, minted by the store (see ConfirmNotMe).
	NotMeToken string
}

// ComposeChanged renders a password-changed notification.
type ComposeChanged func(ChangedMail) (Message, error)

// AccountByEmail finds an account by its canonical address.
func AccountByEmail(ctx context.Context, db bun.IDB, email string) (*Account, error) {
	acc := new(Account)
	err := db.NewSelect().Model(acc).Where("email = ?", email).Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("account by email: %w", err)
	}
	return acc, nil
}

// AccountByID finds an account by id.
func AccountByID(ctx context.Context, db bun.IDB, id int64) (*Account, error) {
	acc := new(Account)
	err := db.NewSelect().Model(acc).Where("id = ?", id).Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("account by id: %w", err)
	}
	return acc, nil
}

// Register creates an account with a password that has already passed
// CheckPasswordPolicy, records the event and queues the verification
// email (compose renders it), all in one transaction: no account without
// its email, no email without its account. It returns the account.
func (s *Store) Register(ctx context.Context, email, password string, client Client, compose ComposeVerify) (*Account, error) {
	client = client.clean()
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	now := s.now()
	acc := &Account{Email: email, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		if _, err := tx.NewInsert().Model(acc).Returning("id").Exec(ctx); err != nil {
			if IsUniqueViolation(err) {
				return ErrEmailTaken
			}
			return fmt.Errorf("insert account: %w", err)
		}
		if err := RecordEvent(ctx, tx, acc.ID, EventRegistered, client, now); err != nil {
			return err
		}
		return s.queueVerification(ctx, tx, q, acc, client, now, compose)
	})
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	return acc, nil
}

// Authenticate checks an address and a normalised password. Unknown
// addresses pay for one dummy argon2id check and get the same
// ErrBadCredentials as a wrong password (which also returns the account,
// for SignInFailed's event). So does a locked password ("this wasn't
// me"), right or wrong, after the same one check. A hash made with old
// parameters is upgraded on success.
func (s *Store) Authenticate(ctx context.Context, email, password string, client Client) (*Account, error) {
	acc, err := AccountByEmail(ctx, s.db, email)
	if errors.Is(err, ErrNotFound) {
		if err := s.hasher.CheckDummy(ctx, password); err != nil {
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		return nil, ErrBadCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	ok, rehash, err := s.hasher.Check(ctx, password, acc.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !ok || acc.PasswordLockedAt != nil {
		// The failed attempt is recorded by SignInFailed, with the counters,
		// in one transaction: the same writes as for an unknown address
		// but for the event row.
		return acc, ErrBadCredentials
	}
	if rehash {
		if hash, err := s.hasher.Hash(ctx, password); err == nil {
			// Only replace the hash that was checked: a reset that landed
			// meanwhile wins.
			res, err := s.db.NewUpdate().Model((*Account)(nil)).Set("password_hash = ?", hash).
				Where("id = ? AND password_hash = ?", acc.ID, acc.PasswordHash).Exec(ctx)
			if err != nil {
				return nil, fmt.Errorf("authenticate: rehash: %w", err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				acc.PasswordHash = hash
			}
		}
	}
	return acc, nil
}

// CheckPassword verifies an account's current password (for changes).
func (s *Store) CheckPassword(ctx context.Context, acc *Account, password string) error {
	ok, _, err := s.hasher.Check(ctx, password, acc.PasswordHash)
	if err != nil {
		return fmt.Errorf("check password: %w", err)
	}
	if !ok || acc.PasswordLockedAt != nil {
		return ErrWrongPassword
	}
	return nil
}

// SetPasswordInput is what SetPassword needs.
type SetPasswordInput struct {
	Account *Account
	// Password is the new password, already through CheckPasswordPolicy.
	Password string
	// Change is ChangedBySelf or ChangedByOperator; a reset goes through
	// CompleteReset, which proves the code first.
	Change PasswordChange
	// Client made the change (the zero Client for the command line).
	Client Client
	// KeepSession is the id hash of the one session that stays signed in
	// (the one that made the change), or "" to revoke them all.
	KeepSession string
	// Compose renders the "password changed" email.
	Compose ComposeChanged
}

// ErrPasswordChange is returned by SetPassword for a Change it does not
// make.
var ErrPasswordChange = errors.New("set password: change must be ChangedBySelf or ChangedByOperator")

// SetPassword replaces an account's password in one transaction: the new
// hash, every session revoked but in.KeepSession, every open reset code
// and change-of-address request invalidated, a "password changed" email queued and a security event
// written. The web's change-password form and the CLI use it.
func (s *Store) SetPassword(ctx context.Context, in SetPasswordInput) error {
	if in.Change != ChangedBySelf && in.Change != ChangedByOperator {
		// ChangedByReset here would mark the address proven without a code.
		return fmt.Errorf("%w (got %v)", ErrPasswordChange, in.Change)
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		return s.applyNewPassword(ctx, tx, q, newPassword{
			Account: in.Account, Hash: hash, Change: in.Change, Client: in.Client.clean(),
			Now: s.now(), KeepSession: in.KeepSession, Compose: in.Compose,
		})
	})
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// newPassword is what applyNewPassword writes: SetPasswordInput with the
// password already hashed and the transaction's time.
type newPassword struct {
	Account     *Account
	Hash        string
	Change      PasswordChange
	Client      Client // already clean
	Now         time.Time
	KeepSession string // a session id hash, or ""
	Compose     ComposeChanged
}

// applyNewPassword is the shared body of SetPassword and CompleteReset. A
// new password also lifts a "this wasn't me" lock.
func (s *Store) applyNewPassword(ctx context.Context, tx bun.Tx, q *queued, p newPassword) error {
	acc, now := p.Account, p.Now
	token, err := s.notMeToken(acc, now)
	if err != nil {
		return err
	}
	upd := tx.NewUpdate().Model((*Account)(nil)).
		Set("password_hash = ?", p.Hash).
		Set("password_locked_at = NULL").
		Set("updated_at = ?", now).
		Where("id = ?", acc.ID)
	if p.Change == ChangedByReset {
		// Completing a reset proves the address.
		upd = upd.Set("email_verified_at = COALESCE(email_verified_at, ?)", now)
	}
	if _, err := upd.Exec(ctx); err != nil {
		return fmt.Errorf("update hash: %w", err)
	}
	if p.Change == ChangedByReset {
		// Proven: open verification links have nothing left to do.
		if err := useUpVerifications(ctx, tx, acc.ID, now); err != nil {
			return err
		}
	}
	acc.PasswordHash = p.Hash
	acc.PasswordLockedAt = nil
	if _, err := tx.NewUpdate().Model((*PasswordReset)(nil)).
		Set("used_at = ?", now).
		Where("account_id = ? AND used_at IS NULL", acc.ID).
		Exec(ctx); err != nil {
		return fmt.Errorf("invalidate codes: %w", err)
	}
	// A pending change of address dies with the password it was asked
	// for with (the link confirms without signing in).
	if err := cancelEmailChanges(ctx, tx, acc.ID, now); err != nil {
		return err
	}
	del := tx.NewDelete().Model((*Session)(nil)).Where("account_id = ?", acc.ID)
	if p.KeepSession != "" {
		del = del.Where("id_hash <> ?", p.KeepSession)
	}
	if _, err := del.Exec(ctx); err != nil {
		return fmt.Errorf("revoke sessions: %w", err)
	}
	if err := s.endSessions(ctx, tx, q, nil, []int64{acc.ID}); err != nil {
		return err
	}
	kind := EventPasswordChanged
	if p.Change == ChangedByReset {
		kind = EventResetCompleted
	}
	if err := RecordEvent(ctx, tx, acc.ID, kind, p.Client, now); err != nil {
		return err
	}
	msg, err := p.Compose(ChangedMail{Account: acc, When: now, Client: p.Client, How: p.Change, NotMeToken: token})
	if err != nil {
		return fmt.Errorf("compose changed mail: %w", err)
	}
	return s.enqueue(ctx, tx, q, MailPasswordChanged, msg, now)
}
