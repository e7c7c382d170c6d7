package notify

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/models"
)

// TestEmailChangeEmails: each change-of-address email goes to its own
// address and carries only its own link: the code only to the new
// address, "this wasn't me" only to the current one, nothing to a taken
// address or after the change; links live on BASE_URL under its prefix.
func TestEmailChangeEmails(t *testing.T) {
	prefixed := &url.URL{Scheme: "https", Host: "example.com", Path: "/latchkey"}
	when := time.Date(2026, 11, 25, 11, 0, 0, 0, time.UTC)
	m := models.EmailChangeMail{
		OldEmail: "old@example.com", NewEmail: "new@example.org", Code: "the-CODE_1", NotMeToken: "the-TOKEN",
		ExpiresAt: when.Add(24 * time.Hour), When: when, Client: models.Client{IP: "192.0.2.9", UserAgent: "curl/8.0"},
	}
	const confirm = "https://example.com/latchkey/account/email/confirm?code=the-CODE_1"
	const notMe = "https://example.com/latchkey/account/not-me?token=the-TOKEN"
	cases := []struct {
		step           models.EmailChangeStep
		to             string
		want, forbid   []string
		anyLinkAllowed bool
	}{
		{models.ChangeConfirm, "new@example.org", []string{confirm, "192.0.2.9", "2026-11-26 11:00 UTC"}, []string{"the-TOKEN", "old@example.com"}, true},
		{models.ChangeTaken, "new@example.org", []string{"new@example.org", "192.0.2.9"}, []string{"the-CODE_1", "the-TOKEN", "old@example.com"}, false},
		{models.ChangeRequested, "old@example.com", []string{notMe, "new@example.org", "2026-11-26 11:00 UTC"}, []string{"the-CODE_1"}, true},
		{models.ChangeDone, "old@example.com", []string{"from old@example.com to new@example.org"}, []string{"the-CODE_1", "the-TOKEN"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.to+"/"+string(rune('0'+tc.step)), func(t *testing.T) {
			in := m
			in.Step = tc.step
			msg, err := EmailChange(context.Background(), prefixed)(in)
			if err != nil {
				t.Fatal(err)
			}
			if msg.To != tc.to {
				t.Errorf("to %s, want %s", msg.To, tc.to)
			}
			for part, body := range map[string]string{"text": msg.Text, "HTML": msg.HTML} {
				for _, w := range tc.want {
					if !strings.Contains(body, w) {
						t.Errorf("%s part lacks %q:\n%s", part, w, body)
					}
				}
				for _, f := range tc.forbid {
					if strings.Contains(body, f) {
						t.Errorf("%s part holds %q", part, f)
					}
				}
			}
			if !tc.anyLinkAllowed && (strings.Contains(msg.Text, "http") || strings.Contains(msg.HTML, "href")) {
				t.Errorf("a link in:\n%s", msg.Text)
			}
		})
	}
	if _, err := EmailChange(context.Background(), base)(models.EmailChangeMail{}); err == nil {
		t.Errorf("no step: rendered anyway")
	}
}
