// Package notify renders Latchkey's emails from views/email into
// models.Message values. Its compose functions are handed to the model
// transactions that queue the mail (models.RequestReset, CompleteReset,
// SetPassword, ConfirmNotMe, DeleteAccount, AddPasskey, RemovePasskey,
// RequestEmailChange, ConfirmEmailChange, Register, ResendVerification,
// the second-factor flows), so models never imports views; the web
// handlers and the command line use the same ones. Every link it writes
// is on BASE_URL (under its path prefix, if it has one), never on a
// request's Host header.
package notify

import (
	"context"
	"fmt"
	"maps"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
	"github.com/latchkey-auth/latchkey/views/email"
)

// Paths the emails link to.
const (
	resetPath  = "/account/reset-password"
	forgotPath = "/account/forgot-password"
	notMePath  = "/account/not-me"
)

// stampLayout is how emails write a time.
const stampLayout = "2006-01-02 15:04 UTC"

// Reset returns the compose function of the reset email, with links on
// baseURL.
func Reset(ctx context.Context, baseURL *url.URL) models.ComposeReset {
	return func(m models.ResetMail) (models.Message, error) {
		return resetMessage(ctx, baseURL, m, time.Until(m.ExpiresAt))
	}
}

// resetMessage renders a reset email whose code lives expiresIn more.
func resetMessage(ctx context.Context, baseURL *url.URL, m models.ResetMail, expiresIn time.Duration) (models.Message, error) {
	vm := email.Reset{
		Link:      link(baseURL, resetPath, url.Values{"code": {m.Code}}),
		ExpiresIn: humanDuration(expiresIn),
		ExpiresAt: m.ExpiresAt.UTC().Format(stampLayout),
		IP:        m.Client.IP,
		Device:    views.DeviceName(m.Client.UserAgent),
		ForgotURL: link(baseURL, forgotPath, nil),
	}
	return render(ctx, m.Email, email.ResetSubject, email.ResetHTML(vm), email.ResetText(vm))
}

// changedVia completes "changed through …" for changes a client made.
var changedVia = map[models.PasswordChange]string{
	models.ChangedByReset: "a password reset",
	models.ChangedBySelf:  "the account page",
}

// Changed returns the compose function of the "password changed" email,
// with links on baseURL. The store mints the "this wasn't me" token.
func Changed(ctx context.Context, baseURL *url.URL) models.ComposeChanged {
	return func(m models.ChangedMail) (models.Message, error) {
		vm := email.Changed{
			When:       m.When.UTC().Format(stampLayout),
			IP:         m.Client.IP,
			Device:     views.DeviceName(m.Client.UserAgent),
			How:        changedVia[m.How],
			ByOperator: m.How == models.ChangedByOperator,
			NotMeURL:   link(baseURL, notMePath, url.Values{"token": {m.NotMeToken}}),
		}
		return render(ctx, m.Account.Email, email.ChangedSubject, email.ChangedHTML(vm), email.ChangedText(vm))
	}
}

// Samples renders every email with sample data, keyed by name, for the
// dev mailbox; resetTTL and verifyTTL are the code lifetimes to show.
func Samples(ctx context.Context, baseURL *url.URL, resetTTL, verifyTTL time.Duration) (map[string]models.Message, error) {
	now := time.Date(2026, 11, 23, 9, 58, 0, 0, time.UTC)
	client := models.Client{IP: "192.0.2.10", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
	reset, err := resetMessage(ctx, baseURL, models.ResetMail{
		Email: "ann@example.com", Code: "SAMPLE-CODE-not-a-real-one", ExpiresAt: now.Add(resetTTL), Client: client,
	}, resetTTL)
	if err != nil {
		return nil, err
	}
	changed, err := Changed(ctx, baseURL)(models.ChangedMail{
		Account: &models.Account{ID: 1, Email: "ann@example.com"}, When: now, Client: client,
		How: models.ChangedByReset, NotMeToken: "SAMPLE-TOKEN-not-a-real-one",
	})
	if err != nil {
		return nil, err
	}
	goodbye, err := Goodbye(ctx, baseURL)(models.GoodbyeMail{Email: "ann@example.com", When: now, Client: client})
	if err != nil {
		return nil, err
	}
	passkeyAdded, passkeyRemoved, err := passkeySamples(ctx, baseURL, models.PasskeyMail{
		Account: &models.Account{ID: 1, Email: "ann@example.com"}, Name: "Phone", When: now, Client: client,
		NotMeToken: "SAMPLE-TOKEN-not-a-real-one",
	})
	if err != nil {
		return nil, err
	}
	verify, err := verifyMessage(ctx, baseURL, models.VerifyMail{
		Email: "ann@example.com", Code: "SAMPLE-CODE-not-a-real-one", ExpiresAt: now.Add(verifyTTL),
	}, verifyTTL)
	if err != nil {
		return nil, err
	}
	out := map[string]models.Message{"reset": reset, "changed": changed, "goodbye": goodbye,
		"passkey-added": passkeyAdded, "passkey-removed": passkeyRemoved, "verify": verify}
	// Change of address (email_change.go).
	change, err := emailChangeSamples(ctx, baseURL, now, client, verifyTTL)
	if err != nil {
		return nil, err
	}
	maps.Copy(out, change)
	factors, err := factorSamples(ctx, baseURL, models.FactorMail{
		Account: &models.Account{ID: 1, Email: "ann@example.com"}, When: now, Client: client, NotMeToken: "SAMPLE-TOKEN-not-a-real-one",
	})
	if err != nil {
		return nil, err
	}
	maps.Copy(out, factors)
	return out, nil
}

// link builds an absolute URL of a Latchkey route on baseURL, under its
// path prefix if it has one (https://example.com/latchkey/account/…).
func link(baseURL *url.URL, path string, query url.Values) string {
	u := *baseURL
	u.Path = strings.TrimSuffix(baseURL.Path, "/") + path
	u.RawPath = ""
	u.RawQuery = query.Encode()
	u.Fragment = ""
	return u.String()
}

// render renders both parts of an email.
func render(ctx context.Context, to, subject string, htmlPart, textPart templ.Component) (models.Message, error) {
	html, err := email.RenderHTML(ctx, htmlPart)
	if err != nil {
		return models.Message{}, fmt.Errorf("render %q: %w", subject, err)
	}
	text, err := email.RenderText(ctx, textPart)
	if err != nil {
		return models.Message{}, fmt.Errorf("render %q: %w", subject, err)
	}
	return models.Message{To: to, Subject: subject, HTML: html, Text: text}, nil
}

// humanDuration writes a lifetime the way an email reader expects.
func humanDuration(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		if d == time.Hour {
			return "1 hour"
		}
		return fmt.Sprintf("%d hours", d/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%d hours %d minutes", d/time.Hour, (d%time.Hour)/time.Minute)
	case d == time.Minute:
		return "1 minute"
	default:
		return fmt.Sprintf("%d minutes", d/time.Minute)
	}
}
