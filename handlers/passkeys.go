package handlers

// Passkeys (SPEC §9): registering one from /account, signing in with one
// from the sign-in page, removing one. The WebAuthn ceremonies are four
// same-origin JSON endpoints driven by assets/passkeys.js; go-webauthn
// checks the protocol (challenge, origin, RP id hash, signature, user
// verification, flags), the store keeps the credentials and the
// ceremonies between begin and finish (single use, CeremonyTTL).

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/notify"
	"github.com/latchkey-auth/latchkey/views"
)

// Body caps of the JSON endpoints, well under the global cap: a begin
// carries a name or nothing, a finish one credential ("none" attestation,
// a COSE key, client data of a few hundred bytes).
const (
	maxBeginBody  = 1 << 10
	maxFinishBody = 16 << 10
)

// keyCeremony keys the raw token of the visitor's pending WebAuthn
// ceremony in the visitor cookie.
const keyCeremony = "webauthn_ceremony"

// relyingParty is the WebAuthn relying party: its id is BASE_URL's host
// and its only origin BASE_URL's origin.
type relyingParty struct {
	*webauthn.WebAuthn
	id string
}

// newRelyingParty configures go-webauthn for BASE_URL, or returns nil when
// BASE_URL's host is an IP address: a relying party id must be a domain
// name (browsers refuse IP addresses), so such a server offers no
// passkeys.
//
// The RP id is BASE_URL's host, not COOKIE_DOMAIN: ceremonies only ever
// run on BASE_URL's origin, and the narrower id keeps the apps on sibling
// subdomains (which COOKIE_DOMAIN covers, and which may be less trusted)
// from running ceremonies with Latchkey's passkeys at all. The price: the
// passkeys belong to that host, so moving Latchkey to another host
// leaves them behind.
func newRelyingParty(base *url.URL) (*relyingParty, error) {
	host := strings.ToLower(base.Hostname())
	if net.ParseIP(host) != nil {
		return nil, nil
	}
	timeout := webauthn.TimeoutConfig{Enforce: true, Timeout: models.CeremonyTTL, TimeoutUVD: models.CeremonyTTL}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: "Latchkey",
		RPOrigins:     []string{strings.ToLower(base.Scheme + "://" + base.Host)},
		// No attestation: Latchkey trusts no authenticator model over
		// another, and "none" asks the browser for nothing identifying.
		AttestationPreference: protocol.PreferNoAttestation,
		// Discoverable credentials (the sign-in page knows no user), and
		// user verification (screen lock) always: a passkey sign-in counts
		// as two factors (MFA).
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, err
	}
	return &relyingParty{WebAuthn: w, id: host}, nil
}

// passkeyUser is an account as go-webauthn sees it. The user handle is
// the account's public id (16 random bytes): stable, opaque, and already
// unique, so it needs no table of its own.
type passkeyUser struct {
	acc  *models.Account
	keys []models.Passkey
}

func (u passkeyUser) WebAuthnID() []byte {
	b, _ := hex.DecodeString(u.acc.PublicID) // always 32 hex digits (NewPublicID)
	return b
}
func (u passkeyUser) WebAuthnName() string        { return u.acc.Email }
func (u passkeyUser) WebAuthnDisplayName() string { return u.acc.Email }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(u.keys))
	for i, k := range u.keys {
		var transports []protocol.AuthenticatorTransport
		for _, t := range strings.Split(k.Transports, ",") {
			if t != "" {
				transports = append(transports, protocol.AuthenticatorTransport(t))
			}
		}
		out[i] = webauthn.Credential{
			ID: k.CredentialID, PublicKey: k.PublicKey,
			AttestationType: k.AttestationType, AttestationFormat: k.AttestationFormat,
			Transport: transports,
			Flags:     webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(k.Flags)),
			Authenticator: webauthn.Authenticator{
				AAGUID: k.AAGUID, SignCount: k.SignCount, Attachment: protocol.AuthenticatorAttachment(k.Attachment),
			},
		}
	}
	return out
}

