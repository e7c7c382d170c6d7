package handlers_test

// Reset codes never rest in the database in the clear.

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func TestNoRawCodeRestsInTheDatabase(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		app.Register(t, "scan@example.com", oldPassword)
		// Hold delivery so the queued message is still in the outbox.
		app.SMTP.FailWith(451)
		app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {"scan@example.com"}})
		var row models.OutboxEmail
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := app.DB.NewSelect().Model(&row).Where("kind = 'reset'").Limit(1).Scan(t.Context())
			if err == nil && row.Attempts > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reset mail not attempted: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		msg, err := app.Store.OpenMessage(&row)
		if err != nil {
			t.Fatal(err)
		}
		link := testutil.ResetLink(t, testutil.Email{Text: msg.Text})
		code := link[strings.Index(link, "code=")+5:]
		for _, table := range testutil.Tables(t, app.DB) {
			if dump := testutil.DumpTable(t, app.DB, table); strings.Contains(dump, code) || strings.Contains(dump, "code=") {
				t.Errorf("table %s holds the raw code", table)
			}
		}
		app.SMTP.FailWith(0)
		app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)
		deadline = time.Now().Add(5 * time.Second)
		for {
			err := app.DB.NewSelect().Model(&row).WherePK().Scan(t.Context())
			if err == nil && row.Status == models.OutboxSent {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("status %q after delivery (%v)", row.Status, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if row.SealedBody != nil {
			t.Errorf("sent message body not wiped")
		}
	})
}
