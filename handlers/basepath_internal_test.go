package handlers

import (
	"net/url"
	"testing"
)

func TestTrimBase(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"/latchkey", "/", true},
		{"/latchkey/", "/", true},
		{"/latchkey/account/login", "/account/login", true},
		{"/latchkey//x", "//x", true}, // routes nothing: 404 inside the prefix
		{"/latchkeys", "", false},
		{"/latchkeys/account", "", false},
		{"/account/login", "", false},
		{"/", "", false},
		{"", "", false},
		{"/Latchkey/account", "", false},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			if got, ok := trimBase(c.in, "/latchkey"); got != c.want || ok != c.ok {
				t.Errorf("trimBase(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
			}
		})
	}
}

// path and absURL are the one way handlers write Latchkey's URLs: under
// the prefix, and on BASE_URL's scheme and host.
func TestPathAndAbsURL(t *testing.T) {
	for _, c := range []struct{ base, path, abs string }{
		{"https://example.com", "/account/login", "https://example.com/account/login"},
		{"https://example.com/latchkey", "/latchkey/account/login", "https://example.com/latchkey/account/login"},
		{"http://127.0.0.1:8080/a/b", "/a/b/account/login", "http://127.0.0.1:8080/a/b/account/login"},
	} {
		t.Run(c.base, func(t *testing.T) {
			u, err := url.Parse(c.base)
			if err != nil {
				t.Fatal(err)
			}
			h := &Handler{baseURL: u, basePath: u.Path}
			if got := h.path("/account/login"); got != c.path {
				t.Errorf("path = %q, want %q", got, c.path)
			}
			if got := h.absURL("/account/login"); got != c.abs {
				t.Errorf("absURL = %q, want %q", got, c.abs)
			}
		})
	}
}
