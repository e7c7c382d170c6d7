package handlers_test

// Shared (cached, compressed) anonymous pages never carry personal state.

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

func TestSharedPagesNeverLeakPersonalState(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	anon := app.NewBrowser(t)
	first := anon.Get("/account/login")
	signedIn := app.Register(t, "shared@example.com", oldPassword)
	if r := signedIn.Get("/"); !strings.Contains(r.Body, "Your account") || strings.Contains(r.Body, "Create account</a>") {
		t.Errorf("signed-in visitor got the anonymous landing page")
	}
	// A flash is personal: the page that carries it is not the shared one.
	app.NewBrowser(t).Get("/") // warm the shared landing page
	signedIn.Post("/account/logout", nil)
	if r := signedIn.Get("/"); r.StatusCode != http.StatusOK {
		t.Fatalf("landing: %d", r.StatusCode)
	}
	second := app.NewBrowser(t).Get("/account/login")
	if first.Body != second.Body || strings.Contains(second.Body, "shared@example.com") {
		t.Errorf("anonymous sign-in pages differ or carry someone's data")
	}
	withNext := app.NewBrowser(t).Get("/account/login?next=/account/password")
	if !strings.Contains(withNext.Body, `name="next" value="/account/password"`) {
		t.Errorf("the next parameter was lost to the shared page")
	}
}

func TestSharedPagesAreCompressedAndNothingElse(t *testing.T) {
	for _, dialect := range testutil.Dialects {
		t.Run(dialect, func(t *testing.T) { testSharedPagesAreCompressed(t, dialect) })
	}
}

func testSharedPagesAreCompressed(t *testing.T, dialect string) {
	app := testutil.StartApp(t, dialect)
	anon := app.NewBrowser(t)
	plain := anon.Get("/account/login", "Accept-Encoding", "identity")
	if plain.StatusCode != http.StatusOK || plain.Header.Get("Content-Encoding") != "" || !strings.Contains(plain.Body, "<html") {
		t.Fatalf("identity: %d, Content-Encoding %q", plain.StatusCode, plain.Header.Get("Content-Encoding"))
	}
	decoders := map[string]func(io.Reader) (io.Reader, error){
		"br":   func(r io.Reader) (io.Reader, error) { return brotli.NewReader(r), nil },
		"gzip": func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) },
	}
	for accept, want := range map[string]string{
		"gzip, deflate, br, zstd": "br",
		"br":                      "br",
		"gzip":                    "gzip",
		"br;q=0, gzip":            "gzip",
		"zstd":                    "",
	} {
		t.Run("Accept-Encoding "+accept, func(t *testing.T) {
			r := anon.Get("/account/login", "Accept-Encoding", accept)
			if got := r.Header.Get("Content-Encoding"); got != want {
				t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", accept, got, want)
				return
			}
			if !strings.Contains(r.Header.Get("Vary"), "Accept-Encoding") {
				t.Errorf("Accept-Encoding %q: Vary = %q", accept, r.Header.Get("Vary"))
			}
			if r.Header.Get("Content-Length") != strconv.Itoa(len(r.Body)) {
				t.Errorf("Accept-Encoding %q: Content-Length %s for %d bytes", accept, r.Header.Get("Content-Length"), len(r.Body))
			}
			body := r.Body
			if want != "" {
				if len(r.Body) >= len(plain.Body) {
					t.Errorf("%s copy is %d bytes, the page %d", want, len(r.Body), len(plain.Body))
				}
				zr, err := decoders[want](strings.NewReader(r.Body))
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(zr)
				if err != nil {
					t.Fatalf("%s: %v", want, err)
				}
				body = string(b)
			}
			if body != plain.Body {
				t.Errorf("Accept-Encoding %q: the page differs from the uncompressed one", accept)
			}
		})
	}
	// Every Accept-Encoding line counts: a second one can refuse brotli.
	if r := anon.Get("/account/login", "Accept-Encoding", "br, gzip", "Accept-Encoding", "br;q=0"); r.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("two Accept-Encoding lines: Content-Encoding %q, want gzip", r.Header.Get("Content-Encoding"))
	}
	// Pages that can carry personal data or echo input are never
	// compressed (no BREACH oracle): signed in, with a query string, a
	// form answer.
	signedIn := app.Register(t, "zip@example.com", oldPassword)
	for name, r := range map[string]*testutil.Response{
		"signed-in landing":  signedIn.Get("/", "Accept-Encoding", "br, gzip"),
		"signed-in account":  signedIn.Get("/account", "Accept-Encoding", "br, gzip"),
		"query string":       anon.Get("/account/login?next=/account", "Accept-Encoding", "br, gzip"),
		"form with an error": anon.Post("/account/forgot-password", url.Values{"email": {"nope"}}, "Accept-Encoding", "br, gzip"),
	} {
		t.Run(name, func(t *testing.T) {
			if ce := r.Header.Get("Content-Encoding"); ce != "" {
				t.Errorf("%s: Content-Encoding %q", name, ce)
			}
			if !strings.Contains(r.Body, "<") {
				t.Errorf("%s: body is not HTML (%d): %.60q", name, r.StatusCode, r.Body)
			}
		})
	}
}
