package handlers_test

// Two-step sign-in (SPEC §9): TOTP set-up, recovery codes, the sign-in's
// second step, turning it off, resets and "this wasn't me".

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// Subjects of the second-factor emails.
const (
	factorAddedSubject   = "A second factor was added to your Latchkey account"
	factorRemovedSubject = "A second factor was removed from your Latchkey account"
	recoveryUsedSubject  = "A recovery code was used to sign in to your Latchkey account"
	recoveryRenewSubject = "New recovery codes were made for your Latchkey account"
)

// codeRefusedText is the second step's one answer for a wrong code, a
// used one and an expired step.
const codeRefusedText = "That code did not work."

// totpAt is the authenticator app's code for secret at t.
func totpAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// nextStep moves the app's clock to the next TOTP step, so that a fresh
// code is not a replay of the last one accepted.
func nextStep(app *testutil.App) { app.Clock.Advance(30 * time.Second) }

// beginTOTP starts a set-up from the page and returns the secret the page
// shows (as typed: base32, no spaces) and the page.
func beginTOTP(t *testing.T, b *testutil.Browser) (string, *testutil.Response) {
	t.Helper()
	if r := b.Post("/account/2fa", url.Values{"action": {"begin"}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("begin set-up: %d\n%s", r.StatusCode, r.Body)
	}
	page := b.Get("/account/2fa")
	secret := strings.ReplaceAll(page.Text(t, `[data-testid="two-step-secret"]`), " ", "")
	if page.StatusCode != http.StatusOK || len(secret) != 32 {
		t.Fatalf("set-up page: %d, secret %q\n%s", page.StatusCode, secret, page.Body)
	}
	return secret, page
}

// enableTOTP turns TOTP on for a signed-in browser, as a person would,
// and returns the secret and the recovery codes shown.
func enableTOTP(t *testing.T, app *testutil.App, b *testutil.Browser) (string, []string) {
	t.Helper()
	secret, _ := beginTOTP(t, b)
	r := b.Post("/account/2fa", url.Values{"action": {"confirm"}, "code": {totpAt(t, secret, app.Clock.Now())}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("confirm: %d\n%s", r.StatusCode, r.Body)
	}
	codes := recoveryCodes(t, r)
	nextStep(app)
	return secret, codes
}

// recoveryCodes reads the codes a recovery codes page shows.
func recoveryCodes(t *testing.T, r *testutil.Response) []string {
	t.Helper()
	var codes []string
	r.Doc(t).Find(`[data-testid="recovery-codes"] code`).Each(func(_ int, s *goquery.Selection) {
		codes = append(codes, s.Text())
	})
	if len(codes) != models.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown, want %d\n%s", len(codes), models.RecoveryCodeCount, r.Body)
	}
	return codes
}

// passwordStep signs a fresh browser in with the password and checks it
// is sent to the second step, not signed in.
func passwordStep(t *testing.T, app *testutil.App, email string) *testutil.Browser {
	t.Helper()
	b := app.NewBrowser(t)
	r := b.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login/2fa" {
		t.Fatalf("password step: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	return b
}

// whoamiMFA returns whoami's mfa for a session cookie (false, false when
// signed out).
func whoamiMFA(t *testing.T, app *testutil.App, cookie string) (mfa, signedIn bool) {
	t.Helper()
	r := check(t, app, http.MethodGet, "/auth/whoami", cookie)
	if r.StatusCode == http.StatusUnauthorized {
		return false, false
	}
	var got struct {
		MFA bool `json:"mfa"`
	}
	if err := json.Unmarshal([]byte(r.Body), &got); err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("whoami: %d %s (%v)", r.StatusCode, r.Body, err)
	}
	return got.MFA, true
}

func eventCount(t *testing.T, app *testutil.App, email string, kind models.EventKind) int64 {
	t.Helper()
	acc, err := app.Store.AccountByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	return testutil.CountRows(t, app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("account_id = ? AND kind = ?", acc.ID, kind))
}

func hasSecondFactor(t *testing.T, app *testutil.App, email string) bool {
	t.Helper()
	acc, err := app.Store.AccountByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	on, err := app.Store.HasSecondFactor(t.Context(), acc.ID)
	if err != nil {
		t.Fatal(err)
	}
	return on
}

// emailNotMeLink extracts the "this wasn't me" link from an email's text.
func emailNotMeLink(t *testing.T, e testutil.Email) string {
	t.Helper()
	for _, f := range strings.Fields(e.Text) {
		if strings.Contains(f, "/account/not-me?token=") {
			return f
		}
	}
	t.Fatalf("no not-me link in %q:\n%s", e.Subject, e.Text)
	return ""
}

// TestTOTPSetUp: the page shows the secret as a QR code (a signed-in,
// no-store PNG route), as text and as an otpauth:// link; the pending
// secret is sealed server-side, never in the form; one right code turns
// it on and shows ten recovery codes once, stored hashed; the owner gets
// an email with a "this wasn't me" link and an event is written.
func TestTOTPSetUp(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "setup@example.com"
		b := app.Register(t, email, oldPassword)

		off := b.Get("/account/2fa")
		if st, _ := off.Doc(t).Find(`[data-testid="two-step"]`).Attr("data-state"); off.StatusCode != http.StatusOK || st != "off" {
			t.Fatalf("set-up page: %d, state %q", off.StatusCode, st)
		}
		if got := b.Get("/account").Text(t, `[data-testid="two-step-summary"]`); !strings.HasPrefix(got, "Off") {
			t.Errorf("account section says %q", got)
		}
		if r := b.Get("/account/2fa/qr.png"); r.StatusCode != http.StatusNotFound {
			t.Errorf("QR code with no set-up: %d, want 404", r.StatusCode)
		}

		secret, page := beginTOTP(t, b)
		doc := page.Doc(t)
		if src, _ := doc.Find(`[data-testid="two-step-qr"]`).Attr("src"); src != "/account/2fa/qr.png" {
			t.Errorf("QR code src %q", src)
		}
		link, _ := doc.Find(`[data-testid="two-step-link"]`).Attr("href")
		key, err := otp.NewKeyFromURL(link)
		if err != nil || key.Type() != "totp" || key.Secret() != secret || key.AccountName() != email ||
			key.Issuer() != "127.0.0.1" || key.Digits() != otp.DigitsSix || key.Period() != 30 || key.Algorithm() != otp.AlgorithmSHA1 {
			t.Errorf("otpauth link %q (%v)", link, err)
		}
		if doc.Find(`form input[value="`+secret+`"]`).Length() != 0 || strings.Count(page.Body, secret) != 1 {
			t.Errorf("the secret travels in a form or more than once in the link")
		}
		qr := b.Get("/account/2fa/qr.png")
		if qr.StatusCode != http.StatusOK || qr.Header.Get("Content-Type") != "image/png" || qr.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("QR code: %d %q %q", qr.StatusCode, qr.Header.Get("Content-Type"), qr.Header.Get("Cache-Control"))
		} else if img, err := png.Decode(bytes.NewReader([]byte(qr.Body))); err != nil || img.Bounds().Dx() != 240 {
			t.Errorf("QR code is not a 240 px PNG: %v", err)
		}
		if r := app.NewBrowser(t).Get("/account/2fa/qr.png"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("QR code signed out: %d, want 303", r.StatusCode)
		}
		// Sealed at rest: neither the base32 secret nor its bytes.
		var row models.TOTPFactor
		if err := app.DB.NewSelect().Model(&row).Scan(t.Context()); err != nil {
			t.Fatal(err)
		}
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
		if err != nil || bytes.Contains(row.SealedSecret, []byte(secret)) || bytes.Contains(row.SealedSecret, raw) || row.ConfirmedAt != nil {
			t.Errorf("pending row: secret in the clear or confirmed already")
		}
		if hasSecondFactor(t, app, email) {
			t.Errorf("a set-up in progress counts as a second factor")
		}

		for name, code := range map[string]string{"empty": "", "letters": "abcdef", "wrong": wrongCode(t, secret, app.Clock.Now())} {
			r := b.Post("/account/2fa", url.Values{"action": {"confirm"}, "code": {code}})
			if r.StatusCode != http.StatusUnprocessableEntity || r.Text(t, `[data-testid="confirm-code-feedback"]`) == "" {
				t.Errorf("confirm with %s code: %d", name, r.StatusCode)
			}
		}
		r := b.Post("/account/2fa", url.Values{"action": {"confirm"}, "code": {totpAt(t, secret, app.Clock.Now())}})
		if r.StatusCode != http.StatusOK || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("confirm: %d %q", r.StatusCode, r.Header.Get("Cache-Control"))
		}
		codes := recoveryCodes(t, r)
		seen := map[string]bool{}
		for _, c := range codes {
			if seen[c] || len(c) != 19 {
				t.Errorf("recovery code %q repeated or malformed", c)
			}
			seen[c] = true
		}
		var hashes []models.RecoveryCode
		if err := app.DB.NewSelect().Model(&hashes).Scan(t.Context()); err != nil || len(hashes) != 10 {
			t.Fatalf("%d recovery code rows (%v)", len(hashes), err)
		}
		for _, h := range hashes {
			if !models.ValidCodeHash(h.CodeHash) || seen[h.CodeHash] {
				t.Errorf("recovery code stored as %q", h.CodeHash)
			}
		}
		if !hasSecondFactor(t, app, email) || eventCount(t, app, email, models.EventTOTPEnabled) != 1 {
			t.Errorf("not on, or no event")
		}
		mail := app.SMTP.WaitForSubject(t, factorAddedSubject, 1, 10*time.Second)[0]
		if mail.To[0] != email || !strings.Contains(mail.Text, "authenticator app") {
			t.Errorf("factor-added email to %v:\n%s", mail.To, mail.Text)
		}
		emailNotMeLink(t, mail)

		// The codes are shown once: the page now manages the factor.
		on := b.Get("/account/2fa")
		if st, _ := on.Doc(t).Find(`[data-testid="two-step"]`).Attr("data-state"); st != "on" || strings.Contains(on.Body, codes[0]) ||
			on.Text(t, `[data-testid="recovery-left"]`) != "10 recovery codes left." {
			t.Errorf("after set-up: state %q, left %q", st, on.Text(t, `[data-testid="recovery-left"]`))
		}
		if r := b.Post("/account/2fa", url.Values{"action": {"begin"}}); r.StatusCode != http.StatusSeeOther || !hasSecondFactor(t, app, email) {
			t.Errorf("a new set-up replaced the factor in use")
		}
		if got := b.Get("/account").Text(t, `[data-testid="two-step-summary"]`); !strings.HasPrefix(got, "On") {
			t.Errorf("account section says %q", got)
		}
	})
}

