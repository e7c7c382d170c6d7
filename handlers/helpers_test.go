package handlers_test

import (
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

const (
	resetSubject = "Reset your Latchkey password"
	oldPassword  = "correct horse battery staple"
	newPassword  = "a brand new passphrase 42"
)

// forEachApp runs a scenario against a Latchkey on SQLite and on Postgres.
func forEachApp(t *testing.T, fn func(t *testing.T, app *testutil.App), opts ...testutil.AppOption) {
	for _, d := range testutil.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, testutil.StartApp(t, d, opts...))
		})
	}
}
