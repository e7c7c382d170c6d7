package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func TestResetFlowEndToEnd(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "ann@example.com"
		b := app.Register(t, email, oldPassword)

		resp := b.Get("/account")
		if resp.StatusCode != http.StatusOK || resp.Text(t, `[data-testid="account-email"]`) == "" {
			t.Fatalf("account page after register: %d", resp.StatusCode)
		}
		if got := resp.Text(t, `[data-testid="flash"]`); got != "Welcome! Your account is ready. We have emailed you a link to verify your address." {
			t.Errorf("welcome flash = %q", got)
		}

		resp = b.Post("/account/logout", nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		if resp.Header.Get("Clear-Site-Data") != `"cookies"` {
			t.Errorf("logout lacks Clear-Site-Data")
		}
		if resp := b.Get("/account"); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("account after logout: %d", resp.StatusCode)
		}

		resp = b.Post("/account/forgot-password", url.Values{"email": {"  ANN@Example.com "}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Body, `data-testid="forgot-sent"`) {
			t.Fatalf("forgot: %d\n%s", resp.StatusCode, resp.Body)
		}
		mail := app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0]
		if mail.To[0] != email || mail.Subject != "Reset your Latchkey password" {
			t.Fatalf("reset email to %v subject %q", mail.To, mail.Subject)
		}
		if mail.HTML == "" || mail.Text == "" {
			t.Errorf("reset email lacks a part: html=%d text=%d", len(mail.HTML), len(mail.Text))
		}
		link := testutil.ResetLink(t, mail)
		if !strings.HasPrefix(link, app.URL+"/account/reset-password?code=") {
			t.Fatalf("link %q is not on BASE_URL %s", link, app.URL)
		}
		if !strings.Contains(mail.Text, "127.0.0.1") || !strings.Contains(mail.Text, "1 hour") {
			t.Errorf("reset email should name the requesting IP and the expiry:\n%s", mail.Text)
		}

		// A mail scanner's GET does not use the code up.
		scanner := app.NewBrowser(t)
		if resp := scanner.Get(link); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("scanner GET: %d", resp.StatusCode)
		}

		resp = b.Get(link)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/reset-password" {
			t.Fatalf("GET link: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp = b.Get("/account/reset-password")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("clean reset page: %d\n%s", resp.StatusCode, resp.Body)
		}
		if resp.Header.Get("Referrer-Policy") != "no-referrer" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("reset page headers: referrer=%q cache=%q", resp.Header.Get("Referrer-Policy"), resp.Header.Get("Cache-Control"))
		}
		if strings.Contains(resp.Body, "code=") || resp.Doc(t).Find(`input[name="code"]`).Length() != 0 {
			t.Errorf("clean reset page still carries the code")
		}

		resp = b.Post("/account/reset-password", url.Values{"password": {newPassword}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account/login" {
			t.Fatalf("reset POST: %d → %q\n%s", resp.StatusCode, resp.Header.Get("Location"), resp.Body)
		}
		resp = b.Get("/account/login")
		if got := resp.Text(t, `[data-testid="flash"]`); got != "Your password has been reset, please sign in." {
			t.Fatalf("flash after reset = %q", got)
		}
		// The flash is shown once.
		if got := b.Get("/account/login").Text(t, `[data-testid="flash"]`); got != "" {
			t.Errorf("flash shown twice: %q", got)
		}

		changed := app.SMTP.WaitForSubject(t, "Your Latchkey password was changed", 1, 10*time.Second)[0]
		if changed.Subject != "Your Latchkey password was changed" || changed.To[0] != email {
			t.Errorf("second email: %q to %v", changed.Subject, changed.To)
		}

		// The link is used up.
		if resp := app.NewBrowser(t).Get(link); resp.StatusCode != http.StatusGone {
			t.Errorf("used link: %d", resp.StatusCode)
		}

		if resp := b.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}}); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("old password: %d", resp.StatusCode)
		}
		resp = b.Post("/account/login", url.Values{"email": {email}, "password": {newPassword}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/account" {
			t.Fatalf("new password: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp = b.Get("/account")
		if resp.StatusCode != http.StatusOK || resp.Text(t, `[data-testid="account-email"]`) != email+"\n\t\t\t\t\t\t" && !strings.HasPrefix(resp.Text(t, `[data-testid="account-email"]`), email) {
			t.Fatalf("account page: %d %q", resp.StatusCode, resp.Text(t, `[data-testid="account-email"]`))
		}
		for _, what := range []string{"Password reset requested", "Password reset completed", "Signed in"} {
			if !strings.Contains(resp.Body, what) {
				t.Errorf("security activity lacks %q", what)
			}
		}

		// The reset proved the address; the row records who used the code.
		acc, err := models.AccountByEmail(t.Context(), app.DB, email)
		if err != nil || acc.EmailVerifiedAt == nil {
			t.Errorf("address not marked verified: %v", err)
		}
		var reset models.PasswordReset
		if err := app.DB.NewSelect().Model(&reset).Where("account_id = ?", acc.ID).Scan(t.Context()); err != nil {
			t.Fatal(err)
		}
		if reset.UsedAt == nil || reset.UsedIP == nil || *reset.UsedIP != "127.0.0.1" || reset.CreatedIP != "127.0.0.1" {
			t.Errorf("reset row: used_at=%v used_ip=%v created_ip=%q", reset.UsedAt, reset.UsedIP, reset.CreatedIP)
		}
	})
}

