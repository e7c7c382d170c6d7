package handlers

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// pageCache keeps the rendered bytes of pages that are identical for every
// anonymous visitor (no session, no flash or pending reset, no query
// string): the landing, sign-in, registration and forgot-password pages.
// They are rendered once per process; a restart (which make dev does on
// every template change) renders them afresh. Justified by the bench row
// "sign-in page GET throughput" (and "sign-in page transfer").
type pageCache struct {
	mu    sync.RWMutex
	pages map[string]*sharedPage
}

// sharedPage is one cached page with its brotli and gzip copies. Only
// these pages are compressed: they hold no secret and echo no input, so
// compression cannot leak anything (BREACH needs both); pages with
// account data or form input go out as they are.
type sharedPage struct {
	plain, br, gz encodedPage
}

// encodedPage is one encoding of a page with its header values made once.
type encodedPage struct {
	body     []byte
	length   []string // Content-Length
	encoding []string // Content-Encoding; nil for the page itself
}

func newEncodedPage(body []byte, encoding string) encodedPage {
	p := encodedPage{body: body, length: one(strconv.Itoa(len(body)))}
	if encoding != "" {
		p.encoding = one(encoding)
	}
	return p
}

// newSharedPage compresses a rendered page once. A page is a few KiB:
// brotli at its best quality takes a few milliseconds, paid by the first
// visitor of each page after a start. A copy no smaller than the page is
// dropped.
func newSharedPage(plain []byte) *sharedPage {
	p := &sharedPage{plain: newEncodedPage(plain, "")}
	if br := brotliBest(plain); br != nil {
		p.br = newEncodedPage(br, "br")
	}
	if gz := gzipBest(plain); gz != nil {
		p.gz = newEncodedPage(gz, "gzip")
	}
	return p
}

// anonymous reports whether the request would see the shared version of a
// page.
func (h *Handler) anonymous(c echo.Context) bool {
	r := c.Request()
	if currentSession(c) != nil || r.URL.RawQuery != "" {
		return false
	}
	if _, err := r.Cookie(visitorCookieName(h.secure)); err == nil {
		return false
	}
	return true
}

// renderShared serves key's cached page to anonymous visitors, rendering
// it on first use, compressed as the client accepts; everyone else gets
// build() rendered as usual.
func (h *Handler) renderShared(c echo.Context, key string, build func() templ.Component) error {
	if !h.anonymous(c) || isFragment(c) {
		return h.render(c, http.StatusOK, build())
	}
	h.cache.mu.RLock()
	page, ok := h.cache.pages[key]
	h.cache.mu.RUnlock()
	if !ok {
		var buf bytes.Buffer
		if err := build().Render(h.viewContext(c), &buf); err != nil {
			return err
		}
		page = newSharedPage(buf.Bytes())
		h.cache.mu.Lock()
		if h.cache.pages == nil {
			h.cache.pages = map[string]*sharedPage{}
		}
		h.cache.pages[key] = page
		h.cache.mu.Unlock()
	}
	out := &page.plain
	switch chooseEncoding(c.Request(), page.br.body != nil, page.gz.body != nil) {
	case "br":
		out = &page.br
	case "gzip":
		out = &page.gz
	}
	if out.encoding != nil {
		c.Response().Header()["Content-Encoding"] = out.encoding
	}
	return sendHTML(c, http.StatusOK, out.body, out.length, varyShared)
}
