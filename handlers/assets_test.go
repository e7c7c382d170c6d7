package handlers

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/labstack/echo/v4"
)

// testAssets is a small assets folder: compressible text, and a PNG
// (compressed already) that must be served as is.
func testAssets(t *testing.T) *Handler {
	t.Helper()
	css := strings.Repeat(".button { color: var(--color-primary); }\n", 200)
	set, err := loadAssets(fstest.MapFS{
		"app.css":             {Data: []byte(css)},
		"app.js":              {Data: []byte(strings.Repeat("console.log('latchkey');\n", 100))},
		"passkeys.js":         {Data: []byte(strings.Repeat("// passkeys\n", 100))},
		"vendor/htmx.min.js":  {Data: []byte(strings.Repeat("var htmx = {};\n", 100))},
		"vendor/htmx.LICENSE": {Data: []byte("licence")},
		"icon.png":            {Data: []byte("\x89PNG\r\n\x1a\nnot really")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Handler{assets: set}
}

// waitBrotli starts the background brotli compression of every
// compressible asset and waits until it is done.
func waitBrotli(t *testing.T, h *Handler) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, a := range h.assets.byName {
		a.startBrotli()
		for compressible(a.contentType) && a.br.Load() == nil {
			if time.Now().After(deadline) {
				t.Fatal("brotli copy not made within 10 s")
			}
			time.Sleep(time.Millisecond)
		}
	}
}

func serveAsset(h *Handler, name string, headers ...string) *httptest.ResponseRecorder {
	e := echo.New()
	e.GET("/assets/:name", h.asset)
	e.HEAD("/assets/:name", h.asset)
	req := httptest.NewRequest(http.MethodGet, "/assets/"+name, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	return rec
}

func decode(t *testing.T, encoding string, body []byte) string {
	t.Helper()
	var r io.Reader = bytes.NewReader(body)
	switch encoding {
	case "br":
		r = brotli.NewReader(r)
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", encoding, err)
	}
	return string(b)
}

func TestAssetsNegotiateEncoding(t *testing.T) {
	h := testAssets(t)
	waitBrotli(t, h)
	css := strings.TrimPrefix(h.assets.urls.CSS, "/assets/")
	want := string(h.assets.byName[css].body)
	cases := []struct {
		accept, encoding string
	}{
		{"br, gzip", "br"},
		{"gzip, deflate, br, zstd", "br"},
		{"gzip", "gzip"},
		{"br;q=0, gzip", "gzip"},
		{"BR;Q=0.5", "br"},
		{"*", "br"},
		{"*, br;q=0", "gzip"},
		{"gzip;q=0, br;q=0", ""},
		{"identity", ""},
		{"", ""},
	}
	etags := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.accept, func(t *testing.T) {
			rec := serveAsset(h, css, "Accept-Encoding", tc.accept)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			if got := rec.Header().Get("Content-Encoding"); got != tc.encoding {
				t.Fatalf("Content-Encoding = %q, want %q", got, tc.encoding)
			}
			if got := rec.Header().Get("Vary"); got != "Accept-Encoding" {
				t.Errorf("Vary = %q", got)
			}
			if got := rec.Header().Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
				t.Errorf("Cache-Control = %q", got)
			}
			if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/css") {
				t.Errorf("Content-Type = %q", got)
			}
			if got := decode(t, tc.encoding, rec.Body.Bytes()); got != want {
				t.Errorf("body does not decode to the file (%d bytes, want %d)", len(got), len(want))
			}
			if tc.encoding != "" && rec.Body.Len() >= len(want) {
				t.Errorf("%s body is %d bytes, file %d", tc.encoding, rec.Body.Len(), len(want))
			}
			etag := rec.Header().Get("ETag")
			if prev, ok := etags[tc.encoding]; ok && prev != etag {
				t.Errorf("ETag for %q changed: %s then %s", tc.encoding, prev, etag)
			}
			etags[tc.encoding] = etag
		})
	}
	// One strong ETag per representation.
	if etags["br"] == etags["gzip"] || etags["gzip"] == etags[""] || etags["br"] == etags[""] {
		t.Errorf("representations share an ETag: %v", etags)
	}
}