// knownTransports are the transports stored from what a browser reports;
// anything else is dropped.
var knownTransports = []protocol.AuthenticatorTransport{
	protocol.USB, protocol.NFC, protocol.BLE, protocol.SmartCard, protocol.Hybrid, protocol.Internal,
}

// apiError is a JSON endpoint's refusal: {"error": Code, "message":
// Message, "field": Field}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"error"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func (e *apiError) Error() string { return strconv.Itoa(e.Status) + " " + e.Code }

// Refusals the JSON endpoints share.
var (
	errJSONType      = &apiError{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Message: "Send JSON."}
	errJSONTooBig    = &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "What you sent is larger than this accepts."}
	errJSONMalformed = &apiError{Status: http.StatusBadRequest, Code: "malformed", Message: "The request could not be understood."}
	errCeremony      = &apiError{Status: http.StatusBadRequest, Code: "ceremony_expired", Message: "This passkey request has expired or was already used. Please try again."}
	errPasskeyOff    = &apiError{Status: http.StatusNotFound, Code: "passkeys_unavailable", Message: "Passkeys are not available on this server."}
)

// jsonAPI wraps a JSON endpoint: its *apiError and rate-limit refusals
// are answered in JSON; anything else goes to the one error handler.
func (h *Handler) jsonAPI(fn echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := fn(c)
		var ae *apiError
		var limited *models.LimitedError
		switch {
		case errors.As(err, &ae):
			return sendJSON(c, ae.Status, ae)
		case errors.As(err, &limited):
			retryAfter(c, limited.RetryAfter)
			return sendJSON(c, http.StatusTooManyRequests, &apiError{Code: "rate_limited", Message: "Too many attempts. Please wait a little before trying again."})
		}
		return err
	}
}

// sendJSON answers with v, never cached.
func sendJSON(c echo.Context, status int, v any) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, v)
}

// readJSON decodes a JSON request body strictly into v: Content-Type
// application/json (415), at most limit bytes (413), valid UTF-8, one
// JSON value with no unknown fields and nothing after it (400).
func readJSON(c echo.Context, limit int64, v any) error {
	r := c.Request()
	if mt, _, err := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); err != nil || mt != echo.MIMEApplicationJSON {
		return errJSONType
	}
	if r.ContentLength > limit {
		return errJSONTooBig
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errJSONTooBig
		}
		return errJSONMalformed
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(body) {
		return errJSONMalformed
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errJSONMalformed
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errJSONMalformed
	}
	return nil
}

// setCeremony keeps the raw token of a begun ceremony in the visitor
// cookie; it binds the finish to this browser, and a new begin replaces
// it.
func (h *Handler) setCeremony(c echo.Context, token string) error {
	sess := h.visitorSession(c)
	sess.Values[keyCeremony] = token
	return sess.Save(c.Request(), c.Response())
}

// claimCeremony takes the visitor's pending ceremony out of the cookie
// and the store, once (models.ClaimCeremony), and returns its SessionData.
func (h *Handler) claimCeremony(c echo.Context, kind models.CeremonyKind, sessionHash string) (*models.Ceremony, webauthn.SessionData, error) {
	var sd webauthn.SessionData
	sess := h.visitorSession(c)
	token, _ := sess.Values[keyCeremony].(string)
	if token == "" {
		return nil, sd, errCeremony
	}
	delete(sess.Values, keyCeremony)
	if len(sess.Values) > 0 {
		// Saved without the token. An emptied cookie is left as it is
		// rather than deleted (saveVisitor would mark the session deleted
		// for the rest of the request, and a flash set after this must
		// survive): the token it still holds names a row already gone.
		h.saveVisitor(c, sess)
	}
	cer, err := h.store.ClaimCeremony(c.Request().Context(), token, kind, sessionHash)
	if errors.Is(err, models.ErrCeremonyInvalid) {
		return nil, sd, errCeremony
	}
	if err != nil {
		return nil, sd, err
	}
	if err := json.Unmarshal([]byte(cer.Data), &sd); err != nil {
		return nil, sd, errors.New("passkeys: stored ceremony does not decode: " + err.Error())
	}
	return cer, sd, nil
}

