package views_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/a-h/templ"

	"github.com/latchkey-auth/latchkey/views"
	"github.com/latchkey-auth/latchkey/views/email"
)

// BenchmarkRender renders every page, the form fragments htmx swaps in and
// every email into a reused buffer, as the handlers do (go test -bench
// Render ./views/ | benchstat). B/op and allocs/op are the view's own.
func BenchmarkRender(b *testing.B) {
	page := views.Page{Title: "Sign in", Assets: views.Assets{
		CSS: "/assets/app.0123456789ab.css", HTMX: "/assets/htmx.min.0123456789ab.js", JS: "/assets/app.0123456789ab.js",
	}}
	signedIn := page
	signedIn.SignedIn, signedIn.Email = true, "someone@example.com"
	signedIn.Flash = &views.Flash{Kind: "success", Message: "Your password has been changed."}
	strength := views.Strength{Show: true, Score: 3, Label: "Good"}
	errs := views.Errors{"email": "Enter an email address like name@example.com.", "password": "Use at least 8 characters."}

	account := views.AccountPage{Email: "someone@example.com", Verified: true}
	for i := range 5 {
		account.Sessions = append(account.Sessions, views.SessionRow{ID: fmt.Sprintf("%064d", i),
			Device: "Firefox on Linux", IP: "203.0.113.7", Created: "2026-11-23 10:00 UTC", LastSeen: "2 minutes ago", Current: i == 0})
	}
	for i := range 20 {
		account.Events = append(account.Events, views.EventRow{What: "Signed in", IP: fmt.Sprintf("203.0.113.%d", i),
			Device: "Firefox on Linux", When: "2026-11-23 10:00 UTC"})
	}
	reset := email.Reset{Link: "https://accounts.example.com/account/reset-password?code=" + string(bytes.Repeat([]byte("x"), 43)),
		ExpiresIn: "1 hour", ExpiresAt: "2026-11-23 11:00 UTC", IP: "203.0.113.7", Device: "Firefox on Linux",
		ForgotURL: "https://accounts.example.com/account/forgot-password"}
	changed := email.Changed{When: "2026-11-23 10:00 UTC", IP: "203.0.113.7", Device: "Firefox on Linux",
		How: "a password reset", NotMeURL: "https://accounts.example.com/account/not-me?t=token"}

	cases := []struct {
		name string
		comp templ.Component
	}{
		{"home", views.Home(page)},
		{"login", views.LoginPage(page, views.LoginForm{})},
		{"login-errors", views.LoginPage(page, views.LoginForm{Email: "someone@example", Errors: errs, Focus: "email"})},
		{"login-fragment", views.LoginFormFragment(views.LoginForm{Email: "someone@example", Errors: errs})},
		{"register", views.RegisterPage(page, views.RegisterForm{})},
		{"register-errors", views.RegisterPage(page, views.RegisterForm{Email: "someone@example", Errors: errs, Strength: strength})},
		{"forgot", views.ForgotPage(page, views.ForgotForm{})},
		{"forgot-sent", views.ForgotPage(page, views.ForgotForm{Email: "someone@example.com", Sent: true})},
		{"forgot-fragment", views.ForgotFormFragment(views.ForgotForm{Email: "someone@example.com", Sent: true})},
		{"reset", views.ResetPage(page, views.ResetForm{Email: "someone@example.com", Strength: strength})},
		{"reset-invalid", views.ResetInvalidPage(page)},
		{"change-password", views.ChangePasswordPage(signedIn, views.ChangePasswordForm{Email: "someone@example.com"})},
		{"account", views.AccountOverview(signedIn, account)},
		{"not-me", views.NotMePage(page, views.NotMeForm{Token: "token"})},
		{"error-429", views.ErrorView(page, views.ErrorPage{Status: 429, Title: "Too many requests", Message: "Try again in a minute."})},
		{"email-reset-html", email.ResetHTML(reset)},
		{"email-reset-text", email.ResetText(reset)},
		{"email-changed-html", email.ChangedHTML(changed)},
		{"email-changed-text", email.ChangedText(changed)},
	}
	ctx := context.Background()
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			var buf bytes.Buffer
			if err := tc.comp.Render(ctx, &buf); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(buf.Len()))
			b.ReportAllocs()
			for b.Loop() {
				buf.Reset()
				if err := tc.comp.Render(ctx, &buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
