package notify

import (
	"context"
	"fmt"
	"net/url"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
	"github.com/latchkey-auth/latchkey/views/email"
)

// twoStepPath is the two-step sign-in page the factor emails link to.
const twoStepPath = "/account/2fa"

// factorKinds maps a model's factor change to its email.
var factorKinds = map[models.FactorChange]email.FactorKind{
	models.FactorAdded:            email.FactorKindAdded,
	models.FactorRemoved:          email.FactorKindRemoved,
	models.RecoveryCodeUsed:       email.FactorKindRecoveryUsed,
	models.RecoveryCodesRenewed:   email.FactorKindRecoveryRenew,
	models.FactorsResetByOperator: email.FactorKindResetByOperator,
}

// Factor returns the compose function of the second-factor emails (a
// factor added or removed, a recovery code used, new recovery codes, an
// operator's reset), with links on baseURL. The store mints the "this
// wasn't me" token.
func Factor(ctx context.Context, baseURL *url.URL) models.ComposeFactor {
	return func(m models.FactorMail) (models.Message, error) {
		kind, ok := factorKinds[m.Change]
		if !ok {
			// A change with no email of its own must not pass as a reset.
			return models.Message{}, fmt.Errorf("factor email: no email for change %d", m.Change)
		}
		vm := email.Factor{
			Kind:         kind,
			Factor:       m.Factor,
			When:         m.When.UTC().Format(stampLayout),
			IP:           m.Client.IP,
			Device:       views.DeviceName(m.Client.UserAgent),
			RecoveryLeft: m.RecoveryLeft,
			SettingsURL:  link(baseURL, twoStepPath, nil),
			NotMeURL:     link(baseURL, notMePath, url.Values{"token": {m.NotMeToken}}),
		}
		subject := email.FactorSubject(kind)
		return render(ctx, m.Account.Email, subject, email.FactorHTML(vm), email.FactorText(vm))
	}
}

// factorSamples renders each second-factor email with sample data, keyed
// by its Samples name.
func factorSamples(ctx context.Context, baseURL *url.URL, m models.FactorMail) (map[string]models.Message, error) {
	out := map[string]models.Message{}
	compose := Factor(ctx, baseURL)
	for _, s := range []struct {
		name   string
		change models.FactorChange
	}{
		{"factor-added", models.FactorAdded},
		{"factor-removed", models.FactorRemoved},
		{"recovery-used", models.RecoveryCodeUsed},
		{"recovery-renewed", models.RecoveryCodesRenewed},
		{"factors-reset", models.FactorsResetByOperator},
	} {
		m.Change = s.change
		m.Factor, m.RecoveryLeft = models.FactorTOTP, 7
		if s.change == models.FactorsResetByOperator {
			m.Factor, m.Client = "", models.Client{}
		}
		msg, err := compose(m)
		if err != nil {
			return nil, err
		}
		out[s.name] = msg
	}
	return out, nil
}

// FactorSampleNames are the names of the second-factor samples in
// Samples, in the order the dev mailbox lists them.
var FactorSampleNames = []string{"factor-added", "factor-removed", "recovery-used", "recovery-renewed", "factors-reset"}