// refused is a WebAuthn response that did not verify (wrong origin,
// challenge, RP id, signature, flags…): logged with go-webauthn's detail,
// answered with one neutral message.
func (h *Handler) refused(c echo.Context, status int, err error) error {
	attrs := []any{"err", err}
	var pe *protocol.Error
	if errors.As(err, &pe) {
		attrs = append(attrs, "type", pe.Type, "debug", pe.DevInfo)
	}
	h.log.InfoContext(c.Request().Context(), "passkey response refused", attrs...)
	return &apiError{Status: status, Code: "refused", Message: "That passkey was not accepted. Please try again."}
}

// beginPasskeyRegistration starts adding a passkey named by the body's
// {"name": …} to the signed-in account.
func (h *Handler) beginPasskeyRegistration(c echo.Context) error {
	if h.rp == nil {
		return errPasskeyOff
	}
	row := signedIn(c)
	var in struct {
		Name string `json:"name"`
	}
	if err := readJSON(c, maxBeginBody, &in); err != nil {
		return err
	}
	name, err := models.NormalizePasskeyName(in.Name)
	if errors.Is(err, models.ErrPasskeyNameChars) {
		// Control characters or broken UTF-8: no keyboard typed that.
		return &apiError{Status: http.StatusBadRequest, Code: "invalid_name", Message: fieldMessage(err), Field: "name"}
	}
	if err != nil {
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "invalid_name", Message: fieldMessage(err), Field: "name"}
	}
	ctx := c.Request().Context()
	if err := h.store.AllowPasskeyCeremony(ctx, c.RealIP()); err != nil {
		return err
	}
	keys, err := h.store.Passkeys(ctx, row.AccountID, h.rp.id)
	if err != nil {
		return err
	}
	if len(keys) >= models.MaxPasskeysPerAccount {
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "too_many", Message: "You have as many passkeys as an account may hold. Remove one first."}
	}
	user := passkeyUser{acc: row.Account, keys: keys}
	// The account's passkeys are excluded, so an authenticator that holds
	// one already says so instead of making a second.
	creation, sd, err := h.rp.BeginMediatedRegistration(user, protocol.MediationDefault,
		webauthn.WithExclusions(webauthn.Credentials(user.WebAuthnCredentials()).CredentialDescriptors()))
	if err != nil {
		return err
	}
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	token, err := h.store.BeginCeremony(ctx, models.Ceremony{
		Kind: models.CeremonyRegister, AccountID: &row.AccountID, SessionHash: row.IDHash, Name: name, Data: string(data),
	})
	if err != nil {
		return err
	}
	if err := h.setCeremony(c, token); err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, creation)
}

// finishPasskeyRegistration verifies the new credential against the
// session's pending registration and stores it.
func (h *Handler) finishPasskeyRegistration(c echo.Context) error {
	if h.rp == nil {
		return errPasskeyOff
	}
	row := signedIn(c)
	var resp protocol.CredentialCreationResponse
	if err := readJSON(c, maxFinishBody, &resp); err != nil {
		return err
	}
	parsed, err := resp.Parse()
	if err != nil {
		return errJSONMalformed
	}
	cer, sd, err := h.claimCeremony(c, models.CeremonyRegister, row.IDHash)
	if err != nil {
		return err
	}
	if cer.AccountID == nil || *cer.AccountID != row.AccountID {
		return errCeremony
	}
	ctx := c.Request().Context()
	keys, err := h.store.Passkeys(ctx, row.AccountID, h.rp.id)
	if err != nil {
		return err
	}
	cred, err := h.rp.CreateCredential(passkeyUser{acc: row.Account, keys: keys}, sd, parsed)
	if err != nil {
		return h.refused(c, http.StatusBadRequest, err)
	}
	var transports []string
	for _, t := range cred.Transport {
		if slices.Contains(knownTransports, t) && !slices.Contains(transports, string(t)) {
			transports = append(transports, string(t))
		}
	}
	pk := &models.Passkey{
		RPID: h.rp.id, CredentialID: cred.ID, Name: cer.Name, PublicKey: cred.PublicKey,
		AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		AAGUID: append([]byte{}, cred.Authenticator.AAGUID...), SignCount: cred.Authenticator.SignCount,
		Flags: uint8(cred.Flags.ProtocolValue()), BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
		Transports: strings.Join(transports, ","), Attachment: attachment(cred.Authenticator.Attachment),
	}
	err = h.store.AddPasskey(ctx, row.Account, pk, client(c), notify.Passkey(ctx, h.baseURL))
	switch {
	case errors.Is(err, models.ErrPasskeyExists):
		return &apiError{Status: http.StatusConflict, Code: "exists", Message: "That passkey is registered already."}
	case errors.Is(err, models.ErrTooManyPasskeys):
		return &apiError{Status: http.StatusUnprocessableEntity, Code: "too_many", Message: "You have as many passkeys as an account may hold. Remove one first."}
	case err != nil:
		return err
	}
	if err := h.setFlash(c, "success", "Passkey “"+pk.Name+"” added: you can now sign in with it."); err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, map[string]string{"redirect": h.path("/account")})
}

