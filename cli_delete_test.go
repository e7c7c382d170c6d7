package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// `latchkey user delete EMAIL`: refused (non-zero, nothing deleted) for
// an unknown address, a wrong or missing confirmation and bad arguments;
// confirmed by typing the address (or --yes), it removes every row of
// the account, as the web form does, and sends the goodbye email.
func TestCLIUserDelete(t *testing.T) {
	for _, dialect := range testutil.Dialects {
		t.Run(dialect, func(t *testing.T) {
			dbURL := testutil.NewDatabaseURL(t, dialect)
			smtp := testutil.StartSMTP(t)
			env := map[string]string{"DATABASE_URL": dbURL, "SMTP_URL": smtp.URL(), "SESSION_SECRET": testutil.TestSecret,
				"BASE_URL": "http://accounts.test"}
			for _, addr := range []string{"gone@example.com", "kept@example.com", "quick@example.com"} {
				if code, _, errs := cliRun(env, pw+"\n", "user", "create", addr); code != 0 {
					t.Fatalf("create %s: %d %s", addr, code, errs)
				}
			}
			// A session and a password change (an email, an event) for
			// the account to go.
			if code, _, errs := cliRun(env, "a fresh cli passphrase\n", "user", "set-password", "gone@example.com"); code != 0 {
				t.Fatalf("set-password: %d %s", code, errs)
			}
			acc := accountNamed(t, dbURL, "gone@example.com")
			sessionFor(t, dbURL, acc)

			refusals := []struct {
				name, stdin string
				args        []string
				exit        int
				stderr      string
			}{
				{"unknown address", "nobody@example.com\n", []string{"user", "delete", "nobody@example.com"}, 1, "latchkey: no account for nobody@example.com\n"},
				{"bad address", "", []string{"user", "delete", "not an address"}, 1, "latchkey: email: Enter an email address like name@example.com.\n"},
				{"no confirmation", "", []string{"user", "delete", "gone@example.com"}, 1, "latchkey: " + errNotConfirmed.Error() + "\n"},
				{"yes is not the address", "yes\n", []string{"user", "delete", "gone@example.com"}, 1, "latchkey: " + errNotConfirmed.Error() + "\n"},
				{"another address", "kept@example.com\n", []string{"user", "delete", "gone@example.com"}, 1, "latchkey: " + errNotConfirmed.Error() + "\n"},
				{"two addresses", "", []string{"user", "delete", "gone@example.com", "kept@example.com"}, 2, "usage: latchkey user delete [--yes] EMAIL\n"},
				{"unknown flag", "", []string{"user", "delete", "--force", "gone@example.com"}, 2, "usage: latchkey user delete [--yes] EMAIL\n"},
			}
			for _, r := range refusals {
				code, out, errs := cliRun(env, r.stdin, r.args...)
				if code != r.exit || errs != r.stderr || strings.Contains(out, "deleted") {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d, stderr %q", r.name, code, out, errs, r.exit, r.stderr)
				}
			}
			// Three verification emails (user create) and one password
			// change.
			if got := smtp.Emails(); len(got) != 4 {
				t.Fatalf("refused runs sent mail: %d emails", len(got))
			}
			accountNamed(t, dbURL, "gone@example.com") // still there

			code, out, errs := cliRun(env, "  Gone@Example.com \n", "user", "delete", "gone@example.com")
			if code != 0 {
				t.Fatalf("confirmed delete: exit %d, stderr %q", code, errs)
			}
			if !strings.Contains(out, "Type the address to confirm:") ||
				!strings.HasSuffix(out, "deleted gone@example.com and everything of it; every session signed out\ngoodbye email sent to gone@example.com\n") {
				t.Errorf("stdout %q", out)
			}
			bye := smtp.WaitForSubject(t, "Your Latchkey account was deleted", 1, 10*time.Second)
			if bye[0].To[0] != "gone@example.com" || !strings.Contains(bye[0].Text, "by an operator from the command line") {
				t.Errorf("goodbye email: %+v", bye[0])
			}
			db, err := models.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			allow := func(table, column string, row map[string]string) bool {
				return table == "outbox_emails" && column == "recipient" && row["kind"] == string(models.MailGoodbye)
			}
			if got := testutil.AccountTraces(t, db, acc.ID, acc.PublicID, acc.Email, allow); len(got) > 0 {
				t.Errorf("traces of the deleted account:\n%s", strings.Join(got, "\n"))
			}

			// --yes needs no stdin; the other account stays.
			if code, out, errs := cliRun(env, "", "user", "delete", "--yes", "quick@example.com"); code != 0 || strings.Contains(out, "confirm") {
				t.Errorf("--yes: exit %d, stdout %q, stderr %q", code, out, errs)
			}
			if code, _, errs := cliRun(env, "", "user", "delete", "--yes", "gone@example.com"); code != 1 || errs != "latchkey: no account for gone@example.com\n" {
				t.Errorf("deleting again: exit %d, stderr %q", code, errs)
			}
			accountNamed(t, dbURL, "kept@example.com")
		})
	}
}

// sessionFor starts a session for acc straight in the database.
func sessionFor(t *testing.T, dbURL string, acc *models.Account) {
	t.Helper()
	db, err := models.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := testutil.NewStore(t, db, testutil.NewClock())
	if _, _, err := store.SignInNewAccount(context.Background(), acc, models.Client{IP: "192.0.2.1", UserAgent: "curl/8"}); err != nil {
		t.Fatal(err)
	}
}
