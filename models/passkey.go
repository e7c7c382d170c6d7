package models

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"golang.org/x/text/unicode/norm"
)

// Passkeys (SPEC §9). The WebAuthn protocol itself (challenges,
// signatures, attestation) is the handlers' business through
// go-webauthn; models keeps the credential records, the ceremonies
// between their two requests, and the flows that must be all or nothing:
// adding and removing a passkey (with its event and email) and signing in
// with one.

// Passkey is one WebAuthn credential of an account, as the credential
// record of the WebAuthn specification (§4) asks: the credential id and
// public key, the signature counter, the authenticator flags (backup
// eligible and backup state among them), the authenticator model (AAGUID)
// and the transports it reported.
type Passkey struct {
	bun.BaseModel `bun:"table:passkeys,alias:pk"`

	ID        int64 `bun:"id,pk,autoincrement"`
	AccountID int64 `bun:"account_id,notnull"`
	// RPID is the relying party id the credential was created for
	// (BASE_URL's host): a credential only ever signs for that one.
	RPID         string `bun:"rp_id,notnull"`
	CredentialID []byte `bun:"credential_id,notnull"`
	// Name is what the owner called it ("Phone"), shown on /account.
	Name      string `bun:"name,notnull"`
	PublicKey []byte `bun:"public_key,notnull"` // COSE_Key, as the authenticator sent it
	// AttestationType and AttestationFormat are what registration saw
	// ("none" for the passkeys Latchkey asks for).
	AttestationType   string `bun:"attestation_type,notnull"`
	AttestationFormat string `bun:"attestation_format,notnull"`
	AAGUID            []byte `bun:"aaguid,notnull"`
	SignCount         uint32 `bun:"sign_count,notnull"`
	// Flags is the raw authenticator-data flags octet of the last
	// ceremony (user present, user verified, backup eligible, backup
	// state…); the two backup flags also have columns of their own.
	Flags          uint8 `bun:"flags,notnull"`
	BackupEligible bool  `bun:"backup_eligible,notnull"`
	BackupState    bool  `bun:"backup_state,notnull"`
	// Transports is the comma-separated list the browser reported
	// ("internal,hybrid"); Attachment is "platform", "cross-platform" or "".
	Transports string     `bun:"transports,notnull"`
	Attachment string     `bun:"attachment,notnull"`
	CreatedAt  time.Time  `bun:"created_at,notnull"`
	LastUsedAt *time.Time `bun:"last_used_at"`
}

// MaxPasskeysPerAccount bounds how many passkeys one account may hold: a
// generous number for people, and a bound on what every sign-in loads.
const MaxPasskeysPerAccount = 20

// MaxPasskeyNameRunes bounds a passkey's name.
const MaxPasskeyNameRunes = 64

// Errors of the passkey flows.
var (
	// ErrCeremonyInvalid: no live ceremony for this token (never begun,
	// expired, already finished, or begun by another session).
	ErrCeremonyInvalid = errors.New("webauthn ceremony unknown, used or expired")
	// ErrPasskeyRefused: the passkey cannot sign in (removed meanwhile,
	// or its signature counter did not move forward).
	ErrPasskeyRefused = errors.New("passkey refused")
	// ErrPasskeyExists: the credential is registered already.
	ErrPasskeyExists = errors.New("passkey already registered")
	// ErrTooManyPasskeys: the account holds MaxPasskeysPerAccount already.
	ErrTooManyPasskeys = errors.New("too many passkeys")
)

// Validation errors for passkey names.
var (
	ErrPasskeyNameRequired = &FieldError{"name", "Give this passkey a name, such as “Phone” or “Work laptop”."}
	ErrPasskeyNameLong     = &FieldError{"name", fmt.Sprintf("Use at most %d characters.", MaxPasskeyNameRunes)}
	ErrPasskeyNameMarkup   = &FieldError{"name", "Leave out the characters < and >."}
	// ErrPasskeyNameChars is a name with control characters or invalid
	// UTF-8: no keyboard types those, so the handlers answer 400.
	ErrPasskeyNameChars = &FieldError{"name", "The name holds characters that cannot be used."}
)

