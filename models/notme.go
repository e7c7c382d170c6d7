package models

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// "This wasn't me": every password-changed email carries a one-time link
// that lets the owner undo an intruder's change. Its token is sealed
// (AES-GCM under a key of its own, KeyLinkTokens): neither the account nor
// the expiry can be read from it, and altering it breaks the seal.

// NotMeTTL is how long the "this wasn't me" link in a password-changed
// email works.
const NotMeTTL = 7 * 24 * time.Hour

// NotMeMailsPerDay caps the reset emails "this wasn't me" sends for one
// account in 24 hours. They bypass the per-address allowance of
// RequestReset (which anyone can spend), so they get a cap of their own.
const NotMeMailsPerDay = 3

// NotMeRecentFactors is how far back "this wasn't me" removes factors
// (passkeys) added to the account: an intruder's would be that recent.
const NotMeRecentFactors = 24 * time.Hour

// notMeAD binds a sealed token to its purpose.
var notMeAD = []byte("github.com/latchkey-auth/latchkey/not-me-token/v1")

// notMePayload is public id (16 bytes) then expiry (Unix seconds, 8 bytes).
const notMePayload = publicIDBytes + 8

// maxNotMeToken bounds what is decoded: a real token is 70 characters.
const maxNotMeToken = 200

// notMeToken mints a "this wasn't me" token for acc, valid NotMeTTL from now.
func (s *Store) notMeToken(acc *Account, now time.Time) (string, error) {
	if s.links == nil {
		return "", errors.New("not-me token: no link sealer configured")
	}
	id, err := hex.DecodeString(acc.PublicID)
	if err != nil || len(id) != publicIDBytes {
		return "", fmt.Errorf("not-me token: account %d has a malformed public id", acc.ID)
	}
	payload := make([]byte, 0, notMePayload)
	payload = append(payload, id...)
	// A Unix time after 1970 is a positive int64: lossless both ways.
	payload = binary.BigEndian.AppendUint64(payload, uint64(now.Add(NotMeTTL).Unix())) // #nosec G115 -- see above
	return base64.RawURLEncoding.EncodeToString(s.links.Seal(payload, notMeAD)), nil
}

// openNotMe checks a token's seal and expiry and returns the account's
// public id and the key that marks the token used.
func (s *Store) openNotMe(token string, now time.Time) (publicID, usedKey string, err error) {
	if s.links == nil || len(token) > maxNotMeToken {
		return "", "", ErrLinkInvalid
	}
	sealed, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return "", "", ErrLinkInvalid
	}
	payload, err := s.links.Open(sealed, notMeAD)
	if err != nil || len(payload) != notMePayload {
		return "", "", ErrLinkInvalid
	}
	// Authenticated, so a value notMeToken wrote.
	if now.Unix() > int64(binary.BigEndian.Uint64(payload[publicIDBytes:])) { // #nosec G115 -- authenticated, was an int64
		return "", "", ErrLinkInvalid
	}
	sum := sha256.Sum256(sealed)
	return hex.EncodeToString(payload[:publicIDBytes]), usedNotMeLink.key(base64.RawURLEncoding.EncodeToString(sum[:])), nil
}

// CheckNotMe reports whether a "this wasn't me" token is still good (sealed
// by us, unexpired, unused): ErrLinkInvalid otherwise. It changes nothing,
// since mail scanners GET links too.
func (s *Store) CheckNotMe(ctx context.Context, token string) error {
	_, usedKey, err := s.openNotMe(token, s.now())
	if err != nil {
		return err
	}
	used, err := s.db.NewSelect().Model((*rateRow)(nil)).Where("key = ?", usedKey).Exists(ctx)
	if err != nil {
		return fmt.Errorf("check not-me: %w", err)
	}
	if used {
		return ErrLinkInvalid
	}
	return nil
}

