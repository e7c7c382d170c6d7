package handlers

import (
	"errors"
	"mime"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
)

// form is a parsed, checked urlencoded body.
type form struct{ values url.Values }

// parseForm reads a POST body strictly: only urlencoded forms (415
// otherwise), the body cap (413, including chunked bodies, which
// c.FormValue would silently read as empty), and query strings ignored so
// a field cannot be smuggled in the URL.
func parseForm(c echo.Context) (*form, error) {
	r := c.Request()
	ct := r.Header.Get(echo.HeaderContentType)
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != echo.MIMEApplicationForm {
		return nil, echo.NewHTTPError(http.StatusUnsupportedMediaType)
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge)
		}
		return nil, echo.NewHTTPError(http.StatusBadRequest)
	}
	return &form{values: r.PostForm}, nil
}

// text returns one field's value. A field sent twice, not valid UTF-8 or
// holding control characters is a 400: no honest form sends that. Length
// is not checked here: an over-long field is a validation error like any
// other (422, the form again, the message next to the field), so each
// field's validator bounds it (NormalizeEmail, CheckPasswordPolicy,
// ParseCode…) before any costly work; the body cap (413) bounds them all.
func (f *form) text(name string) (string, error) {
	vals := f.values[name]
	switch len(vals) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", echo.NewHTTPError(http.StatusBadRequest, "duplicated field")
	}
	v := vals[0]
	if !models.CleanText(v) {
		return "", echo.NewHTTPError(http.StatusBadRequest, "invalid characters")
	}
	return v, nil
}

// fields returns several fields at once, failing on the first bad one.
func (f *form) fields(names ...string) (map[string]string, error) {
	out := make(map[string]string, len(names))
	for _, n := range names {
		v, err := f.text(n)
		if err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, nil
}

// clean checks every field of a form that reads none (a button): a field
// sent twice, not valid UTF-8 or holding control characters is a 400, as
// in text.
func (f *form) clean() error {
	for name := range f.values {
		if !models.CleanText(name) {
			return echo.NewHTTPError(http.StatusBadRequest, "invalid characters")
		}
		if _, err := f.text(name); err != nil {
			return err
		}
	}
	return nil
}
