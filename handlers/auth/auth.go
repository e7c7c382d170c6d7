// Package auth carries the browser's session in a request's
// context.Context, so Echo handlers and plain net/http code read who is
// signed in the same way.
//
// The context holds the session row as loaded, whatever its
// authentication state; the accessors return it only once the sign-in is
// complete (models.AuthFull). A session waiting for a second factor is
// signed out to everything that asks here.
package auth

import (
	"context"

	"github.com/latchkey-auth/latchkey/models"
)

// sessionKey is the context key of the session; unexported, so no other
// package can set or shadow it.
type sessionKey struct{}

// WithSession returns a copy of ctx that carries s (nil: no session).
func WithSession(ctx context.Context, s *models.Session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// SessionFrom returns the signed-in session carried by ctx: present, fully
// authenticated and loaded with its account.
func SessionFrom(ctx context.Context) (*models.Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(*models.Session)
	if !ok || !s.SignedIn() || s.Account == nil {
		return nil, false
	}
	return s, true
}

// AccountFrom returns the account of the signed-in session carried by ctx.
func AccountFrom(ctx context.Context) (*models.Account, bool) {
	s, ok := SessionFrom(ctx)
	if !ok {
		return nil, false
	}
	return s.Account, true
}

// PendingFrom returns the session carried by ctx when its sign-in waits
// for a second factor (models.AuthSecondFactorPending), loaded with its
// account: only the second step of signing in reads it. It signs nobody
// in.
func PendingFrom(ctx context.Context) (*models.Session, bool) {
	s, ok := ctx.Value(sessionKey{}).(*models.Session)
	if !ok || s == nil || s.AuthState != models.AuthSecondFactorPending || s.Account == nil {
		return nil, false
	}
	return s, true
}
