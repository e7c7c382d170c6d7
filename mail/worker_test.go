package mail_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/mail"
	"github.com/latchkey-auth/latchkey/models"
)

// queue queues a reset email for email (registering it first), under ctx
// if one is given.
func queue(t *testing.T, s *models.Store, email string, under ...context.Context) {
	t.Helper()
	ctx := context.Background()
	if len(under) > 0 {
		ctx = under[0]
	}
	if _, err := s.AccountByEmail(ctx, email); err != nil {
		// Not under ctx: the registration's verification email is not
		// the one a tracking caller asked for.
		if _, err := s.Register(context.Background(), email, "correct horse battery staple", models.Client{}, testutil.VerifyMail); err != nil {
			t.Fatal(err)
		}
	}
	err := s.RequestReset(ctx, email, models.Client{IP: "192.0.2.1"}, func(m models.ResetMail) (models.Message, error) {
		return models.Message{To: m.Email, Subject: "Reset", Text: "link " + m.Code, HTML: "<p>link</p>"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// startWorker builds Latchkey on db through the app constructor, with mail
// to smtpURL and short timing (adjusted by adjust), starts its outbox
// worker alone and returns its store.
func startWorker(t *testing.T, db *bun.DB, smtpURL string, adjust ...func(*mail.Tuning)) *models.Store {
	t.Helper()
	tuning := mail.Tuning{Poll: 100 * time.Millisecond, BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, MaxAttempts: 50}
	for _, f := range adjust {
		f(&tuning)
	}
	a := testutil.BuildApp(t, db, testutil.NewClock(), testutil.WithSMTP(smtpURL), testutil.WithWorkerTuning(tuning), testutil.WithLogTo(io.Discard))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Worker().Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return a.Store()
}

func status(t *testing.T, db *bun.DB) (row models.OutboxEmail) {
	t.Helper()
	if err := db.NewSelect().Model(&row).OrderExpr("id DESC").Limit(1).Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	return row
}

func waitStatus(t *testing.T, db *bun.DB, want string) models.OutboxEmail {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		row := status(t, db)
		if row.Status == want {
			return row
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox status %q (attempts %d, error %q), want %q", row.Status, row.Attempts, row.LastError, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDeliveryWakesOnEnqueue(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		srv := testutil.StartSMTP(t)
		// Only the wake-up can deliver in time.
		s := startWorker(t, db, srv.URL(), func(w *mail.Tuning) { w.Poll = time.Hour })
		time.Sleep(50 * time.Millisecond)
		queue(t, s, "wake@example.com")
		got := srv.WaitFor(t, 1, 5*time.Second)
		if got[0].To[0] != "wake@example.com" || got[0].HTML == "" || got[0].Text == "" {
			t.Errorf("delivered %+v", got[0])
		}
		row := waitStatus(t, db, models.OutboxSent)
		if row.SealedBody != nil || row.SentAt == nil {
			t.Errorf("sent row keeps its body or lacks sent_at")
		}
	})
}

func TestSMTPOutageThenRecovery(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		srv := testutil.StartSMTP(t)
		srv.Stop() // connection refused
		s := startWorker(t, db, srv.URL())
		start := time.Now()
		queue(t, s, "outage@example.com")
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("queueing waited on SMTP: %s", d)
		}
		deadline := time.Now().Add(5 * time.Second)
		for status(t, db).Attempts < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("no retries while SMTP is down: %+v", status(t, db))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if row := status(t, db); row.Status == models.OutboxFailed || row.SealedBody == nil {
			t.Fatalf("message given up during an outage: %+v", row)
		}
		srv.Restart(t)
		srv.WaitFor(t, 1, 10*time.Second)
		waitStatus(t, db, models.OutboxSent)
	})
}

