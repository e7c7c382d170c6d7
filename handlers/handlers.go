// Package handlers serves Latchkey over HTTP: routes, middleware and one
// file per action. Handlers return errors; one error handler renders them.
package handlers

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/handlers/returnto"
	"github.com/latchkey-auth/latchkey/internal/metrics"
	"github.com/latchkey-auth/latchkey/mail"
	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/notify"
)

// Deps is everything the handlers need, built once by main.
type Deps struct {
	Store *models.Store
	Log   *slog.Logger
	// BaseURL is the public origin, optionally with a path prefix under
	// which every route lives (SPEC §7): the only source of hosts in
	// emailed links, and (scheme and host) a trusted origin for
	// cross-origin checks.
	BaseURL *url.URL
	// Secret is SESSION_SECRET; purpose keys are derived from it.
	Secret []byte
	// DevMode enables /dev/*; Mailbox is the dev mailbox (nil with SMTP).
	DevMode bool
	Mailbox *mail.Mailbox
	// Assets holds the static files (the embedded assets/ folder).
	Assets fs.FS
	// TrustedProxies are the networks whose X-Forwarded-For is believed.
	TrustedProxies []*net.IPNet
	// MaxBodyBytes caps request bodies (413 above).
	MaxBodyBytes int64
	// Version is reported by /healthz.
	Version string
	// Metrics, if set, records request counts and latency.
	Metrics *metrics.Metrics
	// CookieDomain is COOKIE_DOMAIN (already validated), or "": the
	// session cookie's Domain, the return targets' parent domain and the
	// origins a same-site sign-out may come from.
	CookieDomain string
	// RequireVerifiedEmail and RequireMFA make /auth/verify refuse (403)
	// unverified addresses and sign-ins without a second factor.
	RequireVerifiedEmail bool
	RequireMFA           bool
}

// Handler holds the dependencies of every route.
type Handler struct {
	store    *models.Store
	log      *slog.Logger
	baseURL  *url.URL
	basePath string // BASE_URL's path prefix ("/latchkey" or ""): stripBase, path
	secure   bool
	devMode  bool
	mailbox  *mail.Mailbox
	assets   *assetSet
	sessions *dbStore
	visitor  *sessions.CookieStore
	cop      *http.CrossOriginProtection
	proxies  []*net.IPNet
	maxBody  int64
	version  string
	devices  *models.DeviceCookies
	metrics  *metrics.Metrics
	cache    pageCache
	// returnTo is the one return-target rule (SPEC §7) for every rd.
	returnTo returnto.Rule
	// cookieDomain is COOKIE_DOMAIN, or "".
	cookieDomain string
	// csp is the Content-Security-Policy header (formActionPolicy).
	csp []string
	// fa holds what /auth/verify and /auth/whoami need (verify.go).
	fa forwardAuth
	// rp is the WebAuthn relying party (passkeys.go); nil when BASE_URL's
	// host is an IP address, where passkeys cannot work.
	rp *relyingParty
	// idPrefix and idCounter make request ids.
	idPrefix  string
	idCounter atomic.Uint64
}