// attachment keeps only the two attachments WebAuthn defines.
func attachment(a protocol.AuthenticatorAttachment) string {
	switch a {
	case protocol.Platform, protocol.CrossPlatform:
		return string(a)
	}
	return ""
}

// beginPasskeySignIn starts a sign-in with a discoverable passkey: the
// body is {} or {"mediation": "conditional"} (the email field's
// autofill).
func (h *Handler) beginPasskeySignIn(c echo.Context) error {
	if h.rp == nil {
		return errPasskeyOff
	}
	var in struct {
		Mediation string `json:"mediation"`
	}
	if err := readJSON(c, maxBeginBody, &in); err != nil {
		return err
	}
	mediation := protocol.CredentialMediationRequirement(in.Mediation)
	if mediation != protocol.MediationDefault && mediation != protocol.MediationConditional {
		return errJSONMalformed
	}
	ctx := c.Request().Context()
	if err := h.store.AllowPasskeyCeremony(ctx, c.RealIP()); err != nil {
		return err
	}
	assertion, sd, err := h.rp.BeginDiscoverableMediatedLogin(mediation)
	if err != nil {
		return err
	}
	data, err := json.Marshal(sd)
	if err != nil {
		return err
	}
	token, err := h.store.BeginCeremony(ctx, models.Ceremony{Kind: models.CeremonyLogin, Data: string(data)})
	if err != nil {
		return err
	}
	if err := h.setCeremony(c, token); err != nil {
		return err
	}
	return sendJSON(c, http.StatusOK, assertion)
}

// finishPasskeySignIn verifies an assertion against the browser's pending
// sign-in and, if it holds, signs the owner in: a full sign-in with MFA,
// a new session id, the device cookie, as a password sign-in does. The
// answer names where to go: an accepted rd, a safe next, or /account.
func (h *Handler) finishPasskeySignIn(c echo.Context) error {
	if h.rp == nil {
		return errPasskeyOff
	}
	var resp protocol.CredentialAssertionResponse
	if err := readJSON(c, maxFinishBody, &resp); err != nil {
		return err
	}
	parsed, err := resp.Parse()
	if err != nil {
		return errJSONMalformed
	}
	_, sd, err := h.claimCeremony(c, models.CeremonyLogin, "")
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	var owner *models.Account
	var keys []models.Passkey
	var lookupErr error
	find := func(_, userHandle []byte) (webauthn.User, error) {
		owner, keys, lookupErr = h.store.PasskeyOwner(ctx, userHandle, h.rp.id)
		if lookupErr != nil {
			return nil, lookupErr
		}
		return passkeyUser{acc: owner, keys: keys}, nil
	}
	_, cred, err := h.rp.ValidatePasskeyLogin(find, sd, parsed)
	if lookupErr != nil && !errors.Is(lookupErr, models.ErrNotFound) {
		return lookupErr // the database, not the passkey
	}
	if err != nil {
		return h.refused(c, http.StatusUnauthorized, err)
	}
	// The counter did not move forward (and is not a synced passkey's
	// constant 0): a copy of the key may be in use. Refused, and shown to
	// the owner (WebAuthn §6.1.1 leaves the choice to the relying party).
	if cred.Authenticator.CloneWarning {
		if err := h.store.PasskeyRefused(ctx, owner, client(c)); err != nil {
			return err
		}
		return h.refused(c, http.StatusUnauthorized, errors.New("signature counter did not increase"))
	}
	i := slices.IndexFunc(keys, func(k models.Passkey) bool { return bytes.Equal(k.CredentialID, cred.ID) })
	if i < 0 {
		return h.refused(c, http.StatusUnauthorized, errors.New("verified credential not among the owner's"))
	}
	id, row, err := h.store.SignInWithPasskey(ctx, owner, models.PasskeyUse{
		ID: keys[i].ID, SignCount: cred.Authenticator.SignCount,
		Flags: uint8(cred.Flags.ProtocolValue()), BackupState: cred.Flags.BackupState,
	}, client(c))
	if errors.Is(err, models.ErrPasskeyRefused) {
		return h.refused(c, http.StatusUnauthorized, err)
	}
	if err != nil {
		return err
	}
	row.Account = owner
	if err := h.startSession(c, id, row); err != nil {
		return err
	}
	h.setDeviceCookie(c, owner.Email)
	to := cmp.Or(h.returnTarget(queryOne(c, "rd")), safeNext(queryOne(c, "next")), h.path("/account"))
	return sendJSON(c, http.StatusOK, map[string]string{"redirect": to})
}

