package handlers

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/handlers/auth"
	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/views"
)

// sessionCookieName names the session cookie. Under https it carries the
// __Host- prefix, which the browser only accepts with Secure, Path=/ and
// no Domain; with COOKIE_DOMAIN the cookie needs a Domain (so every app on
// a subdomain receives it), and so takes the __Secure- prefix instead,
// which still insists on Secure.
func sessionCookieName(secure bool, domain string) string {
	switch {
	case secure && domain != "":
		return "__Secure-latchkey_session"
	case secure:
		return "__Host-latchkey_session"
	}
	return "latchkey_session"
}

// visitorCookieName names the visitor cookie (flash, pending reset). It
// stays host-only under COOKIE_DOMAIN, like the device cookie: only
// Latchkey reads them, so no app on a sibling subdomain needs to receive
// them, and the __Host- prefix keeps those apps from planting or
// overwriting them.
func visitorCookieName(secure bool) string {
	if secure {
		return "__Host-latchkey_visitor"
	}
	return "latchkey_visitor"
}

// Keys of values kept in sessions.
const (
	keyRow       = "row"        // *models.Session, in the database store
	keyFlashKind = "flash_kind" // visitor cookie
	keyFlashMsg  = "flash_msg"  // visitor cookie
	keyResetHash = "reset_hash" // visitor cookie: the hash of a pending reset code
)

// dbStore is a gorilla sessions.Store whose sessions live in the database:
// the cookie holds only a random id, the row its SHA-256, the account, the
// IP, the user agent and the times that enforce the idle and absolute
// lifetimes. Rows exist only for signed-in users.
type dbStore struct {
	store  *models.Store
	secure bool
	// domain is COOKIE_DOMAIN ("": a host-only cookie).
	domain string
	// name is the cookie's name (sessionCookieName).
	name string
}

func newDBStore(store *models.Store, secure bool, domain string) *dbStore {
	return &dbStore{store: store, secure: secure, domain: domain, name: sessionCookieName(secure, domain)}
}

// options are the cookie's attributes. Clearing the cookie at sign-out
// uses them too: a Domain cookie is only removed by a Set-Cookie with the
// same Domain.
func (s *dbStore) options() *sessions.Options {
	return &sessions.Options{
		Path:     "/",
		Domain:   s.domain,
		MaxAge:   int(s.store.SessionMax().Seconds()),
		Secure:   s.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
}

// Get returns the request's session, loading it once per request.
func (s *dbStore) Get(r *http.Request, name string) (*sessions.Session, error) {
	return sessions.GetRegistry(r).Get(s, name)
}

// New loads the session named by the cookie, if it is live.
func (s *dbStore) New(r *http.Request, name string) (*sessions.Session, error) {
	sess := sessions.NewSession(s, name)
	sess.Options = s.options()
	sess.IsNew = true
	cookie, err := r.Cookie(name)
	if err != nil || cookie.Value == "" || len(cookie.Value) > 100 {
		return sess, nil
	}
	row, err := s.store.LoadSession(r.Context(), cookie.Value)
	if errors.Is(err, models.ErrSessionNotFound) {
		return sess, nil
	}
	if err != nil {
		return sess, err
	}
	sess.ID = cookie.Value
	sess.IsNew = false
	sess.Values[keyRow] = row
	return sess, nil
}

// Save writes the cookie for a session started with startSession, or
// deletes the row and the cookie when MaxAge < 0.
func (s *dbStore) Save(r *http.Request, w http.ResponseWriter, sess *sessions.Session) error {
	if sess.Options.MaxAge < 0 {
		if row, ok := sess.Values[keyRow].(*models.Session); ok {
			if err := s.store.DeleteSession(r.Context(), row.IDHash); err != nil {
				return err
			}
		}
		http.SetCookie(w, sessions.NewCookie(sess.Name(), "", sess.Options))
		return nil
	}
	if sess.ID != "" {
		http.SetCookie(w, sessions.NewCookie(sess.Name(), sess.ID, sess.Options))
	}
	return nil
}

// newVisitorStore keeps a signed-out visitor's flash and pending reset in a
// short-lived cookie, encrypted and authenticated with keys derived from
// SESSION_SECRET, so no GET ever writes to the database.
func newVisitorStore(secret []byte, secure bool, ttl time.Duration) *sessions.CookieStore {
	st := sessions.NewCookieStore(
		models.DeriveKey(secret, models.KeyCookieHash),
		models.DeriveKey(secret, models.KeyCookieBlock),
	)
	st.Options = &sessions.Options{
		Path:     "/",
		Secure:   secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	// The same lifetime in the browser and in the codec (which otherwise
	// accepts a copied cookie for 30 days): long enough for a pending
	// reset, never less than an hour.
	st.MaxAge(int(max(ttl, time.Hour).Seconds()))
	return st
}

// loadSession middleware puts the live session row (if any) in the
// request's context, where auth.SessionFrom finds it once it is signed
// in. Probes and static files skip it: they must not depend on the
// database. The forward-auth routes skip it too: they look the session up
// through the session cache themselves (verify.go).
func (h *Handler) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		switch p := c.Request().URL.Path; {
		case p == "/healthz", p == "/readyz", strings.HasPrefix(p, "/assets/"), p == pathVerify, p == pathWhoami:
			return next(c)
		}
		// No cookie, no session: skip the store (and its per-request
		// registry) entirely.
		if _, err := c.Request().Cookie(h.sessions.name); err != nil {
			return next(c)
		}
		sess, err := h.sessions.Get(c.Request(), h.sessions.name)
		if err != nil {
			return err
		}
		if row, ok := sess.Values[keyRow].(*models.Session); ok {
			setSession(c, row)
		}
		return next(c)
	}
}

