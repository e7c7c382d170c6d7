package models_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// changeMails records the change-of-address emails a store composes.
type changeMails struct {
	mu  sync.Mutex
	got []models.EmailChangeMail
}

func (c *changeMails) compose(m models.EmailChangeMail) (models.Message, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, m)
	return models.Message{To: "ignored@example.com", Subject: fmt.Sprint("step ", m.Step), Text: "code " + m.Code}, nil
}

func (c *changeMails) steps() []models.EmailChangeStep {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []models.EmailChangeStep
	for _, m := range c.got {
		out = append(out, m.Step)
	}
	return out
}

var changeClient = models.Client{IP: "192.0.2.44", UserAgent: "test"}

// requestChange asks for acc's change to newEmail and returns the code
// of the confirmation email ("" when the address is taken: no link).
func requestChange(t *testing.T, s *models.Store, acc *models.Account, newEmail string) (code string, mails *changeMails) {
	t.Helper()
	mails = &changeMails{}
	if err := s.RequestEmailChange(context.Background(), models.EmailChangeRequest{
		Account: acc, NewEmail: newEmail, Client: changeClient, Compose: mails.compose,
	}); err != nil {
		t.Fatalf("request change to %s: %v", newEmail, err)
	}
	for _, m := range mails.got {
		if m.Step == models.ChangeConfirm {
			code = m.Code
		}
	}
	return code, mails
}

// confirmChange confirms with a code as the web does.
func confirmChange(s *models.Store, code string, sess *models.Session) (*models.EmailChanged, *changeMails, error) {
	hash, ok := models.ParseCode(code)
	if !ok {
		return nil, nil, models.ErrLinkInvalid
	}
	mails := &changeMails{}
	res, err := s.ConfirmEmailChange(context.Background(), models.EmailChangeConfirmation{
		CodeHash: hash, Session: sess, Client: changeClient, Compose: mails.compose,
	})
	return res, mails, err
}

