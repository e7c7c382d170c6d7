package handlers

import (
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

func (h *Handler) home(c echo.Context) error {
	return h.renderShared(c, "home", func() templ.Component {
		return views.Home(h.page(c, "Welcome"))
	})
}

func (h *Handler) account(c echo.Context) error {
	row := signedIn(c)
	ctx := c.Request().Context()
	sessions, err := h.store.AccountSessions(ctx, row.AccountID)
	if err != nil {
		return err
	}
	events, err := h.store.RecentEvents(ctx, row.AccountID, 20)
	if err != nil {
		return err
	}
	vm := views.AccountPage{Email: row.Account.Email, Verified: row.Account.EmailVerifiedAt != nil}
	if vm.Passkeys, err = h.passkeySection(ctx, row.AccountID); err != nil {
		return err
	}
	if vm.TwoStep, err = h.twoStepSummary(c, row.AccountID); err != nil {
		return err
	}
	for _, s := range sessions {
		vm.Sessions = append(vm.Sessions, views.SessionRow{
			ID: s.IDHash, Device: views.DeviceName(s.UserAgent), IP: s.IP,
			Created: stamp(s.CreatedAt), LastSeen: stamp(s.LastSeenAt), Current: s.IDHash == row.IDHash,
		})
	}
	for _, e := range events {
		if e.Kind == models.EventSignInFailed {
			vm.FailedSignIns++
		}
		vm.Events = append(vm.Events, views.EventRow{What: e.Kind.Label(), IP: e.IP, Device: views.DeviceName(e.UserAgent), When: stamp(e.CreatedAt)})
	}
	return h.render(c, http.StatusOK, views.AccountOverview(h.page(c, "Your account"), vm))
}

func (h *Handler) revokeSession(c echo.Context) error {
	row := signedIn(c)
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	target, err := f.text("session")
	if err != nil {
		return err
	}
	if !models.ValidCodeHash(target) {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	if target == row.IDHash {
		return h.logout(c)
	}
	if err := h.store.RevokeSession(c.Request().Context(), row.AccountID, target); err != nil {
		return err
	}
	if err := h.setFlash(c, "success", "That device has been signed out."); err != nil {
		return err
	}
	return redirect(c, h.path("/account"))
}

func (h *Handler) revokeOtherSessions(c echo.Context) error {
	row := signedIn(c)
	if _, err := h.store.RevokeOtherSessions(c.Request().Context(), row, client(c)); err != nil {
		return err
	}
	if err := h.setFlash(c, "success", "Every other device has been signed out."); err != nil {
		return err
	}
	return redirect(c, h.path("/account"))
}

// stamp formats a time for the account page.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }
