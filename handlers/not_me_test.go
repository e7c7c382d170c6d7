package handlers_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

var notMeRE = regexp.MustCompile(`https?://\S+/account/not-me\?token=[A-Za-z0-9_.%-]+`)

func TestThisWasntMe(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "victim@example.com"
		victim := app.Register(t, email, oldPassword)
		attacker := app.NewBrowser(t)
		attacker.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}})
		attacker.Post("/account/password", url.Values{"current_password": {oldPassword}, "password": {"attacker owns this now"}})

		mail := app.SMTP.WaitForSubject(t, "Your Latchkey password was changed", 1, 10*time.Second)[0]
		link := notMeRE.FindString(mail.Text)
		if link == "" || !strings.HasPrefix(link, app.URL) {
			t.Fatalf("no not-me link on BASE_URL in:\n%s", mail.Text)
		}
		b := app.NewBrowser(t)
		// The GET only asks; a mail scanner changes nothing.
		page := b.Get(link)
		if page.StatusCode != http.StatusOK || page.Doc(t).Find(`[data-testid="not-me-form"]`).Length() != 1 {
			t.Fatalf("not-me page: %d", page.StatusCode)
		}
		if r := attacker.Get("/account"); r.StatusCode != http.StatusOK {
			t.Fatalf("GET signed the attacker out already: %d", r.StatusCode)
		}
		token, _ := page.Doc(t).Find(`input[name="token"]`).Attr("value")
		r := b.Post("/account/not-me", url.Values{"token": {token}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login" {
			t.Fatalf("not-me POST: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		for name, br := range map[string]*testutil.Browser{"attacker": attacker, "victim": victim} {
			if r := br.Get("/account"); r.StatusCode != http.StatusSeeOther {
				t.Errorf("%s still signed in: %d", name, r.StatusCode)
			}
		}
		app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)
		// One time only, and forged or altered tokens are refused.
		if r := b.Post("/account/not-me", url.Values{"token": {token}}); r.StatusCode != http.StatusGone {
			t.Errorf("second use: %d", r.StatusCode)
		}
		forged := token[:len(token)-2] + "AA"
		if r := b.Get("/account/not-me?token=" + url.QueryEscape(forged)); r.StatusCode != http.StatusGone {
			t.Errorf("forged token: %d", r.StatusCode)
		}
		app.Clock.Advance(8 * 24 * time.Hour)
		second := notMeRE.FindString(app.SMTP.WaitForSubject(t, "Your Latchkey password was changed", 1, time.Second)[0].Text)
		if r := b.Get(second); r.StatusCode != http.StatusGone {
			t.Errorf("expired token: %d", r.StatusCode)
		}
		n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventNotMe))
		if n != 1 {
			t.Errorf("not-me events = %d", n)
		}
	})
}

const intruderPassword = "attacker owns this now"

// takeOver plays the intruder who knows the owner's password: they sign in
// and change it. It returns the intruder's browser and the "this wasn't
// me" token from the password-changed email the owner receives.
func takeOver(t *testing.T, app *testutil.App, email string) (*testutil.Browser, string) {
	t.Helper()
	intruder := app.NewBrowser(t)
	if r := intruder.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("intruder sign-in: %d", r.StatusCode)
	}
	if r := intruder.Post("/account/password", url.Values{"current_password": {oldPassword}, "password": {intruderPassword}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("intruder password change: %d\n%s", r.StatusCode, r.Body)
	}
	mail := app.SMTP.WaitForSubject(t, "Your Latchkey password was changed", 1, 10*time.Second)[0]
	link, err := url.Parse(notMeRE.FindString(mail.Text))
	if err != nil || link.Query().Get("token") == "" {
		t.Fatalf("no not-me link in:\n%s", mail.Text)
	}
	return intruder, link.Query().Get("token")
}

// signIn posts the sign-in form from a fresh browser.
func signIn(t *testing.T, app *testutil.App, email, password string) *testutil.Response {
	t.Helper()
	return app.NewBrowser(t).Post("/account/login", url.Values{"email": {email}, "password": {password}})
}

