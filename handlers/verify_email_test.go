package handlers_test

// Email verification (SPEC §8): the link from the registration email, the
// account page's state and resend button, REQUIRE_VERIFIED_EMAIL.

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

const (
	verifySubject = "Confirm your email address for Latchkey"
	resendPath    = "/account/verify-email/resend"
)

var verifyLinkRE = regexp.MustCompile(`https?://\S+/account/verify-email\?code=[A-Za-z0-9_-]+`)

// verificationLinks waits for n verification emails to email and returns
// their links, oldest first.
func verificationLinks(t *testing.T, app *testutil.App, email string, n int) []string {
	t.Helper()
	var links []string
	deadline := time.Now().Add(10 * time.Second)
	for {
		links = links[:0]
		for _, m := range app.SMTP.WaitForSubject(t, verifySubject, 1, 10*time.Second) {
			if len(m.To) == 1 && m.To[0] == email {
				link := verifyLinkRE.FindString(m.Text)
				if link == "" || !strings.Contains(m.HTML, link) {
					t.Fatalf("verification email without its link in both parts:\n%s", m.Text)
				}
				links = append(links, link)
			}
		}
		if len(links) >= n {
			return links
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d verification emails to %s, want %d", len(links), email, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// verifyState is the state a verification link's page shows.
func verifyState(t *testing.T, r *testutil.Response) string {
	t.Helper()
	state, _ := r.Doc(t).Find(`[data-testid="verify-email"]`).Attr("data-state")
	return state
}

// accountVerified reads the account page's verification state.
func accountVerified(t *testing.T, b *testutil.Browser) (verified string, resendForm bool) {
	t.Helper()
	r := b.Get("/account")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("account page: %d", r.StatusCode)
	}
	doc := r.Doc(t)
	verified, _ = doc.Find(`[data-testid="verified-hint"]`).Attr("data-verified")
	return verified, doc.Find(`form[data-testid="verify-resend-form"][method="post"][action="`+resendPath+`"]`).Length() == 1
}

// Registering emails a link on BASE_URL; opening it (signed out, as a
// mail scanner would) verifies the address, and the account page says so
// without the resend button; opening it again says "already verified"
// with a 200.
func TestVerificationLinkVerifies(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "verify@example.com"
		b := app.Register(t, email, oldPassword)
		if v, form := accountVerified(t, b); v != "false" || !form {
			t.Fatalf("new account: verified=%q, resend form %v", v, form)
		}
		link := verificationLinks(t, app, email, 1)[0]
		if !strings.HasPrefix(link, app.URL+"/account/verify-email?code=") {
			t.Errorf("link %s is not on BASE_URL %s", link, app.URL)
		}
		code, _ := url.Parse(link)
		scanner := app.NewBrowser(t)
		r := scanner.Get(link)
		if r.StatusCode != http.StatusOK || verifyState(t, r) != "verified" || !strings.Contains(r.Text(t, `[data-testid="verify-email-message"]`), email) {
			t.Fatalf("first visit: %d %q\n%s", r.StatusCode, verifyState(t, r), r.Body)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		if v, form := accountVerified(t, b); v != "true" || form {
			t.Errorf("after the link: verified=%q, resend form %v", v, form)
		}
		acct := b.Get("/account")
		if acct.Doc(t).Find(`[data-testid="events"]`).Text() == "" || !strings.Contains(acct.Body, "Email address verified") {
			t.Errorf("no verification event on the account page")
		}
		for _, who := range []*testutil.Browser{scanner, b} {
			r := who.Get(link)
			if r.StatusCode != http.StatusOK || verifyState(t, r) != "already" {
				t.Errorf("second visit: %d %q", r.StatusCode, verifyState(t, r))
			}
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.EmailVerification)(nil)).
			Where("code_hash = ? AND used_at IS NOT NULL", models.HashCode(code.Query().Get("code")))); n != 1 {
			t.Errorf("the code is not used up")
		}
	})
}

