package handlers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/mail"
)

// publicAnswers is what an anonymous client sees after asking for a reset
// of address on app: the forgot-password answer, then /readyz polled (as
// the security review did), /healthz and two pages. Each answer is dumped
// as status, headers and body, with what legitimately differs between two
// runs normalised: request ids, dates, the server's own origin, cookie
// values and the address itself (the page echoes what was typed).
func publicAnswers(t *testing.T, app *testutil.App, address string) []string {
	t.Helper()
	b := app.NewBrowser(t)
	var out []string
	keep := func(label string, r *testutil.Response) {
		out = append(out, label+"\n"+dumpAnswer(app, r, address))
	}
	keep("GET forgot", b.Get("/account/forgot-password"))
	keep("POST forgot", b.Post("/account/forgot-password", url.Values{"email": {address}}))
	keep("POST forgot (htmx)", b.Post("/account/forgot-password", url.Values{"email": {address}}, "HX-Request", "true"))
	for i := range 5 {
		keep(fmt.Sprintf("GET /readyz #%d", i+1), b.Get("/readyz"))
	}
	keep("GET /healthz", b.Get("/healthz"))
	keep("GET /", b.Get("/"))
	keep("GET login", b.Get("/account/login"))
	return out
}

var (
	cookieValueRE = regexp.MustCompile(`^([^=]+)=[^;]*`)
	expiresRE     = regexp.MustCompile(`Expires=[^;]*`)
)

func dumpAnswer(app *testutil.App, r *testutil.Response, address string) string {
	var lines []string
	for name, values := range r.Header {
		switch name {
		case "Date", "X-Request-Id":
			continue
		case "Set-Cookie":
			for i, v := range values {
				v = cookieValueRE.ReplaceAllString(v, "$1=VALUE")
				values[i] = expiresRE.ReplaceAllString(v, "Expires=DATE")
			}
		}
		lines = append(lines, name+": "+strings.Join(values, " | "))
	}
	slices.Sort(lines)
	body := strings.ReplaceAll(r.Body, address, "ADDRESS")
	body = strings.ReplaceAll(body, app.URL, "ORIGIN")
	return fmt.Sprintf("%d\n%s\n\n%s", r.StatusCode, strings.Join(lines, "\n"), body)
}

// TestForgotPasswordRevealsNoAccountThroughPublicAnswers performs the
// attack of the security review: ask for a reset of an address, then poll
// the public endpoints while its email waits in the outbox. Two apps in the
// same state are asked, one about an address that has an account and one
// about an address of the same length that has none; every public answer
// must be byte for byte the same.
func TestForgotPasswordRevealsNoAccountThroughPublicAnswers(t *testing.T) {
	const known, unknown = "member.one@example.com", "random.one@example.com"
	for _, dialect := range testutil.Dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			start := func() *testutil.App {
				// Retries as fast as the other tests', but never giving a
				// message up during the test: a refused message must stay
				// queued however slow the machine is.
				app := testutil.StartApp(t, dialect, testutil.WithWorkerTuning(mail.Tuning{
					Poll: 200 * time.Millisecond, BackoffBase: 50 * time.Millisecond, BackoffMax: 500 * time.Millisecond, MaxAttempts: 1 << 20,
				}))
				// SMTP refuses for now: a reset email stays in the
				// outbox for the whole poll, as a slow relay would keep
				// it, so the hidden state certainly differs. (From before
				// the registration, so its verification email stays
				// queued on both.)
				app.SMTP.FailWith(451)
				app.Register(t, known, oldPassword)
				return app
			}
			withAccount, without := start(), start()
			got := publicAnswers(t, withAccount, known)
			want := publicAnswers(t, without, unknown)

			// The hidden state did differ while the answers were taken.
			// Two reset emails, and on both the registration's
			// verification email.
			if n, err := withAccount.Store.OutboxBacklog(t.Context()); err != nil || n != 3 {
				var rows []string // what is queued, to tell an unexpected row
				_ = withAccount.DB.NewRaw("SELECT kind || ' ' || status || ' ' || recipient FROM outbox_emails").Scan(t.Context(), &rows)
				t.Fatalf("outbox backlog after a known address: %d (%v), want 3: %q", n, err, rows)
			}
			if n, err := without.Store.OutboxBacklog(t.Context()); err != nil || n != 1 {
				t.Fatalf("outbox backlog after an unknown address: %d (%v), want 1", n, err)
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("answers differ between a known and an unknown address:\n--- known\n%s\n--- unknown\n%s", got[i], want[i])
				}
			}
			if ready := got[3]; !strings.HasSuffix(ready, "\n\n"+`{"status":"ok"}`+"\n") {
				t.Errorf("/readyz answer:\n%s", ready)
			}
			withAccount.SMTP.FailWith(0)
			withAccount.SMTP.WaitForSubject(t, resetSubject, 2, 15*time.Second)
			if r := withAccount.NewBrowser(t).Get("/readyz"); r.StatusCode != http.StatusOK {
				t.Errorf("/readyz after delivery: %d", r.StatusCode)
			}
		})
	}
}
