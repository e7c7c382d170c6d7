package email

import (
	"context"
	"strings"
	"testing"
)

// An operator's change from the command line has no client to describe:
// both parts say who set it and name no IP address.
func TestChangedByOperator(t *testing.T) {
	m := Changed{When: "2026-11-25 11:00 UTC", ByOperator: true, NotMeURL: "http://localhost:8080/account/not-me?t=x"}
	text, err := RenderText(context.Background(), ChangedText(m))
	if err != nil {
		t.Fatal(err)
	}
	html, err := RenderHTML(context.Background(), ChangedHTML(m))
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text)
	const want = "was set by an operator from the command line on 2026-11-25 11:00 UTC."
	for part, body := range map[string]string{"text": text, "HTML": html} {
		if !strings.Contains(body, want) {
			t.Errorf("%s part lacks %q", part, want)
		}
		if strings.Contains(body, "IP address") || strings.Contains(body, "changed through") {
			t.Errorf("%s part still describes a client:\n%s", part, body)
		}
	}

	web := Changed{When: "2026-11-25 11:00 UTC", How: "the account page", IP: "192.0.2.1", NotMeURL: m.NotMeURL}
	text, err = RenderText(context.Background(), ChangedText(web))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "changed through the account page on 2026-11-25 11:00 UTC, from IP address 192.0.2.1.") || strings.Contains(text, "operator") {
		t.Errorf("web change text:\n%s", text)
	}
}
