package handlers

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views/email"
)

// link builds an absolute URL on BASE_URL, the only source of hosts in
// emailed links (never the request's Host header).
func (h *Handler) link(path string, query url.Values) string {
	u := *h.baseURL
	u.Path = path
	u.RawQuery = query.Encode()
	u.Fragment = ""
	return u.String()
}

// composeReset renders the reset email; the model calls it inside the
// transaction that queues it.
func (h *Handler) composeReset(c echo.Context) models.ComposeReset {
	ctx := c.Request().Context()
	return func(m models.ResetMail) (models.Message, error) {
		vm := email.Reset{
			Link:      h.link("/account/reset-password", url.Values{"code": {m.Code}}),
			ExpiresIn: humanDuration(time.Until(m.ExpiresAt)),
			ExpiresAt: m.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"),
			IP:        m.Client.IP,
			Device:    device(m.Client.UserAgent),
			ForgotURL: h.link("/account/forgot-password", nil),
		}
		return renderMail(ctx, m.Email, email.ResetSubject, email.ResetHTML(vm), email.ResetText(vm))
	}
}

// composeChanged renders the "password changed" email.
func (h *Handler) composeChanged(c echo.Context) models.ComposeChanged {
	return ComposeChanged(c.Request().Context(), h.baseURL)
}

// ComposeChanged renders the "password changed" email for links on
// baseURL; the CLI uses it too. The store mints the "this wasn't me"
// token.
func ComposeChanged(ctx context.Context, baseURL *url.URL) models.ComposeChanged {
	return func(m models.ChangedMail) (models.Message, error) {
		how := map[string]string{"reset": "a password reset", "change": "the account page"}[m.How]
		vm := email.Changed{
			When:     m.When.UTC().Format("2006-01-02 15:04 UTC"),
			IP:       m.Client.IP,
			Device:   device(m.Client.UserAgent),
			How:      how,
			NotMeURL: NotMeLink(baseURL, m.NotMeToken),
		}
		if m.How == "cli" {
			vm.ByOperator = true
		}
		return renderMail(ctx, m.Account.Email, email.ChangedSubject, email.ChangedHTML(vm), email.ChangedText(vm))
	}
}

func renderMail(ctx context.Context, to, subject string, htmlPart, textPart templ.Component) (models.Message, error) {
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
