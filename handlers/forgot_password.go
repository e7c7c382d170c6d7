package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

var forgotView = formView[views.ForgotForm]{title: "Reset your password", fragment: views.ForgotFormFragment, page: views.ForgotPage}

func (h *Handler) forgotPage(c echo.Context) error {
	return h.renderShared(c, "forgot", func() templ.Component {
		return forgotView.fullPage(h, c, views.ForgotForm{})
	})
}

// forgotFloor is the least time a forgot-password answer takes. Known and
// unknown addresses already do the same work; the floor hides what is
// left (an insert or two, the worker waking) from anyone timing answers.
const forgotFloor = 100 * time.Millisecond

// forgotPassword answers every well-formed address the same way (200, the
// same page, the same time); RequestReset does the same work for unknown
// addresses.
func (h *Handler) forgotPassword(c echo.Context) error {
	start := time.Now()
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	raw, err := f.text("email")
	if err != nil {
		return err
	}
	email, verr := models.NormalizeEmail(raw)
	if verr != nil {
		return forgotView.answer(h, c, http.StatusUnprocessableEntity, views.ForgotForm{Email: raw, Errors: views.Errors{"email": fieldMessage(verr)}, Focus: "email"})
	}
	ctx := c.Request().Context()
	if err := h.store.AllowForgotPost(ctx, c.RealIP()); err != nil {
		return err
	}
	if err := h.store.RequestReset(ctx, email, client(c), h.composeReset(c)); err != nil {
		return err
	}
	padUntil(ctx, start.Add(forgotFloor))
	return forgotView.answer(h, c, http.StatusOK, views.ForgotForm{Email: email, Sent: true})
}

// padUntil sleeps until t (or until the request is abandoned).
func padUntil(ctx context.Context, t time.Time) {
	d := time.Until(t)
	if d <= 0 {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
	case <-timer.C:
	}
}
