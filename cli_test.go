package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// wrongSecret is a valid SESSION_SECRET that is not the server's.
const wrongSecret = "not-the-server-secret-not-the-server-secret-42"

// cliRun runs the command line in this process with env and returns the
// exit code, stdout and stderr.
func cliRun(env map[string]string, stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

// queueServerReset queues a reset email for other@example.com sealed with
// the server's secret, as the server would, and returns its outbox id.
func queueServerReset(t *testing.T, dbURL string) int64 {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store := testutil.NewStore(t, db, testutil.NewClock()) // seals with TestSecret
	if _, err := store.Register(ctx, "other@example.com", pw, models.Client{}, testutil.VerifyMail); err != nil {
		t.Fatal(err)
	}
	tracked, queued := models.TrackQueued(ctx)
	err = store.RequestReset(tracked, "other@example.com", models.Client{IP: "198.51.100.9"}, func(m models.ResetMail) (models.Message, error) {
		return models.Message{To: m.Email, Subject: "Reset your Latchkey password", Text: "code " + m.Code, HTML: "<p>code</p>"}, nil
	})
	ids := queued()
	if err != nil || len(ids) != 1 {
		t.Fatalf("queue the server's reset email: %v (ids %v)", err, ids)
	}
	return ids[0]
}

// assertUntouched checks that the server's queued email is still pending,
// never attempted, and still opens with the server's secret.
func assertUntouched(t *testing.T, dbURL string, id int64) {
	t.Helper()
	ctx := context.Background()
	db, err := models.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var row models.OutboxEmail
	if err := db.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		t.Fatal(err)
	}
	if row.Status != models.OutboxPending || row.Attempts != 0 || row.LastError != "" {
		t.Errorf("the server's queued email was touched: status %s, %d attempts, error %q", row.Status, row.Attempts, row.LastError)
	}
	msg, err := testutil.NewStore(t, db, testutil.NewClock()).OpenMessage(&row)
	if err != nil || !strings.HasPrefix(msg.Text, "code ") {
		t.Errorf("the server's queued email no longer opens: %v", err)
	}
}

// The CLI shares the outbox with the server: run with another secret (or
// none) it refuses to start; run with the right one it sends only the email
// it queued, and the other user's reset email stays for the server.
func TestCLISetPasswordLeavesOtherMailAlone(t *testing.T) {
	for _, dialect := range testutil.Dialects {
		t.Run(dialect, func(t *testing.T) {
			dbURL := testutil.NewDatabaseURL(t, dialect)
			smtp := testutil.StartSMTP(t)
			env := map[string]string{"DATABASE_URL": dbURL, "SMTP_URL": smtp.URL(), "SESSION_SECRET": testutil.TestSecret,
				"BASE_URL": "http://accounts.test"}
			code, out, errs := cliRun(env, pw+"\n", "user", "create", "cli@example.com")
			if code != 0 {
				t.Fatalf("create: %d %s", code, errs)
			}
			// Like a registration, the account's verification email goes
			// out with it.
			if want := "created cli@example.com\nverification email sent to cli@example.com\n"; out != want {
				t.Errorf("create: stdout %q, want %q", out, want)
			}
			created := smtp.Emails()
			if len(created) != 1 || created[0].To[0] != "cli@example.com" || created[0].Subject != "Confirm your email address for Latchkey" ||
				!strings.Contains(created[0].Text, "http://accounts.test/account/verify-email?code=") {
				t.Fatalf("create sent %+v, want cli@example.com's verification email", created)
			}
			other := queueServerReset(t, dbURL)

			wrong := map[string]string{"DATABASE_URL": dbURL, "SMTP_URL": smtp.URL(), "SESSION_SECRET": wrongSecret}
			code, out, errs = cliRun(wrong, "a fresh cli passphrase\n", "user", "set-password", "cli@example.com")
			if code == 0 || !strings.Contains(errs, "SESSION_SECRET does not match") || strings.Contains(out, "password set") {
				t.Errorf("wrong secret: exit %d, stdout %q, stderr %q", code, out, errs)
			}

			// No secret at all: Postgres refuses outright; SQLite falls back
			// to the dev secret in ./data, which is not the server's.
			t.Chdir(t.TempDir())
			none := map[string]string{"DATABASE_URL": dbURL, "SMTP_URL": smtp.URL()}
			code, out, errs = cliRun(none, "a fresh cli passphrase\n", "user", "set-password", "cli@example.com")
			want := "SESSION_SECRET is required with a Postgres DATABASE_URL"
			if dialect == "sqlite" {
				want = "SESSION_SECRET does not match"
				if !strings.Contains(errs, "data/secret") {
					t.Errorf("the error does not name the dev secret it used: %q", errs)
				}
			}
			if code == 0 || !strings.Contains(errs, want) || strings.Contains(out, "password set") {
				t.Errorf("no secret: exit %d, stdout %q, stderr %q, want %q", code, out, errs, want)
			}
			if code, _, errs := cliRun(none, "", "migrate"); code == 0 || !strings.Contains(errs, "SESSION_SECRET") {
				t.Errorf("migrate without the secret: exit %d, stderr %q", code, errs)
			}

			if got := smtp.Emails(); len(got) != 1 {
				t.Fatalf("refused runs sent %d emails", len(got)-1)
			}
			assertUntouched(t, dbURL, other)
			if !checkPassword(t, accountNamed(t, dbURL, "cli@example.com"), pw) {
				t.Errorf("a refused run changed the password")
			}

			code, out, errs = cliRun(env, "a fresh cli passphrase\n", "user", "set-password", "cli@example.com")
			if code != 0 {
				t.Fatalf("right secret: exit %d, stderr %q", code, errs)
			}
			if want := "password set for cli@example.com; every session signed out\nnotification email sent to cli@example.com\n"; out != want {
				t.Errorf("stdout %q, want %q", out, want)
			}
			got := smtp.Emails()[1:]
			if len(got) != 1 || got[0].To[0] != "cli@example.com" || got[0].Subject != "Your Latchkey password was changed" {
				t.Fatalf("sent %d emails, want only cli@example.com's notification: %+v", len(got), got)
			}
			assertUntouched(t, dbURL, other)
		})
	}
}

// accountNamed reads an account straight from the database.
func accountNamed(t *testing.T, dbURL, email string) *models.Account {
	t.Helper()
	db, err := models.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	acc, err := models.AccountByEmail(context.Background(), db, email)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

// The server refuses to start with a secret the database was not set up
// with, naming SESSION_SECRET, and exits non-zero.
func TestServeRefusesAnotherSecret(t *testing.T) {
	for _, dialect := range testutil.Dialects {
		t.Run(dialect, func(t *testing.T) {
			dbURL := testutil.NewDatabaseURL(t, dialect)
			env := map[string]string{"DATABASE_URL": dbURL, "SESSION_SECRET": testutil.TestSecret}
			if code, _, errs := cliRun(env, "", "migrate"); code != 0 {
				t.Fatalf("migrate: %d %s", code, errs)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "LATCHKEY_TEST_SERVER=1", "ADDR="+testutil.FreeAddr(t),
				"DATABASE_URL="+dbURL, "SESSION_SECRET="+wrongSecret)
			cmd.Dir = t.TempDir()
			var out testutil.SafeBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				var exit *exec.ExitError
				if !errors.As(err, &exit) || exit.ExitCode() == 0 || !strings.Contains(out.String(), "SESSION_SECRET does not match") {
					t.Errorf("serve with another secret: %v\n%s", err, out.String())
				}
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("serve with another secret is still running:\n%s", out.String())
			}
			// The right secret still starts.
			if code, _, errs := cliRun(env, "", "migrate"); code != 0 {
				t.Errorf("migrate with the right secret: %d %s", code, errs)
			}
		})
	}
}

