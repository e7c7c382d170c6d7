package email

import (
	"context"
	"strings"
	"testing"
)

func TestResetTextKeepsValuesVerbatim(t *testing.T) {
	m := Reset{Link: "http://localhost:8080/account/reset-password?code=a&b<c>", ExpiresIn: "1 hour", ExpiresAt: "2026-11-23 21:00 UTC", IP: "192.0.2.1", Device: `Firefox "<script>"`, ForgotURL: "http://localhost:8080/account/forgot-password"}
	text, err := RenderText(context.Background(), ResetText(m))
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + text)
	for _, want := range []string{m.Link, "expires in 1 hour", `(Firefox "<script>")`, "\n\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q", want)
		}
	}
	html, err := RenderHTML(context.Background(), ResetHTML(m))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<script>") {
		t.Error("HTML part renders a device string unescaped")
	}
}