// requireSignedIn guards the signed-in routes: a visitor who is not
// signed in is sent to sign in (303, or HX-Redirect for htmx), with the
// page to come back to when it was a GET of a page other than /account.
func (h *Handler) requireSignedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if _, ok := auth.SessionFrom(c.Request().Context()); ok {
			return next(c)
		}
		to := h.path("/account/login")
		if r := c.Request(); r.Method == http.MethodGet && r.URL.Path != "/account" {
			// next is a path on the origin: the page's, prefix included.
			to += "?next=" + h.path(r.URL.Path)
		}
		return redirect(c, to)
	}
}

// signedIn returns the session requireSignedIn admitted. Only handlers of
// the signed-in routes call it, so a missing session is a routing bug: it
// panics (a 500 through recoverPanics) rather than serve the page.
func signedIn(c echo.Context) *models.Session {
	row, ok := auth.SessionFrom(c.Request().Context())
	if !ok {
		panic("handlers: " + c.Path() + " is not behind requireSignedIn")
	}
	return row
}

// currentSession returns the signed-in session, or nil; a session whose
// sign-in is not complete counts as none.
func currentSession(c echo.Context) *models.Session {
	if row, ok := auth.SessionFrom(c.Request().Context()); ok {
		return row
	}
	return nil
}

// currentAccount returns the signed-in account, or nil.
func currentAccount(c echo.Context) *models.Account {
	if acc, ok := auth.AccountFrom(c.Request().Context()); ok {
		return acc
	}
	return nil
}

// setSession makes row (nil: none) the session the rest of the request
// sees.
func setSession(c echo.Context, row *models.Session) {
	r := c.Request()
	c.SetRequest(r.WithContext(auth.WithSession(r.Context(), row)))
}

// startSession sets the cookie for a freshly created session row,
// replacing (and deleting) any previous one, whatever its state: a new id
// at every sign-in.
func (h *Handler) startSession(c echo.Context, id string, row *models.Session) error {
	sess, err := h.sessions.Get(c.Request(), h.sessions.name)
	if err != nil {
		return err
	}
	if old, ok := sess.Values[keyRow].(*models.Session); ok && old.IDHash != row.IDHash {
		if err := h.store.DeleteSession(c.Request().Context(), old.IDHash); err != nil {
			return err
		}
	}
	sess.ID = id
	sess.IsNew = false
	sess.Values[keyRow] = row
	setSession(c, row)
	return sess.Save(c.Request(), c.Response())
}

// endSession deletes the session row and clears the cookie.
func (h *Handler) endSession(c echo.Context) error {
	sess, err := h.sessions.Get(c.Request(), h.sessions.name)
	if err != nil {
		return err
	}
	sess.Options.MaxAge = -1
	setSession(c, nil)
	return sess.Save(c.Request(), c.Response())
}

// visitorSession returns the visitor cookie session; a cookie that fails
// to decode (old key, tampering) is simply replaced.
func (h *Handler) visitorSession(c echo.Context) *sessions.Session {
	sess, err := h.visitor.Get(c.Request(), visitorCookieName(h.secure))
	if err != nil {
		sess, _ = h.visitor.New(c.Request(), visitorCookieName(h.secure))
		// New returns the decode error again alongside a usable session.
	}
	return sess
}

// setFlash stores a message for the next page.
func (h *Handler) setFlash(c echo.Context, kind, msg string) error {
	sess := h.visitorSession(c)
	sess.Values[keyFlashKind] = kind
	sess.Values[keyFlashMsg] = msg
	return sess.Save(c.Request(), c.Response())
}

// popFlash returns and clears the pending flash, if any.
func (h *Handler) popFlash(c echo.Context) *views.Flash {
	if _, err := c.Request().Cookie(visitorCookieName(h.secure)); err != nil {
		return nil
	}
	sess := h.visitorSession(c)
	msg, _ := sess.Values[keyFlashMsg].(string)
	kind, _ := sess.Values[keyFlashKind].(string)
	if msg == "" {
		return nil
	}
	delete(sess.Values, keyFlashMsg)
	delete(sess.Values, keyFlashKind)
	h.saveVisitor(c, sess)
	return &views.Flash{Kind: kind, Message: msg}
}

// saveVisitor writes the visitor cookie, or deletes it once empty.
func (h *Handler) saveVisitor(c echo.Context, sess *sessions.Session) {
	if len(sess.Values) == 0 {
		sess.Options.MaxAge = -1
	}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		h.log.WarnContext(c.Request().Context(), "visitor cookie: save failed", "err", err)
	}
}