// New builds the handlers from their dependencies.
func New(d Deps) (*Handler, error) {
	assets, err := loadAssets(d.Assets)
	if err != nil {
		return nil, err
	}
	secure := d.BaseURL.Scheme == "https"
	h := &Handler{
		store: d.Store, log: d.Log, baseURL: d.BaseURL, basePath: strings.TrimSuffix(d.BaseURL.Path, "/"), secure: secure,
		devMode: d.DevMode, mailbox: d.Mailbox, assets: assets,
		proxies: d.TrustedProxies, maxBody: d.MaxBodyBytes, version: d.Version,
		devices: models.NewDeviceCookies(d.Secret),
		metrics: d.Metrics,
	}
	prefix := make([]byte, 4)
	_, _ = rand.Read(prefix) // crypto/rand.Read never fails (Go 1.24+).
	h.idPrefix = hex.EncodeToString(prefix)
	if h.maxBody <= 0 {
		h.maxBody = 64 << 10
	}
	h.cookieDomain = d.CookieDomain
	// "Dev mode" in the SPEC's sense: BASE_URL is not https. (DevMode
	// governs the /dev routes, which tests switch off on http servers.)
	h.returnTo = returnto.Rule{Host: strings.ToLower(d.BaseURL.Hostname()), CookieDomain: d.CookieDomain, AllowHTTP: !secure}
	h.csp = one(formActionPolicy(h.returnTo))
	h.sessions = newDBStore(d.Store, secure, d.CookieDomain)
	h.fa = newForwardAuth(d, h.absURL, h.assets.urls.CSS)
	h.visitor = newVisitorStore(d.Secret, secure, d.Store.ResetTTL())
	if h.rp, err = newRelyingParty(d.BaseURL); err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	h.cop = http.NewCrossOriginProtection()
	if err := h.cop.AddTrustedOrigin(d.BaseURL.Scheme + "://" + d.BaseURL.Host); err != nil {
		return nil, err
	}
	// Refusals go through our own middleware (and so the error handler).
	h.cop.SetDenyHandler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	return h, nil
}