// NormalizePasskeyName trims a passkey's name, puts it in Unicode NFC and
// checks it: 1 to MaxPasskeyNameRunes characters, clean text (no control
// characters), and no angle brackets, which no name needs and which look
// like markup in every place the name is shown. Quotes, apostrophes and
// semicolons are ordinary in names ("Ann's phone") and are kept: the name
// is only ever a bound parameter and escaped text.
func NormalizePasskeyName(raw string) (string, error) {
	if !CleanText(raw) {
		return "", ErrPasskeyNameChars
	}
	// Bound before normalising: NFC of a huge field costs time for nothing.
	if len(raw) > 4*MaxPasskeyNameRunes*4 {
		return "", ErrPasskeyNameLong
	}
	s := strings.TrimSpace(norm.NFC.String(raw))
	switch {
	case s == "":
		return "", ErrPasskeyNameRequired
	case utf8.RuneCountInString(s) > MaxPasskeyNameRunes:
		return "", ErrPasskeyNameLong
	case strings.ContainsAny(s, "<>"):
		return "", ErrPasskeyNameMarkup
	}
	return s, nil
}

// PasskeyCeremoniesPerMinute caps the passkey ceremonies (registrations
// and sign-ins) one IP unit may begin in a minute: each writes a row, and
// signing in needs one or two, so people never meet it.
const PasskeyCeremoniesPerMinute = 30

// AllowPasskeyCeremony counts one passkey ceremony begun from ip.
func (s *Store) AllowPasskeyCeremony(ctx context.Context, ip string) error {
	return s.allow(ctx, limitPasskeyIP.key(ipKey(ip)), PasskeyCeremoniesPerMinute, time.Minute)
}

// CeremonyKind says which WebAuthn ceremony a ceremony row belongs to.
type CeremonyKind string

// The ceremonies.
const (
	CeremonyRegister CeremonyKind = "register"
	CeremonyLogin    CeremonyKind = "login"
)

// CeremonyTTL is how long a begun ceremony may wait for its finish.
const CeremonyTTL = 5 * time.Minute

// Ceremony is a WebAuthn ceremony between its begin and finish requests.
// Data is the go-webauthn SessionData (JSON) that finish must be given
// back unchanged; it never leaves the server.
type Ceremony struct {
	bun.BaseModel `bun:"table:webauthn_ceremonies"`

	TokenHash string       `bun:"token_hash,pk"`
	Kind      CeremonyKind `bun:"kind,notnull"`
	// AccountID and SessionHash bind a registration to the signed-in
	// session that began it (nil and "" for a sign-in).
	AccountID   *int64 `bun:"account_id"`
	SessionHash string `bun:"session_hash,notnull"`
	// Name is the new passkey's name (registration only).
	Name      string    `bun:"name,notnull"`
	Data      string    `bun:"data,notnull"`
	ExpiresAt time.Time `bun:"expires_at,notnull"`
}

// BeginCeremony stores a ceremony and returns the raw token that names it
// (the browser keeps it in its encrypted visitor cookie; the table only
// its SHA-256). The expiry is set here, CeremonyTTL from now.
func (s *Store) BeginCeremony(ctx context.Context, c Ceremony) (string, error) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	token := base64.RawURLEncoding.EncodeToString(b)
	c.TokenHash = HashCode(token)
	c.ExpiresAt = s.now().Add(CeremonyTTL)
	if _, err := s.db.NewInsert().Model(&c).Exec(ctx); err != nil {
		return "", fmt.Errorf("begin ceremony: %w", err)
	}
	return token, nil
}

// ClaimCeremony takes the ceremony named by token out of the table, once:
// a second claim (a replayed finish) gets ErrCeremonyInvalid, as does a
// token of another kind, an expired one, or a registration begun by
// another session than sessionHash. The row is deleted whatever the
// outcome, so a token is never good for two tries.
func (s *Store) ClaimCeremony(ctx context.Context, token string, kind CeremonyKind, sessionHash string) (*Ceremony, error) {
	hash, ok := ParseCode(token)
	if !ok {
		return nil, ErrCeremonyInvalid
	}
	c := new(Ceremony)
	err := s.db.NewDelete().Model(c).Where("token_hash = ?", hash).Returning("*").Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrCeremonyInvalid
	}
	if err != nil {
		return nil, fmt.Errorf("claim ceremony: %w", err)
	}
	if c.Kind != kind || c.SessionHash != sessionHash || !s.now().Before(c.ExpiresAt) {
		return nil, ErrCeremonyInvalid
	}
	return c, nil
}

