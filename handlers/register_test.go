package handlers_test

// Registration.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

func TestRegisterTakenAddress(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		app.Register(t, "taken@example.com", oldPassword)
		r := app.NewBrowser(t).Post("/account/register", url.Values{"email": {"Taken@Example.com"}, "password": {"some other passphrase"}})
		if r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("taken address: %d", r.StatusCode)
		}
		if msg := r.Text(t, `[data-testid="email-feedback"]`); !strings.Contains(msg, "sign in or reset your password") {
			t.Errorf("message = %q", msg)
		}
	})
}
