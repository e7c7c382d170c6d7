package handlers

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/bits"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/andybalholm/brotli"
	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/views"
)

// asset is one static file, ready to serve: content-hashed name, ETag and,
// for text, gzip and brotli copies made once, on first use rather than at
// start-up: brotli at its best quality costs ~90 ms of CPU for htmx alone,
// more than the whole cold-start budget, and on a small machine a
// background goroutine doing it still slows the start.
type asset struct {
	body        []byte
	contentType string
	hash        string // first 12 hex digits of the body's SHA-256
	// gzip makes gz (~2 ms) while the first request that wants it waits.
	gzip func()
	gz   []byte
	// startBrotli makes br in the background; until it is there, clients
	// that accept brotli get gzip.
	startBrotli func()
	br          atomic.Pointer[[]byte]
}

// assetSet serves the files of the assets folder (not subfolders' licence
// files) under /assets/NAME.HASH.EXT with immutable caching; the plain name
// also works, revalidated each time.
type assetSet struct {
	byName map[string]*asset
	urls   views.Assets
}

// assetTypes are the Content-Types of the files a designer may put in
// assets/; files with other extensions (licences, notes) are not served.
// A fixed table rather than mime.TypeByExtension, which loads the host's
// MIME database on first use: ~1.5 MB of live heap that every garbage
// collection scans (one per password hash), slower start-up, and answers
// that differ from one host to the next.
var assetTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".txt":   "text/plain; charset=utf-8",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".jpeg":  "image/jpeg",
	".gif":   "image/gif",
	".webp":  "image/webp",
	".avif":  "image/avif",
	".ico":   "image/vnd.microsoft.icon",
	".woff":  "font/woff",
	".woff2": "font/woff2",
}

// loadAssets reads and hashes every asset; compression waits for the
// first request (see asset).
func loadAssets(fsys fs.FS) (*assetSet, error) {
	set := &assetSet{byName: map[string]*asset{}}
	hashed := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := path.Ext(p)
		ctype := assetTypes[strings.ToLower(ext)]
		if ctype == "" {
			return nil
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, contentType: ctype, hash: hex.EncodeToString(sum[:])[:12]}
		a.gzip = sync.OnceFunc(a.makeGzip)
		a.startBrotli = sync.OnceFunc(func() { go a.makeBrotli() })
		base := path.Base(p)
		name := strings.TrimSuffix(base, ext) + "." + a.hash + ext
		set.byName[name] = a
		set.byName[base] = a
		hashed[p] = "/assets/" + name
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	set.urls = views.Assets{CSS: hashed["app.css"], HTMX: hashed["vendor/htmx.min.js"], JS: hashed["app.js"], Passkeys: hashed["passkeys.js"]}
	if set.urls.CSS == "" || set.urls.HTMX == "" || set.urls.JS == "" || set.urls.Passkeys == "" {
		return nil, fmt.Errorf("assets: app.css, app.js, passkeys.js and vendor/htmx.min.js are required")
	}
	return set, nil
}

// compressible reports whether a content type is text worth compressing
// (images other than SVG are compressed already).
func compressible(ctype string) bool {
	return strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "javascript") ||
		strings.Contains(ctype, "json") || strings.Contains(ctype, "svg")
}

// makeGzip makes the gzip copy, kept only if smaller than the file. Both
// encoders are deterministic, so every instance serves the same bytes
// under the same ETag.
func (a *asset) makeGzip() {
	if compressible(a.contentType) {
		a.gz = gzipBest(a.body)
	}
}

// makeBrotli makes the brotli copy, kept only if smaller than the file.
func (a *asset) makeBrotli() {
	if !compressible(a.contentType) {
		return
	}
	if br := brotliBest(a.body); br != nil {
		a.br.Store(&br)
	}
}

// gzipBest compresses b at gzip's best level; nil if that is no smaller.
func gzipBest(b []byte) []byte {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(b)                                      // writes to a bytes.Buffer cannot fail
	_ = zw.Close()
	if gz.Len() >= len(b) {
		return nil
	}
	return gz.Bytes()
}