// `go run .` needs no setup: the first start makes the dev secret and
// stores its check value, later starts in the same folder match it.
func TestDevSecretNeedsNoSetup(t *testing.T) {
	t.Chdir(t.TempDir())
	for i := range 2 {
		if code, out, errs := cliRun(nil, "", "migrate"); code != 0 || !strings.Contains(out, "migrations applied") {
			t.Fatalf("start %d with no configuration: exit %d, %q %q", i+1, code, out, errs)
		}
	}
	if code, _, errs := cliRun(nil, pw+"\n", "user", "create", "dev@example.com"); code != 0 {
		t.Fatalf("user create with no configuration: %d %s", code, errs)
	}
	if _, err := os.Stat("data/secret"); err != nil {
		t.Errorf("dev secret: %v", err)
	}
}

// Without SMTP_URL the CLI leaves its email to the running dev server,
// whose /dev/mailbox shows it; the CLI itself prints nothing of it.
func TestCLIMailShowsInServerDevMailbox(t *testing.T) {
	for _, dialect := range testutil.Dialects {
		t.Run(dialect, func(t *testing.T) {
			dbURL := testutil.NewDatabaseURL(t, dialect)
			srv := startServer(t, map[string]string{"DATABASE_URL": dbURL})
			env := map[string]string{"DATABASE_URL": dbURL, "SESSION_SECRET": testutil.TestSecret, "BASE_URL": srv.URL}
			if code, _, errs := cliRun(env, pw+"\n", "user", "create", "dev@example.com"); code != 0 {
				t.Fatalf("create: %d %s", code, errs)
			}
			code, out, errs := cliRun(env, "a fresh cli passphrase\n", "user", "set-password", "dev@example.com")
			if code != 0 || !strings.Contains(out, "/dev/mailbox") || strings.Contains(out, "Your Latchkey password was changed") {
				t.Fatalf("set-password: exit %d, stdout %q, stderr %q", code, out, errs)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				resp, err := http.Get(srv.URL + "/dev/mailbox")
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if strings.Contains(string(body), "dev@example.com") && strings.Contains(string(body), "Your Latchkey password was changed") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the CLI's email never showed in the server's /dev/mailbox:\n%s", body)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// The success line is one sentence; a bad address has one "email:" prefix;
// the email says an operator set the password, with no IP sentence.
func TestCLIWording(t *testing.T) {
	dbURL := testutil.NewDatabaseURL(t, "sqlite")
	smtp := testutil.StartSMTP(t)
	env := map[string]string{"DATABASE_URL": dbURL, "SMTP_URL": smtp.URL(), "SESSION_SECRET": testutil.TestSecret}
	if code, _, errs := cliRun(env, pw+"\n", "user", "create", "ann@example.com"); code != 0 {
		t.Fatalf("create: %d %s", code, errs)
	}
	code, out, _ := cliRun(env, "a fresh cli passphrase\n", "user", "set-password", "ann@example.com")
	if first, _, _ := strings.Cut(out, "\n"); code != 0 || first != "password set for ann@example.com; every session signed out" {
		t.Errorf("success line %q (exit %d)", first, code)
	}
	code, _, errs := cliRun(env, "a fresh cli passphrase\n", "user", "set-password", "not an address")
	if want := "latchkey: email: Enter an email address like name@example.com.\n"; code == 0 || errs != want {
		t.Errorf("bad address: exit %d, stderr %q, want %q", code, errs, want)
	}
	mail := smtp.Last(t, "ann@example.com")
	for part, body := range map[string]string{"text": mail.Text, "HTML": mail.HTML} {
		if !strings.Contains(body, "set by an operator from the command line on") || strings.Contains(body, "IP address") ||
			strings.Contains(body, "command line&#39;") || strings.Contains(body, "server's command line") {
			t.Errorf("%s part of the CLI's email:\n%s", part, body)
		}
	}
}