func TestForgotPasswordSameAnswerForUnknownAddress(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		app.Register(t, "known@example.com", oldPassword)
		b := app.NewBrowser(t)
		known := b.Post("/account/forgot-password", url.Values{"email": {"x@example.com"}})
		_ = known
		a := b.Post("/account/forgot-password", url.Values{"email": {"known@example.com"}})
		u := b.Post("/account/forgot-password", url.Values{"email": {"unknown@example.com"}})
		if a.StatusCode != http.StatusOK || u.StatusCode != http.StatusOK {
			t.Fatalf("statuses %d %d", a.StatusCode, u.StatusCode)
		}
		normalize := func(r *testutil.Response, email string) string {
			return strings.ReplaceAll(r.Body, email, "EMAIL")
		}
		if normalize(a, "known@example.com") != normalize(u, "unknown@example.com") {
			t.Errorf("bodies differ for known and unknown addresses")
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "Vary", "Content-Security-Policy"} {
			if a.Header.Get(h) != u.Header.Get(h) {
				t.Errorf("header %s differs: %q vs %q", h, a.Header.Get(h), u.Header.Get(h))
			}
		}
		if len(a.Header.Values("Set-Cookie")) != len(u.Header.Values("Set-Cookie")) {
			t.Errorf("Set-Cookie differs")
		}
		app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)
		time.Sleep(300 * time.Millisecond)
		if n := len(app.SMTP.WaitForSubject(t, resetSubject, 1, 0)); n != 1 {
			t.Errorf("emails sent = %d, want 1 (only the known address)", n)
		}
		resets, err := app.DB.NewSelect().Model((*models.PasswordReset)(nil)).Count(t.Context())
		if err != nil || resets != 1 {
			t.Errorf("reset rows = %d (%v), want 1", resets, err)
		}
	})
}