func TestAssetsConditionalAndPlainNames(t *testing.T) {
	h := testAssets(t)
	waitBrotli(t, h)
	css := strings.TrimPrefix(h.assets.urls.CSS, "/assets/")
	first := serveAsset(h, css, "Accept-Encoding", "br")
	etag := first.Header().Get("ETag")

	for _, match := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		rec := serveAsset(h, css, "Accept-Encoding", "br", "If-None-Match", match)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: status %d, %d bytes", match, rec.Code, rec.Body.Len())
		}
		if rec.Header().Get("ETag") != etag {
			t.Errorf("If-None-Match %s: 304 ETag %q, want %q", match, rec.Header().Get("ETag"), etag)
		}
	}
	// The gzip representation's ETag revalidates a client that now asks
	// for brotli: same file, same version.
	gz := serveAsset(h, css, "Accept-Encoding", "gzip").Header().Get("ETag")
	if rec := serveAsset(h, css, "Accept-Encoding", "br", "If-None-Match", gz); rec.Code != http.StatusNotModified {
		t.Errorf("gzip ETag with br accepted: status %d", rec.Code)
	}
	if rec := serveAsset(h, css, "If-None-Match", `"0123456789ab"`); rec.Code != http.StatusOK {
		t.Errorf("stale ETag: status %d", rec.Code)
	}

	// The plain name serves the same file but must be revalidated.
	plain := serveAsset(h, "app.css", "Accept-Encoding", "gzip")
	if plain.Code != http.StatusOK || plain.Header().Get("Cache-Control") != "no-cache" {
		t.Errorf("plain name: %d %q", plain.Code, plain.Header().Get("Cache-Control"))
	}
	for _, name := range []string{"nope.css", "htmx.LICENSE", "app.000000000000.css"} {
		if rec := serveAsset(h, name); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", name, rec.Code)
		}
	}
}

// Nothing is compressed at start-up; the first request gets gzip at once
// (or brotli, should the background copy already be there) and starts the
// brotli copy, which later requests get.
func TestAssetsCompressedOnFirstUse(t *testing.T) {
	h := testAssets(t)
	for name, a := range h.assets.byName {
		if a.gz != nil || a.br.Load() != nil {
			t.Fatalf("%s compressed at start-up", name)
		}
	}
	js := strings.TrimPrefix(h.assets.urls.JS, "/assets/")
	first := serveAsset(h, js, "Accept-Encoding", "br, gzip")
	if enc := first.Header().Get("Content-Encoding"); enc != "gzip" && enc != "br" {
		t.Fatalf("first request: Content-Encoding %q", enc)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := serveAsset(h, js, "Accept-Encoding", "br, gzip")
		if rec.Header().Get("Content-Encoding") == "br" {
			if got := decode(t, "br", rec.Body.Bytes()); got != string(h.assets.byName[js].body) {
				t.Fatal("brotli body does not decode to the file")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("brotli never served")
		}
		time.Sleep(time.Millisecond)
	}
	if a := h.assets.byName["app.css"]; a.gz != nil || a.br.Load() != nil {
		t.Error("an asset nobody asked for was compressed")
	}
}

func TestAssetsIncompressibleServedAsIs(t *testing.T) {
	h := testAssets(t)
	rec := serveAsset(h, "icon.png", "Accept-Encoding", "br, gzip")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != "" {
		t.Fatalf("png: %d, Content-Encoding %q", rec.Code, rec.Header().Get("Content-Encoding"))
	}
	if rec.Header().Get("Content-Type") != "image/png" || !strings.HasPrefix(rec.Body.String(), "\x89PNG") {
		t.Errorf("png: %q %q", rec.Header().Get("Content-Type"), rec.Body.String())
	}
}

func TestAssetsContentLengthMatchesBody(t *testing.T) {
	h := testAssets(t)
	waitBrotli(t, h)
	js := strings.TrimPrefix(h.assets.urls.HTMX, "/assets/")
	for _, accept := range []string{"br", "gzip", ""} {
		t.Run("Accept-Encoding "+accept, func(t *testing.T) {
			rec := serveAsset(h, js, "Accept-Encoding", accept)
			if got, want := rec.Header().Get("Content-Length"), rec.Body.Len(); got != strconv.Itoa(want) {
				t.Errorf("%q: Content-Length %s, body %d", accept, got, want)
			}
		})
	}
}

func TestAssetTypesComeFromTheTable(t *testing.T) {
	set, err := loadAssets(fstest.MapFS{
		"app.css":            {Data: []byte("body{}")},
		"app.js":             {Data: []byte("1")},
		"passkeys.js":        {Data: []byte("3")},
		"vendor/htmx.min.js": {Data: []byte("2")},
		"fonts/brand.woff2":  {Data: []byte("wOF2")},
		"img/Logo.SVG":       {Data: []byte("<svg/>")},
		"NOTES.md":           {Data: []byte("# notes")},
		"data.xyz":           {Data: []byte("?")},
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"app.js":      "text/javascript; charset=utf-8",
		"app.css":     "text/css; charset=utf-8",
		"brand.woff2": "font/woff2",
		"Logo.SVG":    "image/svg+xml",
	} {
		t.Run(name, func(t *testing.T) {
			if a := set.byName[name]; a == nil || a.contentType != want {
				t.Errorf("%s: %+v, want Content-Type %q", name, a, want)
			}
		})
	}
	for _, name := range []string{"NOTES.md", "data.xyz"} {
		if set.byName[name] != nil {
			t.Errorf("%s is served; only the table's types should be", name)
		}
	}
}
