package auth_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/latchkey-auth/latchkey/handlers/auth"
	"github.com/latchkey-auth/latchkey/models"
)

// otherKey stands for a context key of some other package.
type otherKey struct{}

func TestAccessors(t *testing.T) {
	acc := &models.Account{ID: 7, Email: "kim@example.com"}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"nothing", context.Background(), false},
		{"no session", auth.WithSession(context.Background(), nil), false},
		{"second factor pending", auth.WithSession(context.Background(), &models.Session{AuthState: models.AuthSecondFactorPending, Account: acc}), false},
		{"unknown state", auth.WithSession(context.Background(), &models.Session{AuthState: "", Account: acc}), false},
		{"no account loaded", auth.WithSession(context.Background(), &models.Session{AuthState: models.AuthFull}), false},
		{"signed in", auth.WithSession(context.Background(), &models.Session{AuthState: models.AuthFull, Account: acc}), true},
		{"another package's key", context.WithValue(context.Background(), otherKey{}, &models.Session{AuthState: models.AuthFull, Account: acc}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := auth.SessionFrom(tc.ctx)
			if ok != tc.want || (s != nil) != tc.want {
				t.Errorf("SessionFrom: %v, %v; want ok=%v", s, ok, tc.want)
			}
			a, ok := auth.AccountFrom(tc.ctx)
			if ok != tc.want || (a == acc) != tc.want {
				t.Errorf("AccountFrom: %v, %v; want ok=%v", a, ok, tc.want)
			}
		})
	}
}

// TestPlainHTTPReadsTheSession: code that knows nothing of Echo (the
// coming /auth/verify) reads the session from the request's context.
func TestPlainHTTPReadsTheSession(t *testing.T) {
	verify := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acc, ok := auth.AccountFrom(r.Context())
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, acc.Email)
	})
	for _, tc := range []struct {
		name   string
		state  models.AuthState
		status int
		body   string
	}{
		{"full", models.AuthFull, http.StatusOK, "kim@example.com"},
		{"pending", models.AuthSecondFactorPending, http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &models.Session{AuthState: tc.state, Account: &models.Account{Email: "kim@example.com"}}
			r := httptest.NewRequest(http.MethodGet, "/auth/verify", nil)
			r = r.WithContext(auth.WithSession(r.Context(), s))
			w := httptest.NewRecorder()
			verify.ServeHTTP(w, r)
			if w.Code != tc.status || w.Body.String() != tc.body {
				t.Errorf("%d %q, want %d %q", w.Code, w.Body.String(), tc.status, tc.body)
			}
		})
	}
}