// TestNotMeLocksTheIntruderOut: after "this wasn't me" the intruder's
// password signs nobody in, and the refusal is the wrong-password answer,
// byte for byte; the owner's reset lifts the lock.
func TestNotMeLocksTheIntruderOut(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "owner@example.com"
		app.Register(t, email, oldPassword)
		intruder, token := takeOver(t, app, email)

		owner := app.NewBrowser(t)
		if r := owner.Post("/account/not-me", url.Values{"token": {token}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("not-me: %d", r.StatusCode)
		}
		if r := intruder.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("intruder's session survived: %d", r.StatusCode)
		}
		// The intruder signs straight back in with the password they set.
		locked := signIn(t, app, email, intruderPassword)
		wrong := signIn(t, app, email, "certainly not the password")
		if locked.StatusCode != http.StatusUnprocessableEntity || locked.StatusCode != wrong.StatusCode {
			t.Fatalf("locked password: %d, wrong password: %d", locked.StatusCode, wrong.StatusCode)
		}
		if locked.Body != wrong.Body {
			t.Errorf("a locked password answers differently from a wrong one:\n%s\n---\n%s", locked.Body, wrong.Body)
		}
		for _, h := range []string{"Retry-After", "Set-Cookie", "Location"} {
			if locked.Header.Get(h) != wrong.Header.Get(h) {
				t.Errorf("header %s: locked %q, wrong %q", h, locked.Header.Get(h), wrong.Header.Get(h))
			}
		}
		if r := intruder.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("intruder signed in again: %d", r.StatusCode)
		}

		// The owner resets the password from the emailed link: the lock
		// goes, the new password works and the intruder's still does not.
		reset := testutil.ResetLink(t, app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0])
		owner.Get(reset)
		if r := owner.Post("/account/reset-password", url.Values{"password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("owner's reset: %d\n%s", r.StatusCode, r.Body)
		}
		if r := signIn(t, app, email, newPassword); r.StatusCode != http.StatusSeeOther {
			t.Errorf("owner's new password after the reset: %d", r.StatusCode)
		}
		if r := signIn(t, app, email, intruderPassword); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("intruder's password after the reset: %d", r.StatusCode)
		}
	})
}

// TestNotMeMailIgnoresTheResetAllowance: the intruder spends the address's
// hourly reset allowance with forgot-password posts first; "this wasn't
// me" still emails the owner a working reset link.
func TestNotMeMailIgnoresTheResetAllowance(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "drained@example.com"
		app.Register(t, email, oldPassword)
		_, token := takeOver(t, app, email)

		intruder := app.NewBrowser(t)
		allowance := app.Store.Limits().ResetMailsPerHour
		for range allowance + 2 {
			if r := intruder.Post("/account/forgot-password", url.Values{"email": {email}}); r.StatusCode != http.StatusOK {
				t.Fatalf("forgot-password: %d", r.StatusCode)
			}
		}
		app.SMTP.WaitForSubject(t, resetSubject, allowance, 10*time.Second)
		if n := len(app.SMTP.WaitForSubject(t, resetSubject, allowance, time.Second)); n != allowance {
			t.Fatalf("%d reset emails after draining the allowance, want %d", n, allowance)
		}

		owner := app.NewBrowser(t)
		if r := owner.Post("/account/not-me", url.Values{"token": {token}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("not-me: %d", r.StatusCode)
		}
		mails := app.SMTP.WaitForSubject(t, resetSubject, allowance+1, 10*time.Second)
		last := mails[len(mails)-1]
		if last.To[0] != email {
			t.Fatalf("not-me reset email went to %v", last.To)
		}
		owner.Get(testutil.ResetLink(t, last))
		if r := owner.Post("/account/reset-password", url.Values{"password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("reset from the not-me email: %d\n%s", r.StatusCode, r.Body)
		}
		// The allowance is still spent for forgot-password.
		intruder.Post("/account/forgot-password", url.Values{"email": {email}})
		if n := len(app.SMTP.WaitForSubject(t, resetSubject, allowance+1, time.Second)); n != allowance+1 {
			t.Errorf("%d reset emails, want %d", n, allowance+1)
		}
	})
}

