package notify

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/models"
)

var base = &url.URL{Scheme: "https", Host: "accounts.example.com", Fragment: "dropped"}

// TestChangedSaysHowItChanged: each kind of change reads as itself, and
// the "this wasn't me" link is on BASE_URL with the store's token.
func TestChangedSaysHowItChanged(t *testing.T) {
	client := models.Client{IP: "192.0.2.44", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
	cases := []struct {
		how    models.PasswordChange
		want   string
		absent string
	}{
		{models.ChangedByReset, "changed through a password reset on 2026-11-25 11:00 UTC, from IP address 192.0.2.44 (Firefox on Linux).", "operator"},
		{models.ChangedBySelf, "changed through the account page on 2026-11-25 11:00 UTC, from IP address 192.0.2.44 (Firefox on Linux).", "operator"},
		{models.ChangedByOperator, "set by an operator from the command line on 2026-11-25 11:00 UTC.", "192.0.2.44"},
	}
	for _, tc := range cases {
		t.Run(tc.how.String(), func(t *testing.T) {
			when := time.Date(2026, 11, 25, 12, 0, 0, 0, time.FixedZone("CET", 3600))
			m, err := Changed(context.Background(), base)(models.ChangedMail{
				Account: &models.Account{Email: "ann@example.com"}, When: when, Client: client, How: tc.how, NotMeToken: "tok/en+",
			})
			if err != nil {
				t.Fatal(err)
			}
			if m.To != "ann@example.com" || m.Subject == "" || m.HTML == "" {
				t.Errorf("message %q to %q, html %d bytes", m.Subject, m.To, len(m.HTML))
			}
			if !strings.Contains(m.Text, tc.want) {
				t.Errorf("text lacks %q:\n%s", tc.want, m.Text)
			}
			if strings.Contains(m.Text, tc.absent) {
				t.Errorf("text has %q:\n%s", tc.absent, m.Text)
			}
			if link := "https://accounts.example.com/account/not-me?token=tok%2Fen%2B"; !strings.Contains(m.Text, link) {
				t.Errorf("text lacks the not-me link %s:\n%s", link, m.Text)
			}
		})
	}
}

// TestResetLinksOnBaseURL: the reset email's links are on BASE_URL and it
// names the lifetime, the IP and the device.
func TestResetLinksOnBaseURL(t *testing.T) {
	m, err := Reset(context.Background(), base)(models.ResetMail{
		Email: "bo@example.com", Code: "abc-DEF_123", ExpiresAt: time.Now().Add(time.Hour + 20*time.Second),
		Client: models.Client{IP: "2001:db8::7", UserAgent: "curl/8.0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"https://accounts.example.com/account/reset-password?code=abc-DEF_123",
		"https://accounts.example.com/account/forgot-password",
		"1 hour", "2001:db8::7", "curl",
	} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
	}
	if m.To != "bo@example.com" || strings.Contains(m.Text, "#dropped") {
		t.Errorf("to %q; text:\n%s", m.To, m.Text)
	}
}

// TestSamples: the dev mailbox gets every email, rendered.
func TestSamples(t *testing.T) {
	got, err := Samples(context.Background(), base, 90*time.Minute, 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"reset": "1 hours 30 minutes", "changed": "through a password reset", "goodbye": "deleted from the account page",
		"passkey-added": "A passkey named “Phone” was added", "passkey-removed": "The passkey named “Phone” was removed",
		"email-change-confirm": "/account/email/confirm?code=SAMPLE", "email-change-requested": "/account/not-me?token=SAMPLE",
		"email-change-taken": "Someone asked to move another Latchkey account", "email-changed": "changed from ann@example.com to ann.new@example.org",
		"verify": "expires in 48 hours",
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(got[name].Text, want) {
				t.Errorf("sample %s lacks %q:\n%s", name, want, got[name].Text)
			}
		})
	}
	if want := 10 + len(FactorSampleNames); len(got) != want {
		t.Errorf("%d samples, want %d", len(got), want)
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute: "1 minute", 30 * time.Minute: "30 minutes", time.Hour: "1 hour",
		2 * time.Hour: "2 hours", 90 * time.Minute: "1 hours 30 minutes", 59*time.Minute + 40*time.Second: "1 hour",
	} {
		t.Run(d.String(), func(t *testing.T) { // not want: "1 hour" is two cases
			if got := humanDuration(d); got != want {
				t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
			}
		})
	}
}

