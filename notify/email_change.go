package notify

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/a-h/templ"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
	"github.com/latchkey-auth/latchkey/views/email"
)

// ConfirmEmailPath is where a change-of-address link leads.
const ConfirmEmailPath = "/account/email/confirm"

// changeTemplates are each change-of-address step's subject and parts.
var changeTemplates = map[models.EmailChangeStep]struct {
	subject    string
	html, text func(email.EmailChange) templ.Component
}{
	models.ChangeConfirm:   {email.ChangeConfirmSubject, email.ChangeConfirmHTML, email.ChangeConfirmText},
	models.ChangeTaken:     {email.ChangeTakenSubject, email.ChangeTakenHTML, email.ChangeTakenText},
	models.ChangeRequested: {email.ChangeRequestedSubject, email.ChangeRequestedHTML, email.ChangeRequestedText},
	models.ChangeDone:      {email.ChangeDoneSubject, email.ChangeDoneHTML, email.ChangeDoneText},
}

// EmailChange returns the compose function of the change-of-address
// emails (models.RequestEmailChange, ConfirmEmailChange), with links on
// baseURL. The store mints the code and the "this wasn't me" token.
func EmailChange(ctx context.Context, baseURL *url.URL) models.ComposeEmailChange {
	return func(m models.EmailChangeMail) (models.Message, error) {
		return emailChangeMessage(ctx, baseURL, m, time.Until(m.ExpiresAt))
	}
}

// emailChangeMessage renders one change-of-address email whose link lives
// expiresIn more.
func emailChangeMessage(ctx context.Context, baseURL *url.URL, m models.EmailChangeMail, expiresIn time.Duration) (models.Message, error) {
	tpl, ok := changeTemplates[m.Step]
	if !ok {
		return models.Message{}, fmt.Errorf("email change: unknown step %d", m.Step)
	}
	vm := email.EmailChange{
		OldEmail:  m.OldEmail,
		NewEmail:  m.NewEmail,
		ExpiresIn: humanDuration(expiresIn),
		ExpiresAt: m.ExpiresAt.UTC().Format(stampLayout),
		When:      m.When.UTC().Format(stampLayout),
		IP:        m.Client.IP,
		Device:    views.DeviceName(m.Client.UserAgent),
	}
	// Each link only in the email that must carry it: the code only to
	// the new address, "this wasn't me" only to the current one.
	switch m.Step {
	case models.ChangeConfirm:
		vm.Link = link(baseURL, ConfirmEmailPath, url.Values{"code": {m.Code}})
	case models.ChangeRequested:
		vm.NotMeURL = link(baseURL, notMePath, url.Values{"token": {m.NotMeToken}})
	}
	to := m.NewEmail
	if m.Step == models.ChangeRequested || m.Step == models.ChangeDone {
		to = m.OldEmail
	}
	return render(ctx, to, tpl.subject, tpl.html(vm), tpl.text(vm))
}

// emailChangeSamples renders every change-of-address email with sample
// data for Samples; verifyTTL is the link lifetime to show.
func emailChangeSamples(ctx context.Context, baseURL *url.URL, now time.Time, client models.Client, verifyTTL time.Duration) (map[string]models.Message, error) {
	base := models.EmailChangeMail{
		OldEmail: "ann@example.com", NewEmail: "ann.new@example.org", ExpiresAt: now.Add(verifyTTL), When: now, Client: client,
	}
	out := map[string]models.Message{}
	for name, step := range map[string]models.EmailChangeStep{
		"email-change-confirm": models.ChangeConfirm, "email-change-taken": models.ChangeTaken,
		"email-change-requested": models.ChangeRequested, "email-changed": models.ChangeDone,
	} {
		m := base
		m.Step = step
		switch step {
		case models.ChangeConfirm:
			m.Code = "SAMPLE-CODE-not-a-real-one"
		case models.ChangeRequested:
			m.NotMeToken = "SAMPLE-TOKEN-not-a-real-one"
		}
		msg, err := emailChangeMessage(ctx, baseURL, m, verifyTTL)
		if err != nil {
			return nil, err
		}
		out[name] = msg
	}
	return out, nil
}

// EmailChangeSampleNames lists the samples emailChangeSamples adds, in
// the order the dev mailbox shows them.
var EmailChangeSampleNames = []string{"email-change-confirm", "email-change-requested", "email-change-taken", "email-changed"}