// Passkeys lists an account's passkeys for a relying party id, oldest
// first.
func (s *Store) Passkeys(ctx context.Context, accountID int64, rpID string) ([]Passkey, error) {
	return passkeysOf(ctx, s.db, accountID, rpID)
}

func passkeysOf(ctx context.Context, db bun.IDB, accountID int64, rpID string) ([]Passkey, error) {
	var list []Passkey
	err := db.NewSelect().Model(&list).
		Where("account_id = ? AND rp_id = ?", accountID, rpID).
		OrderExpr("created_at, id").
		Limit(MaxPasskeysPerAccount + 1).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return list, nil
}

// PasskeyOwner finds the account a discoverable credential's user handle
// names (its public id, 16 bytes) and that account's passkeys for rpID.
// An unknown handle is ErrNotFound.
func (s *Store) PasskeyOwner(ctx context.Context, userHandle []byte, rpID string) (*Account, []Passkey, error) {
	if len(userHandle) != publicIDBytes {
		return nil, nil, ErrNotFound
	}
	acc, err := AccountByPublicID(ctx, s.db, hex.EncodeToString(userHandle))
	if err != nil {
		return nil, nil, err
	}
	keys, err := passkeysOf(ctx, s.db, acc.ID, rpID)
	if err != nil {
		return nil, nil, err
	}
	return acc, keys, nil
}

// PasskeyMail describes a "passkey added" or "passkey removed" email for
// the compose function that renders it.
type PasskeyMail struct {
	Account *Account
	// Name is the passkey's name; Added is false for a removal.
	Name   string
	Added  bool
	When   time.Time
	Client Client
	// NotMeToken is the sealed one-time token of the email's "this wasn't
	// me" link, minted by the store (see ConfirmNotMe).
	NotMeToken string
}

// ComposePasskey renders a passkey notification.
type ComposePasskey func(PasskeyMail) (Message, error)

// AddPasskey stores a new passkey for acc in one transaction with its
// security event and the "passkey added" email (with a "this wasn't me"
// link). pk's account, creation time and name are set here; the name must
// have passed NormalizePasskeyName. A credential registered already (to
// anyone) is ErrPasskeyExists; an account at MaxPasskeysPerAccount,
// ErrTooManyPasskeys.
func (s *Store) AddPasskey(ctx context.Context, acc *Account, pk *Passkey, client Client, compose ComposePasskey) error {
	client = client.clean()
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		now := s.now()
		n, err := tx.NewSelect().Model((*Passkey)(nil)).Where("account_id = ?", acc.ID).Count(ctx)
		if err != nil {
			return fmt.Errorf("count passkeys: %w", err)
		}
		if n >= MaxPasskeysPerAccount {
			return ErrTooManyPasskeys
		}
		pk.ID, pk.AccountID, pk.CreatedAt, pk.LastUsedAt = 0, acc.ID, now, nil
		if _, err := tx.NewInsert().Model(pk).Returning("id").Exec(ctx); err != nil {
			if IsUniqueViolation(err) {
				return ErrPasskeyExists
			}
			return fmt.Errorf("insert passkey: %w", err)
		}
		if err := RecordEvent(ctx, tx, acc.ID, EventPasskeyAdded, client, now); err != nil {
			return err
		}
		return s.queuePasskeyMail(ctx, tx, q, compose, PasskeyMail{Account: acc, Name: pk.Name, Added: true, When: now, Client: client})
	})
	if err != nil {
		return fmt.Errorf("add passkey: %w", err)
	}
	return nil
}

// RemovePasskey deletes one of acc's passkeys in one transaction with its
// security event and the "passkey removed" email. Another account's
// passkey, or one already gone, is ErrNotFound. It returns the name of
// the removed passkey.
func (s *Store) RemovePasskey(ctx context.Context, acc *Account, id int64, client Client, compose ComposePasskey) (string, error) {
	client = client.clean()
	var name string
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		now := s.now()
		pk := new(Passkey)
		err := tx.NewDelete().Model(pk).Where("id = ? AND account_id = ?", id, acc.ID).Returning("name").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("delete passkey: %w", err)
		}
		name = pk.Name
		if err := RecordEvent(ctx, tx, acc.ID, EventPasskeyRemoved, client, now); err != nil {
			return err
		}
		return s.queuePasskeyMail(ctx, tx, q, compose, PasskeyMail{Account: acc, Name: name, When: now, Client: client})
	})
	if err != nil {
		return "", fmt.Errorf("remove passkey: %w", err)
	}
	return name, nil
}

