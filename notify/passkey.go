package notify

import (
	"context"
	"net/url"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
	"github.com/latchkey-auth/latchkey/views/email"
)

// Passkey returns the compose function of the "passkey added" and
// "passkey removed" emails, with links on baseURL. The store mints the
// "this wasn't me" token.
func Passkey(ctx context.Context, baseURL *url.URL) models.ComposePasskey {
	return func(m models.PasskeyMail) (models.Message, error) {
		vm := email.Passkey{
			Name:     m.Name,
			Added:    m.Added,
			When:     m.When.UTC().Format(stampLayout),
			IP:       m.Client.IP,
			Device:   views.DeviceName(m.Client.UserAgent),
			NotMeURL: link(baseURL, notMePath, url.Values{"token": {m.NotMeToken}}),
		}
		return render(ctx, m.Account.Email, email.PasskeySubject(vm), email.PasskeyHTML(vm), email.PasskeyText(vm))
	}
}

// passkeySamples renders both passkey emails with sample data.
func passkeySamples(ctx context.Context, baseURL *url.URL, m models.PasskeyMail) (added, removed models.Message, err error) {
	m.Added = true
	if added, err = Passkey(ctx, baseURL)(m); err != nil {
		return added, removed, err
	}
	m.Added = false
	removed, err = Passkey(ctx, baseURL)(m)
	return added, removed, err
}
