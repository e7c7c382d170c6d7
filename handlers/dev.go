package handlers

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/notify"
	"github.com/latchkey-auth/latchkey/views"
)

// The /dev routes exist only in dev mode (BASE_URL not https), and only
// for clients on this machine (devLoopbackOnly).

// devLoopbackOnly hides the /dev routes from every client that is not on
// this machine: the dev mailbox lists every reset link, and a container
// listening on :8080 puts it on the network. The decision rests on the TCP
// peer address alone, whatever ADDR and TRUSTED_PROXIES say. A request
// carrying a forwarding header is refused as well, even from a loopback
// peer: a reverse proxy on the same machine would otherwise hand the
// mailbox to whoever it serves. Headers can only take access away here,
// never grant it.
//
// It runs after routing and after every other middleware, so a refused
// request gets exactly the 404 of a route that does not exist, whatever its
// method.
func (h *Handler) devLoopbackOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if isDevPath(c.Path()) || isDevPath(c.Request().URL.Path) || isDevPath(c.Request().URL.RawPath) {
			if !localClient(c.Request()) {
				return echo.ErrNotFound
			}
		}
		return next(c)
	}
}

func isDevPath(p string) bool { return p == "/dev" || strings.HasPrefix(p, "/dev/") }

// localClient reports whether r came straight from this machine: a
// loopback TCP peer, and no proxy in between.
func localClient(r *http.Request) bool {
	for _, name := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip", "X-Forwarded-Host"} {
		if _, ok := r.Header[name]; ok {
			return false
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// devMailbox lists the emails the dev mailbox received, and every email
// template rendered with sample data.
func (h *Handler) devMailbox(c echo.Context) error {
	vm := views.Mailbox{}
	if h.mailbox != nil {
		for _, d := range h.mailbox.Messages() {
			vm.Messages = append(vm.Messages, views.MailboxMessage{
				ID: d.ID, At: stamp(d.At), To: d.Msg.To, Subject: d.Msg.Subject, Text: d.Msg.Text,
				HTMLURL: "/dev/mailbox/" + strconv.Itoa(d.ID),
			})
		}
	}
	samples, err := h.sampleMessages(c.Request().Context())
	if err != nil {
		return err
	}
	vm.Samples = samples
	return h.render(c, http.StatusOK, views.MailboxPage(h.page(c, "Dev mailbox"), vm))
}

var sampleOrder = slices.Concat([]string{"reset", "changed", "goodbye", "passkey-added", "passkey-removed", "verify"}, notify.EmailChangeSampleNames, notify.FactorSampleNames)

// sampleMessages lists every email template with sample data for the
// mailbox and the styleguide.
func (h *Handler) sampleMessages(ctx context.Context) ([]views.MailboxMessage, error) {
	samples, err := h.sampleEmails(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]views.MailboxMessage, 0, len(sampleOrder))
	for _, name := range sampleOrder {
		m := samples[name]
		out = append(out, views.MailboxMessage{To: m.To, Subject: m.Subject, Text: m.Text, HTMLURL: "/dev/mailbox/sample/" + name})
	}
	return out, nil
}

// sampleEmails renders every email template with sample data.
func (h *Handler) sampleEmails(ctx context.Context) (map[string]models.Message, error) {
	return notify.Samples(ctx, h.baseURL, h.store.ResetTTL(), h.store.VerifyTTL())
}

// devMailboxHTML shows one email's HTML part. Email HTML uses inline
// styles, so this response gets a CSP of its own: styles allowed, scripts
// and everything else not, sandboxed.
func (h *Handler) devMailboxHTML(c echo.Context) error {
	var html string
	if name := c.Param("sample"); name != "" {
		samples, err := h.sampleEmails(c.Request().Context())
		if err != nil {
			return err
		}
		m, ok := samples[name]
		if !ok {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		html = m.HTML
	} else {
		id, err := strconv.Atoi(c.Param("id"))
		if err != nil || h.mailbox == nil {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		d, ok := h.mailbox.Message(id)
		if !ok {
			return echo.NewHTTPError(http.StatusNotFound)
		}
		html = d.Msg.HTML
	}
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox allow-popups")
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(http.StatusOK, []byte(html))
}

// devStyleguide renders every component in every state from the fixtures
// in views/fixtures.go, and each page in its interesting states.
func (h *Handler) devStyleguide(c echo.Context) error {
	p := h.page(c, "Styleguide")
	switch page := c.Param("page"); page {
	case "":
		emails, err := h.sampleMessages(c.Request().Context())
		if err != nil {
			return err
		}
		return h.render(c, http.StatusOK, views.StyleguidePage(p, emails))
	case "register":
		return h.render(c, http.StatusOK, views.RegisterPage(p, views.StyleguideRegisterErrors))
	case "forgot":
		return h.render(c, http.StatusOK, views.ForgotPage(p, views.StyleguideForgotSent))
	case "reset":
		return h.render(c, http.StatusOK, views.ResetPage(p, views.StyleguideReset))
	case "password":
		return h.render(c, http.StatusOK, views.ChangePasswordPage(p, views.StyleguideChange))
	case "account":
		a := views.StyleguideAccount
		a.Passkeys.Script = h.assets.urls.Passkeys
		p.SignedIn, p.Email = true, a.Email
		return h.render(c, http.StatusOK, views.AccountOverview(p, a))
	case "reset-invalid":
		return h.render(c, http.StatusOK, views.ResetInvalidPage(p))
	case "delete", "delete-error":
		p.SignedIn, p.Email = true, views.StyleguideDelete.Email
		vm := views.StyleguideDelete
		if page == "delete" {
			vm.Errors, vm.Focus = nil, ""
		}
		return h.render(c, http.StatusOK, views.DeleteAccountPage(p, vm))
	case "login-passkey":
		return h.render(c, http.StatusOK, views.LoginPage(p, views.StyleguideLoginPasskey))
	case "passkey-remove":
		p.SignedIn, p.Email = true, views.StyleguideAccount.Email
		return h.render(c, http.StatusOK, views.PasskeyRemovePage(p, views.StyleguidePasskeyRemove))
	case "passkeys-none", "passkeys-nojs", "passkeys-some":
		a := views.StyleguideAccount
		a.Passkeys = views.StyleguidePasskeyStates[page]
		a.Passkeys.Script = h.assets.urls.Passkeys
		p.SignedIn, p.Email = true, a.Email
		return h.render(c, http.StatusOK, views.AccountOverview(p, a))
	case "email": // change of address
		p.SignedIn, p.Email = true, views.StyleguideChangeEmail.Current
		return h.render(c, http.StatusOK, views.ChangeEmailPage(p, views.StyleguideChangeEmail))
	case "email-confirmed", "email-confirmed-signed-out", "email-in-use", "email-link-invalid":
		r := views.StyleguideEmailConfirm[page]
		p.SignedIn = r.SignedIn
		if r.SignedIn {
			p.Email = r.Email
		}
		return h.render(c, http.StatusOK, views.EmailConfirmPage(p, r))
	case "account-unverified":
		p.SignedIn, p.Email = true, views.StyleguideAccountUnverified.Email
		return h.render(c, http.StatusOK, views.AccountOverview(p, views.StyleguideAccountUnverified))
	case "verify-email-" + views.VerifyStateVerified, "verify-email-" + views.VerifyStateAlready, "verify-email-" + views.VerifyStateInvalid:
		vm := views.StyleguideVerifyEmail[strings.TrimPrefix(page, "verify-email-")]
		p.SignedIn, p.Email = vm.SignedIn, vm.Email
		return h.render(c, http.StatusOK, views.VerifyEmailResultPage(p, vm))
	case "two-step-off", "two-step-pending", "two-step-pending-error", "two-step-on", "two-step-disable-errors", "recovery-codes", "login-2fa", "login-2fa-error":
		return h.devStyleguideTwoStep(c, p, page)
	default:
		return echo.NewHTTPError(http.StatusNotFound)
	}
}

// devStyleguideError renders one error page.
func (h *Handler) devStyleguideError(c echo.Context) error {
	status, _ := strconv.Atoi(c.Param("status")) // a bad number matches no fixture
	for _, e := range views.StyleguideErrors {
		if e.Status == status {
			return h.render(c, http.StatusOK, views.ErrorView(h.page(c, e.Title), e))
		}
	}
	return echo.NewHTTPError(http.StatusNotFound)
}

// devStyleguideForbidden renders /auth/verify's 403 page for one reason,
// with absolute links as the proxy would show it.
func (h *Handler) devStyleguideForbidden(c echo.Context) error {
	for _, f := range views.StyleguideForbidden {
		if f.Reason == c.Param("reason") {
			f.Link, f.Stylesheet = h.absURL(f.Link), h.fa.stylesheet
			return h.render(c, http.StatusOK, views.ForbiddenPage(f))
		}
	}
	return echo.NewHTTPError(http.StatusNotFound)
}

// devStyleguideTwoStep renders the two-step sign-in pages in each state.
func (h *Handler) devStyleguideTwoStep(c echo.Context, p views.Page, page string) error {
	p.Title = "Two-step sign-in"
	signedIn := func() { p.SignedIn, p.Email = true, "ann@example.com" }
	var comp templ.Component
	switch page {
	case "two-step-off":
		signedIn()
		comp = views.TwoStepSetupPage(p, views.TwoStepPage{State: views.TwoStepOff, Email: "ann@example.com"})
	case "two-step-pending":
		signedIn()
		comp = views.TwoStepSetupPage(p, views.StyleguideTwoStepPending)
	case "two-step-pending-error":
		signedIn()
		comp = views.TwoStepSetupPage(p, views.StyleguideTwoStepPendingError)
	case "two-step-on":
		signedIn()
		comp = views.TwoStepSetupPage(p, views.StyleguideTwoStepOn)
	case "two-step-disable-errors":
		signedIn()
		comp = views.TwoStepSetupPage(p, views.StyleguideTwoStepDisableErrors)
	case "recovery-codes":
		signedIn()
		comp = views.RecoveryCodes(p, views.StyleguideRecoveryCodes)
	case "login-2fa":
		comp = views.LoginTwoStepPage(p, views.LoginTwoStepForm{})
	default: // "login-2fa-error"
		comp = views.LoginTwoStepPage(p, views.StyleguideLoginTwoStepError)
	}
	return h.render(c, http.StatusOK, comp)
}

// devStyleguideQR is the QR code of the styleguide's sample secret.
func (h *Handler) devStyleguideQR(c echo.Context) error {
	key, err := otp.NewKeyFromURL(views.StyleguideTwoStepPending.OTPAuthURL)
	if err != nil {
		return err
	}
	return sendQR(c, key)
}
