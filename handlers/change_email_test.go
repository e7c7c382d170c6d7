package handlers_test

// Change of address (SPEC §8): GET,POST /account/email and the emailed
// confirmation link.

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views/email"
)

const mailWait = 10 * time.Second

var stampRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}`)

// askChange posts the change-of-address form; the answer must be the
// success redirect.
func askChange(t *testing.T, b *testutil.Browser, newEmail string) *testutil.Response {
	t.Helper()
	r := b.Post("/account/email", url.Values{"email": {newEmail}, "current_password": {oldPassword}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
		t.Fatalf("change to %s: %d %q\n%s", newEmail, r.StatusCode, r.Header.Get("Location"), r.Body)
	}
	return r
}

// confirmLink waits for the n-th confirmation email to newEmail and
// returns its link.
func confirmLink(t *testing.T, app *testutil.App, newEmail string, n int) string {
	t.Helper()
	return testutil.ConfirmEmailLink(t, app.SMTP.WaitForMailTo(t, newEmail, email.ChangeConfirmSubject, n, mailWait))
}

func accountEmail(t *testing.T, app *testutil.App, id int64) string {
	t.Helper()
	acc, err := models.AccountByID(t.Context(), app.DB, id)
	if err != nil {
		t.Fatal(err)
	}
	return acc.Email
}

func signInStatus(b *testutil.Browser, email, password string) int {
	return b.Post("/account/login", url.Values{"email": {email}, "password": {password}}).StatusCode
}

// TestChangeEmail is the whole way: the form and its errors, the request
// (a link to the new address, a notice with "this wasn't me" to the
// current one, nothing changed yet: sign-in and resets use the current
// address), then the link opened by the signed-in browser: the address
// switched and verified, other sessions signed out, old reset links dead,
// the old address told, and the link spent.
func TestChangeEmail(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const oldEmail, newEmail = "dana@example.com", "dana.new@example.org"
		b := app.Register(t, oldEmail, oldPassword)
		acc, err := app.Store.AccountByEmail(t.Context(), oldEmail)
		if err != nil {
			t.Fatal(err)
		}
		other := app.NewBrowser(t)
		if st := signInStatus(other, oldEmail, oldPassword); st != http.StatusSeeOther {
			t.Fatalf("second sign-in: %d", st)
		}

		home := b.Get("/account")
		if href, _ := home.Doc(t).Find(`[data-testid="change-email-link"]`).Attr("href"); href != "/account/email" {
			t.Errorf("account page links %q for the change of address", href)
		}
		page := b.Get("/account/email")
		if page.StatusCode != http.StatusOK || page.Text(t, `[data-testid="current-email"]`) != oldEmail ||
			page.Doc(t).Find(`form[data-testid="email-form"][action="/account/email"] input[name="email"]`).Length() != 1 {
			t.Fatalf("change page: %d\n%s", page.StatusCode, page.Body)
		}
		if cc := page.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}

		for _, c := range []struct {
			name, email, password, field, want string
		}{
			{"no password", newEmail, "", "current_password", "Enter your current password."},
			{"wrong password", newEmail, "not my password", "current_password", "That is not your current password."},
			{"no address", "", oldPassword, "email", models.ErrEmailRequired.Message},
			{"bad address", "dana@", oldPassword, "email", models.ErrEmailInvalid.Message},
			{"own address", " DANA@example.com ", oldPassword, "email", "already your address"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := b.Post("/account/email", url.Values{"email": {c.email}, "current_password": {c.password}})
				if r.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("%d, want 422", r.StatusCode)
				}
				if got := r.Text(t, `[data-testid="`+c.field+`-feedback"]`); !strings.Contains(got, c.want) {
					t.Errorf("%s message %q, want %q", c.field, got, c.want)
				}
				if v, _ := r.Doc(t).Find(`input#email`).Attr("value"); v != c.email {
					t.Errorf("typed address not kept: %q", v)
				}
				if strings.Contains(r.Body, oldPassword) || (c.password != "" && strings.Contains(r.Body, c.password)) {
					t.Errorf("the password came back")
				}
			})
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.EmailChange)(nil))); n != 0 {
			t.Fatalf("refused requests stored %d changes", n)
		}

		// htmx: the fragment for errors, HX-Redirect for success (below).
		frag := b.Post("/account/email", url.Values{"email": {"nope"}, "current_password": {oldPassword}}, "HX-Request", "true")
		if frag.StatusCode != http.StatusUnprocessableEntity || strings.Contains(frag.Body, "<html") || !strings.Contains(frag.Body, `id="email-form"`) {
			t.Errorf("htmx error: %d\n%s", frag.StatusCode, frag.Body)
		}

		r := b.Post("/account/email", url.Values{"email": {" Dana.New@Example.org"}, "current_password": {oldPassword}}, "HX-Request", "true")
		if r.StatusCode != http.StatusOK || r.Header.Get("HX-Redirect") != "/account" {
			t.Fatalf("htmx change: %d %q", r.StatusCode, r.Header.Get("HX-Redirect"))
		}
		if flash := b.Get("/account").Text(t, `[data-testid="flash"]`); !strings.Contains(flash, newEmail) || !strings.Contains(flash, oldEmail) {
			t.Errorf("flash %q", flash)
		}
		if p := b.Get("/account/email").Text(t, `[data-testid="pending-email-change"]`); !strings.Contains(p, newEmail) {
			t.Errorf("pending change not shown: %q", p)
		}
		link := confirmLink(t, app, newEmail, 1)
		if !strings.HasPrefix(link, app.URL+"/account/email/confirm?code=") {
			t.Errorf("link %q is not on BASE_URL", link)
		}
		notice := app.SMTP.WaitForMailTo(t, oldEmail, email.ChangeRequestedSubject, 1, mailWait)
		if notMeRE.FindString(notice.Text) == "" || !strings.Contains(notice.Text, newEmail) || strings.Contains(notice.Text, "/account/email/confirm") {
			t.Errorf("notice to the current address:\n%s", notice.Text)
		}

		// Until confirmed nothing changes.
		if accountEmail(t, app, acc.ID) != oldEmail {
			t.Fatal("the address changed before confirmation")
		}
		if st := signInStatus(app.NewBrowser(t), newEmail, oldPassword); st != http.StatusUnprocessableEntity {
			t.Errorf("sign-in with the unconfirmed address: %d", st)
		}
		if st := signInStatus(app.NewBrowser(t), oldEmail, oldPassword); st != http.StatusSeeOther {
			t.Errorf("sign-in with the current address: %d", st)
		}
		app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {newEmail}})
		app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {oldEmail}})
		resetLink := testutil.ResetLink(t, app.SMTP.WaitForMailTo(t, oldEmail, resetSubject, 1, mailWait))
		for _, e := range app.SMTP.Emails() {
			if e.Subject == resetSubject && e.To[0] == newEmail {
				t.Errorf("a reset went to the unconfirmed address")
			}
		}

		// Confirmed from the signed-in browser.
		done := b.Get(link)
		if done.StatusCode != http.StatusOK || done.Text(t, `[data-testid="new-email"]`) != newEmail ||
			done.Doc(t).Find(`[data-testid="email-confirm-done"] a[href="/account"]`).Length() != 1 {
			t.Fatalf("confirm: %d\n%s", done.StatusCode, done.Body)
		}
		if nav := done.Doc(t).Find(`[data-testid="logout"]`).Length(); nav != 1 {
			t.Errorf("the confirming browser is not shown signed in")
		}
		fresh, err := models.AccountByID(t.Context(), app.DB, acc.ID)
		if err != nil || fresh.Email != newEmail || fresh.EmailVerifiedAt == nil {
			t.Fatalf("account after confirm: %+v %v", fresh, err)
		}
		if r := b.Get("/account"); r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Text(t, `[data-testid="account-email"]`), newEmail) {
			t.Errorf("the confirming browser: %d %q", r.StatusCode, r.Text(t, `[data-testid="account-email"]`))
		}
		if r := other.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("another session survived the change: %d", r.StatusCode)
		}
		if r := app.NewBrowser(t).Get(resetLink); r.StatusCode != http.StatusGone {
			t.Errorf("a reset link mailed to the old address: %d, want 410", r.StatusCode)
		}
		changed := app.SMTP.WaitForMailTo(t, oldEmail, email.ChangeDoneSubject, 1, mailWait)
		if !strings.Contains(changed.Text, newEmail) || strings.Contains(changed.Text, "http") {
			t.Errorf("notice to the old address:\n%s", changed.Text)
		}
		if st := signInStatus(app.NewBrowser(t), newEmail, oldPassword); st != http.StatusSeeOther {
			t.Errorf("sign-in with the new address: %d", st)
		}
		if st := signInStatus(app.NewBrowser(t), oldEmail, oldPassword); st != http.StatusUnprocessableEntity {
			t.Errorf("sign-in with the old address: %d", st)
		}
		events := b.Get("/account").Text(t, `[data-testid="events"]`)
		for _, want := range []string{"Email address changed", "Email address change requested"} {
			if !strings.Contains(events, want) {
				t.Errorf("activity lacks %q", want)
			}
		}

		// The link works once.
		again := app.NewBrowser(t).Get(link)
		if again.StatusCode != http.StatusGone || again.Doc(t).Find(`[data-testid="email-confirm-invalid"]`).Length() != 1 {
			t.Errorf("second use: %d", again.StatusCode)
		}
	})
}