// Unknown, expired, missing, repeated and malformed codes: a 410 page that
// says what to do, and nothing changes.
func TestVerificationLinkGone(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "late@example.com"
		b := app.Register(t, email, oldPassword)
		link := verificationLinks(t, app, email, 1)[0]
		u, _ := url.Parse(link)
		code := u.Query().Get("code")
		unknown, _ := models.NewCode()
		gone := map[string]string{
			"unknown":   "?code=" + unknown,
			"missing":   "",
			"empty":     "?code=",
			"repeated":  "?code=" + code + "&code=" + code,
			"truncated": "?code=" + code[:len(code)-1],
			"too long":  "?code=" + code + "A",
			"padding":   "?code=" + code + "%3D",
			"NUL":       "?code=" + code[:10] + "%00" + code[11:],
			"CRLF":      "?code=" + code[:10] + "%0d%0a" + code[12:],
			"bad UTF-8": "?code=%ff%fe" + code[2:],
			"script":    "?code=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
			"SQL":       "?code=%27%20OR%201%3D1--",
			"huge":      "?code=" + strings.Repeat("A", 8000),
		}
		for name, query := range gone {
			t.Run(name, func(t *testing.T) {
				for _, who := range []*testutil.Browser{app.NewBrowser(t), b} {
					r := who.Get("/account/verify-email" + query)
					if r.StatusCode != http.StatusGone || verifyState(t, r) != "invalid" {
						t.Fatalf("%s: %d %q", name, r.StatusCode, verifyState(t, r))
					}
					if !strings.Contains(r.Body, "Send a new link") || strings.Contains(r.Body, "<script>alert") {
						t.Errorf("%s: the page does not say what to do, or echoes input", name)
					}
				}
			})
		}
		app.Clock.Advance(24*time.Hour + time.Second)
		if r := app.NewBrowser(t).Get(link); r.StatusCode != http.StatusGone || verifyState(t, r) != "invalid" {
			t.Errorf("expired link: %d %q", r.StatusCode, verifyState(t, r))
		}
		if acc, err := app.Store.AccountByEmail(t.Context(), email); err != nil || acc.EmailVerifiedAt != nil {
			t.Errorf("a refused link verified the address (%v)", err)
		}
		// htmx gets the alert, not a page.
		if r := app.NewBrowser(t).Get(link, "HX-Request", "true"); r.StatusCode != http.StatusGone || strings.Contains(r.Body, "<html") {
			t.Errorf("htmx: %d", r.StatusCode)
		}
	})
}

// The resend button: a new link each time, at most three an hour, the
// same answer beyond with no email; a verified account is told so and
// sent nothing. Every link works.
func TestResendVerificationLimit(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "resend@example.com"
		b := app.Register(t, email, oldPassword)
		verificationLinks(t, app, email, 1)
		queued := func() int64 {
			return testutil.CountRows(t, app.DB.NewSelect().Model((*models.OutboxEmail)(nil)).Where("kind = ?", models.MailVerifyEmail))
		}
		var answers []string
		for i := range models.VerifyResendsPerHour + 1 {
			r := b.Post(resendPath, nil)
			if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
				t.Fatalf("resend %d: %d %s", i+1, r.StatusCode, r.Header.Get("Location"))
			}
			answers = append(answers, b.Get("/account").Text(t, `[data-testid="flash"]`))
		}
		for i, a := range answers {
			if a != answers[0] || !strings.Contains(a, "We have emailed a new link to "+email) {
				t.Errorf("answer %d: %q (first: %q)", i+1, a, answers[0])
			}
		}
		if n := queued(); n != 1+models.VerifyResendsPerHour {
			t.Errorf("%d verification emails queued, want 1 + %d", n, models.VerifyResendsPerHour)
		}
		links := verificationLinks(t, app, email, 1+models.VerifyResendsPerHour)
		// An hour on, the button works again.
		app.Clock.Advance(61 * time.Minute)
		b, _ = signInAs(t, app, email, oldPassword) // the session has idled out
		b.Post(resendPath, nil)
		if n := queued(); n != 2+models.VerifyResendsPerHour {
			t.Errorf("an hour later: %d queued", n)
		}

		// Any of the links verifies; then resending sends nothing.
		if r := app.NewBrowser(t).Get(links[1]); r.StatusCode != http.StatusOK || verifyState(t, r) != "verified" {
			t.Fatalf("a resent link: %d %q", r.StatusCode, verifyState(t, r))
		}
		before := queued()
		b.Post(resendPath, nil)
		if got := b.Get("/account").Text(t, `[data-testid="flash"]`); got != "Your address is already verified." {
			t.Errorf("resend when verified: %q", got)
		}
		if queued() != before {
			t.Errorf("a verified account was sent a link")
		}
		// Signed out: the guard, nothing sent.
		if r := app.NewBrowser(t).Post(resendPath, nil); r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(r.Header.Get("Location"), "/account/login") {
			t.Errorf("signed-out resend: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
	})
}

