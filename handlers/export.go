package handlers

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/views"
)

// exportDoc is the JSON document GET /account/export downloads: the
// owner's own data and nothing secret (no hash, code, token, session id or
// id hash, factor secret).
type exportDoc struct {
	// Format names this document's layout, for whoever reads it later.
	Format     string    `json:"format"`
	ExportedAt time.Time `json:"exported_at"`
	Account    struct {
		// ID is the opaque id the apps behind Latchkey see
		// (X-Latchkey-User).
		ID              string     `json:"id"`
		Email           string     `json:"email"`
		Verified        bool       `json:"verified"`
		EmailVerifiedAt *time.Time `json:"email_verified_at"`
		CreatedAt       time.Time  `json:"created_at"`
		PasswordLocked  bool       `json:"password_locked"`
	} `json:"account"`
	// PendingEmailChange is a change of address awaiting confirmation, or
	// null.
	PendingEmailChange *exportPendingEmail `json:"pending_email_change"`
	// Factors are second factors and passkeys by name ([] when none).
	Factors        []exportFactor  `json:"factors"`
	Sessions       []exportSession `json:"sessions"`
	SecurityEvents []exportEvent   `json:"security_events"`
}

type exportPendingEmail struct {
	NewEmail    string    `json:"new_email"`
	RequestedAt time.Time `json:"requested_at"`
}

type exportFactor struct {
	Kind       string     `json:"kind"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
}

type exportSession struct {
	Device     string    `json:"device"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	// Current is the session that downloaded the export.
	Current bool `json:"current"`
}

type exportEvent struct {
	Event       string    `json:"event"`
	Description string    `json:"description"`
	IP          string    `json:"ip"`
	Device      string    `json:"device"`
	UserAgent   string    `json:"user_agent"`
	At          time.Time `json:"at"`
}

// exportFormat is exportDoc's format name; bump it when a field changes
// meaning or goes away.
const exportFormat = "latchkey-account-export/1"

// exportAccount downloads the signed-in account's data as JSON.
func (h *Handler) exportAccount(c echo.Context) error {
	row := signedIn(c)
	data, err := h.store.ExportAccount(c.Request().Context(), row.AccountID)
	if err != nil {
		return err
	}
	now := h.store.Now()
	doc := exportDoc{Format: exportFormat, ExportedAt: now, Factors: []exportFactor{}, Sessions: []exportSession{}, SecurityEvents: []exportEvent{}}
	acc := data.Account
	doc.Account.ID, doc.Account.Email = acc.PublicID, acc.Email
	doc.Account.Verified, doc.Account.EmailVerifiedAt = acc.EmailVerifiedAt != nil, acc.EmailVerifiedAt
	doc.Account.CreatedAt, doc.Account.PasswordLocked = acc.CreatedAt, acc.PasswordLockedAt != nil
	if p := data.PendingEmail; p != nil {
		doc.PendingEmailChange = &exportPendingEmail{NewEmail: p.NewEmail, RequestedAt: p.RequestedAt}
	}
	for _, f := range data.Factors {
		doc.Factors = append(doc.Factors, exportFactor{Kind: f.Kind, Name: f.Name, CreatedAt: f.CreatedAt, LastUsedAt: f.LastUsedAt})
	}
	for _, s := range data.Sessions {
		doc.Sessions = append(doc.Sessions, exportSession{
			Device: views.DeviceName(s.UserAgent), UserAgent: s.UserAgent, IP: s.IP,
			CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, Current: s.IDHash == row.IDHash,
		})
	}
	for _, e := range data.Events {
		doc.SecurityEvents = append(doc.SecurityEvents, exportEvent{
			Event: string(e.Kind), Description: e.Kind.Label(), IP: e.IP,
			Device: views.DeviceName(e.UserAgent), UserAgent: e.UserAgent, At: e.CreatedAt,
		})
	}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	body = append(body, '\n')
	hd := c.Response().Header()
	hd.Set("Content-Disposition", `attachment; filename="latchkey-data-`+now.Format("2006-01-02")+`.json"`)
	hd.Set("Cache-Control", "no-store")
	hd.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
}