func TestTemporaryAndPermanentSMTPFailures(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		srv := testutil.StartSMTP(t)
		s := startWorker(t, db, srv.URL())

		srv.FailWith(451)
		queue(t, s, "temp@example.com")
		deadline := time.Now().Add(5 * time.Second)
		for status(t, db).Attempts < 2 {
			if time.Now().After(deadline) {
				t.Fatal("4xx not retried")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if row := status(t, db); row.Status == models.OutboxFailed {
			t.Fatalf("4xx marked failed: %+v", row)
		}
		srv.FailWith(0)
		waitStatus(t, db, models.OutboxSent)

		srv.FailWith(550)
		queue(t, s, "perm@example.com")
		row := waitStatus(t, db, models.OutboxFailed)
		if row.Attempts != 1 || row.SealedBody != nil || row.LastError == "" {
			t.Errorf("5xx: attempts %d, body kept %v, error %q", row.Attempts, row.SealedBody != nil, row.LastError)
		}
	})
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	db := testutil.NewDB(t, "sqlite")
	srv := testutil.StartSMTP(t)
	srv.FailWith(421)
	s := startWorker(t, db, srv.URL(), func(w *mail.Tuning) { w.MaxAttempts = 3 })
	queue(t, s, "max@example.com")
	row := waitStatus(t, db, models.OutboxFailed)
	if row.Attempts != 3 {
		t.Errorf("failed after %d attempts, want 3", row.Attempts)
	}
}

func TestDevMailbox(t *testing.T) {
	box := mail.NewMailbox(2, nil)
	for _, s := range []string{"one", "two", "three"} {
		if err := box.Send(context.Background(), models.Message{To: "a@example.com", Subject: s}); err != nil {
			t.Fatal(err)
		}
	}
	got := box.Messages()
	if len(got) != 2 || got[0].Msg.Subject != "three" || got[1].Msg.Subject != "two" {
		t.Errorf("mailbox %+v", got)
	}
	if _, ok := box.Message(got[0].ID); !ok {
		t.Errorf("message by id")
	}
}

func TestSMTPURL(t *testing.T) {
	for _, bad := range []string{"http://x", "smtp://", "smtp://host:port", "::"} {
		if _, err := mail.NewSMTP(bad, "a@example.com"); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, good := range []string{"smtp://127.0.0.1:2525", "smtp://user:pw@localhost:25", "smtps://mail.example.com", "smtp://mail.example.com:587"} {
		if _, err := mail.NewSMTP(good, "a@example.com"); err != nil {
			t.Errorf("%q: %v", good, err)
		}
	}
}

// SendQueued sends the messages it is given and claims no other: another
// process's queued mail (here sealed with another secret, as a CLI with
// the wrong SESSION_SECRET would see it) stays pending and intact.
func TestSendQueuedSendsOnlyTheGivenMessages(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		srv := testutil.StartSMTP(t)
		// The CLI's app, built (and its secret checked) before the
		// server's store has queued anything.
		cli := testutil.BuildApp(t, db, testutil.NewClock(), testutil.WithSMTP(srv.URL()),
			testutil.WithSecret("a different secret, at least 32 bytes long"), testutil.WithLogTo(io.Discard))
		s := testutil.NewStore(t, db, testutil.NewClock())
		queue(t, s, "other@example.com")
		other := status(t, db)

		tracked, queued := models.TrackQueued(ctx)
		queue(t, cli.Store(), "mine@example.com", tracked)
		mine := queued()
		sent, err := cli.Worker().SendQueued(ctx, mine)
		if err != nil || sent != 1 {
			t.Fatalf("SendQueued: %d sent, %v", sent, err)
		}
		got := srv.Emails()
		if len(got) != 1 || got[0].To[0] != "mine@example.com" {
			t.Fatalf("sent %+v, want only mine@example.com's", got)
		}
		var after models.OutboxEmail
		if err := db.NewSelect().Model(&after).Where("id = ?", other.ID).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if after.Status != models.OutboxPending || after.Attempts != 0 {
			t.Errorf("the other message was claimed: %s after %d attempts", after.Status, after.Attempts)
		}
		if _, err := s.OpenMessage(&after); err != nil {
			t.Errorf("the other message no longer opens: %v", err)
		}
	})
}
