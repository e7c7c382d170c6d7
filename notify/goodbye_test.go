package notify

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/models"
)

// TestGoodbyeSaysWhoAndLinksOnlyTheSite: the goodbye email names the
// client (or the operator) and links nowhere but the site on BASE_URL.
func TestGoodbyeSaysWhoAndLinksOnlyTheSite(t *testing.T) {
	when := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	client := models.Client{IP: "192.0.2.44", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}
	web, err := Goodbye(context.Background(), base)(models.GoodbyeMail{Email: "ann@example.com", When: when, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	op, err := Goodbye(context.Background(), base)(models.GoodbyeMail{Email: "ann@example.com", When: when, ByOperator: true})
	if err != nil {
		t.Fatal(err)
	}
	if web.To != "ann@example.com" || web.Subject != "Your Latchkey account was deleted" {
		t.Errorf("message %q to %q", web.Subject, web.To)
	}
	for _, part := range []string{web.Text, web.HTML} {
		if !strings.Contains(part, "from IP address 192.0.2.44 (Firefox on Linux)") || strings.Contains(part, "operator") {
			t.Errorf("web deletion email:\n%s", part)
		}
	}
	for _, part := range []string{op.Text, op.HTML} {
		if !strings.Contains(part, "by an operator from the command line on 2026-11-26 06:00 UTC") || strings.Contains(part, "IP address") {
			t.Errorf("operator deletion email:\n%s", part)
		}
	}
	links := 0
	for _, f := range strings.Fields(web.Text + " " + web.HTML) {
		if i := strings.Index(f, "http"); i >= 0 {
			links++
			if !strings.HasPrefix(f[i:], "https://accounts.example.com/") {
				t.Errorf("a link off the site: %s", f)
			}
		}
	}
	if links == 0 {
		t.Errorf("no link to the site")
	}
}