// TestNotMeIsAllOrNothing: a database failure after the token is marked
// used (the reset row's insert is made to fail) leaves everything as it
// was, the one-time link included, which then works.
func TestNotMeIsAllOrNothing(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "atomic@example.com"
		app.Register(t, email, oldPassword)
		intruder, token := takeOver(t, app, email)

		ctx := t.Context()
		create := []string{"CREATE TRIGGER fail_resets BEFORE INSERT ON password_resets BEGIN SELECT RAISE(ABORT, 'injected failure'); END"}
		drop := []string{"DROP TRIGGER fail_resets"}
		if app.DB.Dialect().Name().String() == "pg" {
			create = []string{
				"CREATE FUNCTION fail_resets() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
				"CREATE TRIGGER fail_resets BEFORE INSERT ON password_resets FOR EACH ROW EXECUTE FUNCTION fail_resets()",
			}
			drop = []string{"DROP TRIGGER fail_resets ON password_resets", "DROP FUNCTION fail_resets()"}
		}
		for _, q := range create {
			if _, err := app.DB.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		owner := app.NewBrowser(t)
		if r := owner.Post("/account/not-me", url.Values{"token": {token}}); r.StatusCode != http.StatusInternalServerError {
			t.Fatalf("not-me with a failing insert: %d", r.StatusCode)
		}
		if r := intruder.Get("/account"); r.StatusCode != http.StatusOK {
			t.Errorf("sessions revoked by a failed not-me: %d", r.StatusCode)
		}
		if r := signIn(t, app, email, intruderPassword); r.StatusCode != http.StatusSeeOther {
			t.Errorf("password locked by a failed not-me: %d", r.StatusCode)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventNotMe)); n != 0 {
			t.Errorf("failed not-me left %d events", n)
		}

		for _, q := range drop {
			if _, err := app.DB.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if r := owner.Get("/account/not-me?token=" + url.QueryEscape(token)); r.StatusCode != http.StatusOK {
			t.Errorf("link spent by the failed attempt (GET): %d", r.StatusCode)
		}
		if r := owner.Post("/account/not-me", url.Values{"token": {token}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("link spent by the failed attempt (POST): %d", r.StatusCode)
		}
		if r := signIn(t, app, email, intruderPassword); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("intruder after not-me: %d", r.StatusCode)
		}
		app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)
		// Now it is spent: the page says so too.
		if r := owner.Get("/account/not-me?token=" + url.QueryEscape(token)); r.StatusCode != http.StatusGone {
			t.Errorf("used link GET: %d", r.StatusCode)
		}
	})
}

// TestNotMeTokenIsOpaque: the token carries neither the sequential account
// id, nor the public id, nor its expiry in any readable form, and an
// altered token is refused.
func TestNotMeTokenIsOpaque(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		// A few accounts first, so the victim's id is not 1.
		for _, e := range []string{"a@example.com", "b@example.com"} {
			app.Register(t, e, oldPassword)
		}
		const email = "opaque@example.com"
		app.Register(t, email, oldPassword)
		acc, err := models.AccountByEmail(t.Context(), app.DB, email)
		if err != nil {
			t.Fatal(err)
		}
		_, token := takeOver(t, app, email)
		raw, err := base64.RawURLEncoding.DecodeString(strings.ReplaceAll(token, ".", ""))
		if err != nil {
			t.Fatalf("token %q is not base64url: %v", token, err)
		}
		pub, err := hex.DecodeString(acc.PublicID)
		if err != nil || len(pub) != 16 {
			t.Fatalf("public id %q is not 128 bits of hex", acc.PublicID)
		}
		needles := map[string][]byte{"public id": pub}
		id8 := binary.BigEndian.AppendUint64(nil, uint64(acc.ID))
		needles["id (8 bytes)"] = id8
		needles["id (4 bytes)"] = id8[4:]
		exp := app.Clock.Now().Add(7 * 24 * time.Hour).Unix()
		for d := int64(-5); d <= 5; d++ {
			e8 := binary.BigEndian.AppendUint64(nil, uint64(exp+d))
			needles["expiry (8 bytes)"+strconv.FormatInt(d, 10)] = e8
			needles["expiry (4 bytes)"+strconv.FormatInt(d, 10)] = e8[4:]
		}
		for what, b := range needles {
			if bytes.Contains(raw, b) {
				t.Errorf("token reveals the %s", what)
			}
		}
		for _, s := range []string{acc.PublicID, strconv.FormatInt(exp, 10)[:8]} {
			if strings.Contains(token, s) {
				t.Errorf("token text contains %q", s)
			}
		}

		b := app.NewBrowser(t)
		mid := len(raw) / 2
		for name, bad := range map[string]string{
			"flipped byte": func() string { c := bytes.Clone(raw); c[mid] ^= 1; return base64.RawURLEncoding.EncodeToString(c) }(),
			"truncated":    base64.RawURLEncoding.EncodeToString(raw[:len(raw)-1]),
			"empty":        "",
			"junk":         "not-a-token",
		} {
			t.Run(name, func(t *testing.T) {
				if r := b.Get("/account/not-me?token=" + url.QueryEscape(bad)); r.StatusCode != http.StatusGone {
					t.Errorf("%s token GET: %d", name, r.StatusCode)
				}
				if r := b.Post("/account/not-me", url.Values{"token": {bad}}); r.StatusCode != http.StatusGone {
					t.Errorf("%s token POST: %d", name, r.StatusCode)
				}
			})
		}
		// Untouched, it still works.
		if r := b.Post("/account/not-me", url.Values{"token": {token}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("genuine token after the forgeries: %d", r.StatusCode)
		}
	})
}
