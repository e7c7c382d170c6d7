package notify

import (
	"context"
	"net/url"
	"time"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views/email"
)

// Paths of the verification email.
const (
	verifyEmailPath = "/account/verify-email"
	accountPath     = "/account"
)

// Verify returns the compose function of the email-verification email,
// with links on baseURL.
func Verify(ctx context.Context, baseURL *url.URL) models.ComposeVerify {
	return func(m models.VerifyMail) (models.Message, error) {
		return verifyMessage(ctx, baseURL, m, time.Until(m.ExpiresAt))
	}
}

// verifyMessage renders a verification email whose code lives expiresIn
// more.
func verifyMessage(ctx context.Context, baseURL *url.URL, m models.VerifyMail, expiresIn time.Duration) (models.Message, error) {
	vm := email.Verify{
		Email:      m.Email,
		Link:       link(baseURL, verifyEmailPath, url.Values{"code": {m.Code}}),
		ExpiresIn:  humanDuration(expiresIn),
		ExpiresAt:  m.ExpiresAt.UTC().Format(stampLayout),
		AccountURL: link(baseURL, accountPath, nil),
	}
	return render(ctx, m.Email, email.VerifySubject, email.VerifyHTML(vm), email.VerifyText(vm))
}
