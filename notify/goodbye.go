package notify

import (
	"context"
	"net/url"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
	"github.com/latchkey-auth/latchkey/views/email"
)

// Goodbye returns the compose function of the "account deleted" email
// (models.DeleteAccount). Its one link is the site itself, on baseURL.
func Goodbye(ctx context.Context, baseURL *url.URL) models.ComposeGoodbye {
	return func(m models.GoodbyeMail) (models.Message, error) {
		vm := email.Goodbye{
			When:       m.When.UTC().Format(stampLayout),
			IP:         m.Client.IP,
			Device:     views.DeviceName(m.Client.UserAgent),
			ByOperator: m.ByOperator,
			SiteURL:    link(baseURL, "/", nil),
		}
		return render(ctx, m.Email, email.GoodbyeSubject, email.GoodbyeHTML(vm), email.GoodbyeText(vm))
	}
}
