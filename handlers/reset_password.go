package handlers

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// resetDone is the flash the sign-in page shows after a reset.
const resetDone = "Your password has been reset, please sign in."

var resetView = formView[views.ResetForm]{title: "Choose a new password", fragment: views.ResetFormFragment, page: views.ResetPage}

// resetPage checks a code without using it up (mail scanners GET links
// too). A valid code's hash goes into the visitor cookie and the browser
// is sent to the clean URL, so the code leaves the address bar, history
// and logs; the clean URL shows the form for the remembered hash.
func (h *Handler) resetPage(c echo.Context) error {
	ctx := c.Request().Context()
	if c.QueryParams().Has("code") {
		hash, ok := models.ParseCode(c.QueryParam("code"))
		if !ok {
			return h.resetGone(c)
		}
		if _, _, err := h.store.LookupReset(ctx, hash); err != nil {
			if errors.Is(err, models.ErrResetInvalid) {
				return h.resetGone(c)
			}
			return err
		}
		sess := h.visitorSession(c)
		sess.Values[keyResetHash] = hash
		h.saveVisitor(c, sess)
		// The answer sets the cookie that now stands for the code: no
		// cache may keep it (or replay it to someone else).
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.Redirect(http.StatusSeeOther, h.path("/account/reset-password"))
	}
	hash := h.pendingReset(c)
	if hash == "" {
		return h.resetGone(c)
	}
	_, acc, err := h.store.LookupReset(ctx, hash)
	if errors.Is(err, models.ErrResetInvalid) {
		h.forgetReset(c)
		return h.resetGone(c)
	}
	if err != nil {
		return err
	}
	return h.render(c, http.StatusOK, resetView.fullPage(h, c, views.ResetForm{Email: acc.Email}))
}

// resetPassword completes a reset: from the form's code or the hash the
// visitor cookie remembers, checked the same way.
func (h *Handler) resetPassword(c echo.Context) error {
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	vals, err := f.fields("code", "password", "password_confirm")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := h.store.AllowResetPost(ctx, c.RealIP()); err != nil {
		return err
	}
	var hash string
	if vals["code"] != "" {
		var ok bool
		if hash, ok = models.ParseCode(vals["code"]); !ok {
			return h.resetGone(c)
		}
	} else if hash = h.pendingReset(c); hash == "" {
		return h.resetGone(c)
	}
	_, acc, err := h.store.LookupReset(ctx, hash)
	if errors.Is(err, models.ErrResetInvalid) {
		return h.resetGone(c)
	}
	if err != nil {
		return err
	}
	password, msg := checkNewPassword(vals["password"], vals["password_confirm"], acc.Email)
	if msg != "" {
		vm := views.ResetForm{Code: vals["code"], Email: acc.Email, Errors: views.Errors{"password": msg}, Focus: "password"}
		return resetView.answer(h, c, http.StatusUnprocessableEntity, vm)
	}
	if _, err := h.store.CompleteReset(ctx, hash, password, client(c), h.composeChanged(c)); err != nil {
		if errors.Is(err, models.ErrResetInvalid) {
			return h.resetGone(c)
		}
		return err
	}
	// Every session was revoked, this browser's included.
	if currentSession(c) != nil {
		if err := h.endSession(c); err != nil {
			return err
		}
	}
	sess := h.visitorSession(c)
	delete(sess.Values, keyResetHash)
	sess.Values[keyFlashKind] = "success"
	sess.Values[keyFlashMsg] = resetDone
	h.saveVisitor(c, sess)
	return redirect(c, h.path("/account/login"))
}

// pendingReset returns the code hash the visitor cookie remembers.
func (h *Handler) pendingReset(c echo.Context) string {
	if _, err := c.Request().Cookie(visitorCookieName(h.secure)); err != nil {
		return ""
	}
	hash, _ := h.visitorSession(c).Values[keyResetHash].(string)
	if !models.ValidCodeHash(hash) {
		return ""
	}
	return hash
}

func (h *Handler) forgetReset(c echo.Context) {
	sess := h.visitorSession(c)
	if _, ok := sess.Values[keyResetHash]; ok {
		delete(sess.Values, keyResetHash)
		h.saveVisitor(c, sess)
	}
}

// resetGone is the 410 answer for an unknown, used or expired code: a page
// with no form and a link to ask again (an alert for htmx).
func (h *Handler) resetGone(c echo.Context) error {
	if isFragment(c) {
		return echo.NewHTTPError(http.StatusGone)
	}
	return h.render(c, http.StatusGone, views.ResetInvalidPage(h.page(c, "This link no longer works")))
}
