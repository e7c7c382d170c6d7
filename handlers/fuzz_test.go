package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// FuzzFormHandlers posts arbitrary bodies to every form endpoint (the
// signed-in change-of-address form from a signed-in browser): the answer
// is never a 5xx, nothing but a 303 from registration creates an account,
// and no address changes.
func FuzzFormHandlers(f *testing.F) {
	paths := []string{"/account/register", "/account/login", "/account/forgot-password", "/account/reset-password",
		"/account/validate/email", "/account/validate/password", "/account/delete", "/account/email",
		"/account/2fa", "/account/login/2fa"}
	for _, s := range []string{
		"email=a%40example.com&password=correct+horse+battery+staple",
		"email=%ff&password=x",
		"email=a%40example.com&email=b%40example.com",
		"email[]=x",
		"code=" + strings.Repeat("A", 43) + "&password=another+passphrase",
		"current_password=x&password=y",
		"email=%3Cscript%3E%40x.com",
		"%",
		"",
		// Over-long fields under the body cap: inline 422s, never a 5xx.
		"email=a%40example.com&password=" + strings.Repeat("a", 10000),
		"email=" + strings.Repeat("a", 10000) + "%40example.com&password=x",
		"email=a%40example.com&password=" + strings.Repeat("%EF%B7%BA", 3),
		"email=new%40example.com&current_password=correct+horse+battery+staple",
		"email=fuzz%40example.com&current_password=correct+horse+battery+staple",
		"email=a%40example.com&current_password=" + strings.Repeat("a", 10000),
		// The two-step forms.
		"code=123456", "code=abcd-efgh-ijkl-mnop", "code=" + strings.Repeat("9", 10000),
		"action=begin", "action=confirm&code=123456", "action=renew&code=12345x",
		"action=disable&current_password=x&code=abcd-efgh-ijkl-mnop", "action=%00",
	} {
		for path := range paths {
			f.Add(uint8(path), s)
		}
	}
	// One app for the whole run; limits raised so fuzzing is not
	// throttled into 429s.
	limits := models.DefaultLimits()
	limits.RegistrationsPerHour, limits.ResetPostsPerMinute, limits.ValidationsPerMinute = 1<<30, 1<<30, 1<<30
	limits.SignInFreeFailures, limits.SignInFreeFailuresIP = 1<<30, 1<<30
	limits.EmailChangesPerHour, limits.EmailChangesPerHourIP = 1<<30, 1<<30
	fuzzApp := testutil.StartApp(f, "sqlite", testutil.WithLimits(limits))
	const member = "fuzz@example.com"
	signedIn := fuzzApp.Register(f, member, "correct horse battery staple")
	// The two-step forms get a browser that can reach them: signed in with
	// TOTP on (/account/2fa), and one at the second step of signing in.
	const twoStepEmail = "fuzz-2fa@example.com"
	twoStep := fuzzApp.Register(f, twoStepEmail, oldPassword)
	if r := twoStep.Post("/account/2fa", url.Values{"action": {"begin"}}); r.StatusCode != http.StatusSeeOther {
		f.Fatalf("begin set-up: %d", r.StatusCode)
	}
	secret := strings.ReplaceAll(twoStep.Get("/account/2fa").Text(f, `[data-testid="two-step-secret"]`), " ", "")
	code, err := totp.GenerateCodeCustom(secret, fuzzApp.Clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		f.Fatal(err)
	}
	if r := twoStep.Post("/account/2fa", url.Values{"action": {"confirm"}, "code": {code}}); r.StatusCode != http.StatusOK {
		f.Fatalf("confirm set-up: %d", r.StatusCode)
	}
	pending := fuzzApp.NewBrowser(f)
	if r := pending.Post("/account/login", url.Values{"email": {twoStepEmail}, "password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
		f.Fatalf("password step: %d", r.StatusCode)
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		b := fuzzApp.NewBrowser(t)
		switch paths[int(which)%len(paths)] {
		case "/account/email":
			b.HTTP = signedIn.HTTP // its cookie jar, with this t
		case "/account/2fa":
			b.HTTP = twoStep.HTTP
		case "/account/login/2fa":
			b.HTTP = pending.HTTP
		}
		before, _ := fuzzApp.DB.NewSelect().Model((*models.Account)(nil)).Count(t.Context())
		req, _ := http.NewRequest(http.MethodPost, fuzzApp.URL+paths[int(which)%len(paths)], strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp := b.Do(req)
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %q: %d", req.URL.Path, body, resp.StatusCode)
		}
		after, _ := fuzzApp.DB.NewSelect().Model((*models.Account)(nil)).Count(t.Context())
		if after != before && !(req.URL.Path == "/account/register" && resp.StatusCode == http.StatusSeeOther) {
			t.Fatalf("%s %q changed the accounts (%d → %d) with status %d", req.URL.Path, body, before, after, resp.StatusCode)
		}
		// A change of address is only asked for, never made, by a form.
		if _, err := fuzzApp.Store.AccountByEmail(t.Context(), member); err != nil {
			t.Fatalf("%s %q: the member's address: %v", req.URL.Path, body, err)
		}
	})
}
