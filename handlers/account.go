package handlers

import (
	"net/http"
	"strings"
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

// eventLabels names security events for people.
var eventLabels = map[string]string{
	models.EventRegistered:      "Account created",
	models.EventSignIn:          "Signed in",
	models.EventSignInFailed:    "Failed sign-in",
	models.EventSignOut:         "Signed out",
	models.EventPasswordChanged: "Password changed",
	models.EventResetRequested:  "Password reset requested",
	models.EventResetCompleted:  "Password reset completed",
	models.EventSessionsRevoked: "Signed out other devices",
	models.EventNotMe:           "“This wasn't me”: password locked, every device signed out",
}

func (h *Handler) account(c echo.Context) error {
	row, err := requireAccount(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	sessions, err := h.store.AccountSessions(ctx, row.AccountID)
	if err != nil {
		return err
	}
	events, err := models.RecentEvents(ctx, h.store.DB, row.AccountID, 20)
	if err != nil {
		return err
	}
	vm := views.AccountPage{Email: row.Account.Email, Verified: row.Account.EmailVerifiedAt != nil}
	for _, s := range sessions {
		vm.Sessions = append(vm.Sessions, views.SessionRow{
			ID: s.IDHash, Device: device(s.UserAgent), IP: s.IP,
			Created: stamp(s.CreatedAt), LastSeen: stamp(s.LastSeenAt), Current: s.IDHash == row.IDHash,
		})
	}
	for _, e := range events {
		if e.Kind == models.EventSignInFailed {
			vm.FailedSignIns++
		}
		vm.Events = append(vm.Events, views.EventRow{What: eventLabels[e.Kind], IP: e.IP, Device: device(e.UserAgent), When: stamp(e.CreatedAt)})
	}
	return h.render(c, http.StatusOK, views.AccountOverview(h.page(c, "Your account"), vm))
}

func (h *Handler) revokeSession(c echo.Context) error {
	row, err := requireAccount(c)
	if err != nil {
		return err
	}
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
	return redirect(c, "/account")
}

func (h *Handler) revokeOtherSessions(c echo.Context) error {
	row, err := requireAccount(c)
	if err != nil {
		return err
	}
	if _, err := h.store.RevokeOtherSessions(c.Request().Context(), row, client(c)); err != nil {
		return err
	}
	if err := h.setFlash(c, "success", "Every other device has been signed out."); err != nil {
		return err
	}
	return redirect(c, "/account")
}

// stamp formats a time for the account page.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

// device gives a short, readable name for a user agent.
func device(ua string) string {
	if ua == "" {
		return "Unknown device"
	}
	browser := "Browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Chromium/", "Chromium"}, {"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "Go client"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, s := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, s.token) {
			system = s.name
			break
		}
	}
	if system == "" {
		return browser
	}
	return browser + " on " + system
}
