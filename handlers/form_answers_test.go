package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// appWithResetPending starts an app with one account, signed in in the
// returned browser, and the code of a reset it asked for.
func appWithResetPending(t *testing.T) (*testutil.App, *testutil.Browser, string) {
	t.Helper()
	app := testutil.StartApp(t, "sqlite")
	const email = "forms@example.com"
	signedIn := app.Register(t, email, oldPassword)
	if r := app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {email}}); r.StatusCode != http.StatusOK {
		t.Fatalf("forgot password: %d", r.StatusCode)
	}
	link, err := url.Parse(testutil.ResetLink(t, app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0]))
	if err != nil {
		t.Fatal(err)
	}
	return app, signedIn, link.Query().Get("code")
}

// TestFormsAnswerFragmentOrPage: every form sent back after a failed
// submit is the form fragment for an htmx partial request and the whole
// page otherwise, with the same status and headers.
func TestFormsAnswerFragmentOrPage(t *testing.T) {
	app, signedIn, code := appWithResetPending(t)

	forms := []struct {
		name, path, title, formID string
		b                         *testutil.Browser // nil: a new visitor
		form                      url.Values
	}{
		{"sign-in", "/account/login", "Sign in", "login-form", nil, url.Values{"email": {"not-an-address"}, "password": {"x"}}},
		{"registration", "/account/register", "Create an account", "register-form", nil, url.Values{"email": {"new@example.com"}, "password": {"short"}}},
		{"forgot password", "/account/forgot-password", "Reset your password", "forgot-form", nil, url.Values{"email": {"not-an-address"}}},
		{"reset", "/account/reset-password", "Choose a new password", "reset-form", nil, url.Values{"code": {code}, "password": {"short"}}},
		{"change password", "/account/password", "Change your password", "password-form", signedIn, url.Values{"current_password": {oldPassword}, "password": {"short"}}},
	}
	for _, f := range forms {
		for _, v := range []struct {
			name     string
			headers  []string
			fragment bool
		}{
			{"plain", nil, false},
			{"htmx partial", []string{"HX-Request", "true", "HX-Request-Type", "partial"}, true},
			{"htmx full", []string{"HX-Request", "true", "HX-Request-Type", "full"}, false},
		} {
			t.Run(f.name+"/"+v.name, func(t *testing.T) {
				b := f.b
				if b == nil {
					b = app.NewBrowser(t)
				}
				r := b.Post(f.path, f.form, v.headers...)
				if r.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("%d, want 422\n%s", r.StatusCode, r.Body)
				}
				if got := r.Header.Get("Content-Type"); got != "text/html; charset=UTF-8" {
					t.Errorf("Content-Type %q", got)
				}
				if got := r.Header.Get("Content-Length"); got != strconv.Itoa(len(r.Body)) {
					t.Errorf("Content-Length %q for %d bytes", got, len(r.Body))
				}
				if got := r.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control %q", got)
				}
				if got := r.Header.Get("Vary"); got != "HX-Request, HX-Request-Type" {
					t.Errorf("Vary %q", got)
				}
				doc := r.Doc(t)
				if doc.Find("#"+f.formID).Length() != 1 {
					t.Errorf("no #%s in the answer", f.formID)
				}
				if v.fragment {
					if !strings.HasPrefix(r.Body, `<form id="`+f.formID+`"`) || strings.Contains(r.Body, "<html") {
						t.Errorf("want the bare form fragment, got\n%s", r.Body)
					}
					return
				}
				if got := doc.Find("title").Text(); got != f.title+" · Latchkey" {
					t.Errorf("page title %q, want %q", got, f.title)
				}
			})
		}
	}
}

// TestNewPasswordsAreCheckedAlike: registration, reset and change apply
// the same policy and the same confirmation rule.
func TestNewPasswordsAreCheckedAlike(t *testing.T) {
	app, signedIn, code := appWithResetPending(t)

	forms := []struct {
		name, path string
		b          *testutil.Browser // nil: a new visitor
		base       url.Values        // everything but the new password
	}{
		{"registration", "/account/register", nil, url.Values{"email": {"other@example.com"}}},
		{"reset", "/account/reset-password", nil, url.Values{"code": {code}}},
		{"change", "/account/password", signedIn, url.Values{"current_password": {oldPassword}}},
	}
	for _, tc := range []struct {
		name, password, confirm, want string
	}{
		{"too short", "short", "", models.ErrPasswordShort.Message},
		{"too short, confirmed", "short", "short", models.ErrPasswordShort.Message},
		{"confirmation differs", newPassword, newPassword + "!", "The two passwords do not match."},
	} {
		for _, f := range forms {
			t.Run(tc.name+"/"+f.name, func(t *testing.T) {
				b := f.b
				if b == nil {
					b = app.NewBrowser(t)
				}
				form := url.Values{"password": {tc.password}}
				if tc.confirm != "" {
					form.Set("password_confirm", tc.confirm)
				}
				for k, v := range f.base {
					form[k] = v
				}
				r := b.Post(f.path, form)
				if r.StatusCode != http.StatusUnprocessableEntity {
					t.Fatalf("%d, want 422", r.StatusCode)
				}
				if got := r.Text(t, `[data-testid="password-feedback"]`); got != tc.want {
					t.Errorf("message %q, want %q", got, tc.want)
				}
			})
		}
	}
}