// Echo returns the configured server: middleware, routes and the error
// handler.
func (h *Handler) Echo() *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = h.handleError
	e.IPExtractor = h.ipExtractor()

	mw := []echo.MiddlewareFunc{h.requestID, h.logRequests, h.recoverPanics, h.securityHeaders}
	if h.basePath != "" {
		// Routes are mounted under BASE_URL's path: stripBase routes
		// /latchkey/account as /account, and a request outside the
		// prefix gets the 404 page with every header (outsideBase).
		e.Pre(h.stripBase)
		mw = append(mw, h.outsideBase)
	}
	e.Use(append(mw, h.crossOrigin, h.limitBody, h.loadSession)...)
	if h.devMode {
		// Last, so a refusal is the 404 of a route that does not exist.
		e.Use(h.devLoopbackOnly)
	}

	// Every path below is under BASE_URL's path prefix, if it has one
	// (stripBase): /latchkey/healthz, /latchkey/assets/…, /latchkey/account.
	e.GET("/", h.home)
	e.GET("/healthz", h.healthz)
	e.GET("/readyz", h.readyz)
	e.GET("/assets/:name", h.asset)
	e.HEAD("/assets/:name", h.asset)

	// Forward auth (SPEC §7): the proxy's check and the JSON identity.
	e.GET(pathVerify, h.verify)
	e.HEAD(pathVerify, h.verify)
	e.GET(pathWhoami, h.whoami)

	// Signed-in pages: one guard admits only a signed-in session, and the
	// handlers read it from the request's context.
	signedIn := guarded{e: e, guard: h.requireSignedIn}
	signedIn.GET("/account", h.account)
	signedIn.GET("/account/password", h.changePasswordPage)
	signedIn.POST("/account/password", h.changePassword)
	signedIn.POST("/account/sessions/revoke", h.revokeSession)
	signedIn.POST("/account/sessions/revoke-others", h.revokeOtherSessions)
	// The owner's data (SPEC §8): delete the account, download its data.
	signedIn.GET("/account/delete", h.deleteAccountPage)
	signedIn.POST("/account/delete", h.deleteAccount)
	signedIn.GET("/account/export", h.exportAccount)
	// Change of address (SPEC §8): asked for signed in; the emailed link
	// works signed in or not.
	signedIn.GET("/account/email", h.changeEmailPage)
	signedIn.POST("/account/email", h.changeEmail)
	e.GET(notify.ConfirmEmailPath, h.confirmEmail)

	// Two-step sign-in (TOTP and recovery codes, SPEC §9): the signed-in
	// set-up page and its QR code (twostep.go), and the second step of
	// signing in, for a session whose password was right
	// (login_2fa.go; not behind the guard, which admits only signed-in
	// sessions).
	signedIn.GET("/account/2fa", h.twoStepPage)
	signedIn.POST("/account/2fa", h.twoStep)
	signedIn.GET(twoStepQRRoute, h.twoStepQR)
	e.GET(loginSecondStepRoute, h.loginSecondStepPage)
	e.POST(loginSecondStepRoute, h.loginSecondStep)

	e.GET("/account/register", h.registerPage)
	e.POST("/account/register", h.register)
	e.GET("/account/login", h.loginPage)
	e.POST("/account/login", h.login)
	e.POST(logoutRoute, h.logout)
	e.GET("/account/forgot-password", h.forgotPage)
	e.POST("/account/forgot-password", h.forgotPassword)
	e.GET("/account/reset-password", h.resetPage)
	e.POST("/account/reset-password", h.resetPassword)
	e.GET("/account/not-me", h.notMePage)
	e.POST("/account/not-me", h.notMe)
	e.POST("/account/validate/email", h.validateEmail)
	e.POST("/account/validate/password", h.validatePassword)

	// Passkeys (passkeys.go): the WebAuthn ceremonies are same-origin
	// JSON endpoints (the cross-origin check covers them like every POST);
	// removal is a plain form with a confirmation page.
	signedIn.POST("/account/passkeys/register/begin", h.jsonAPI(h.beginPasskeyRegistration))
	signedIn.POST("/account/passkeys/register/finish", h.jsonAPI(h.finishPasskeyRegistration))
	signedIn.GET("/account/passkeys/remove", h.passkeyRemovePage)
	signedIn.POST("/account/passkeys/remove", h.removePasskey)
	e.POST("/account/login/passkey/begin", h.jsonAPI(h.beginPasskeySignIn))
	e.POST("/account/login/passkey/finish", h.jsonAPI(h.finishPasskeySignIn))

	// Email verification (SPEC §8): the emailed link works signed in or
	// out; the resend button is on the account page.
	e.GET("/account/verify-email", h.verifyEmail)
	signedIn.POST("/account/verify-email/resend", h.resendVerification)

	if h.devMode { // loopback clients only (devLoopbackOnly)
		e.GET("/dev/mailbox", h.devMailbox)
		e.GET("/dev/mailbox/:id", h.devMailboxHTML)
		e.GET("/dev/mailbox/sample/:sample", h.devMailboxHTML)
		e.GET("/dev/styleguide", h.devStyleguide)
		e.GET("/dev/styleguide/:page", h.devStyleguide)
		e.GET("/dev/styleguide/error/:status", h.devStyleguideError)
		e.GET("/dev/styleguide/forbidden/:reason", h.devStyleguideForbidden)
		e.GET("/dev/styleguide/qr.png", h.devStyleguideQR) // before :page, by Echo's static-first routing
	}
	return e
}

// guarded is a group of routes behind one middleware. It stands in for
// echo.Group, whose Use also registers catch-all routes under the group's
// prefix: behind a guard, every unknown /account/… path and every wrong
// method would then answer with the guard's redirect instead of 404 or
// 405.
type guarded struct {
	e     *echo.Echo
	guard echo.MiddlewareFunc
}

// GET adds a GET route behind the group's guard.
func (g guarded) GET(path string, fn echo.HandlerFunc) { g.e.GET(path, fn, g.guard) }

// POST adds a POST route behind the group's guard.
func (g guarded) POST(path string, fn echo.HandlerFunc) { g.e.POST(path, fn, g.guard) }

// Server wraps the Echo instance in an http.Server with every timeout set.
func (h *Handler) Server(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h.Echo(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelWarn),
	}
}

func (h *Handler) ipExtractor() echo.IPExtractor {
	if len(h.proxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range h.proxies {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// client describes the requester for records and emails.
func client(c echo.Context) models.Client {
	return models.Client{IP: c.RealIP(), UserAgent: c.Request().UserAgent()}
}
