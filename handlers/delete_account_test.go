package handlers_test

// Deleting the account (SPEC §8): every row of it goes in one
// transaction, but for the goodbye email.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/mail"
	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views/email"
)

// goodbyeOnly allows the one trace a deleted account leaves: the address
// in the recipient column of the goodbye email's outbox row (whose body is
// sealed).
func goodbyeOnly(table, column string, row map[string]string) bool {
	return table == "outbox_emails" && column == "recipient" && row["kind"] == string(models.MailGoodbye)
}

func TestDeleteAccountRemovesEveryRow(t *testing.T) {
	// A failed send waits an hour: the "password changed" email stays
	// queued to the address until the deletion.
	tuning := mail.Tuning{BackoffBase: time.Hour, BackoffMax: time.Hour}
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		ctx := context.Background()
		const addr, otherAddr = "leaving@example.com", "staying@example.com"
		// A table a later feature might add, without a cascading foreign
		// key: the deletion finds it by its account_id column.
		if _, err := app.DB.ExecContext(ctx, "CREATE TABLE later_feature (account_id BIGINT NOT NULL, note TEXT NOT NULL)"); err != nil {
			t.Fatal(err)
		}
		other := app.Register(t, otherAddr, oldPassword)
		first := app.Register(t, addr, oldPassword)
		acc, err := models.AccountByEmail(ctx, app.DB, addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := app.DB.ExecContext(ctx, "INSERT INTO later_feature (account_id, note) VALUES (?, ?), (?, ?)",
			acc.ID, "of the leaving account", acc.ID+100, "of nobody we know"); err != nil {
			t.Fatal(err)
		}

		// A second device, signed in through the form: a device cookie.
		b := app.NewBrowser(t)
		if r := b.Post("/account/login", url.Values{"email": {addr}, "password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", r.StatusCode)
		}
		if b.Cookie("latchkey_device") == "" {
			t.Fatal("no device cookie after signing in")
		}
		// The forward-auth check caches the first device's session.
		if r := first.Get("/auth/verify"); r.StatusCode != http.StatusOK {
			t.Fatalf("verify before deletion: %d", r.StatusCode)
		}
		// A reset code, its email (sent) and its per-address counter.
		app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {addr}})
		app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)
		// A wrong password on the deletion form: a failed-sign-in event,
		// the address's and the device's counters.
		if r := b.Post("/account/delete", url.Values{"current_password": {"not my password"}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("wrong password: %d", r.StatusCode)
		}
		// A change of password from the other device whose email cannot
		// be sent: queued to the address when the account goes.
		app.SMTP.FailWith(451)
		if r := other.Post("/account/password", url.Values{"current_password": {oldPassword}, "password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("other account's change: %d", r.StatusCode)
		}
		if r := first.Post("/account/password", url.Values{"current_password": {oldPassword}, "password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("change: %d", r.StatusCode)
		}
		waitFor(t, "the changed emails to fail once", func() bool {
			return testutil.CountRows(t, app.DB.NewSelect().Model((*models.OutboxEmail)(nil)).
				Where("kind = ? AND status = ? AND attempts > 0", models.MailPasswordChanged, models.OutboxPending)) == 2
		})
		app.SMTP.FailWith(0)
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.OutboxEmail)(nil)).Where("recipient = ?", addr)); n < 2 {
			t.Fatalf("setup: %d emails to the address in the outbox", n)
		}
		if got := testutil.AccountTraces(t, app.DB, acc.ID, acc.PublicID, addr, nil); len(got) < 8 {
			t.Fatalf("setup: only %d traces of the account before the deletion:\n%s", len(got), strings.Join(got, "\n"))
		}
		// The change signed the second device out; sign it in again.
		if r := b.Post("/account/login", url.Values{"email": {addr}, "password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in again: %d", r.StatusCode)
		}
		if r := b.Get("/account"); !strings.Contains(r.Body, `data-testid="delete-link"`) || !strings.Contains(r.Body, `data-testid="export-link"`) {
			t.Errorf("the account page has no delete or export link")
		}
		if r := first.Get("/auth/verify"); r.StatusCode != http.StatusOK {
			t.Fatalf("verify before deletion: %d", r.StatusCode)
		}
		// Another wrong password: the new device cookie's counter.
		if r := b.Post("/account/delete", url.Values{"current_password": {"not my password"}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("wrong password: %d", r.StatusCode)
		}
		devicesBefore := deviceCounters(t, app)
		stolen := b.Cookie("latchkey_session")
		stolenFirst := first.Cookie("latchkey_session")

		r := b.Post("/account/delete", url.Values{"current_password": {newPassword}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
			t.Fatalf("delete: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.Body)
		}
		if b.Cookie("latchkey_session") != "" || b.Cookie("latchkey_device") != "" {
			t.Errorf("the session or device cookie survived the deletion")
		}
		if home := b.Get("/"); home.Text(t, `[data-testid="flash"]`) != "Your account has been deleted. We have emailed you a confirmation." {
			t.Errorf("flash after deletion: %q", home.Text(t, `[data-testid="flash"]`))
		}

		// Every session is dead at once, on this instance's cache too.
		if r := first.Get("/auth/verify"); r.StatusCode == http.StatusOK || !strings.Contains(r.Header.Get("Location"), "/account/login") {
			t.Errorf("verify with the other device's cookie after deletion: %d %q, want signed out", r.StatusCode, r.Header.Get("Location"))
		}
		for name, cookie := range map[string]string{"deleting device": stolen, "other device": stolenFirst} {
			replay := app.NewBrowser(t)
			u, _ := url.Parse(app.URL)
			replay.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "latchkey_session", Value: cookie}})
			if r := replay.Get("/account"); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/account/login") {
				t.Errorf("replayed cookie of the %s: /account %d %q", name, r.StatusCode, r.Header.Get("Location"))
			}
			if r := replay.Get("/auth/whoami"); r.StatusCode != http.StatusUnauthorized {
				t.Errorf("replayed cookie of the %s: whoami %d", name, r.StatusCode)
			}
		}
		bye := app.SMTP.WaitForSubject(t, email.GoodbyeSubject, 1, 10*time.Second)
		if len(bye) != 1 || bye[0].To[0] != addr || !strings.Contains(bye[0].Text, "deleted from the account page") {
			t.Errorf("goodbye emails: %+v", bye)
		}

		// Nothing of the account is left anywhere but the goodbye row.
		if got := testutil.AccountTraces(t, app.DB, acc.ID, acc.PublicID, addr, goodbyeOnly); len(got) > 0 {
			t.Errorf("traces of the deleted account:\n%s", strings.Join(got, "\n"))
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.OutboxEmail)(nil)).Where("recipient = ?", addr)); n != 1 {
			t.Errorf("%d outbox rows to the address, want the goodbye alone", n)
		}
		// The deleting browser's device counter went; older cookies' counters
		// name no account and cannot be found.
		if after := deviceCounters(t, app); after != devicesBefore-1 {
			t.Errorf("%d device-cookie counters after the deletion, want %d", after, devicesBefore-1)
		}
		var notes []string
		if err := app.DB.NewRaw("SELECT note FROM later_feature").Scan(ctx, &notes); err != nil {
			t.Fatal(err)
		}
		if len(notes) != 1 || notes[0] != "of nobody we know" {
			t.Errorf("later_feature rows left: %q", notes)
		}

		// (After the scan: a sign-in attempt counts the address again.)
		if r := app.NewBrowser(t).Post("/account/login", url.Values{"email": {addr}, "password": {newPassword}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("sign-in after deletion: %d, want 422", r.StatusCode)
		}

		// The other account is untouched.
		if r := other.Get("/account"); r.StatusCode != http.StatusOK {
			t.Errorf("the other account's session: %d", r.StatusCode)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.OutboxEmail)(nil)).Where("recipient = ? AND kind <> ?", otherAddr, models.MailVerifyEmail)); n != 1 {
			t.Errorf("%d outbox rows to the other address, want its pending email", n)
		}
	}, testutil.WithWorkerTuning(tuning))
}