// TestChangeEmailConfirmSignedOut: the link works in a browser that is not
// signed in, and then every session of the account ends.
func TestChangeEmailConfirmSignedOut(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		b := app.Register(t, "eli@example.com", oldPassword)
		askChange(t, b, "eli.new@example.com")
		done := app.NewBrowser(t).Get(confirmLink(t, app, "eli.new@example.com", 1))
		if done.StatusCode != http.StatusOK || done.Doc(t).Find(`[data-testid="email-confirm-done"] a[href="/account/login"]`).Length() != 1 {
			t.Fatalf("confirm signed out: %d\n%s", done.StatusCode, done.Body)
		}
		if r := b.Get("/account"); r.StatusCode != http.StatusSeeOther {
			t.Errorf("the account's session survived: %d", r.StatusCode)
		}
		app.SMTP.WaitForMailTo(t, "eli@example.com", email.ChangeDoneSubject, 1, mailWait)
		if st := signInStatus(app.NewBrowser(t), "eli.new@example.com", oldPassword); st != http.StatusSeeOther {
			t.Errorf("sign-in with the new address: %d", st)
		}
	})
}

// TestChangeEmailToTakenAddressLooksTheSame: asking for an address that
// belongs to another account gets the answer a free address gets (status,
// headers, body, the pending notice), and the notice to the current
// address; the owner of the taken address is told someone tried, with no
// link, and nothing else happens.
func TestChangeEmailToTakenAddressLooksTheSame(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const taken, free = "owner.one@example.com", "fresh.one@example.com" // the same length
		app.Register(t, taken, oldPassword)
		answers := func(requester, target string) []string {
			b := app.Register(t, requester, oldPassword)
			norm := func(r *testutil.Response) string {
				// The pending link's expiry is to the minute: two requests
				// may straddle one.
				return stampRE.ReplaceAllString(strings.ReplaceAll(dumpAnswer(app, r, target), requester, "REQUESTER"), "STAMP")
			}
			return []string{
				norm(b.Post("/account/email", url.Values{"email": {target}, "current_password": {oldPassword}})),
				norm(b.Post("/account/email", url.Values{"email": {target}, "current_password": {oldPassword}}, "HX-Request", "true")),
				norm(b.Get("/account/email")),
			}
		}
		got, want := answers("req.a@example.com", taken), answers("req.b@example.com", free)
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("answers differ between a taken and a free address:\n--- taken\n%s\n--- free\n%s", got[i], want[i])
			}
		}
		tried := app.SMTP.WaitForMailTo(t, taken, email.ChangeTakenSubject, 2, mailWait)
		if strings.Contains(tried.Text, "http") || strings.Contains(tried.HTML, "href") {
			t.Errorf("the \"someone tried\" email carries a link:\n%s", tried.Text)
		}
		app.SMTP.WaitForMailTo(t, "req.a@example.com", email.ChangeRequestedSubject, 2, mailWait)
		app.SMTP.WaitForMailTo(t, "req.b@example.com", email.ChangeRequestedSubject, 2, mailWait)
		confirmLink(t, app, free, 2)
		for _, e := range app.SMTP.Emails() {
			if e.To[0] == taken && strings.Contains(e.Text, "/account/email/confirm") {
				t.Errorf("the taken address got a confirmation link in %q", e.Subject)
			}
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Account)(nil)).Where("email = ?", taken)); n != 1 {
			t.Errorf("%d accounts with the taken address", n)
		}
	})
}

