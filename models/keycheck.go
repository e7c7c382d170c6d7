package models

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/uptrace/bun"
)

// KeyCheck is the HKDF label of the key that computes SESSION_SECRET's
// check value; it has its own label so the stored value reveals nothing
// about the keys used for cookies, outbox mail or links.
const KeyCheck = "github.com/latchkey-auth/latchkey/v1/key-check"

// keyCheckSetting names the settings row holding the check value.
const keyCheckSetting = "session-secret-check"

// keyCheckMessage is the fixed text the check value authenticates.
const keyCheckMessage = "latchkey session secret check v1"

// ErrSecretMismatch means SESSION_SECRET is not the secret the database was
// first used with: sessions, queued mail and signed links made by the
// other secret would all fail, so nothing may run with it.
var ErrSecretMismatch = errors.New("SESSION_SECRET does not match the secret this database is used with: " +
	"every instance and command sharing a database must use the same SESSION_SECRET")

// Setting is one instance-wide value kept in the database.
type Setting struct {
	bun.BaseModel `bun:"table:settings"`

	Name  string `bun:"name,pk"`
	Value string `bun:"value,notnull"`
}

// SecretCheckValue is the value stored for a secret: an HMAC of a fixed
// text under a key derived for this purpose only. It shows whether two
// processes hold the same secret without revealing the secret or a key.
func SecretCheckValue(secret []byte) string {
	mac := hmac.New(sha256.New, DeriveKey(secret, KeyCheck))
	mac.Write([]byte(keyCheckMessage))
	return hex.EncodeToString(mac.Sum(nil))
}

// CheckSecret compares secret with the check value stored in the database
// and returns ErrSecretMismatch if they differ. A database without a check
// value gets this secret's, unless it holds queued mail that this secret
// cannot open (a database used before check values existed, approached
// with the wrong secret). Concurrent first starts agree: one insert wins
// and the others compare against it.
func CheckSecret(ctx context.Context, db *bun.DB, secret []byte) error {
	want := SecretCheckValue(secret)
	var row Setting
	err := db.NewSelect().Model(&row).Where("name = ?", keyCheckSetting).Scan(ctx)
	switch {
	case isNoRows(err):
		if err := opensQueuedMail(ctx, db, secret); err != nil {
			return err
		}
		row = Setting{Name: keyCheckSetting, Value: want}
		if _, err := db.NewInsert().Model(&row).On("CONFLICT (name) DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("key check: store: %w", err)
		}
		// Read back: another process may have stored its value first.
		if err := db.NewSelect().Model(&row).Where("name = ?", keyCheckSetting).Scan(ctx); err != nil {
			return fmt.Errorf("key check: %w", err)
		}
	case err != nil:
		return fmt.Errorf("key check: %w", err)
	}
	if !hmac.Equal([]byte(row.Value), []byte(want)) {
		return ErrSecretMismatch
	}
	return nil
}

// opensQueuedMail returns ErrSecretMismatch if the outbox holds sealed
// messages and secret opens none of the newest of them. One that opens is
// enough: a message sealed by a process with a wrong secret may sit among
// the server's own.
func opensQueuedMail(ctx context.Context, db bun.IDB, secret []byte) error {
	var rows []OutboxEmail
	err := db.NewSelect().Model(&rows).Column("id", "kind", "recipient", "sealed_body").
		Where("sealed_body IS NOT NULL").OrderExpr("id DESC").Limit(20).Scan(ctx)
	if err != nil {
		return fmt.Errorf("key check: outbox: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	sealer, err := NewSealer(DeriveKey(secret, KeyOutbox))
	if err != nil {
		return fmt.Errorf("key check: %w", err)
	}
	for i := range rows {
		if _, err := sealer.Open(rows[i].SealedBody, outboxAD(rows[i].Kind, rows[i].Recipient)); err == nil {
			return nil
		}
	}
	return ErrSecretMismatch
}
