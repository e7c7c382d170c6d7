package handlers

import (
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// Two-step sign-in (SPEC §9) for the signed-in owner: GET,POST
// /account/2fa sets TOTP up (a secret shown as a QR code, as text and as
// an otpauth:// link; confirmed by one right code; recovery codes shown
// once), makes new recovery codes, and turns it off (current password and
// a code). The pending secret lives sealed in the database
// (models.BeginTOTP), never in the page's form.
//
// The QR code is a PNG served by GET /account/2fa/qr.png to the signed-in
// owner (no-store), not a data: URL, so the page's CSP needs nothing new.

// twoStepQRRoute is the QR code of the set-up in progress.
const twoStepQRRoute = "/account/2fa/qr.png"

// qrSize is the QR code's width and height in pixels.
const qrSize = 240

// Messages of the set-up page.
const (
	totpMissing     = "Enter the 6-digit code your authenticator app shows."
	totpRefused     = "That code is not right. Check the app shows the code for this account, and that your phone's clock is right, then enter the current one."
	twoStepExpired  = "The set-up took too long, so its secret no longer works. Start again: you will get a new one (remove the old entry from your app)."
	twoStepCodeHint = "Enter a 6-digit code from your app, or one of your recovery codes."
)

func (h *Handler) twoStepPage(c echo.Context) error {
	return h.renderTwoStep(c, http.StatusOK, "", nil)
}

// renderTwoStep renders the set-up page in the account's current state,
// with errors (and the focus) on form.
func (h *Handler) renderTwoStep(c echo.Context, status int, form string, errs views.Errors) error {
	row := signedIn(c)
	st, err := h.store.TOTPStatus(c.Request().Context(), row.AccountID)
	if err != nil {
		return err
	}
	vm := views.TwoStepPage{State: views.TwoStepOff, Email: row.Account.Email, Form: form, Errors: errs}
	switch {
	case st.Enabled:
		vm.State, vm.EnabledAt, vm.RecoveryLeft = views.TwoStepOn, stamp(st.EnabledAt), st.RecoveryLeft
	case st.Pending != nil:
		key, err := st.Pending.Key(h.totpIssuer(), row.Account.Email)
		if err != nil {
			return err
		}
		vm.State, vm.Secret, vm.OTPAuthURL, vm.QRCode = views.TwoStepPending, groupSecret(st.Pending.Secret()), key.URL(), twoStepQRRoute
		vm.ExpiresIn = fmt.Sprintf("%d minutes", max(1, int(st.Pending.ExpiresAt.Sub(h.store.Now()).Minutes())))
	}
	if vm.State == views.TwoStepOn && form == views.TwoStepFormConfirm {
		vm.Form = "" // confirmed meanwhile (another tab): nothing to show
	}
	vm.Focus = twoStepFocus(vm.Form, errs)
	return h.render(c, status, views.TwoStepSetupPage(h.page(c, "Two-step sign-in"), vm))
}

// twoStepFocus is the field to focus after a failed submit of form.
func twoStepFocus(form string, errs views.Errors) string {
	switch {
	case form == views.TwoStepFormDisable && errs["current_password"] != "":
		return "current_password"
	case form != "":
		return form + "-code"
	}
	return ""
}

// twoStep handles the set-up page's forms, told apart by action.
func (h *Handler) twoStep(c echo.Context) error {
	row := signedIn(c)
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	vals, err := f.fields("action", "code", "current_password")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	in := models.FactorInput{Account: row.Account, Client: client(c), Compose: h.composeFactor(c)}
	switch vals["action"] {
	case "begin":
		if _, err := h.store.BeginTOTP(ctx, row.Account); err != nil && !errors.Is(err, models.ErrTOTPEnabled) {
			return err
		}
		return redirect(c, h.path("/account/2fa"))

	case views.TwoStepFormConfirm:
		code, ok := models.ParseTOTPCode(vals["code"])
		if !ok {
			return h.renderTwoStep(c, http.StatusUnprocessableEntity, views.TwoStepFormConfirm, views.Errors{"code": totpMissing})
		}
		in.Code = code
		codes, err := h.store.ConfirmTOTP(ctx, in)
		switch {
		case errors.Is(err, models.ErrCodeInvalid):
			return h.renderTwoStep(c, http.StatusUnprocessableEntity, views.TwoStepFormConfirm, views.Errors{"code": totpRefused})
		case errors.Is(err, models.ErrTOTPNotEnabled):
			if err := h.setFlash(c, "error", twoStepExpired); err != nil {
				return err
			}
			return redirect(c, h.path("/account/2fa"))
		case errors.Is(err, models.ErrTOTPEnabled):
			return redirect(c, h.path("/account/2fa"))
		case err != nil:
			return err
		}
		return h.render(c, http.StatusOK, views.RecoveryCodes(h.page(c, "Save your recovery codes"), views.RecoveryCodesPage{Codes: codes}))

	case views.TwoStepFormRenew:
		code, ok := models.ParseTOTPCode(vals["code"])
		if !ok {
			return h.renderTwoStep(c, http.StatusUnprocessableEntity, views.TwoStepFormRenew, views.Errors{"code": totpMissing})
		}
		// A stolen session must not mint recovery codes: a right code
		// is needed, and guesses are throttled like the second step's.
		if err := h.store.AllowSecondStep(ctx, row.Account); err != nil {
			return err
		}
		in.Code = code
		codes, err := h.store.RenewRecoveryCodes(ctx, in)
		switch {
		case errors.Is(err, models.ErrCodeInvalid):
			return h.renderTwoStep(c, http.StatusUnprocessableEntity, views.TwoStepFormRenew, views.Errors{"code": totpRefused})
		case errors.Is(err, models.ErrTOTPNotEnabled):
			return redirect(c, h.path("/account/2fa"))
		case err != nil:
			return err
		}
		return h.render(c, http.StatusOK, views.RecoveryCodes(h.page(c, "Save your recovery codes"), views.RecoveryCodesPage{Codes: codes, Renewed: true}))

	case views.TwoStepFormDisable:
		return h.disableTwoStep(c, row, vals, in)
	}
	return echo.NewHTTPError(http.StatusBadRequest, "unknown action")
}

// disableTwoStep turns TOTP off: the current password (throttled like
// sign-in) and then a TOTP or recovery code (throttled like the second
// step), both right.
func (h *Handler) disableTwoStep(c echo.Context, row *models.Session, vals map[string]string, in models.FactorInput) error {
	acc := row.Account
	fail := func(errs views.Errors) error {
		return h.renderTwoStep(c, http.StatusUnprocessableEntity, views.TwoStepFormDisable, errs)
	}
	errs := views.Errors{}
	if vals["current_password"] == "" {
		errs["current_password"] = "Enter your current password."
	} else if len(vals["current_password"]) > models.MaxPasswordBytes {
		errs["current_password"] = wrongCurrent
	}
	code, ok := models.ParseStepCode(vals["code"])
	if !ok {
		errs["code"] = twoStepCodeHint
	}
	if len(errs) > 0 {
		return fail(errs)
	}
	ctx := c.Request().Context()
	if ok, err := h.checkCurrentPassword(c, acc, vals["current_password"], h.trustedDevice(c, acc.Email)); err != nil {
		return err
	} else if !ok {
		return fail(views.Errors{"current_password": wrongCurrent})
	}
	if err := h.store.AllowSecondStep(ctx, acc); err != nil {
		return err
	}
	in.Code = code
	err := h.store.DisableTOTP(ctx, in)
	switch {
	case errors.Is(err, models.ErrCodeInvalid):
		return fail(views.Errors{"code": "That code is not right. " + twoStepCodeHint})
	case errors.Is(err, models.ErrTOTPNotEnabled):
		return redirect(c, h.path("/account/2fa"))
	case err != nil:
		return err
	}
	if err := h.setFlash(c, "success", "Two-step sign-in is off: your password alone signs you in."); err != nil {
		return err
	}
	return redirect(c, h.path("/account"))
}

// twoStepQR serves the QR code of the set-up in progress, to its owner
// only, never cached; 404 when none is pending.
func (h *Handler) twoStepQR(c echo.Context) error {
	row := signedIn(c)
	st, err := h.store.TOTPStatus(c.Request().Context(), row.AccountID)
	if err != nil {
		return err
	}
	if st.Pending == nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	key, err := st.Pending.Key(h.totpIssuer(), row.Account.Email)
	if err != nil {
		return err
	}
	return sendQR(c, key)
}

// sendQR answers with key's QR code as a PNG, never cached.
func sendQR(c echo.Context, key *otp.Key) error {
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, "image/png", buf.Bytes())
}

// totpIssuer names this Latchkey in authenticator apps: BASE_URL's host
// name (a port's colon would break the app's "issuer:account" label).
func (h *Handler) totpIssuer() string { return h.baseURL.Hostname() }

// groupSecret writes a base32 secret in groups of four for typing.
func groupSecret(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// twoStepSummary is the account page's "Two-step sign-in" section.
func (h *Handler) twoStepSummary(c echo.Context, accountID int64) (views.TwoStepSummary, error) {
	st, err := h.store.TOTPStatus(c.Request().Context(), accountID)
	return views.TwoStepSummary{Enabled: st.Enabled, RecoveryLeft: st.RecoveryLeft}, err
}