// TestChangeEmailTakenBeforeConfirm: an address registered between the
// request and the link gets a clear page (409) and nothing changes.
func TestChangeEmailTakenBeforeConfirm(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		b := app.Register(t, "fay@example.com", oldPassword)
		askChange(t, b, "fay.new@example.com")
		link := confirmLink(t, app, "fay.new@example.com", 1)
		app.Register(t, "fay.new@example.com", oldPassword)
		r := b.Get(link)
		if r.StatusCode != http.StatusConflict || !strings.Contains(r.Text(t, `[data-testid="email-confirm-in-use"]`),
			"now in use by another account; your address is unchanged") {
			t.Fatalf("taken meanwhile: %d\n%s", r.StatusCode, r.Body)
		}
		if r := b.Get("/account"); r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Text(t, `[data-testid="account-email"]`), "fay@example.com") {
			t.Errorf("account after refusal: %d %q", r.StatusCode, r.Text(t, `[data-testid="account-email"]`))
		}
	})
}

// TestChangeEmailRace: two accounts confirm the same new address at once;
// exactly one wins and the other gets the in-use page.
func TestChangeEmailRace(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const target = "shared.prize@example.com"
		var links []string
		var ids []int64
		for _, e := range []string{"gus@example.com", "hal@example.com"} {
			askChange(t, app.Register(t, e, oldPassword), target)
			acc, err := app.Store.AccountByEmail(t.Context(), e)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, acc.ID)
		}
		for _, e := range app.SMTP.WaitForSubject(t, email.ChangeConfirmSubject, 2, mailWait) {
			links = append(links, testutil.ConfirmEmailLink(t, e))
		}
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i, link := range links {
			b := app.NewBrowser(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				statuses[i] = b.Get(link).StatusCode
			}()
		}
		close(start)
		wg.Wait()
		if fmt.Sprint(statuses) != "[200 409]" && fmt.Sprint(statuses) != "[409 200]" {
			t.Fatalf("statuses %v, want one 200 and one 409", statuses)
		}
		winner := 0
		if statuses[1] == http.StatusOK {
			winner = 1
		}
		if got := accountEmail(t, app, ids[winner]); got != target {
			t.Errorf("the winner's address is %s", got)
		}
		if got := accountEmail(t, app, ids[1-winner]); got == target {
			t.Errorf("both accounts have %s", target)
		}
	})
}