// outboxTo lists the queued mail kinds per recipient.
func outboxTo(t *testing.T, db *bun.DB) map[string][]models.MailKind {
	t.Helper()
	var rows []models.OutboxEmail
	if err := db.NewSelect().Model(&rows).OrderExpr("id").Scan(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := map[string][]models.MailKind{}
	for _, r := range rows {
		if r.Kind == models.MailVerifyEmail {
			continue // every registration queues one
		}
		out[r.Recipient] = append(out[r.Recipient], r.Kind)
	}
	return out
}

func emailOf(t *testing.T, db *bun.DB, id int64) *models.Account {
	t.Helper()
	acc, err := models.AccountByID(context.Background(), db, id)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

func eventKinds(t *testing.T, db *bun.DB, accountID int64) []models.EventKind {
	t.Helper()
	var kinds []models.EventKind
	if err := db.NewSelect().Model((*models.SecurityEvent)(nil)).Column("kind").
		Where("account_id = ?", accountID).OrderExpr("id").Scan(context.Background(), &kinds); err != nil {
		t.Fatal(err)
	}
	return kinds
}

// TestRequestEmailChange: asking changes nothing but the request itself:
// the link to the new address, the notice with "this wasn't me" to the
// current one, an event. A taken address gets the "someone tried" email
// instead of the link and everything else the same. The account's own
// address is refused.
func TestRequestEmailChange(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		acc := register(t, s, "rq@example.com")
		register(t, s, "taken@example.com")

		code, mails := requestChange(t, s, acc, "rq.new@example.com")
		if _, ok := models.ParseCode(code); !ok {
			t.Fatalf("confirmation code %q", code)
		}
		if got := mails.steps(); fmt.Sprint(got) != fmt.Sprint([]models.EmailChangeStep{models.ChangeConfirm, models.ChangeRequested}) {
			t.Errorf("steps %v", got)
		}
		for _, m := range mails.got {
			if m.OldEmail != "rq@example.com" || m.NewEmail != "rq.new@example.com" || m.Client.IP != changeClient.IP {
				t.Errorf("mail %+v", m)
			}
			if (m.Step == models.ChangeRequested) != (m.NotMeToken != "") {
				t.Errorf("step %v has not-me token %q", m.Step, m.NotMeToken)
			}
			if m.Step == models.ChangeRequested && m.Code != "" {
				t.Errorf("the notice to the current address carries the code")
			}
			if want := s.Now().Add(24 * time.Hour); m.ExpiresAt.Sub(want).Abs() > time.Minute {
				t.Errorf("expires %v, want VERIFY_TTL's 24h default (%v)", m.ExpiresAt, want)
			}
		}
		// The not-me token works (and is for this account).
		if err := s.CheckNotMe(ctx, mails.got[1].NotMeToken); err != nil {
			t.Errorf("not-me token: %v", err)
		}
		box := outboxTo(t, db)
		if fmt.Sprint(box["rq.new@example.com"]) != "[email-change-confirm]" || fmt.Sprint(box["rq@example.com"]) != "[email-change-requested]" {
			t.Errorf("outbox %v", box)
		}
		if got := emailOf(t, db, acc.ID); got.Email != "rq@example.com" {
			t.Errorf("the address changed before confirmation: %s", got.Email)
		}
		if _, err := s.Authenticate(ctx, "rq@example.com", "correct horse battery staple", models.Client{}); err != nil {
			t.Errorf("sign-in with the current address: %v", err)
		}
		if _, err := s.Authenticate(ctx, "rq.new@example.com", "correct horse battery staple", models.Client{}); !errors.Is(err, models.ErrBadCredentials) {
			t.Errorf("sign-in with the new address before confirmation: %v", err)
		}
		if k := eventKinds(t, db, acc.ID); k[len(k)-1] != models.EventEmailChangeRequested {
			t.Errorf("events %v", k)
		}
		pending, err := s.PendingEmailChange(ctx, acc.ID)
		if err != nil || pending == nil || pending.NewEmail != "rq.new@example.com" {
			t.Errorf("pending %+v, %v", pending, err)
		}

		// A taken address: the same steps but the link, the same rows.
		before := testutil.CountRows(t, db.NewSelect().Model((*models.EmailChange)(nil)))
		code2, mails2 := requestChange(t, s, acc, "taken@example.com")
		if code2 != "" {
			t.Errorf("a taken address was sent a code")
		}
		if got := mails2.steps(); fmt.Sprint(got) != fmt.Sprint([]models.EmailChangeStep{models.ChangeTaken, models.ChangeRequested}) {
			t.Errorf("taken: steps %v", got)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.EmailChange)(nil))); n != before+1 {
			t.Errorf("taken: %d change rows, want %d (the same write)", n, before+1)
		}
		box = outboxTo(t, db)
		if fmt.Sprint(box["taken@example.com"]) != "[email-change-taken]" || len(box["rq@example.com"]) != 2 {
			t.Errorf("taken: outbox %v", box)
		}
		// ... and it superseded the first request, as any request does.
		if _, _, err := confirmChange(s, code, nil); !errors.Is(err, models.ErrLinkInvalid) {
			t.Errorf("superseded code: %v, want ErrLinkInvalid", err)
		}
		if got := emailOf(t, db, acc.ID); got.Email != "rq@example.com" {
			t.Errorf("address %s", got.Email)
		}

		// The account's own address.
		err = s.RequestEmailChange(ctx, models.EmailChangeRequest{Account: acc, NewEmail: "rq@example.com", Client: changeClient, Compose: (&changeMails{}).compose})
		if !errors.Is(err, models.ErrEmailUnchanged) {
			t.Errorf("own address: %v", err)
		}
	})
}

