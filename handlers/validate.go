package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// The inline checks run the same validators as the submits. They never
// hash, never log field values, and have a generous limit of their own,
// apart from the submits' limits.

func (h *Handler) validateLimit(c echo.Context) error {
	return h.store.AllowValidation(c.Request().Context(), c.RealIP())
}

func (h *Handler) validateEmail(c echo.Context) error {
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	email, err := f.text("email")
	if err != nil {
		return err
	}
	if err := h.validateLimit(c); err != nil {
		return err
	}
	msg := ""
	if _, err := models.NormalizeEmail(email); err != nil {
		msg = fieldMessage(err)
	}
	return h.render(c, http.StatusOK, views.FeedbackText(views.FieldFeedback{ID: "email", Message: msg}))
}

func (h *Handler) validatePassword(c echo.Context) error {
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	vals, err := f.fields("email", "password", "username")
	if err != nil {
		return err
	}
	if err := h.validateLimit(c); err != nil {
		return err
	}
	email := vals["email"]
	if email == "" {
		email = vals["username"] // reset and change forms carry the address as username
	}
	if acc := currentAccount(c); acc != nil {
		email = acc.Email
	}
	normEmail, _ := models.NormalizeEmail(email) // a bad address only weakens the personal-data check
	msg := ""
	if vals["password"] != "" {
		_, msg = checkNewPassword(vals["password"], "", normEmail) // the inline check has no confirmation
	}
	fb := views.PasswordFeedback{ID: "password", Message: msg, Strength: strengthOf(vals["password"], normEmail)}
	return h.render(c, http.StatusOK, views.PasswordFeedbackContent(fb))
}

// checkNewPassword is the one check of a new password, for registration,
// reset, change and the inline check: the policy (email feeds its
// personal-data rule), then the optional password_confirm field (absent
// is fine, present must match). It returns the normalised password, or
// the message for the password field.
func checkNewPassword(password, confirm, email string) (normalized, msg string) {
	normalized, ferr := models.CheckPasswordPolicy(password, email)
	if ferr != nil {
		return "", ferr.Message
	}
	if confirm != "" && confirm != password {
		return "", "The two passwords do not match."
	}
	return normalized, ""
}

var strengthLabels = [...]string{"Too weak", "Weak", "Fair", "Good", "Strong"}

// strengthOf builds the meter's view model.
func strengthOf(password, email string) views.Strength {
	if password == "" {
		return views.Strength{}
	}
	score := models.Strength(password, email)
	return views.Strength{Show: true, Score: score, Label: strengthLabels[score]}
}
