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

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfig(t *testing.T) {
	cfg, err := loadConfig(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.BaseURL.String() != "http://localhost:8080" || cfg.DatabaseURL != "sqlite:./data/latchkey.db" ||
		cfg.ResetTTL != time.Hour || cfg.SessionIdle != 30*time.Minute || cfg.SessionMax != 12*time.Hour || !cfg.DevMode() {
		t.Errorf("defaults: %+v", cfg)
	}
	bad := []map[string]string{
		{"RESET_TTL": "soon"},
		{"RESET_TTL": "-1h"},
		{"BASE_URL": "ftp://x"},
		{"BASE_URL": "https://x.example/path"},
		{"DATABASE_URL": "mysql://x"},
		{"LOG_FORMAT": "xml"},
		{"TRUSTED_PROXIES": "10.0.0.1"},
		{"SESSION_SECRET": "short"},
		{"SMTP_URL": "http://x"},
		{"ADDR": "8080"},
		{"BASE_URL": "https://accounts.example.com"}, // no secret, no SMTP
		{"SESSION_IDLE": "13h"},
		{"LIMIT_SIGNIN_FAILURES_PER_DEVICE": "0"},
	}
	for _, e := range bad {
		if _, err := loadConfig(env(e)); err == nil {
			t.Errorf("%v accepted", e)
		}
	}
	if c, err := loadConfig(env(map[string]string{"LIMIT_SIGNIN_FAILURES_PER_DEVICE": "4"})); err != nil || c.Limits.SignInFreeFailuresDevice != 4 {
		t.Errorf("LIMIT_SIGNIN_FAILURES_PER_DEVICE not read: %v", err)
	}
	prod, err := loadConfig(env(map[string]string{"BASE_URL": "https://accounts.example.com", "SESSION_SECRET": strings.Repeat("s", 32),
		"SMTP_URL": "smtp://mail.example.com:587", "TRUSTED_PROXIES": "10.0.0.0/8, 192.168.0.0/16"}))
	if err != nil || !prod.Production() || len(prod.TrustedProxies) != 2 {
		t.Errorf("production config: %v", err)
	}
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