// TestConfirmEmailChange: the switch, all in one go: new address,
// verified, other sessions revoked (the confirming one kept, and dropped
// from the session cache), reset codes and other requests ended, an event,
// the notice to the old address. Then the code is spent; an expired one
// never works.
func TestConfirmEmailChange(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock, testutil.WithSessionCacheMaxAge(time.Hour))
		s.SessionCacheListening(true)
		ctx := context.Background()
		acc := register(t, s, "cf@example.com")
		bystander := register(t, s, "by@example.com")
		keepID, keep, err := s.CreateSession(ctx, db, acc.ID, changeClient)
		if err != nil {
			t.Fatal(err)
		}
		otherID, _, err := s.CreateSession(ctx, db, acc.ID, changeClient)
		if err != nil {
			t.Fatal(err)
		}
		byID, _, err := s.CreateSession(ctx, db, bystander.ID, changeClient)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{keepID, otherID, byID} {
			if _, err := s.LoadSessionCached(ctx, id); err != nil || !s.SessionCached(id) {
				t.Fatalf("warm the cache: %v", err)
			}
		}
		resetHash := requestReset(t, s, "cf@example.com")
		code, _ := requestChange(t, s, acc, "cf.new@example.com")

		res, mails, err := confirmChange(s, code, keep)
		if err != nil {
			t.Fatal(err)
		}
		if !res.KeptSession || res.OldEmail != "cf@example.com" || res.Account.Email != "cf.new@example.com" {
			t.Errorf("result %+v", res)
		}
		got := emailOf(t, db, acc.ID)
		if got.Email != "cf.new@example.com" || got.EmailVerifiedAt == nil {
			t.Errorf("account %s verified %v", got.Email, got.EmailVerifiedAt)
		}
		if _, err := s.Authenticate(ctx, "cf.new@example.com", "correct horse battery staple", models.Client{}); err != nil {
			t.Errorf("sign-in with the new address: %v", err)
		}
		if _, err := s.Authenticate(ctx, "cf@example.com", "correct horse battery staple", models.Client{}); !errors.Is(err, models.ErrBadCredentials) {
			t.Errorf("sign-in with the old address: %v", err)
		}
		if sess, err := s.LoadSessionCached(ctx, keepID); err != nil || sess.Account.Email != "cf.new@example.com" {
			t.Errorf("kept session: %v (its account read again: %v)", err, sess)
		}
		if _, err := s.LoadSessionCached(ctx, otherID); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("other session, through the cache: %v, want revoked", err)
		}
		if _, err := s.LoadSessionCached(ctx, byID); err != nil {
			t.Errorf("another account's session: %v", err)
		}
		if _, _, err := s.LookupReset(ctx, resetHash); !errors.Is(err, models.ErrResetInvalid) {
			t.Errorf("reset code mailed to the old address: %v, want dead", err)
		}
		if k := eventKinds(t, db, acc.ID); k[len(k)-1] != models.EventEmailChanged {
			t.Errorf("events %v", k)
		}
		if len(mails.got) != 1 || mails.got[0].Step != models.ChangeDone || mails.got[0].OldEmail != "cf@example.com" {
			t.Errorf("mails %+v", mails.got)
		}
		if box := outboxTo(t, db); fmt.Sprint(box["cf@example.com"]) != "[reset email-change-requested email-changed]" {
			t.Errorf("old address's mail: %v", box["cf@example.com"])
		}
		if p, err := s.PendingEmailChange(ctx, acc.ID); p != nil || err != nil {
			t.Errorf("still pending: %+v %v", p, err)
		}

		// Spent.
		if _, _, err := confirmChange(s, code, keep); !errors.Is(err, models.ErrLinkInvalid) {
			t.Errorf("second use: %v", err)
		}
		// Unknown.
		unknown, _ := models.NewCode()
		if _, _, err := confirmChange(s, unknown, nil); !errors.Is(err, models.ErrLinkInvalid) {
			t.Errorf("unknown code: %v", err)
		}
		// Expired, signed out: nothing changes.
		code, _ = requestChange(t, s, res.Account, "cf.later@example.com")
		clock.Advance(24*time.Hour + time.Minute)
		if _, _, err := confirmChange(s, code, nil); !errors.Is(err, models.ErrLinkInvalid) {
			t.Errorf("expired code: %v", err)
		}
		if got := emailOf(t, db, acc.ID); got.Email != "cf.new@example.com" {
			t.Errorf("an expired code changed the address to %s", got.Email)
		}

		// Signed out (or signed in to another account): every session of
		// the account ends, the other account's stays.
		fresh := emailOf(t, db, acc.ID)
		id2, _, err := s.CreateSession(ctx, db, acc.ID, changeClient)
		if err != nil {
			t.Fatal(err)
		}
		byID2, bySess, err := s.CreateSession(ctx, db, bystander.ID, changeClient)
		if err != nil {
			t.Fatal(err)
		}
		code, _ = requestChange(t, s, fresh, "cf.third@example.com")
		res, _, err = confirmChange(s, code, bySess)
		if err != nil || res.KeptSession {
			t.Fatalf("confirm from another account's browser: %+v %v", res, err)
		}
		if _, err := s.LoadSession(ctx, id2); !errors.Is(err, models.ErrSessionNotFound) {
			t.Errorf("the account's session survived: %v", err)
		}
		if _, err := s.LoadSession(ctx, byID2); err != nil {
			t.Errorf("the other account's session ended: %v", err)
		}
	})
}