// wrongCode is a six-digit code that is none of secret's codes around at.
func wrongCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second, 60 * time.Second} {
		valid[totpAt(t, secret, at.Add(d))] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333", "444444"} {
		if !valid[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// TestTOTPSignInStep: with TOTP on, a right password leads to the second
// step and signs nobody in (the account page, /auth/verify and whoami
// treat the browser as signed out); a right code signs in with a new
// session id and mfa true; the same code is refused the second time; a
// code one step off is accepted; a password-only sign-in has mfa false.
func TestTOTPSignInStep(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email, plain = "two@example.com", "plain@example.com"
		secret, _ := enableTOTP(t, app, app.Register(t, email, oldPassword))
		app.Register(t, plain, oldPassword)
		if _, c := signInAs(t, app, plain, oldPassword); func() bool { m, in := whoamiMFA(t, app, c); return m || !in }() {
			t.Errorf("a password-only sign-in has mfa true, or is not signed in")
		}

		b := passwordStep(t, app, email)
		pending := b.Cookie(sessionCookie)
		if r := b.Get("/account"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login" {
			t.Errorf("account page at the second step: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if _, in := whoamiMFA(t, app, pending); in {
			t.Errorf("whoami signs in a pending session")
		}
		if r := verify(t, app, pending, caddyNav()...); r.StatusCode != http.StatusFound {
			t.Errorf("verify at the second step: %d", r.StatusCode)
		}
		page := b.Get("/account/login/2fa")
		if page.StatusCode != http.StatusOK || page.Doc(t).Find(`form[data-testid="login-2fa-form"] input[name="code"]`).Length() != 1 {
			t.Fatalf("second step page: %d", page.StatusCode)
		}
		var sessions []models.Session
		if err := app.DB.NewSelect().Model(&sessions).Where("id_hash = ?", models.HashSessionID(pending)).Scan(t.Context()); err != nil ||
			len(sessions) != 1 || sessions[0].AuthState != models.AuthSecondFactorPending {
			t.Fatalf("pending row: %v %v", sessions, err)
		}

		r := b.Post("/account/login/2fa", url.Values{"code": {wrongCode(t, secret, app.Clock.Now())}})
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.Text(t, `[data-testid="code-feedback"]`), codeRefusedText) {
			t.Errorf("wrong code: %d %q", r.StatusCode, r.Text(t, `[data-testid="code-feedback"]`))
		}
		if eventCount(t, app, email, models.EventSecondStepFailed) != 1 {
			t.Errorf("no event for the wrong code")
		}
		htmx := b.Post("/account/login/2fa", url.Values{"code": {"12"}}, "HX-Request", "true")
		if htmx.StatusCode != http.StatusUnprocessableEntity || strings.Contains(htmx.Body, "<html") {
			t.Errorf("htmx malformed code: %d, want a 422 fragment", htmx.StatusCode)
		}

		code := totpAt(t, secret, app.Clock.Now())
		r = b.Post("/account/login/2fa", url.Values{"code": {code}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
			t.Fatalf("right code: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.Body)
		}
		full := b.Cookie(sessionCookie)
		if full == pending || full == "" {
			t.Errorf("the session id was not rotated")
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Session)(nil)).Where("id_hash = ?", models.HashSessionID(pending))); n != 0 {
			t.Errorf("the pending row outlived the sign-in")
		}
		if mfa, in := whoamiMFA(t, app, full); !mfa || !in {
			t.Errorf("after the second step: signed in %v, mfa %v", in, mfa)
		}
		if r := verify(t, app, full, caddyNav()...); r.StatusCode != http.StatusOK || r.Header.Get("X-Latchkey-MFA") != "true" {
			t.Errorf("verify after the second step: %d mfa %q", r.StatusCode, r.Header.Get("X-Latchkey-MFA"))
		}
		if r := b.Get("/account"); r.StatusCode != http.StatusOK {
			t.Errorf("account page: %d", r.StatusCode)
		}

		// Replay: the same code again, in another sign-in, within its step.
		other := passwordStep(t, app, email)
		if r := other.Post("/account/login/2fa", url.Values{"code": {code}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("replayed code: %d, want 422", r.StatusCode)
		}
		// Skew: the code of the step after now is accepted (a fast clock).
		nextStep(app)
		ahead := totpAt(t, secret, app.Clock.Now().Add(30*time.Second))
		if r := other.Post("/account/login/2fa", url.Values{"code": {ahead}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("code one step ahead: %d, want 303", r.StatusCode)
		}
		// ±1 only: two steps behind is refused.
		nextStep(app)
		nextStep(app)
		third := passwordStep(t, app, email)
		stale := totpAt(t, secret, app.Clock.Now().Add(-60*time.Second))
		if r := third.Post("/account/login/2fa", url.Values{"code": {stale}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("code two steps old: %d, want 422", r.StatusCode)
		}
		// The pending sign-in (third) is not among the account's
		// sessions: registration's, b's and other's are.
		if rows := b.Get("/account").Doc(t).Find(`[data-testid="sessions"] tbody tr`).Length(); rows != 3 {
			t.Errorf("%d sessions listed, want the 3 signed-in ones", rows)
		}
	})
}

// TestSecondStepCarriesReturnTarget: next (and rd) survive the second step.
func TestSecondStepCarriesReturnTarget(t *testing.T) {
	forEachApp(t, secondStepCarriesReturnTarget)
}

func secondStepCarriesReturnTarget(t *testing.T, app *testutil.App) {
	const email = "next@example.com"
	secret, _ := enableTOTP(t, app, app.Register(t, email, oldPassword))
	b := app.NewBrowser(t)
	r := b.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}, "next": {"/account/password"}})
	if loc := r.Header.Get("Location"); r.StatusCode != http.StatusSeeOther || loc != "/account/login/2fa?next=%2Faccount%2Fpassword" {
		t.Fatalf("password step: %d %q", r.StatusCode, loc)
	}
	page := b.Get(r.Header.Get("Location"))
	if v, _ := page.Doc(t).Find(`input[name="next"]`).Attr("value"); v != "/account/password" {
		t.Errorf("next not carried: %q", v)
	}
	r = b.Post("/account/login/2fa", url.Values{"code": {totpAt(t, secret, app.Clock.Now())}, "next": {"/account/password"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/password" {
		t.Errorf("after the second step: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	// Without a pending sign-in, the second step sends to sign in.
	for _, do := range []func() *testutil.Response{
		func() *testutil.Response { return app.NewBrowser(t).Get("/account/login/2fa") },
		func() *testutil.Response {
			return app.NewBrowser(t).Post("/account/login/2fa", url.Values{"code": {"123456"}})
		},
	} {
		if r := do(); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login" {
			t.Errorf("second step without a password: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
	}
}

// TestSecondStepExpires: after SecondStepTTL a right code gets exactly the
// answer of a wrong one, and is not spent.
func TestSecondStepExpires(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "late@example.com"
		secret, _ := enableTOTP(t, app, app.Register(t, email, oldPassword))
		b := passwordStep(t, app, email)
		wrong := b.Post("/account/login/2fa", url.Values{"code": {wrongCode(t, secret, app.Clock.Now())}})
		app.Clock.Advance(models.SecondStepTTL)
		right := totpAt(t, secret, app.Clock.Now())
		late := b.Post("/account/login/2fa", url.Values{"code": {right}})
		if late.StatusCode != http.StatusUnprocessableEntity || late.StatusCode != wrong.StatusCode ||
			late.Text(t, "form") != wrong.Text(t, "form") {
			t.Errorf("expired step: %d %q; wrong code: %d %q", late.StatusCode, late.Text(t, "form"), wrong.StatusCode, wrong.Text(t, "form"))
		}
		if eventCount(t, app, email, models.EventSecondStepFailed) != 2 {
			t.Errorf("the expired attempt was not recorded like a wrong one")
		}
		if mfa, in := whoamiMFA(t, app, b.Cookie(sessionCookie)); in || mfa {
			t.Errorf("signed in after the step expired")
		}
		// Not spent: a fresh sign-in takes the same code.
		if r := passwordStep(t, app, email).Post("/account/login/2fa", url.Values{"code": {right}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("the code typed too late was spent: %d", r.StatusCode)
		}
	})
}

// TestSecondStepThrottled: wrong codes are throttled per account like
// passwords: five free, then a back-off (429 with Retry-After), whatever
// browser or sign-in they come from; a right code afterwards clears it.
func TestSecondStepThrottled(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "guess@example.com"
		secret, _ := enableTOTP(t, app, app.Register(t, email, oldPassword))
		wrong := wrongCode(t, secret, app.Clock.Now())
		b := passwordStep(t, app, email)
		for i := range models.SecondStepFreeFailures + 1 { // the sixth opens the back-off, and is still checked
			if r := b.Post("/account/login/2fa", url.Values{"code": {wrong}}); r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("wrong code %d: %d", i+1, r.StatusCode)
			}
		}
		other := passwordStep(t, app, email) // another browser, the same account
		r := other.Post("/account/login/2fa", url.Values{"code": {totpAt(t, secret, app.Clock.Now())}})
		if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Fatalf("guess in back-off: %d Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
		}
		app.Clock.Advance(2 * time.Second)
		if r := other.Post("/account/login/2fa", url.Values{"code": {totpAt(t, secret, app.Clock.Now())}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("right code after the back-off: %d", r.StatusCode)
		}
		nextStep(app)
		// Cleared: five free tries again.
		c := passwordStep(t, app, email)
		for i := range models.SecondStepFreeFailures {
			if r := c.Post("/account/login/2fa", url.Values{"code": {wrong}}); r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("after a success, wrong code %d: %d", i+1, r.StatusCode)
			}
		}
	})
}

// TestRecoveryCodeSignIn: a recovery code signs in once (mfa true), the
// owner is emailed how many are left with a "this wasn't me" link, and
// an event is written; the same code is refused the second time.
func TestRecoveryCodeSignIn(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "lost@example.com"
		_, codes := enableTOTP(t, app, app.Register(t, email, oldPassword))
		b := passwordStep(t, app, email)
		// Any case, with or without hyphens.
		typed := strings.ToUpper(strings.ReplaceAll(codes[3], "-", " "))
		r := b.Post("/account/login/2fa", url.Values{"code": {typed}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
			t.Fatalf("recovery code: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if flash := b.Get("/account").Text(t, `[data-testid="flash"]`); !strings.Contains(flash, "9 recovery codes left") {
			t.Errorf("flash %q", flash)
		}
		if mfa, in := whoamiMFA(t, app, b.Cookie(sessionCookie)); !mfa || !in {
			t.Errorf("recovery sign-in: signed in %v, mfa %v", in, mfa)
		}
		mail := app.SMTP.WaitForSubject(t, recoveryUsedSubject, 1, 10*time.Second)[0]
		if !strings.Contains(mail.Text, "9 recovery codes are left.") || mail.To[0] != email {
			t.Errorf("recovery email:\n%s", mail.Text)
		}
		emailNotMeLink(t, mail)
		if eventCount(t, app, email, models.EventRecoveryCodeUsed) != 1 {
			t.Errorf("no recovery event")
		}
		if r := passwordStep(t, app, email).Post("/account/login/2fa", url.Values{"code": {codes[3]}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("used recovery code again: %d, want 422", r.StatusCode)
		}
		if r := passwordStep(t, app, email).Post("/account/login/2fa", url.Values{"code": {codes[4]}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("another recovery code: %d", r.StatusCode)
		}
	})
}

// TestRenewRecoveryCodes: new codes need a right TOTP code, are shown
// once, and the old ones die; the owner is emailed.
func TestRenewRecoveryCodes(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "renew@example.com"
		b := app.Register(t, email, oldPassword)
		secret, old := enableTOTP(t, app, b)
		if r := b.Post("/account/2fa", url.Values{"action": {"renew"}, "code": {wrongCode(t, secret, app.Clock.Now())}}); r.StatusCode != http.StatusUnprocessableEntity ||
			r.Text(t, `[data-testid="renew-code-feedback"]`) == "" {
			t.Errorf("renew with a wrong code: %d", r.StatusCode)
		}
		r := b.Post("/account/2fa", url.Values{"action": {"renew"}, "code": {totpAt(t, secret, app.Clock.Now())}})
		if r.StatusCode != http.StatusOK {
			t.Fatalf("renew: %d", r.StatusCode)
		}
		fresh := recoveryCodes(t, r)
		app.SMTP.WaitForSubject(t, recoveryRenewSubject, 1, 10*time.Second)
		if eventCount(t, app, email, models.EventRecoveryCodesRenewed) != 1 {
			t.Errorf("no renewal event")
		}
		if r := passwordStep(t, app, email).Post("/account/login/2fa", url.Values{"code": {old[0]}}); r.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("an old recovery code still works: %d", r.StatusCode)
		}
		if r := passwordStep(t, app, email).Post("/account/login/2fa", url.Values{"code": {fresh[0]}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("a new recovery code: %d", r.StatusCode)
		}
	})
}

// TestDisableTOTP: turning TOTP off needs the current password and a code
// (TOTP or recovery); then the password alone signs in, the owner is
// emailed and an event is written.
func TestDisableTOTP(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "off@example.com"
		b := app.Register(t, email, oldPassword)
		secret, codes := enableTOTP(t, app, b)
		cases := []struct {
			name, password, code, field string
		}{
			{"no password", "", totpAt(t, secret, app.Clock.Now()), "current_password"},
			{"wrong password", "not the password", totpAt(t, secret, app.Clock.Now()), "current_password"},
			{"no code", oldPassword, "", "disable-code"},
			{"wrong code", oldPassword, wrongCode(t, secret, app.Clock.Now()), "disable-code"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := b.Post("/account/2fa", url.Values{"action": {"disable"}, "current_password": {c.password}, "code": {c.code}})
				if r.StatusCode != http.StatusUnprocessableEntity || r.Text(t, `[data-testid="`+c.field+`-feedback"]`) == "" {
					t.Errorf("%s: %d, no message on %s", c.name, r.StatusCode, c.field)
				}
				if !hasSecondFactor(t, app, email) {
					t.Fatalf("%s turned TOTP off", c.name)
				}
			})
		}
		r := b.Post("/account/2fa", url.Values{"action": {"disable"}, "current_password": {oldPassword}, "code": {codes[0]}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
			t.Fatalf("turn off with a recovery code: %d", r.StatusCode)
		}
		if hasSecondFactor(t, app, email) || testutil.CountRows(t, app.DB.NewSelect().Model((*models.RecoveryCode)(nil))) != 0 {
			t.Errorf("TOTP or recovery codes left after turning off")
		}
		mail := app.SMTP.WaitForSubject(t, factorRemovedSubject, 1, 10*time.Second)[0]
		emailNotMeLink(t, mail)
		if eventCount(t, app, email, models.EventTOTPDisabled) != 1 {
			t.Errorf("no event")
		}
		if _, c := signInAs(t, app, email, oldPassword); c == "" {
			t.Errorf("the password alone does not sign in")
		}
		// On again, and off with an app code this time.
		secret, _ = enableTOTP(t, app, b)
		if r := b.Post("/account/2fa", url.Values{"action": {"disable"}, "current_password": {oldPassword}, "code": {totpAt(t, secret, app.Clock.Now())}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("turn off with an app code: %d", r.StatusCode)
		}
	})
}

