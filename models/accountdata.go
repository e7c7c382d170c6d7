package models

import (
	"context"
	"fmt"
	"time"
)

// AccountData is everything an account's owner may download about it
// (GET /account/export). It holds no secret of any kind: no password
// hash, no session id or its hash, no code, token or factor secret.
// Every feature that stores something about an account adds what its
// owner may see here, in ExportAccount.
type AccountData struct {
	Account *Account
	// Sessions are every stored session of the account, newest first.
	Sessions []Session
	// Events are every security event of the account, newest first.
	Events []SecurityEvent
	// Factors are the second factors and passkeys, by name (passkeys
	// oldest first).
	Factors []FactorData
	// PendingEmail is a change of address awaiting confirmation, or nil;
	// none exists yet (see ExportAccount).
	PendingEmail *PendingEmailData
}

// FactorData names one second factor or passkey for an export: never its
// secret, credential id or public key.
type FactorData struct {
	// Kind is "totp", "passkey", "recovery-codes"…
	Kind string
	// Name is what the owner called it (or a default).
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// PendingEmailData is a change of address awaiting confirmation, for an
// export: the new address and when it was asked for, never its code.
type PendingEmailData struct {
	NewEmail    string
	RequestedAt time.Time
}

// ExportAccount gathers an account's data for its owner. The reads are
// not one transaction: on SQLite that would take the write lock, and an
// export a moment stale is as good as any.
func (s *Store) ExportAccount(ctx context.Context, accountID int64) (*AccountData, error) {
	acc, err := AccountByID(ctx, s.db, accountID)
	if err != nil {
		return nil, fmt.Errorf("export account: %w", err)
	}
	data := &AccountData{Account: acc, Factors: []FactorData{}}
	if err := s.db.NewSelect().Model(&data.Sessions).Where("account_id = ?", accountID).
		OrderExpr("created_at DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("export account: sessions: %w", err)
	}
	if err := s.db.NewSelect().Model(&data.Events).Where("account_id = ?", accountID).
		OrderExpr("created_at DESC, id DESC").Scan(ctx); err != nil {
		return nil, fmt.Errorf("export account: events: %w", err)
	}
	// Passkeys by name and dates: never the credential id or public key.
	var keys []Passkey
	if err := s.db.NewSelect().Model(&keys).Column("name", "created_at", "last_used_at").
		Where("account_id = ?", accountID).OrderExpr("created_at, id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("export account: passkeys: %w", err)
	}
	for _, k := range keys {
		data.Factors = append(data.Factors, FactorData{Kind: "passkey", Name: k.Name, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt})
	}
	// TOTP and its recovery codes: dates only (never the secret or a
	// code's hash).
	if err := s.exportTOTP(ctx, accountID, data); err != nil {
		return nil, fmt.Errorf("export account: %w", err)
	}
	// Hook for a change of address: set data.PendingEmail (the new address and
	// when it was asked for; never the code).
	return data, nil
}
