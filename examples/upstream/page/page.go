// Package page is the example protected app's one page: it shows the
// identity headers the reverse proxy copied from Latchkey's /auth/verify
// answer, and a sign-out button that posts to Latchkey and comes back.
//
// The app trusts these headers only because the proxy overwrites them on
// every request and the app listens where nothing but the proxy reaches it
// (a loopback address, a private network).
package page

import (
	"html/template"
	"net/http"
	"strings"
)

// Headers are the identity headers a proxy copies from Latchkey's 200
// answer to /auth/verify, in the order the page shows them.
var Headers = []string{"X-Latchkey-User", "X-Latchkey-Email", "X-Latchkey-Email-Verified", "X-Latchkey-MFA"}

// Config says where things are, as the browser sees them.
type Config struct {
	// LatchkeyURL is Latchkey's public URL (its BASE_URL, path prefix
	// included), e.g. https://example.com/latchkey or https://auth.example.com.
	LatchkeyURL string
	// AppURL is this app's public URL, where sign-out comes back to (an
	// accepted return target: Latchkey's host, or inside COOKIE_DOMAIN).
	AppURL string
}

type header struct {
	Name, Value string
	Present     bool
}

type view struct {
	Email, Logout, Return string
	Headers               []header
}

// html/template escapes every value: a header is data, never markup.
var tmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Example app</title>
</head>
<body>
<main>
<h1>Example app</h1>
{{if .Email}}<p>Signed in as <strong data-testid="app-email">{{.Email}}</strong>.</p>
{{else}}<p data-testid="app-anonymous">No identity headers: is the proxy in front of this app?</p>
{{end}}<table>
<caption>Headers from Latchkey, through the proxy</caption>
{{range .Headers}}<tr><th scope="row">{{.Name}}</th><td data-header="{{.Name}}" data-present="{{.Present}}">{{.Value}}</td></tr>
{{end}}</table>
<form method="post" action="{{.Logout}}">
<input type="hidden" name="rd" value="{{.Return}}">
<button type="submit" data-testid="app-logout">Sign out</button>
</form>
</main>
</body>
</html>
`))

// Handler serves the page on every path.
func Handler(cfg Config) http.Handler {
	latchkey := strings.TrimSuffix(cfg.LatchkeyURL, "/")
	back := strings.TrimSuffix(cfg.AppURL, "/") + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := view{Email: r.Header.Get("X-Latchkey-Email"), Logout: latchkey + "/account/logout", Return: back}
		for _, name := range Headers {
			vals, ok := r.Header[http.CanonicalHeaderKey(name)]
			v.Headers = append(v.Headers, header{Name: name, Value: strings.Join(vals, ", "), Present: ok})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		// The page is about one person: no shared cache may keep it.
		w.Header().Set("Cache-Control", "no-store")
		if r.Method == http.MethodHead {
			return
		}
		_ = tmpl.Execute(w, v)
	})
}