// TestResetKeepsSecondFactor: a password reset sets the password and
// revokes sessions, and the next sign-in still asks for the code.
func TestResetKeepsSecondFactor(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "reset2fa@example.com"
		secret, _ := enableTOTP(t, app, app.Register(t, email, oldPassword))
		b := app.NewBrowser(t)
		b.Post("/account/forgot-password", url.Values{"email": {email}})
		link := testutil.ResetLink(t, app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0])
		b.Get(link)
		if r := b.Post("/account/reset-password", url.Values{"password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("reset: %d", r.StatusCode)
		}
		if !hasSecondFactor(t, app, email) {
			t.Fatal("the reset removed the second factor")
		}
		r := b.Post("/account/login", url.Values{"email": {email}, "password": {newPassword}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login/2fa" {
			t.Fatalf("sign-in after the reset: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if r := b.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("signed in by the reset's password alone: %d", r.StatusCode)
		}
		if r := b.Post("/account/login/2fa", url.Values{"code": {totpAt(t, secret, app.Clock.Now())}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("code after the reset: %d", r.StatusCode)
		}
	})
}

// TestNotMeRemovesRecentFactors: "this wasn't me" from a factor email
// removes the second factors added in the last 24 hours (and the recovery
// codes made then), keeps an older factor, and writes an event.
func TestNotMeRemovesRecentFactors(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "intruder@example.com"
		b := app.Register(t, email, oldPassword)
		enableTOTP(t, app, b)
		link := emailNotMeLink(t, app.SMTP.WaitForSubject(t, factorAddedSubject, 1, 10*time.Second)[0])
		victim := app.NewBrowser(t)
		victim.Get(link)
		if r := victim.Post("/account/not-me", url.Values{"token": {tokenOf(t, link)}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("not-me: %d", r.StatusCode)
		}
		if hasSecondFactor(t, app, email) || eventCount(t, app, email, models.EventFactorsRemovedNotMe) != 1 {
			t.Errorf("a factor added minutes ago survived \"this wasn't me\"")
		}

		// An older factor stays; recovery codes renewed within the day go.
		const owner = "owner@example.com"
		ob := app.Register(t, owner, oldPassword)
		secret, old := enableTOTP(t, app, ob)
		app.Clock.Advance(25 * time.Hour)
		ob = app.NewBrowser(t)
		ob.Post("/account/login", url.Values{"email": {owner}, "password": {oldPassword}})
		if r := ob.Post("/account/login/2fa", url.Values{"code": {old[0]}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign in a day later: %d", r.StatusCode)
		}
		if r := ob.Post("/account/2fa", url.Values{"action": {"renew"}, "code": {totpAt(t, secret, app.Clock.Now())}}); r.StatusCode != http.StatusOK {
			t.Fatalf("renew: %d", r.StatusCode)
		}
		mails := app.SMTP.WaitForSubject(t, recoveryRenewSubject, 1, 10*time.Second)
		link = emailNotMeLink(t, mails[len(mails)-1])
		if r := app.NewBrowser(t).Post("/account/not-me", url.Values{"token": {tokenOf(t, link)}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("not-me: %d", r.StatusCode)
		}
		if !hasSecondFactor(t, app, owner) {
			t.Errorf("a factor older than a day was removed")
		}
		acc, err := app.Store.AccountByEmail(t.Context(), owner)
		if err != nil {
			t.Fatal(err)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.RecoveryCode)(nil)).Where("account_id = ?", acc.ID)); n != 0 {
			t.Errorf("%d recovery codes made in the last day survived", n)
		}
	})
}

