package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// FuzzFormHandlers posts arbitrary bodies to every form endpoint (the
// signed-in change-of-address form from a signed-in browser): the answer
// is never a 5xx, nothing but a 303 from registration creates an account,
// and no address changes.
func FuzzFormHandlers(f *testing.F) {
	paths := []string{"/account/register", "/account/login", "/account/forgot-password", "/account/reset-password",
		"/account/validate/email", "/account/validate/password", "/account/delete", "/account/email"}
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
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		b := fuzzApp.NewBrowser(t)
		if paths[int(which)%len(paths)] == "/account/email" {
			b.HTTP = signedIn.HTTP // its cookie jar, with this t
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
