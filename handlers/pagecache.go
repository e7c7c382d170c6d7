package handlers

import (
	"bytes"
	"net/http"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
)

// pageCache keeps the rendered bytes of pages that are identical for every
// anonymous visitor (no session, no flash or pending reset, no query
// string): the landing, sign-in, registration and forgot-password pages.
// They are rendered once per process; a restart (which make dev does on
// every template change) renders them afresh.
type pageCache struct {
	mu    sync.RWMutex
	pages map[string][]byte
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

// renderShared serves key's cached bytes to anonymous visitors, rendering
// them on first use; everyone else gets build() rendered as usual.
func (h *Handler) renderShared(c echo.Context, key string, build func() templ.Component) error {
	if !h.anonymous(c) || isFragment(c) {
		return h.render(c, http.StatusOK, build())
	}
	h.cache.mu.RLock()
	body, ok := h.cache.pages[key]
	h.cache.mu.RUnlock()
	if !ok {
		var buf bytes.Buffer
		if err := build().Render(c.Request().Context(), &buf); err != nil {
			return err
		}
		body = buf.Bytes()
		h.cache.mu.Lock()
		if h.cache.pages == nil {
			h.cache.pages = map[string][]byte{}
		}
		h.cache.pages[key] = body
		h.cache.mu.Unlock()
	}
	return writeHTML(c, http.StatusOK, body)
}
