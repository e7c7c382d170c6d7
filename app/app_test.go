package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/app"
	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// Run serves what New built on the given listener, runs the outbox worker
// (mail queued through the store goes out over SMTP), and returns nil once
// its context ends; Close then closes the database New opened.
func TestRunServesDeliversAndStops(t *testing.T) {
	for _, dialect := range testutil.Dialects {
		t.Run(dialect, func(t *testing.T) {
			smtp := testutil.StartSMTP(t)
			env := map[string]string{"DATABASE_URL": testutil.NewDatabaseURL(t, dialect), "SESSION_SECRET": testutil.TestSecret,
				"SMTP_URL": smtp.URL(), "BASE_URL": "http://accounts.test"}
			cfg, err := app.LoadConfig(testutil.Env(env))
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			a, err := app.New(t.Context(), cfg, app.WithListener(ln), app.WithAssets(os.DirFS(testutil.RepoPath(t, "assets"))),
				app.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), app.WithHashParams(testutil.TestHashParams()))
			if err != nil {
				t.Fatal(err)
			}
			if a.Migrated() == 0 {
				t.Errorf("New applied no migrations to a fresh database")
			}
			ctx, stop := context.WithCancel(t.Context())
			ran := make(chan error, 1)
			go func() { ran <- a.Run(ctx) }()

			resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("/healthz: %d", resp.StatusCode)
			}
			s := a.Store()
			if _, err := s.Register(ctx, "run@example.com", "correct horse battery staple", models.Client{}, testutil.VerifyMail); err != nil {
				t.Fatal(err)
			}
			err = s.RequestReset(ctx, "run@example.com", models.Client{}, func(m models.ResetMail) (models.Message, error) {
				return models.Message{To: m.Email, Subject: "Reset", Text: "code " + m.Code, HTML: "<p>code</p>"}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := smtp.WaitFor(t, 1, 10*time.Second); got[0].To[0] != "run@example.com" {
				t.Errorf("delivered to %v", got[0].To)
			}

			stop()
			if err := <-ran; err != nil {
				t.Errorf("Run after its context ended: %v", err)
			}
			if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
				t.Errorf("still serving after Run returned")
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if err := s.Ping(t.Context()); err == nil {
				t.Errorf("the database New opened is still open after Close")
			}
		})
	}
}

// With WithDB the database belongs to the caller: Close leaves it open.
func TestCloseLeavesAHandedInDatabaseOpen(t *testing.T) {
	db := testutil.NewDB(t, "sqlite")
	a := testutil.BuildApp(t, db, testutil.NewClock(), testutil.WithDevMailbox())
	if a.Mailbox() == nil {
		t.Fatal("no dev mailbox without SMTP_URL")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.PingContext(t.Context()); err != nil {
		t.Errorf("Close closed the caller's database: %v", err)
	}
}