// tokenOf returns a not-me link's token.
func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

// TestRequireMFAWithTOTP: under REQUIRE_MFA a password-only session is
// refused with a link to set up two-step sign-in; a TOTP sign-in passes
// with X-Latchkey-MFA true.
func TestRequireMFAWithTOTP(t *testing.T) {
	forEachApp(t, requireMFAWithTOTP, testutil.WithEnv("REQUIRE_MFA", "true"))
}

func requireMFAWithTOTP(t *testing.T, app *testutil.App) {
	const email = "strict2fa@example.com"
	b := app.Register(t, email, oldPassword)
	r := verify(t, app, b.Cookie(sessionCookie), caddyNav()...)
	if href, _ := r.Doc(t).Find(`[data-testid="forbidden-action"]`).Attr("href"); r.StatusCode != http.StatusForbidden || href != app.URL+"/account/2fa" {
		t.Fatalf("password-only session: %d, link %q", r.StatusCode, href)
	}
	secret, _ := enableTOTP(t, app, b)
	two := passwordStep(t, app, email)
	if r := two.Post("/account/login/2fa", url.Values{"code": {totpAt(t, secret, app.Clock.Now())}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("second step: %d", r.StatusCode)
	}
	if r := verify(t, app, two.Cookie(sessionCookie), caddyNav()...); r.StatusCode != http.StatusOK || r.Header.Get("X-Latchkey-MFA") != "true" {
		t.Errorf("two-step session: %d mfa %q", r.StatusCode, r.Header.Get("X-Latchkey-MFA"))
	}
}

// TestTwoStepUnderBasePath: with a BASE_URL path prefix every redirect,
// the QR code's src and the forms of two-step sign-in stay under it.
func TestTwoStepUnderBasePath(t *testing.T) {
	app := testutil.StartApp(t, "sqlite", testutil.WithBasePath("/latchkey"))
	const email = "prefixed2fa@example.com"
	b := app.Register(t, email, oldPassword)
	if r := b.Post("/account/2fa", url.Values{"action": {"begin"}}); r.Header.Get("Location") != "/latchkey/account/2fa" {
		t.Fatalf("begin: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	page := b.Get("/account/2fa")
	checkPage(t, app, "set-up page", page, http.StatusOK)
	if src, _ := page.Doc(t).Find(`[data-testid="two-step-qr"]`).Attr("src"); src != "/latchkey/account/2fa/qr.png" {
		t.Errorf("QR src %q", src)
	}
	if r := b.Get("/account/2fa/qr.png"); r.StatusCode != http.StatusOK {
		t.Errorf("QR code: %d", r.StatusCode)
	}
	secret := strings.ReplaceAll(page.Text(t, `[data-testid="two-step-secret"]`), " ", "")
	checkPage(t, app, "recovery codes", b.Post("/account/2fa", url.Values{"action": {"confirm"}, "code": {totpAt(t, secret, app.Clock.Now())}}), http.StatusOK)
	nextStep(app)
	s := app.NewBrowser(t)
	if r := s.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}}); r.Header.Get("Location") != "/latchkey/account/login/2fa" {
		t.Fatalf("password step: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	checkPage(t, app, "second step", s.Get("/account/login/2fa"), http.StatusOK)
	if r := s.Post("/account/login/2fa", url.Values{"code": {totpAt(t, secret, app.Clock.Now())}}); r.Header.Get("Location") != "/latchkey/account" {
		t.Errorf("second step: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	checkPage(t, app, "set-up page, on", b.Get("/account/2fa"), http.StatusOK)
}

// TestExportListsTOTPWithoutSecrets: the owner's export names the TOTP
// factor and the unused recovery codes by kind and date, and holds neither
// the secret (base32 or sealed), nor a recovery code, nor a code's hash.
func TestExportListsTOTPWithoutSecrets(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "export2fa@example.com"
		b := app.Register(t, email, oldPassword)
		secret, codes := enableTOTP(t, app, b)
		r := b.Get("/account/export")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("export: %d", r.StatusCode)
		}
		var doc struct {
			Factors []struct {
				Kind, Name string
			} `json:"factors"`
		}
		if err := json.Unmarshal([]byte(r.Body), &doc); err != nil {
			t.Fatal(err)
		}
		kinds := map[string]string{}
		for _, f := range doc.Factors {
			kinds[f.Kind] = f.Name
		}
		if kinds["totp"] == "" || kinds["recovery-codes"] != "10 unused recovery codes" {
			t.Errorf("factors in the export: %+v", doc.Factors)
		}
		var row models.TOTPFactor
		if err := app.DB.NewSelect().Model(&row).Scan(t.Context()); err != nil {
			t.Fatal(err)
		}
		var hashes []models.RecoveryCode
		if err := app.DB.NewSelect().Model(&hashes).Scan(t.Context()); err != nil {
			t.Fatal(err)
		}
		secrets := []string{secret, base64.StdEncoding.EncodeToString(row.SealedSecret)[:16], hashes[0].CodeHash[:16]}
		for _, c := range codes {
			secrets = append(secrets, c, strings.ReplaceAll(c, "-", ""))
		}
		for _, s := range secrets {
			if strings.Contains(r.Body, s) {
				t.Errorf("the export holds %q", s)
			}
		}
	})
}