// TestConfirmEmailChangeTakenMeanwhile: an address registered after the
// request cannot be confirmed; nothing changes, not even the code.
func TestConfirmEmailChangeTakenMeanwhile(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		acc := register(t, s, "tm@example.com")
		id, sess, err := s.CreateSession(ctx, db, acc.ID, changeClient)
		if err != nil {
			t.Fatal(err)
		}
		other, _, err := s.CreateSession(ctx, db, acc.ID, changeClient)
		if err != nil {
			t.Fatal(err)
		}
		code, _ := requestChange(t, s, acc, "tm.new@example.com")
		register(t, s, "tm.new@example.com")
		events := len(eventKinds(t, db, acc.ID))
		mailsBefore := testutil.CountRows(t, db.NewSelect().Model((*models.OutboxEmail)(nil)))

		_, mails, err := confirmChange(s, code, sess)
		if !errors.Is(err, models.ErrEmailInUse) {
			t.Fatalf("confirm: %v, want ErrEmailInUse", err)
		}
		if got := emailOf(t, db, acc.ID); got.Email != "tm@example.com" || got.EmailVerifiedAt != nil {
			t.Errorf("account %s verified %v", got.Email, got.EmailVerifiedAt)
		}
		for _, sid := range []string{id, other} {
			if _, err := s.LoadSession(ctx, sid); err != nil {
				t.Errorf("a session ended: %v", err)
			}
		}
		if n := len(eventKinds(t, db, acc.ID)); n != events {
			t.Errorf("events written: %d → %d", events, n)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.OutboxEmail)(nil))); n != mailsBefore || len(mails.got) != 0 {
			t.Errorf("mail queued: %d → %d (%d composed)", mailsBefore, n, len(mails.got))
		}
		if p, err := s.PendingEmailChange(ctx, acc.ID); err != nil || p == nil {
			t.Errorf("the request was used up: %v", err)
		}
	})
}

// TestConfirmEmailChangeRace: two accounts confirm the same new address at
// the same moment: exactly one wins, the other gets ErrEmailInUse and
// keeps its address.
func TestConfirmEmailChangeRace(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		for round := range 5 {
			target := fmt.Sprintf("prize%d@example.com", round)
			a := register(t, s, fmt.Sprintf("ra%d@example.com", round))
			b := register(t, s, fmt.Sprintf("rb%d@example.com", round))
			codeA, _ := requestChange(t, s, a, target)
			codeB, _ := requestChange(t, s, b, target)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			start := make(chan struct{})
			for i, code := range []string{codeA, codeB} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, _, errs[i] = confirmChange(s, code, nil)
				}()
			}
			close(start)
			wg.Wait()
			won := 0
			for _, err := range errs {
				switch {
				case err == nil:
					won++
				case errors.Is(err, models.ErrEmailInUse):
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d winners (%v)", round, won, errs)
			}
			ga, gb := emailOf(t, db, a.ID), emailOf(t, db, b.ID)
			if (ga.Email == target) == (gb.Email == target) {
				t.Errorf("round %d: addresses %s and %s", round, ga.Email, gb.Email)
			}
			loser := ga
			if ga.Email == target {
				loser = gb
			}
			if loser.Email != fmt.Sprintf("r%c%d@example.com", loser.Email[1], round) {
				t.Errorf("round %d: the loser's address is %s", round, loser.Email)
			}
		}
	})
}

