package handlers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"latchkey/models"
	"latchkey/views"
)

// notMeTTL is how long the "this wasn't me" link in a password-changed
// email works.
const notMeTTL = 7 * 24 * time.Hour

// signNotMe makes the one-time signed token of a "this wasn't me" link:
// account id, expiry and a nonce, with an HMAC under the signed-links key.
func signNotMe(key []byte, accountID int64, expires time.Time) string {
	payload := make([]byte, 8+8+16)
	// Ids and Unix times here are positive int64s: the conversions are
	// lossless both ways.
	binary.BigEndian.PutUint64(payload[0:8], uint64(accountID))       // #nosec G115 -- see above
	binary.BigEndian.PutUint64(payload[8:16], uint64(expires.Unix())) // #nosec G115 -- see above
	_, _ = rand.Read(payload[16:])                                    // crypto/rand.Read never fails (Go 1.24+).
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("not-me\x00"))
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// verifyNotMe checks a token's signature and expiry and returns the
// account id.
func verifyNotMe(key []byte, token string, now time.Time) (int64, bool) {
	if len(token) > 200 {
		return 0, false
	}
	p, m, ok := strings.Cut(token, ".")
	if !ok {
		return 0, false
	}
	payload, err1 := base64.RawURLEncoding.Strict().DecodeString(p)
	sig, err2 := base64.RawURLEncoding.Strict().DecodeString(m)
	if err1 != nil || err2 != nil || len(payload) != 32 {
		return 0, false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("not-me\x00"))
	mac.Write(payload)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return 0, false
	}
	// The payload is authenticated, so these are values signNotMe wrote.
	if now.Unix() > int64(binary.BigEndian.Uint64(payload[8:16])) { // #nosec G115 -- authenticated, was an int64
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(payload[0:8])), true // #nosec G115 -- authenticated, was an int64
}

// NotMeLink builds the "this wasn't me" URL for an account.
func NotMeLink(baseURL *url.URL, key []byte, accountID int64, now time.Time) string {
	u := *baseURL
	u.Path = "/account/not-me"
	u.RawQuery = url.Values{"token": {signNotMe(key, accountID, now.Add(notMeTTL))}}.Encode()
	return u.String()
}

// notMePage asks for confirmation: a GET (which mail scanners make) changes
// nothing.
func (h *Handler) notMePage(c echo.Context) error {
	token := c.QueryParam("token")
	if _, ok := verifyNotMe(h.notMeKey, token, h.store.Now()); !ok {
		return echo.NewHTTPError(http.StatusGone)
	}
	return h.render(c, http.StatusOK, views.NotMePage(h.page(c, "Secure your account"), views.NotMeForm{Token: token}))
}

// notMe signs out every session of the account and emails a reset link.
// The link works once.
func (h *Handler) notMe(c echo.Context) error {
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	token, err := f.text("token")
	if err != nil {
		return err
	}
	accountID, ok := verifyNotMe(h.notMeKey, token, h.store.Now())
	if !ok {
		return echo.NewHTTPError(http.StatusGone)
	}
	ctx := c.Request().Context()
	sum := sha256.Sum256([]byte(token))
	used := "not-me:" + base64.RawURLEncoding.EncodeToString(sum[:])
	var limited *models.LimitedError
	if err := h.store.Allow(ctx, used, 1, notMeTTL+time.Hour); errors.As(err, &limited) {
		return echo.NewHTTPError(http.StatusGone)
	} else if err != nil {
		return err
	}
	acc, err := models.AccountByID(ctx, h.store.DB, accountID)
	if err != nil {
		return err
	}
	if err := h.store.RevokeAllSessions(ctx, acc.ID, client(c)); err != nil {
		return err
	}
	if err := h.store.RequestReset(ctx, acc.Email, client(c), h.composeReset(c)); err != nil {
		return err
	}
	if currentSession(c) != nil {
		if err := h.endSession(c); err != nil {
			return err
		}
	}
	if err := h.setFlash(c, "success", "Every device has been signed out. We have emailed you a link to choose a new password."); err != nil {
		return err
	}
	return redirect(c, "/account/login")
}
