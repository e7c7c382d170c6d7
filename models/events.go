package models

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// Security event kinds.
const (
	EventRegistered      = "registered"
	EventSignIn          = "sign-in"
	EventSignInFailed    = "sign-in-failed"
	EventSignOut         = "sign-out"
	EventPasswordChanged = "password-changed"
	EventResetRequested  = "reset-requested"
	EventResetCompleted  = "reset-completed"
	EventSessionsRevoked = "sessions-revoked"
)

// SecurityEvent is one entry of an account's security activity.
type SecurityEvent struct {
	bun.BaseModel `bun:"table:security_events"`

	ID        int64     `bun:"id,pk,autoincrement"`
	AccountID int64     `bun:"account_id,notnull"`
	Kind      string    `bun:"kind,notnull"`
	IP        string    `bun:"ip,notnull"`
	UserAgent string    `bun:"user_agent,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// RecordEvent writes a security event.
func RecordEvent(ctx context.Context, db bun.IDB, accountID int64, kind string, client Client, now time.Time) error {
	client = client.clean()
	ev := &SecurityEvent{AccountID: accountID, Kind: kind, IP: client.IP, UserAgent: client.UserAgent, CreatedAt: now}
	if _, err := db.NewInsert().Model(ev).Exec(ctx); err != nil {
		return fmt.Errorf("record event %s: %w", kind, err)
	}
	return nil
}

// RecentEvents returns an account's latest security events, newest first.
func RecentEvents(ctx context.Context, db bun.IDB, accountID int64, limit int) ([]SecurityEvent, error) {
	var events []SecurityEvent
	err := db.NewSelect().Model(&events).
		Where("account_id = ?", accountID).
		OrderExpr("created_at DESC, id DESC").
		Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("recent events: %w", err)
	}
	return events, nil
}