// passkeySection is the account page's passkey section.
func (h *Handler) passkeySection(ctx context.Context, accountID int64) (views.PasskeySection, error) {
	if h.rp == nil {
		return views.PasskeySection{}, nil
	}
	keys, err := h.store.Passkeys(ctx, accountID, h.rp.id)
	if err != nil {
		return views.PasskeySection{}, err
	}
	s := views.PasskeySection{Available: true, Script: h.assets.urls.Passkeys}
	for _, k := range keys {
		r := views.PasskeyRow{ID: strconv.FormatInt(k.ID, 10), Name: k.Name, Created: stamp(k.CreatedAt)}
		if k.LastUsedAt != nil {
			r.LastUsed = stamp(*k.LastUsedAt)
		}
		s.Passkeys = append(s.Passkeys, r)
	}
	return s, nil
}

// passkeyID parses a passkey id from a form or query: a positive decimal
// number, else 400.
func passkeyID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != s {
		return 0, echo.NewHTTPError(http.StatusBadRequest)
	}
	return id, nil
}

// passkeyRemovePage asks to confirm the removal of one passkey.
func (h *Handler) passkeyRemovePage(c echo.Context) error {
	if h.rp == nil {
		return echo.ErrNotFound
	}
	row := signedIn(c)
	id, err := passkeyID(queryOne(c, "id"))
	if err != nil {
		return err
	}
	keys, err := h.store.Passkeys(c.Request().Context(), row.AccountID, h.rp.id)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(keys, func(k models.Passkey) bool { return k.ID == id })
	if i < 0 {
		return echo.ErrNotFound
	}
	vm := views.PasskeyRemove{ID: strconv.FormatInt(id, 10), Name: keys[i].Name, Created: stamp(keys[i].CreatedAt)}
	return h.render(c, http.StatusOK, views.PasskeyRemovePage(h.page(c, "Remove a passkey"), vm))
}

// removePasskey removes one passkey of the signed-in account (form field
// id), with its event and email.
func (h *Handler) removePasskey(c echo.Context) error {
	if h.rp == nil {
		return echo.ErrNotFound
	}
	row := signedIn(c)
	f, err := parseForm(c)
	if err != nil {
		return err
	}
	raw, err := f.text("id")
	if err != nil {
		return err
	}
	id, err := passkeyID(raw)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	name, err := h.store.RemovePasskey(ctx, row.Account, id, client(c), notify.Passkey(ctx, h.baseURL))
	if err != nil {
		return err
	}
	if err := h.setFlash(c, "success", "Passkey “"+name+"” removed."); err != nil {
		return err
	}
	return redirect(c, h.path("/account"))
}
