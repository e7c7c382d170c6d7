package testutil

import (
	"regexp"
	"testing"
	"time"
)

var confirmEmailRE = regexp.MustCompile(`https?://\S+/account/email/confirm\?code=[A-Za-z0-9_-]+`)

// ConfirmEmailLink extracts the change-of-address link from an email's
// text part.
func ConfirmEmailLink(t testing.TB, e Email) string {
	t.Helper()
	link := confirmEmailRE.FindString(e.Text)
	if link == "" {
		t.Fatalf("no confirmation link in email %q:\n%s", e.Subject, e.Text)
	}
	return link
}

// WaitForMailTo waits until at least n emails with this subject have
// arrived for to, and returns the latest.
func (s *SMTPServer) WaitForMailTo(t testing.TB, to, subject string, n int, timeout time.Duration) Email {
	t.Helper()
	deadline := time.After(timeout)
	for {
		var got []Email
		for _, e := range s.Emails() {
			if e.Subject == subject && len(e.To) == 1 && e.To[0] == to {
				got = append(got, e)
			}
		}
		if len(got) >= n {
			return got[len(got)-1]
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("waited %s for %d emails %q to %s, got %d", timeout, n, subject, to, len(got))
		}
	}
}