// TestChangeEmailLinkNoLongerWorks: unknown, malformed, superseded and
// expired links get the 410 page, and nothing changes.
func TestChangeEmailLinkNoLongerWorks(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		b := app.Register(t, "ivy@example.com", oldPassword)
		askChange(t, b, "ivy.first@example.com")
		first := confirmLink(t, app, "ivy.first@example.com", 1)
		askChange(t, b, "ivy.second@example.com")
		second := confirmLink(t, app, "ivy.second@example.com", 1)
		unknown, _ := models.NewCode()
		cases := map[string]string{
			"superseded": first,
			"unknown":    "/account/email/confirm?code=" + unknown,
			"malformed":  "/account/email/confirm?code=%3Cscript%3E",
			"no code":    "/account/email/confirm",
		}
		for name, link := range cases {
			t.Run(name, func(t *testing.T) {
				r := app.NewBrowser(t).Get(link)
				if r.StatusCode != http.StatusGone || r.Doc(t).Find(`[data-testid="email-confirm-invalid"] a[href="/account/email"]`).Length() != 1 {
					t.Errorf("%d\n%s", r.StatusCode, r.Body)
				}
			})
		}
		app.Clock.Advance(24*time.Hour + time.Minute)
		if r := b.Get(second); r.StatusCode != http.StatusGone {
			t.Errorf("expired link: %d", r.StatusCode)
		}
		if st := signInStatus(app.NewBrowser(t), "ivy@example.com", oldPassword); st != http.StatusSeeOther {
			t.Errorf("the address changed: sign-in with the old one %d", st)
		}
	})
}

