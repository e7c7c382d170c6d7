package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

// A form post's redirect to an accepted rd is a navigation CSP's
// form-action governs: the policy allows every accepted return target
// (BASE_URL's host on any port, COOKIE_DOMAIN and its subdomains), or a
// sign-in without JavaScript could not go back to the app (the browser
// blocks the 303; e2e TestProtectedAppSubdomainsWithoutJavaScript).
func TestFormActionAllowsReturnTargets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, base, domain string
		want, not          []string
	}{
		{"dev", "http://auth.example.test:8080", "example.test",
			[]string{"form-action 'self' ", "http://auth.example.test:*", "https://auth.example.test:*", "http://*.example.test:*", "https://example.test:*"}, nil},
		{"production", "https://auth.example.com", "example.com",
			[]string{"https://auth.example.com:*", "https://*.example.com:*", "https://example.com:*"}, []string{"http://"}},
		{"no cookie domain", "https://accounts.example.com", "",
			[]string{"form-action 'self' https://accounts.example.com:*;"}, []string{"*."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := []testutil.AppOption{testutil.WithBaseURL(tc.base)}
			if tc.domain != "" {
				opts = append(opts, testutil.WithCookieDomain(tc.domain))
			}
			app := testutil.StartApp(t, "sqlite", opts...)
			req, err := http.NewRequest(http.MethodGet, app.URL+"/healthz", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			csp := resp.Header.Get("Content-Security-Policy")
			for _, w := range tc.want {
				if !strings.Contains(csp, w) {
					t.Errorf("CSP lacks %q: %s", w, csp)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(csp, n) {
					t.Errorf("CSP has %q: %s", n, csp)
				}
			}
		})
	}
}
