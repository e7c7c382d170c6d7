package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

var env = testutil.Env

// The command line reports a bad configuration, refuses an unknown
// command and prints its version (the configuration itself is tested in
// package app).
func TestCommandLine(t *testing.T) {
	var stderr bytes.Buffer
	if code := run([]string{"serve"}, nil, &bytes.Buffer{}, &stderr, env(map[string]string{"RESET_TTL": "soon"})); code == 0 || !strings.Contains(stderr.String(), "RESET_TTL") {
		t.Errorf("bad config: exit %d, stderr %q", code, stderr.String())
	}
	if code := run([]string{"frobnicate"}, nil, &bytes.Buffer{}, &bytes.Buffer{}, env(nil)); code == 0 {
		t.Errorf("unknown command exits 0")
	}
	var out bytes.Buffer
	if code := run([]string{"version"}, nil, &out, &bytes.Buffer{}, env(nil)); code != 0 || !strings.HasPrefix(out.String(), "latchkey ") {
		t.Errorf("version: %d %q", code, out.String())
	}
}

// Every command refuses to start in the container without BASE_URL, with
// the reason (migrate here: it would return at once if the rule were
// missing, where serve would run on).
func TestContainerCommandRefusesDevMode(t *testing.T) {
	var stderr bytes.Buffer
	code := run([]string{"migrate"}, nil, &bytes.Buffer{}, &stderr, env(map[string]string{"LATCHKEY_CONTAINER": "1", "ADDR": ":8080",
		"DATABASE_URL": "sqlite:" + t.TempDir() + "/latchkey.db", "SESSION_SECRET": strings.Repeat("s", 32)}))
	if code != 2 || !strings.Contains(stderr.String(), "BASE_URL: required in the container") {
		t.Errorf("a container without BASE_URL: exit %d, stderr %q", code, stderr.String())
	}
}

func TestCLIUserCommands(t *testing.T) {
	for _, dialect := range testutil.Dialects {
		t.Run(dialect, func(t *testing.T) {
			dbURL := testutil.NewDatabaseURL(t, dialect)
			smtp := testutil.StartSMTP(t)
			e := env(map[string]string{"DATABASE_URL": dbURL, "SMTP_URL": smtp.URL(), "SESSION_SECRET": testutil.TestSecret,
				"BASE_URL": "http://accounts.test"})
			cli := func(stdin string, args ...string) (int, string, string) {
				var out, errb bytes.Buffer
				code := run(args, strings.NewReader(stdin), &out, &errb, e)
				return code, out.String(), errb.String()
			}
			if code, out, errs := cli("", "migrate"); code != 0 || !regexp.MustCompile(`migrations applied: [1-9]`).MatchString(out) {
				t.Fatalf("migrate: %d %q %q", code, out, errs)
			}
			if code, _, errs := cli("correct horse battery staple\n", "user", "create", "Cli@Example.com"); code != 0 {
				t.Fatalf("create: %d %s", code, errs)
			}
			if code, _, errs := cli("password1\n", "user", "set-password", "cli@example.com"); code == 0 || !strings.Contains(errs, "too common") {
				t.Errorf("weak password accepted: %d %s", code, errs)
			}
			if code, _, errs := cli("whatever passphrase\n", "user", "set-password", "nobody@example.com"); code == 0 || !strings.Contains(errs, "no account") {
				t.Errorf("unknown user: %d %s", code, errs)
			}
			if code, _, _ := cli("", "user", "set-password", "cli@example.com"); code == 0 {
				t.Errorf("empty stdin accepted")
			}

			// A signed-in session exists; set-password must revoke it.
			ctx := context.Background()
			db, err := models.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			store := testutil.NewStore(t, db, testutil.NewClock())
			acc, err := models.AccountByEmail(ctx, db, "cli@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := store.CreateSession(ctx, db, acc.ID, models.Client{IP: "192.0.2.1"}); err != nil {
				t.Fatal(err)
			}

			code, out, errs := cli("a fresh cli passphrase\n", "user", "set-password", "cli@example.com")
			if code != 0 || !strings.Contains(out, "password set") {
				t.Fatalf("set-password: %d %q %q", code, out, errs)
			}
			if n, _ := db.NewSelect().Model((*models.Session)(nil)).Count(ctx); n != 0 {
				t.Errorf("sessions after set-password: %d", n)
			}
			if _, err := store.Authenticate(ctx, "cli@example.com", "a fresh cli passphrase", models.Client{}); err != nil {
				t.Errorf("new password does not authenticate: %v", err)
			}
			mail := smtp.WaitForSubject(t, "Your Latchkey password was changed", 1, 10*time.Second)[0]
			if mail.To[0] != "cli@example.com" || !strings.Contains(mail.Text, "set by an operator from the command line") || !strings.Contains(mail.Text, "http://accounts.test/") {
				t.Errorf("notification: to %v\n%s", mail.To, mail.Text)
			}
		})
	}
}
