package handlers

import (
	"cmp"
	"errors"
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// signInFailed is the one message for an unknown address and a wrong
// password alike.
const signInFailed = "Email or password is incorrect."

var loginView = formView[views.LoginForm]{title: "Sign in", fragment: views.LoginFormFragment, page: views.LoginPage}

// loginPage shows the sign-in form, carrying an accepted rd (and a safe
// next) through. A visitor already signed in goes straight to the rd, or
// to the account page.
func (h *Handler) loginPage(c echo.Context) error {
	rd := h.returnTarget(queryOne(c, "rd"))
	if currentSession(c) != nil {
		return redirect(c, cmp.Or(rd, h.path("/account")))
	}
	return h.renderShared(c, "login", func() templ.Component {
		f := views.LoginForm{Next: safeNext(c.QueryParam("next")), Rd: rd, Passkeys: h.rp != nil}
		return loginView.fullPage(h, c, f)
	})
}

type loginInput struct {
	// next is a safe local path and rd an accepted return target, or "".
	email, password, next, rd string
}

// validate checks the form's shape; whether the pair is right is for
// Authenticate.
func (in *loginInput) validate() (string, views.Errors) {
	errs := views.Errors{}
	email, err := models.NormalizeEmail(in.email)
	if err != nil {
		errs["email"] = fieldMessage(err)
	}
	if in.password == "" {
		errs["password"] = "Enter your password."
	} else if len(in.password) > models.MaxPasswordBytes {
		// No password that long was ever accepted: refused without hashing
		// or counting, with the one neutral message (it depends on the
		// field alone, so it tells nothing about the address).
		errs["password"] = signInFailed
	}
	return email, errs
}

func (h *Handler) login(c echo.Context) error {
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	vals, err := f.fields("email", "password", "next", "rd")
	if err != nil {
		return err
	}
	in := loginInput{email: vals["email"], password: vals["password"], next: safeNext(vals["next"]), rd: h.returnTarget(vals["rd"])}
	fail := func(errs views.Errors) error {
		vm := views.LoginForm{Email: in.email, Next: in.next, Rd: in.rd, Errors: errs, Focus: firstError(errs, "email", "password"), Passkeys: h.rp != nil}
		if vm.Focus == "" {
			vm.Focus = "password"
		}
		return loginView.answer(h, c, http.StatusUnprocessableEntity, vm)
	}
	email, errs := in.validate()
	if len(errs) > 0 {
		return fail(errs)
	}
	ctx := c.Request().Context()
	// The attempt is reserved before any hashing, the same way for known
	// and unknown addresses; a device cookie from an earlier sign-in to
	// this address spares the owner the back-off strangers cause.
	if err := h.store.SignInAttempt(ctx, email, c.RealIP(), h.trustedDevice(c, email)); err != nil {
		return err
	}
	acc, err := h.store.Authenticate(ctx, email, models.NormalizePassword(in.password), client(c))
	if errors.Is(err, models.ErrBadCredentials) {
		if err := h.store.SignInFailed(ctx, client(c), acc); err != nil {
			return err
		}
		return fail(views.Errors{"": signInFailed})
	}
	if err != nil {
		return err
	}
	// With TOTP on, the right password only leads to the second step
	// (login_2fa.go).
	second, err := h.store.TOTPEnabled(ctx, acc.ID)
	if err != nil {
		return err
	}
	if second {
		return h.startSecondStep(c, acc, in.next, in.rd, fail)
	}
	id, row, err := h.store.SignIn(ctx, acc, client(c))
	if errors.Is(err, models.ErrBadCredentials) {
		// The password changed while it was being checked.
		return fail(views.Errors{"": signInFailed})
	}
	if err != nil {
		return err
	}
	row.Account = acc
	if err := h.startSession(c, id, row); err != nil {
		return err
	}
	h.setDeviceCookie(c, acc.Email)
	// rd wins over next: both are checked, rd is the forward-auth return.
	return redirect(c, cmp.Or(in.rd, in.next, h.path("/account")))
}

// safeNext accepts only local absolute paths: no scheme, no host, no
// protocol-relative "//host" or "/\host" tricks.
func safeNext(next string) string {
	if next == "" || len(next) > 512 || next[0] != '/' {
		return ""
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return ""
	}
	if strings.ContainsAny(next, "\\\r\n\t") || !models.CleanText(next) {
		return ""
	}
	return next
}

// returnTarget returns raw when it is an accepted return target (SPEC §7,
// returnto.Rule), else "": an unaccepted rd is ignored as if absent,
// never shown and never redirected to.
func (h *Handler) returnTarget(raw string) string {
	rd, ok := h.returnTo.Check(raw)
	if !ok {
		return ""
	}
	return rd
}

// queryOne returns a query parameter given exactly once, else "": a
// parameter given twice has no one meaning.
func queryOne(c echo.Context, name string) string {
	if v := c.QueryParams()[name]; len(v) == 1 {
		return v[0]
	}
	return ""
}

// fieldMessage turns a validation error into its user-facing text.
func fieldMessage(err error) string {
	var fe *models.FieldError
	if errors.As(err, &fe) {
		return fe.Message
	}
	return "This value cannot be used."
}