// TestChangeEmailNotMe: the notice's "this wasn't me" link cancels the
// change (the intruder's link then fails), as well as locking the
// password.
func TestChangeEmailNotMe(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		intruder := app.Register(t, "jan@example.com", oldPassword)
		askChange(t, intruder, "intruder@example.net")
		link := confirmLink(t, app, "intruder@example.net", 1)
		notMe := notMeRE.FindString(app.SMTP.WaitForMailTo(t, "jan@example.com", email.ChangeRequestedSubject, 1, mailWait).Text)
		owner := app.NewBrowser(t)
		page := owner.Get(notMe)
		token, _ := page.Doc(t).Find(`input[name="token"]`).Attr("value")
		if r := owner.Post("/account/not-me", url.Values{"token": {token}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("not-me: %d", r.StatusCode)
		}
		if r := app.NewBrowser(t).Get(link); r.StatusCode != http.StatusGone {
			t.Errorf("the intruder's link after \"this wasn't me\": %d", r.StatusCode)
		}
		app.SMTP.WaitForMailTo(t, "jan@example.com", resetSubject, 1, mailWait)
	})
}

// TestChangeEmailLimits: requests are limited per account and per IP,
// with 429 and Retry-After, before any password check.
func TestChangeEmailLimits(t *testing.T) {
	limits := models.DefaultLimits()
	// Every request counts at both: the account's refused third one too.
	limits.EmailChangesPerHour, limits.EmailChangesPerHourIP = 2, 4
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		from := func(b *testutil.Browser, ip string) *testutil.Browser {
			b.Header.Set("X-Forwarded-For", ip)
			return b
		}
		a := from(app.Register(t, "kim@example.com", oldPassword), "198.51.100.1")
		for i := range 2 {
			askChange(t, a, fmt.Sprintf("kim%d@example.com", i))
		}
		r := a.Post("/account/email", url.Values{"email": {"kim9@example.com"}, "current_password": {oldPassword}})
		if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Errorf("third request of the account: %d %q", r.StatusCode, r.Header.Get("Retry-After"))
		}
		from(a, "198.51.100.2")
		if r := a.Post("/account/email", url.Values{"email": {"kim9@example.com"}, "current_password": {oldPassword}}); r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("the account from another IP: %d", r.StatusCode)
		}
		// Per IP: a second account from the first IP has one left there.
		b := from(app.Register(t, "lee@example.com", oldPassword), "198.51.100.1")
		askChange(t, b, "lee1@example.com")
		if r := b.Post("/account/email", url.Values{"email": {"lee2@example.com"}, "current_password": {oldPassword}}); r.StatusCode != http.StatusTooManyRequests {
			t.Errorf("fourth request from one IP: %d", r.StatusCode)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.EmailChange)(nil))); n != 3 {
			t.Errorf("%d requests stored, want 3", n)
		}
	}, testutil.WithLimits(limits), testutil.WithTrustedProxies("127.0.0.1/32"))
}

// TestChangeEmailNeedsSignIn: the form is behind the guard; the link is
// not (see TestChangeEmailConfirmSignedOut).
func TestChangeEmailNeedsSignIn(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		b := app.NewBrowser(t)
		if r := b.Get("/account/email"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login?next=/account/email" {
			t.Errorf("GET signed out: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if r := b.Post("/account/email", url.Values{"email": {"x@example.com"}, "current_password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Errorf("POST signed out: %d", r.StatusCode)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.EmailChange)(nil))); n != 0 {
			t.Errorf("%d requests stored", n)
		}
	})
}