// TestLinksKeepBasePath: with a path prefix in BASE_URL (SPEC §7) every
// emailed link lives under it, in the text and the HTML part alike.
func TestLinksKeepBasePath(t *testing.T) {
	for _, prefix := range []string{"/latchkey", "/latchkey/"} { // config normalises; link must not depend on it
		t.Run(prefix, func(t *testing.T) {
			prefixed := &url.URL{Scheme: "https", Host: "example.com", Path: prefix}
			reset, err := Reset(context.Background(), prefixed)(models.ResetMail{
				Email: "bo@example.com", Code: "abc-DEF_123", ExpiresAt: time.Now().Add(time.Hour),
				Client: models.Client{IP: "192.0.2.1", UserAgent: "curl/8.0"},
			})
			if err != nil {
				t.Fatal(err)
			}
			changed, err := Changed(context.Background(), prefixed)(models.ChangedMail{
				Account: &models.Account{Email: "bo@example.com"}, When: time.Now(), How: models.ChangedBySelf, NotMeToken: "tok",
			})
			if err != nil {
				t.Fatal(err)
			}
			verify, err := Verify(context.Background(), prefixed)(models.VerifyMail{
				Email: "bo@example.com", Code: "abc-DEF_123", ExpiresAt: time.Now().Add(time.Hour),
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []struct{ part, link string }{
				{verify.Text, "https://example.com/latchkey/account/verify-email?code=abc-DEF_123"},
				{verify.HTML, "https://example.com/latchkey/account/verify-email?code=abc-DEF_123"},
				{verify.Text, "https://example.com/latchkey/account"},
				{reset.Text, "https://example.com/latchkey/account/reset-password?code=abc-DEF_123"},
				{reset.HTML, "https://example.com/latchkey/account/reset-password?code=abc-DEF_123"},
				{reset.Text, "https://example.com/latchkey/account/forgot-password"},
				{changed.Text, "https://example.com/latchkey/account/not-me?token=tok"},
				{changed.HTML, "https://example.com/latchkey/account/not-me?token=tok"},
			} {
				if !strings.Contains(want.part, want.link) {
					t.Errorf("email lacks %s:\n%s", want.link, want.part)
				}
			}
			for _, part := range []string{reset.Text, reset.HTML, changed.Text, changed.HTML, verify.Text, verify.HTML} {
				if strings.Contains(part, "example.com/account/") || strings.Contains(part, "latchkey//") {
					t.Errorf("a link outside the prefix:\n%s", part)
				}
			}
		})
	}
}

// TestVerifyLinksOnBaseURL: the verification email's link is on BASE_URL
// with the code, and it names the address, the lifetime and what to do
// once it has expired.
func TestVerifyLinksOnBaseURL(t *testing.T) {
	m, err := Verify(context.Background(), base)(models.VerifyMail{
		Email: "bo@example.com", Code: "abc-DEF_123", ExpiresAt: time.Now().Add(24*time.Hour + 20*time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{m.Text, m.HTML} {
		for _, want := range []string{
			"https://accounts.example.com/account/verify-email?code=abc-DEF_123",
			"bo@example.com", "expires in 24 hours", "ask for a new one on your account page",
		} {
			if !strings.Contains(part, want) {
				t.Errorf("email lacks %q:\n%s", want, part)
			}
		}
	}
	if m.To != "bo@example.com" || m.Subject != "Confirm your email address for Latchkey" || strings.Contains(m.Text, "#dropped") {
		t.Errorf("to %q, subject %q; text:\n%s", m.To, m.Subject, m.Text)
	}
}