func TestResetCodes(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "codes@example.com"
		app.Register(t, email, oldPassword)
		request := func() string {
			t.Helper()
			n := len(app.SMTP.WaitForSubject(t, resetSubject, 0, time.Second))
			app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {email}})
			return testutil.ResetLink(t, app.SMTP.WaitForSubject(t, resetSubject, n+1, 10*time.Second)[n])
		}
		code := func(link string) string {
			u, _ := url.Parse(link) // ResetLink matched it as a URL
			return u.Query().Get("code")
		}

		t.Run("unknown and malformed codes are 410 with a way on", func(t *testing.T) {
			b := app.NewBrowser(t)
			for _, tc := range []struct{ name, code string }{
				{"malformed", "nope"},
				{"unknown", strings.Repeat("A", 43)},
				{"empty", ""},
				{"NUL", "%00"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c := tc.code
					resp := b.Get("/account/reset-password?code=" + c)
					if resp.StatusCode != http.StatusGone {
						t.Errorf("code %q: %d", c, resp.StatusCode)
					}
					doc := resp.Doc(t)
					if doc.Find("form#reset-form").Length() != 0 || doc.Find(`a[href="/account/forgot-password"]`).Length() == 0 {
						t.Errorf("410 page should have no form and a link to ask again")
					}
				})
			}
			resp := b.Post("/account/reset-password", url.Values{"code": {strings.Repeat("B", 43)}, "password": {newPassword}})
			if resp.StatusCode != http.StatusGone {
				t.Errorf("POST with unknown code: %d", resp.StatusCode)
			}
		})

		t.Run("the form's code field works like the session's hash", func(t *testing.T) {
			link := request()
			b := app.NewBrowser(t)
			resp := b.Post("/account/reset-password", url.Values{"code": {code(link)}, "password": {"another fine passphrase"}})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("POST with code field: %d\n%s", resp.StatusCode, resp.Body)
			}
			resp = b.Post("/account/reset-password", url.Values{"code": {code(link)}, "password": {"yet another passphrase"}})
			if resp.StatusCode != http.StatusGone {
				t.Errorf("second use: %d", resp.StatusCode)
			}
		})

		t.Run("expired codes are refused", func(t *testing.T) {
			link := request()
			app.Clock.Advance(61 * time.Minute)
			b := app.NewBrowser(t)
			if resp := b.Get(link); resp.StatusCode != http.StatusGone {
				t.Errorf("expired GET: %d", resp.StatusCode)
			}
			if resp := b.Post("/account/reset-password", url.Values{"code": {code(link)}, "password": {newPassword}}); resp.StatusCode != http.StatusGone {
				t.Errorf("expired POST: %d", resp.StatusCode)
			}
		})

		t.Run("a new code is usable, an older one is invalidated by the reset", func(t *testing.T) {
			first := request()
			second := request()
			b := app.NewBrowser(t)
			if resp := b.Post("/account/reset-password", url.Values{"code": {code(second)}, "password": {"second code passphrase"}}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("second code: %d", resp.StatusCode)
			}
			if resp := b.Get(first); resp.StatusCode != http.StatusGone {
				t.Errorf("first code after reset: %d", resp.StatusCode)
			}
		})
	}, testutil.WithLimits(func() models.Limits { l := models.DefaultLimits(); l.ResetMailsPerHour = 100; return l }()))
}

func TestConcurrentUseOfOneCodeHasOneWinner(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "winner@example.com"
		app.Register(t, email, oldPassword)
		app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {email}})
		link := testutil.ResetLink(t, app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0])
		u, _ := url.Parse(link) // ResetLink matched it as a URL
		code := u.Query().Get("code")

		const n = 8
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b := app.NewBrowser(t)
				b.Header.Set("X-Test", "racer")
				statuses[i] = b.Post("/account/reset-password", url.Values{"code": {code}, "password": {"racer passphrase number " + string(rune('a'+i))}}).StatusCode
			}()
		}
		wg.Wait()
		wins := 0
		for _, s := range statuses {
			switch s {
			case http.StatusSeeOther:
				wins++
			case http.StatusGone:
			default:
				t.Errorf("unexpected status %d", s)
			}
		}
		if wins != 1 {
			t.Fatalf("winners = %d (statuses %v), want exactly 1", wins, statuses)
		}
		events, err := app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventResetCompleted).Count(t.Context())
		if err != nil || events != 1 {
			t.Errorf("reset-completed events = %d (%v)", events, err)
		}
	}, testutil.WithLimits(func() models.Limits { l := models.DefaultLimits(); l.ResetPostsPerMinute = 100; return l }()))
}

func TestResetRevokesEverySession(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "sessions@example.com"
		laptop := app.Register(t, email, oldPassword)
		phone := app.NewBrowser(t)
		if resp := phone.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("phone sign-in: %d", resp.StatusCode)
		}
		stolen := phone.Cookie("latchkey_session")
		app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {email}})
		link := testutil.ResetLink(t, app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0])
		other := app.NewBrowser(t)
		other.Get(link)
		if resp := other.Post("/account/reset-password", url.Values{"password": {newPassword}}); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("reset: %d", resp.StatusCode)
		}
		for name, b := range map[string]*testutil.Browser{"laptop": laptop, "phone": phone} {
			if resp := b.Get("/account"); resp.StatusCode != http.StatusSeeOther {
				t.Errorf("%s still signed in after reset: %d", name, resp.StatusCode)
			}
		}
		// A copy of the old cookie is dead too.
		replay := app.NewBrowser(t)
		req, err := http.NewRequest(http.MethodGet, app.URL+"/account", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(&http.Cookie{Name: "latchkey_session", Value: stolen})
		if resp := replay.Do(req); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("replayed cookie: %d", resp.StatusCode)
		}
		n, err := app.DB.NewSelect().Model((*models.Session)(nil)).Count(t.Context())
		if err != nil || n != 0 {
			t.Errorf("session rows after reset = %d (%v)", n, err)
		}
	})
}