// ConfirmNotMe acts on a "this wasn't me" token, all or nothing in one
// transaction: the token is spent (a second use gets ErrLinkInvalid), the
// current password locked (Authenticate refuses it like a wrong one until
// a reset or the operator sets a new one), every session revoked, the
// second factors added in the last NotMeRecentFactors (passkeys, TOTP,
// recovery codes) removed, a pending change of address cancelled, an
// event written and a reset code stored with its email queued. That email
// does not count against, and is not stopped by, RequestReset's
// per-address allowance; it has its own cap (NotMeMailsPerDay), and over
// it mailed is false and the rest still happens. A failure anywhere,
// compose included, leaves the token unspent.
func (s *Store) ConfirmNotMe(ctx context.Context, token string, client Client, compose ComposeReset) (mailed bool, err error) {
	client = client.clean()
	publicID, usedKey, err := s.openNotMe(token, s.now())
	if err != nil {
		return false, err
	}
	code, hash := NewCode()
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		mailed = false
		now := s.now()
		// The window outlives any token (NotMeTTL), and Cleanup keeps
		// these rows longer still.
		fresh, _, err := hit(ctx, tx, usedKey, 1, NotMeTTL+time.Hour, now)
		if err != nil {
			return err
		}
		if !fresh {
			return ErrLinkInvalid
		}
		acc, err := AccountByPublicID(ctx, tx, publicID)
		if errors.Is(err, ErrNotFound) {
			return ErrLinkInvalid
		}
		if err != nil {
			return err
		}
		if _, err := tx.NewUpdate().Model((*Account)(nil)).
			Set("password_locked_at = ?", now).
			Set("updated_at = ?", now).
			Where("id = ?", acc.ID).Exec(ctx); err != nil {
			return fmt.Errorf("lock password: %w", err)
		}
		if _, err := tx.NewDelete().Model((*Session)(nil)).Where("account_id = ?", acc.ID).Exec(ctx); err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		if err := s.endSessions(ctx, tx, q, nil, []int64{acc.ID}); err != nil {
			return err
		}
		// A change of address asked for with the stolen password must not
		// be confirmed from the intruder's mailbox.
		if err := cancelEmailChanges(ctx, tx, acc.ID, now); err != nil {
			return err
		}
		if err := RecordEvent(ctx, tx, acc.ID, EventNotMe, client, now); err != nil {
			return err
		}
		// Second factors added in the last day may be the intruder's:
		// they go (passkeys, TOTP and the recovery codes made then).
		if _, err := removePasskeys(ctx, tx, acc.ID, now.Add(-NotMeRecentFactors), client, now); err != nil {
			return err
		}
		if err := s.removeRecentFactors(ctx, tx, acc.ID, client, now); err != nil {
			return err
		}
		allowed, _, err := hit(ctx, tx, limitNotMeMail.key(acc.PublicID), NotMeMailsPerDay, 24*time.Hour, now)
		if err != nil {
			return err
		}
		if !allowed {
			return nil
		}
		expires := now.Add(s.resetTTL)
		reset := &PasswordReset{
			CodeHash: hash, AccountID: acc.ID, CreatedAt: now, ExpiresAt: expires,
			CreatedIP: client.IP, CreatedUserAgent: client.UserAgent,
		}
		if _, err := tx.NewInsert().Model(reset).Exec(ctx); err != nil {
			return fmt.Errorf("insert reset: %w", err)
		}
		msg, err := compose(ResetMail{Email: acc.Email, Code: code, ExpiresAt: expires, Client: client})
		if err != nil {
			return fmt.Errorf("compose reset mail: %w", err)
		}
		msg.To = acc.Email // only ever the stored address
		if err := s.enqueue(ctx, tx, q, MailReset, msg, now); err != nil {
			return err
		}
		mailed = true
		return nil
	})
	if errors.Is(err, ErrLinkInvalid) {
		return false, ErrLinkInvalid
	}
	if err != nil {
		return false, fmt.Errorf("confirm not-me: %w", err)
	}
	return mailed, nil
}

// queueOwnerNotice queues a security notice to the account's stored
// address (never another), composed with a fresh "this wasn't me" token.
func (s *Store) queueOwnerNotice(ctx context.Context, tx bun.IDB, q *queued, acc *Account, when time.Time, kind MailKind, compose func(notMeToken string) (Message, error)) error {
	token, err := s.notMeToken(acc, when)
	if err != nil {
		return err
	}
	msg, err := compose(token)
	if err != nil {
		return fmt.Errorf("compose %s mail: %w", kind, err)
	}
	msg.To = acc.Email // only ever the stored address
	return s.enqueue(ctx, tx, q, kind, msg, when)
}
