package handlers

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/labstack/echo/v4"

	"latchkey/views"
)

// asset is one static file, ready to serve: content-hashed name,
// precompressed copy, ETag.
type asset struct {
	body        []byte
	gz          []byte
	contentType string
	etag        string
}

// assetSet serves the files of the assets folder (not subfolders' licence
// files) under /assets/NAME.HASH.EXT with immutable caching; the plain name
// also works, revalidated each time.
type assetSet struct {
	byName map[string]*asset
	urls   views.Assets
}

func loadAssets(fsys fs.FS) (*assetSet, error) {
	set := &assetSet{byName: map[string]*asset{}}
	hashed := map[string]string{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := path.Ext(p)
		ctype := mime.TypeByExtension(ext)
		if ctype == "" || strings.HasSuffix(p, ".LICENSE") {
			return nil
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		short := hex.EncodeToString(sum[:])[:12]
		a := &asset{body: body, contentType: ctype, etag: `"` + short + `"`}
		if strings.HasPrefix(ctype, "text/") || strings.Contains(ctype, "javascript") || strings.Contains(ctype, "svg") {
			var buf bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
			_, _ = zw.Write(body)
			_ = zw.Close()
			if buf.Len() < len(body) {
				a.gz = buf.Bytes()
			}
		}
		base := path.Base(p)
		name := strings.TrimSuffix(base, ext) + "." + short + ext
		set.byName[name] = a
		set.byName[base] = a
		hashed[p] = "/assets/" + name
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("assets: %w", err)
	}
	set.urls = views.Assets{CSS: hashed["app.css"], HTMX: hashed["vendor/htmx.min.js"], JS: hashed["app.js"]}
	if set.urls.CSS == "" || set.urls.HTMX == "" || set.urls.JS == "" {
		return nil, fmt.Errorf("assets: app.css, app.js and vendor/htmx.min.js are required")
	}
	return set, nil
}

func (h *Handler) asset(c echo.Context) error {
	name := c.Param("name")
	a, ok := h.assets.byName[name]
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	hd := c.Response().Header()
	hd.Set(echo.HeaderContentType, a.contentType)
	hd.Set("ETag", a.etag)
	hd.Add("Vary", "Accept-Encoding")
	if strings.Contains(name, strings.Trim(a.etag, `"`)) {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "no-cache")
	}
	if match := c.Request().Header.Get("If-None-Match"); match != "" && strings.Contains(match, a.etag) {
		return c.NoContent(http.StatusNotModified)
	}
	body := a.body
	if a.gz != nil && strings.Contains(c.Request().Header.Get("Accept-Encoding"), "gzip") {
		hd.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	return c.Blob(http.StatusOK, a.contentType, body)
}