// queuePasskeyMail renders and queues a passkey notification to the
// account's stored address, with a fresh "this wasn't me" token.
func (s *Store) queuePasskeyMail(ctx context.Context, tx bun.Tx, q *queued, compose ComposePasskey, m PasskeyMail) error {
	kind := MailPasskeyAdded
	if !m.Added {
		kind = MailPasskeyRemoved
	}
	return s.queueOwnerNotice(ctx, tx, q, m.Account, m.When, kind, func(token string) (Message, error) {
		m.NotMeToken = token
		return compose(m)
	})
}

// removePasskeys deletes an account's passkeys created at or after since
// (every one when since is zero) inside tx, writing a "passkey removed"
// event for each, and returns how many went. "This wasn't me" uses it for
// the passkeys of the last 24 hours (an intruder's), and the operator's
// reset of second factors for all of them; the caller's own email covers
// the removal.
func removePasskeys(ctx context.Context, tx bun.IDB, accountID int64, since time.Time, client Client, now time.Time) (int, error) {
	var gone []Passkey
	del := tx.NewDelete().Model(&gone).Where("account_id = ?", accountID)
	if !since.IsZero() {
		del = del.Where("created_at >= ?", since)
	}
	if err := del.Returning("id").Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("remove passkeys: %w", err)
	}
	for range gone {
		if err := RecordEvent(ctx, tx, accountID, EventPasskeyRemoved, client, now); err != nil {
			return 0, err
		}
	}
	return len(gone), nil
}

// PasskeyUse is what a verified passkey assertion changes on its record.
type PasskeyUse struct {
	ID int64
	// SignCount, Flags and BackupState are the assertion's.
	SignCount   uint32
	Flags       uint8
	BackupState bool
}

// SignInWithPasskey starts a fully signed-in session with MFA set (a
// passkey is possession and, with user verification, a second factor) in
// one transaction: the passkey's counter, flags and last use are updated,
// but only if its signature counter moved forward (or both the stored and
// the new value are 0, as synced passkeys report), so two sign-ins racing
// with the same counter cannot both pass; a sign-in event is written.
// A passkey removed meanwhile, or a counter that did not move forward, is
// ErrPasskeyRefused.
func (s *Store) SignInWithPasskey(ctx context.Context, acc *Account, use PasskeyUse, client Client) (string, *Session, error) {
	var id string
	var sess *Session
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, _ *queued) error {
		now := s.now()
		res, err := tx.NewUpdate().Model((*Passkey)(nil)).
			Set("sign_count = ?", int64(use.SignCount)).
			Set("flags = ?", int16(use.Flags)).
			Set("backup_state = ?", use.BackupState).
			Set("last_used_at = ?", now).
			Where("id = ? AND account_id = ?", use.ID, acc.ID).
			Where("(sign_count < ? OR (sign_count = 0 AND ? = 0))", int64(use.SignCount), int64(use.SignCount)).
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("update passkey: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrPasskeyRefused
		}
		id, sess, err = s.createSession(ctx, tx, acc.ID, client, AuthFull, true)
		if err != nil {
			return err
		}
		return RecordEvent(ctx, tx, acc.ID, EventPasskeySignIn, client, now)
	})
	if errors.Is(err, ErrPasskeyRefused) {
		return "", nil, ErrPasskeyRefused
	}
	if err != nil {
		return "", nil, fmt.Errorf("sign in with passkey: %w", err)
	}
	return id, sess, nil
}

// PasskeyRefused records that a passkey of acc was refused because its
// signature counter went backwards: the sign of a cloned authenticator
// (WebAuthn §6.1.1), which the owner should see in the security activity.
func (s *Store) PasskeyRefused(ctx context.Context, acc *Account, client Client) error {
	return RecordEvent(ctx, s.db, acc.ID, EventPasskeyRefused, client, s.now())
}