// REQUIRE_VERIFIED_EMAIL: /auth/verify refuses (403, a page pointing to
// the account page, where the resend button is) until the link is opened,
// then admits at once, session cache notwithstanding.
func TestRequireVerifiedEmailUntilTheLinkIsOpened(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "required@example.com"
		b := app.Register(t, email, oldPassword)
		cookie := b.Cookie(sessionCookie)
		r := verify(t, app, cookie, caddyNav()...)
		if r.StatusCode != http.StatusForbidden {
			t.Fatalf("unverified: %d", r.StatusCode)
		}
		doc := r.Doc(t)
		if reason, _ := doc.Find(`[data-testid="forbidden"]`).Attr("data-reason"); reason != "email_unverified" {
			t.Errorf("reason %q", reason)
		}
		if href, _ := doc.Find(`[data-testid="forbidden-action"]`).Attr("href"); href != app.URL+"/account" {
			t.Errorf("the 403 page links to %q, want the account page %s", href, app.URL+"/account")
		}
		if doc.Find("form").Length() != 0 {
			t.Errorf("the 403 page (served at the app's origin) carries a form")
		}
		if _, form := accountVerified(t, b); !form {
			t.Errorf("the account page the 403 points to has no resend button")
		}
		if r := app.NewBrowser(t).Get(verificationLinks(t, app, email, 1)[0]); r.StatusCode != http.StatusOK {
			t.Fatalf("verification link: %d", r.StatusCode)
		}
		r = verify(t, app, cookie, caddyNav()...)
		if r.StatusCode != http.StatusOK || r.Header.Get("X-Latchkey-Email-Verified") != "true" {
			t.Errorf("verified: %d, X-Latchkey-Email-Verified %q", r.StatusCode, r.Header.Get("X-Latchkey-Email-Verified"))
		}
	}, testutil.WithEnv("REQUIRE_VERIFIED_EMAIL", "true"), testutil.WithSessionCacheMaxAge(time.Hour))
}

// A completed reset verifies the address and uses up the open links: the
// registration's link then says "already verified".
func TestResetVerifiesTheAddress(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "byreset@example.com"
		app.Register(t, email, oldPassword)
		link := verificationLinks(t, app, email, 1)[0]
		app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {email}})
		reset := testutil.ResetLink(t, app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0])
		rb := app.NewBrowser(t)
		rb.Get(reset)
		if r := rb.Post("/account/reset-password", url.Values{"password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("reset: %d", r.StatusCode)
		}
		b, _ := signInAs(t, app, email, newPassword)
		if v, form := accountVerified(t, b); v != "true" || form {
			t.Errorf("after a reset: verified=%q, resend form %v", v, form)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.EmailVerification)(nil)).Where("used_at IS NULL")); n != 0 {
			t.Errorf("%d verification links still open after the reset", n)
		}
		if r := app.NewBrowser(t).Get(link); r.StatusCode != http.StatusOK || verifyState(t, r) != "already" {
			t.Errorf("the registration's link after a reset: %d %q", r.StatusCode, verifyState(t, r))
		}
	})
}

// The verification code never rests in the database in the clear: only
// its hash, and the queued email sealed.
func TestNoRawVerificationCodeRestsInTheDatabase(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		app.SMTP.FailWith(451) // hold the email in the outbox
		app.Register(t, "atrest@example.com", oldPassword)
		var row models.OutboxEmail
		if err := app.DB.NewSelect().Model(&row).Where("kind = ?", models.MailVerifyEmail).Limit(1).Scan(t.Context()); err != nil {
			t.Fatal(err)
		}
		msg, err := app.Store.OpenMessage(&row)
		if err != nil {
			t.Fatal(err)
		}
		link := verifyLinkRE.FindString(msg.Text)
		code := link[strings.Index(link, "code=")+5:]
		if len(code) < 22 {
			t.Fatalf("no code in %q", msg.Text)
		}
		for _, table := range testutil.Tables(t, app.DB) {
			if dump := testutil.DumpTable(t, app.DB, table); strings.Contains(dump, code) || strings.Contains(dump, "verify-email?code=") {
				t.Errorf("table %s holds the raw code", table)
			}
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.EmailVerification)(nil)).Where("code_hash = ?", models.HashCode(code))); n != 1 {
			t.Errorf("the code's hash is not stored")
		}
	})
}

// The styleguide shows the verification pages in every state and the
// account page unverified; the dev mailbox has the email's sample.
func TestVerificationInTheStyleguide(t *testing.T) {
	app := testutil.StartApp(t, "sqlite", testutil.WithDevMailbox())
	b := app.NewBrowser(t)
	for _, state := range []string{"verified", "already", "invalid"} {
		r := b.Get("/dev/styleguide/verify-email-" + state)
		if r.StatusCode != http.StatusOK || verifyState(t, r) != state {
			t.Errorf("styleguide %s: %d %q", state, r.StatusCode, verifyState(t, r))
		}
	}
	if r := b.Get("/dev/styleguide/account-unverified"); r.Doc(t).Find(`[data-testid="verify-resend-form"]`).Length() != 1 {
		t.Errorf("styleguide account-unverified lacks the resend button")
	}
	if r := b.Get("/dev/mailbox/sample/verify"); r.StatusCode != http.StatusOK || !strings.Contains(r.Body, "/account/verify-email?code=") {
		t.Errorf("mailbox sample: %d", r.StatusCode)
	}
}
