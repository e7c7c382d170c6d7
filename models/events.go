package models

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

// EventKind names a security event. The value is what
// security_events.kind stores, so an existing value must never change.
type EventKind string

// Security event kinds. Every one needs its label in eventLabels below
// (TestEveryEventKindHasALabel checks).
const (
	EventRegistered      EventKind = "registered"
	EventSignIn          EventKind = "sign-in"
	EventSignInFailed    EventKind = "sign-in-failed"
	EventSignOut         EventKind = "sign-out"
	EventPasswordChanged EventKind = "password-changed"
	EventResetRequested  EventKind = "reset-requested"
	EventResetCompleted  EventKind = "reset-completed"
	EventSessionsRevoked EventKind = "sessions-revoked"
	// EventNotMe is a confirmed "this wasn't me" (ConfirmNotMe).
	EventNotMe EventKind = "not-me"
	// Passkeys (models/passkey.go).
	EventPasskeyAdded   EventKind = "passkey-added"
	EventPasskeyRemoved EventKind = "passkey-removed"
	EventPasskeySignIn  EventKind = "sign-in-passkey"
	EventPasskeyRefused EventKind = "passkey-refused"
	// EventEmailChangeRequested and EventEmailChanged: a change of
	// address asked for (RequestEmailChange) and confirmed
	// (ConfirmEmailChange).
	EventEmailChangeRequested EventKind = "email-change-requested"
	EventEmailChanged         EventKind = "email-changed"
	// EventEmailVerified: the address was proven with an emailed
	// verification link (VerifyEmail).
	EventEmailVerified EventKind = "email-verified"

	// Second factors (models/totp.go).
	EventTOTPEnabled          EventKind = "totp-enabled"
	EventTOTPDisabled         EventKind = "totp-disabled"
	EventRecoveryCodesRenewed EventKind = "recovery-codes-renewed"
	EventRecoveryCodeUsed     EventKind = "recovery-code-used"
	EventSecondStepFailed     EventKind = "second-step-failed"
	EventFactorsReset         EventKind = "factors-reset"
	// EventFactorsRemovedNotMe: a confirmed "this wasn't me" removed the
	// second factors added in the 24 hours before it.
	EventFactorsRemovedNotMe EventKind = "factors-removed-not-me"
)

// eventLabels names each event for people (the account page's activity).
var eventLabels = map[EventKind]string{
	EventRegistered:           "Account created",
	EventSignIn:               "Signed in",
	EventSignInFailed:         "Failed sign-in",
	EventSignOut:              "Signed out",
	EventPasswordChanged:      "Password changed",
	EventResetRequested:       "Password reset requested",
	EventResetCompleted:       "Password reset completed",
	EventSessionsRevoked:      "Signed out other devices",
	EventNotMe:                "“This wasn't me”: password locked, every device signed out",
	EventPasskeyAdded:         "Passkey added",
	EventPasskeyRemoved:       "Passkey removed",
	EventPasskeySignIn:        "Signed in with a passkey",
	EventPasskeyRefused:       "Passkey refused: its signature counter went backwards (it may have been copied)",
	EventEmailChangeRequested: "Email address change requested",
	EventEmailChanged:         "Email address changed",
	EventEmailVerified:        "Email address verified",

	EventTOTPEnabled:          "Two-step sign-in turned on (authenticator app)",
	EventTOTPDisabled:         "Two-step sign-in turned off",
	EventRecoveryCodesRenewed: "New recovery codes made (the old ones no longer work)",
	EventRecoveryCodeUsed:     "Signed in with a recovery code",
	EventSecondStepFailed:     "Wrong code at the second sign-in step",
	EventFactorsReset:         "Second factors removed by an operator",
	EventFactorsRemovedNotMe:  "“This wasn't me”: second factors added in the last 24 hours removed",
}

// Label names the event for people. A kind this version does not know (a
// row written by a newer one) shows as stored rather than blank.
func (k EventKind) Label() string {
	if l, ok := eventLabels[k]; ok {
		return l
	}
	return string(k)
}

// SecurityEvent is one entry of an account's security activity.
type SecurityEvent struct {
	bun.BaseModel `bun:"table:security_events"`

	ID        int64     `bun:"id,pk,autoincrement"`
	AccountID int64     `bun:"account_id,notnull"`
	Kind      EventKind `bun:"kind,notnull"`
	IP        string    `bun:"ip,notnull"`
	UserAgent string    `bun:"user_agent,notnull"`
	CreatedAt time.Time `bun:"created_at,notnull"`
}

// RecordEvent writes a security event.
func RecordEvent(ctx context.Context, db bun.IDB, accountID int64, kind EventKind, client Client, now time.Time) error {
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