// The deletion form's refusals: 422 with the message at the field, as a
// fragment for htmx; the account stays. Guessing is limited like sign-in.
func TestDeleteAccountRefusals(t *testing.T) {
	limits := models.DefaultLimits()
	// No device cookie budget: the address's own limit applies.
	limits.SignInFreeFailures, limits.SignInFreeFailuresDevice = 1, 0
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const addr = "careful@example.com"
		b := app.Register(t, addr, oldPassword)
		if r := b.Get("/account/delete"); r.StatusCode != http.StatusOK || r.Doc(t).Find(`form#delete-form input[name="current_password"]`).Length() != 1 {
			t.Fatalf("delete page: %d", r.StatusCode)
		}
		if r := app.NewBrowser(t).Get("/account/delete"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login?next=/account/delete" {
			t.Errorf("signed out: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if r := app.NewBrowser(t).Post("/account/delete", url.Values{"current_password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("signed-out post: %d", r.StatusCode)
		}
		cases := []struct {
			name, password, want string
			htmx                 bool
		}{
			{"empty", "", "Enter your current password.", false},
			{"wrong", "not the password", "That is not your current password.", false},
			{"wrong, htmx", "still not it", "That is not your current password.", true},
		}
		for _, c := range cases {
			var hdr []string
			if c.htmx {
				hdr = []string{"HX-Request", "true"}
			}
			r := b.Post("/account/delete", url.Values{"current_password": {c.password}}, hdr...)
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("%s: %d, want 422", c.name, r.StatusCode)
				continue
			}
			if got := r.Text(t, `[data-testid="current_password-feedback"]`); got != c.want {
				t.Errorf("%s: message %q, want %q", c.name, got, c.want)
			}
			if isPage := strings.Contains(r.Body, "<html"); isPage == c.htmx {
				t.Errorf("%s: whole page %v", c.name, isPage)
			}
		}
		// One wrong guess was free; each further one opens a longer
		// back-off (1 s, 2 s, 4 s…), in which even the right password
		// waits.
		for range 5 {
			if r := b.Post("/account/delete", url.Values{"current_password": {"guessing"}}); r.StatusCode != http.StatusUnprocessableEntity && r.StatusCode != http.StatusTooManyRequests {
				t.Errorf("guess: %d", r.StatusCode)
			}
		}
		if r := b.Post("/account/delete", url.Values{"current_password": {oldPassword}}); r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("right password during the back-off: %d, want 429", r.StatusCode)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Account)(nil)).Where("email = ?", addr)); n != 1 {
			t.Fatalf("the account is gone after refusals")
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventSignInFailed)); n < 2 {
			t.Errorf("%d failed-password events, want at least 2", n)
		}
		if r := b.Get("/account"); r.StatusCode != http.StatusOK {
			t.Errorf("still signed in after refusals: %d", r.StatusCode)
		}
	}, testutil.WithLimits(limits))
}

// A signed-in browser tricked into posting the deletion from another site
// is refused, right password and all.
func TestDeleteAccountCrossSite(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	b := app.Register(t, "target@example.com", oldPassword)
	for name, hdr := range map[string][]string{
		"sec-fetch-site cross-site": {"Sec-Fetch-Site", "cross-site"},
		"foreign origin":            {"Origin", "https://evil.example"},
	} {
		if r := b.Post("/account/delete", url.Values{"current_password": {oldPassword}}, hdr...); r.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, r.StatusCode)
		}
	}
	if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Account)(nil))); n != 1 {
		t.Errorf("a cross-site post deleted the account")
	}
	if r := b.Post("/account/delete", url.Values{"current_password": {oldPassword}}, "Origin", app.Origin); r.StatusCode != http.StatusSeeOther {
		t.Errorf("same-origin deletion: %d", r.StatusCode)
	}
}

// deviceCounters counts the device cookies' sign-in counters.
func deviceCounters(t *testing.T, app *testutil.App) int {
	t.Helper()
	var n int
	if err := app.DB.NewRaw("SELECT count(*) FROM rate_limits WHERE key LIKE 'signin-device:%'").Scan(t.Context(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds, for at most ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
