package page

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A header's value is shown as text, never as markup, and an absent header
// is told from an empty one.
func TestHeadersAreEscaped(t *testing.T) {
	h := Handler(Config{LatchkeyURL: "https://example.com/latchkey/", AppURL: "https://example.com"})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-Latchkey-Email", `<script>alert(1)</script>"@example.com`)
	req.Header.Set("X-Latchkey-MFA", "")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	if strings.Contains(body, "<script>") {
		t.Fatalf("a header's markup reached the page:\n%s", body)
	}
	for _, want := range []string{
		`&lt;script&gt;alert(1)&lt;/script&gt;&#34;@example.com`,
		`data-header="X-Latchkey-User" data-present="false"`,
		`data-header="X-Latchkey-MFA" data-present="true"`,
		`action="https://example.com/latchkey/account/logout"`,
		`name="rd" value="https://example.com/"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s:\n%s", want, body)
		}
	}
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}