// brotliBest compresses b at brotli's best quality; nil if that is no
// smaller. A window just large enough for b compresses as well as the
// default 4 MiB one and allocates a tenth of the memory.
func brotliBest(b []byte) []byte {
	lgwin := min(max(bits.Len(uint(len(b))), 10), 24)
	var br bytes.Buffer
	bw := brotli.NewWriterOptions(&br, brotli.WriterOptions{Quality: brotli.BestCompression, LGWin: lgwin})
	_, _ = bw.Write(b) // writes to a bytes.Buffer cannot fail
	_ = bw.Close()
	if br.Len() >= len(b) {
		return nil
	}
	return br.Bytes()
}

// chooseEncoding picks the smallest representation the client accepts
// among those that exist: "br", then "gzip", else "" (the bytes as they
// are).
func chooseEncoding(r *http.Request, haveBrotli, haveGzip bool) string {
	accept := acceptEncoding(r)
	switch {
	case accept == "":
	case haveBrotli && acceptsEncoding(accept, "br"):
		return "br"
	case haveGzip && acceptsEncoding(accept, "gzip"):
		return "gzip"
	}
	return ""
}

// acceptEncoding is the request's Accept-Encoding, all of its lines as
// one list (a later line may say "br;q=0").
func acceptEncoding(r *http.Request) string {
	if v := r.Header["Accept-Encoding"]; len(v) > 1 {
		return strings.Join(v, ",")
	}
	return r.Header.Get("Accept-Encoding")
}

// acceptsEncoding reports whether an Accept-Encoding header allows coding:
// named (or matched by "*") with a q-value above zero.
func acceptsEncoding(header, coding string) bool {
	star, explicit, explicitOK := false, false, true
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != coding && name != "*" {
			continue
		}
		ok := true
		for _, p := range strings.Split(params, ";") {
			k, v, found := strings.Cut(strings.TrimSpace(p), "=")
			if found && strings.EqualFold(strings.TrimSpace(k), "q") {
				q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				ok = err == nil && q > 0
			}
		}
		if name == coding {
			// An explicit entry wins over "*"; if the coding is named
			// twice, a refusal in either counts.
			explicit, explicitOK = true, explicitOK && ok
			continue
		}
		star = ok
	}
	if explicit {
		return explicitOK
	}
	return star
}

// etagMatches reports whether If-None-Match names any representation of
// this asset (weak comparison, as RFC 9110 asks for If-None-Match).
func (a *asset) etagMatches(header string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" {
			return true
		}
		tag = strings.Trim(tag, `"`)
		if tag == a.hash || tag == a.hash+"-br" || tag == a.hash+"-gz" {
			return true
		}
	}
	return false
}

func (h *Handler) asset(c echo.Context) error {
	name := c.Param("name")
	a, ok := h.assets.byName[name]
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	a.startBrotli()
	a.gzip()
	// Pick the smallest representation the client accepts: brotli (once
	// made), then gzip, then the file itself. Each has its own strong ETag.
	body, etag := a.body, `"`+a.hash+`"`
	br := a.br.Load()
	encoding := chooseEncoding(c.Request(), br != nil, a.gz != nil)
	switch encoding {
	case "br":
		body, etag = *br, `"`+a.hash+`-br"`
	case "gzip":
		body, etag = a.gz, `"`+a.hash+`-gz"`
	}
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, a.contentType)
	hd.Set("ETag", etag)
	hd.Add("Vary", "Accept-Encoding")
	if strings.Contains(name, "."+a.hash+".") {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	if match := c.Request().Header.Get("If-None-Match"); match != "" && a.etagMatches(match) {
		return c.NoContent(http.StatusNotModified)
	}
	if encoding != "" {
		hd.Set("Content-Encoding", encoding)
	}
	hd.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	return c.Blob(http.StatusOK, a.contentType, body)
}