// TestEmailChangeEndsWithThePassword: "this wasn't me" and any new password
// cancel a pending change, whose link confirms without signing in.
func TestEmailChangeEndsWithThePassword(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()

		acc := register(t, s, "nmc@example.com")
		code, mails := requestChange(t, s, acc, "intruder@example.com")
		if _, err := s.ConfirmNotMe(ctx, mails.got[1].NotMeToken, models.Client{}, resetMail); err != nil {
			t.Fatal(err)
		}
		if _, _, err := confirmChange(s, code, nil); !errors.Is(err, models.ErrLinkInvalid) {
			t.Errorf("after \"this wasn't me\": %v, want ErrLinkInvalid", err)
		}

		acc = register(t, s, "pwc@example.com")
		code, _ = requestChange(t, s, acc, "pwc.new@example.com")
		changePassword(t, s, acc, "a brand new passphrase", models.ChangedBySelf)
		if _, _, err := confirmChange(s, code, nil); !errors.Is(err, models.ErrLinkInvalid) {
			t.Errorf("after a password change: %v, want ErrLinkInvalid", err)
		}
		for _, e := range []string{"nmc@example.com", "pwc@example.com"} {
			if _, err := s.AccountByEmail(ctx, e); err != nil {
				t.Errorf("%s: %v", e, err)
			}
		}
	})
}

// TestAllowEmailChange: per account and per IP, each on its own.
func TestAllowEmailChange(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		limits := models.DefaultLimits()
		limits.EmailChangesPerHour, limits.EmailChangesPerHourIP = 2, 3
		s := testutil.NewStore(t, db, testutil.NewClock(), testutil.WithLimits(limits))
		ctx := context.Background()
		a, b := register(t, s, "la@example.com"), register(t, s, "lb@example.com")
		for i := range 2 {
			if err := s.AllowEmailChange(ctx, a, "192.0.2.1"); err != nil {
				t.Fatalf("a #%d: %v", i+1, err)
			}
		}
		var limited *models.LimitedError
		if err := s.AllowEmailChange(ctx, a, "192.0.2.2"); !errors.As(err, &limited) || limited.RetryAfter <= 0 {
			t.Errorf("a #3 from another IP: %v, want the account's limit", err)
		}
		// b from the first IP: its third request there.
		if err := s.AllowEmailChange(ctx, b, "192.0.2.1"); err != nil {
			t.Errorf("b from 192.0.2.1: %v", err)
		}
		if err := s.AllowEmailChange(ctx, b, "192.0.2.1"); !errors.As(err, &limited) {
			t.Errorf("fourth from 192.0.2.1: %v, want the IP's limit", err)
		}
	})
}

// TestEmailChangeRowsGo: Cleanup deletes old requests; deleting the account
// deletes its requests (ON DELETE CASCADE).
func TestEmailChangeRowsGo(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		a, b := register(t, s, "ga@example.com"), register(t, s, "gb@example.com")
		requestChange(t, s, a, "ga.new@example.com")
		requestChange(t, s, b, "gb.new@example.com")
		if _, err := db.NewDelete().Model((*models.Account)(nil)).Where("id = ?", b.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.EmailChange)(nil)).Where("account_id = ?", b.ID)); n != 0 {
			t.Errorf("%d requests outlived their account", n)
		}
		if err := s.Cleanup(ctx, 7*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.EmailChange)(nil))); n != 1 {
			t.Errorf("cleanup took a live request: %d left", n)
		}
		clock.Advance(24*time.Hour + 8*24*time.Hour)
		if err := s.Cleanup(ctx, 7*24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.EmailChange)(nil))); n != 0 {
			t.Errorf("cleanup left %d old requests", n)
		}
	})
}
