package returnto

import (
	"net/url"
	"strings"
	"testing"
)

var (
	prod = Rule{Host: "auth.example.com", CookieDomain: "example.com"}
	dev  = Rule{Host: "localhost", AllowHTTP: true}
)

func TestCheck(t *testing.T) {
	cases := []struct {
		name string
		rule Rule
		in   string
		want string // "" means refused
	}{
		{"local path", prod, "/app/page?x=1#top", "/app/page?x=1#top"},
		{"root", prod, "/", "/"},
		{"same host", prod, "https://auth.example.com/account", "https://auth.example.com/account"},
		{"cookie domain itself", prod, "https://example.com/", "https://example.com/"},
		{"subdomain with port and query", prod, "https://app.example.com:8443/x?y=%2F", "https://app.example.com:8443/x?y=%2F"},
		{"upper-case host", prod, "HTTPS://APP.Example.COM/x", "https://APP.Example.COM/x"},
		{"dev http", dev, "http://localhost:8080/x", "http://localhost:8080/x"},

		{"empty", prod, "", ""},
		{"protocol-relative", prod, "//evil.com/x", ""},
		{"slash backslash", prod, "/\\evil.com", ""},
		{"backslash slash", prod, "\\/evil.com", ""},
		{"opaque scheme", prod, "https:evil.com", ""},
		{"three slashes", prod, "https:///evil.com", ""},
		{"userinfo", prod, "https://evil.com@app.example.com/", ""},
		{"userinfo with password", prod, "https://app.example.com:x@evil.com/", ""},
		{"suffix trick", prod, "https://app.example.com.evil.com/", ""},
		{"hyphen trick", prod, "https://evil-example.com/", ""},
		{"backslash userinfo", prod, "https://evil.com\\@app.example.com/", ""},
		{"encoded protocol-relative", prod, "/%2F%2Fevil.com", ""},
		{"encoded backslash", prod, "/%5Cevil.com", ""},
		{"encoded double", prod, "%2F%2Fevil.com", ""},
		{"encoded host", prod, "https://app.example.com%2eevil.com/", ""},
		{"trailing dot host", prod, "https://app.example.com./", ""},
		{"javascript", prod, "javascript:alert(1)", ""},
		{"javascript disguised", prod, "javascript://app.example.com/%0aalert(1)", ""},
		{"data", prod, "data:text/html,<script>alert(1)</script>", ""},
		{"CR LF", prod, "/x\r\nSet-Cookie: a=b", ""},
		{"tab in scheme", prod, "ht\ttps://app.example.com/", ""},
		{"encoded CRLF in path", prod, "/x%0d%0aSet-Cookie:a=b", ""},
		{"NUL", prod, "/x\x00", ""},
		{"space", prod, "https://app.example.com /", ""},
		{"http in production", prod, "http://app.example.com/", ""},
		{"ftp", dev, "ftp://localhost/", ""},
		{"other host in dev", dev, "http://evil.com/", ""},
		{"cyrillic look-alike", prod, "https://аpp.example.com/", ""},
		{"IDNA look-alike in punycode", prod, "https://xn--pp-8kc.example.co/", ""},
		{"full-width slashes", prod, "／／evil.com", ""},
		{"unicode in path", prod, "/caf\u00e9", ""},
		{"too long", prod, "/" + strings.Repeat("a", MaxLen), ""},
		{"no cookie domain: sibling", Rule{Host: "auth.example.com"}, "https://app.example.com/", ""},
		{"relative path", prod, "account", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := c.rule.Check(c.in)
			if ok != (c.want != "") || got != c.want {
				t.Errorf("Check(%q) = %q, %v; want %q", c.in, got, ok, c.want)
			}
		})
	}
}

// FuzzCheck: whatever is accepted is either a plain local path or an
// http(s) URL on an allowed host, with nothing a header or a browser could
// read differently.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"/", "/a?b#c", "//evil", "/\\evil", "https://app.example.com/x", "https://evil.com@app.example.com",
		"https:evil", "javascript:x", "/%2F%2Fx", "https://app.example.com.evil.com", "http://auth.example.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := prod.Check(in)
		if !ok {
			if out != "" {
				t.Fatalf("refused %q but returned %q", in, out)
			}
			return
		}
		if strings.ContainsAny(out, "\\\r\n\t\x00 ") {
			t.Fatalf("accepted %q with a dangerous character: %q", in, out)
		}
		if out[0] == '/' {
			if len(out) > 1 && (out[1] == '/' || out[1] == '\\') {
				t.Fatalf("accepted a protocol-relative %q", out)
			}
			return
		}
		u, err := url.Parse(out)
		if err != nil || u.Scheme != "https" || u.User != nil {
			t.Fatalf("accepted %q → %q: %v", in, out, err)
		}
		h := strings.ToLower(u.Hostname())
		if h != "auth.example.com" && h != "example.com" && !strings.HasSuffix(h, ".example.com") {
			t.Fatalf("accepted %q on host %q", in, h)
		}
	})
}
