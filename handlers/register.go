package handlers

import (
	"cmp"
	"errors"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// emailTaken is neutral on purpose: it must not confirm who has an account
// any more than the registration itself does.
const emailTaken = "You cannot use this address. If it is yours, sign in or reset your password."

var registerView = formView[views.RegisterForm]{title: "Create an account", fragment: views.RegisterFormFragment, page: views.RegisterPage}

// registerPage shows the registration form, carrying an accepted rd
// through. A visitor already signed in goes straight to the rd, or to the
// account page.
func (h *Handler) registerPage(c echo.Context) error {
	rd := h.returnTarget(queryOne(c, "rd"))
	if currentSession(c) != nil {
		return redirect(c, cmp.Or(rd, h.path("/account")))
	}
	return h.renderShared(c, "register", func() templ.Component {
		return registerView.fullPage(h, c, views.RegisterForm{Rd: rd})
	})
}

type registerInput struct{ email, password, confirm string }

// validate is shared by the submit and the inline checks.
func (in *registerInput) validate() (email, password string, errs views.Errors) {
	errs = views.Errors{}
	email, err := models.NormalizeEmail(in.email)
	if err != nil {
		errs["email"] = fieldMessage(err)
	}
	password, msg := checkNewPassword(in.password, in.confirm, email)
	if msg != "" {
		errs["password"] = msg
	}
	return email, password, errs
}

func (h *Handler) register(c echo.Context) error {
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	vals, err := f.fields("email", "password", "password_confirm", "rd")
	if err != nil {
		return err
	}
	in := registerInput{email: vals["email"], password: vals["password"], confirm: vals["password_confirm"]}
	rd := h.returnTarget(vals["rd"])
	fail := func(errs views.Errors) error {
		vm := views.RegisterForm{Email: in.email, Rd: rd, Errors: errs, Focus: firstError(errs, "email", "password")}
		if errs["password"] == "" && in.password != "" {
			vm.Strength = strengthOf(in.password, in.email)
		}
		return registerView.answer(h, c, http.StatusUnprocessableEntity, vm)
	}
	email, password, errs := in.validate()
	if len(errs) > 0 {
		return fail(errs)
	}
	ctx := c.Request().Context()
	if err := h.store.AllowRegistration(ctx, c.RealIP()); err != nil {
		return err
	}
	acc, err := h.store.Register(ctx, email, password, client(c), h.composeVerify(c))
	if errors.Is(err, models.ErrEmailTaken) {
		return fail(views.Errors{"email": emailTaken})
	}
	if err != nil {
		return err
	}
	// Not SignIn: no attempt was reserved, so there is nothing to refund.
	id, row, err := h.store.SignInNewAccount(ctx, acc, client(c))
	if err != nil {
		return err
	}
	row.Account = acc
	if err := h.startSession(c, id, row); err != nil {
		return err
	}
	h.setDeviceCookie(c, acc.Email)
	if rd != "" {
		// Back to the app that sent the visitor here. No welcome flash: it
		// would wait in the visitor cookie and greet them on some later
		// Latchkey page instead.
		return redirect(c, rd)
	}
	if err := h.setFlash(c, "success", "Welcome! Your account is ready. We have emailed you a link to verify your address."); err != nil {
		return err
	}
	return redirect(c, h.path("/account"))
}
