package handlers_test

// Downloading the account's data (SPEC §8): the owner's data as JSON,
// and never a secret.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// secretColumn names the columns that hold secrets or their hashes, in
// any table, now or added later.
var secretColumn = regexp.MustCompile(`hash|code|token|secret|sealed|credential|nonce`)

// secretRun is a run of characters long enough to be part of a secret
// (hex, base64, base64url).
var secretRun = regexp.MustCompile(`[A-Za-z0-9+/_=-]{16,}`)

var notMeLink = regexp.MustCompile(`/account/not-me\?token=([A-Za-z0-9_-]+)`)

func TestExportHasTheDataAndNoSecret(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const addr = "exporter@example.com"
		app.Register(t, "someone@example.com", oldPassword)
		b := app.NewBrowser(t)
		if r := b.Post("/account/register", url.Values{"email": {addr}, "password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("register: %d", r.StatusCode)
		}
		second := app.NewBrowser(t)
		second.Header.Set("User-Agent", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Version/17.0 Mobile/15E148 Safari/604.1")
		if r := second.Post("/account/login", url.Values{"email": {addr}, "password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", r.StatusCode)
		}
		// Everything sensitive: a reset code (in its email), a changed
		// password (a not-me token in its email), session ids and a
		// device cookie.
		app.NewBrowser(t).Post("/account/forgot-password", url.Values{"email": {addr}})
		link := testutil.ResetLink(t, app.SMTP.WaitForSubject(t, resetSubject, 1, 10*time.Second)[0])
		code := link[strings.Index(link, "code=")+5:]
		if r := second.Post("/account/password", url.Values{"current_password": {oldPassword}, "password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("change password: %d", r.StatusCode)
		}
		changed := app.SMTP.WaitForSubject(t, "Your Latchkey password was changed", 1, 10*time.Second)[0]
		m := notMeLink.FindStringSubmatch(changed.Text)
		if m == nil {
			t.Fatalf("no not-me link in:\n%s", changed.Text)
		}
		// Sign the first browser in again (the change signed it out).
		if r := b.Post("/account/login", url.Values{"email": {addr}, "password": {newPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: %d", r.StatusCode)
		}
		secrets := map[string]string{
			"reset code": code, "not-me token": m[1],
			"session id": b.Cookie("latchkey_session"), "other session id": second.Cookie("latchkey_session"),
			"device cookie": b.Cookie("latchkey_device"),
		}
		for name, v := range secrets {
			if v == "" {
				t.Fatalf("setup: no %s", name)
			}
		}
		// Every value of every secret column of every table.
		for _, table := range testutil.Tables(t, app.DB) {
			cols, err := app.DB.QueryContext(t.Context(), fmt.Sprintf("SELECT * FROM %q LIMIT 0", table))
			if err != nil {
				t.Fatal(err)
			}
			names, _ := cols.Columns()
			_ = cols.Close()
			for _, col := range names {
				if !secretColumn.MatchString(col) {
					continue
				}
				var vals [][]byte
				if err := app.DB.NewRaw(fmt.Sprintf("SELECT %q FROM %q WHERE %q IS NOT NULL", col, table, col)).Scan(t.Context(), &vals); err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					secrets[fmt.Sprintf("%s.%s #%d", table, col, i)] = string(v)
				}
			}
		}
		if _, ok := secrets["accounts.password_hash #0"]; !ok {
			t.Fatalf("setup: the password hashes were not collected: %v", secrets)
		}

		r := b.Get("/account/export")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("export: %d", r.StatusCode)
		}
		for name, want := range map[string]string{
			"Content-Type":  "application/json",
			"Cache-Control": "no-store",
		} {
			if got := r.Header.Get(name); got != want {
				t.Errorf("%s: %q, want %q", name, got, want)
			}
		}
		if cd := r.Header.Get("Content-Disposition"); !regexp.MustCompile(`^attachment; filename="latchkey-data-\d{4}-\d{2}-\d{2}\.json"$`).MatchString(cd) {
			t.Errorf("Content-Disposition: %q", cd)
		}

		for name, secret := range secrets {
			if strings.Contains(r.Body, secret) {
				t.Errorf("the export holds the %s", name)
				continue
			}
			// Any 16 characters in a row of it (a truncated hash, say).
		runs:
			for _, run := range secretRun.FindAllString(secret, -1) {
				for i := 0; i+16 <= len(run); i++ {
					if strings.Contains(r.Body, run[i:i+16]) {
						t.Errorf("the export holds %q, part of the %s", run[i:i+16], name)
						break runs
					}
				}
			}
		}

		var doc struct {
			Account struct {
				Email     string    `json:"email"`
				Verified  *bool     `json:"verified"`
				CreatedAt time.Time `json:"created_at"`
			} `json:"account"`
			Factors  []any `json:"factors"`
			Pending  any   `json:"pending_email_change"`
			Sessions []struct {
				Device    string `json:"device"`
				IP        string `json:"ip"`
				CreatedAt string `json:"created_at"`
				LastSeen  string `json:"last_seen_at"`
				Current   bool   `json:"current"`
			} `json:"sessions"`
			Events []struct {
				Event       string `json:"event"`
				Description string `json:"description"`
				IP          string `json:"ip"`
				At          string `json:"at"`
			} `json:"security_events"`
		}
		if err := json.Unmarshal([]byte(r.Body), &doc); err != nil {
			t.Fatalf("export is not JSON: %v\n%s", err, r.Body)
		}
		// Not verified: the reset was asked for, never completed.
		if doc.Account.Email != addr || doc.Account.Verified == nil || *doc.Account.Verified || doc.Account.CreatedAt.IsZero() {
			t.Errorf("account part: %+v", doc.Account)
		}
		if doc.Factors == nil || len(doc.Factors) != 0 || !strings.Contains(r.Body, `"factors": []`) {
			t.Errorf("factors: %v (want an empty list)", doc.Factors)
		}
		if doc.Pending != nil {
			t.Errorf("pending email change: %v", doc.Pending)
		}
		if len(doc.Sessions) != 2 {
			t.Errorf("%d sessions, want 2", len(doc.Sessions))
		}
		devices, current := map[string]bool{}, 0
		for _, s := range doc.Sessions {
			devices[s.Device] = true
			if s.IP != "127.0.0.1" || s.CreatedAt == "" || s.LastSeen == "" {
				t.Errorf("session: %+v", s)
			}
			if s.Current {
				current++
			}
		}
		if !devices["Firefox on Linux"] || !devices["Safari on iPhone"] || current != 1 {
			t.Errorf("sessions: %+v", doc.Sessions)
		}
		kinds := map[string]bool{}
		for _, e := range doc.Events {
			kinds[e.Event] = e.Description != "" && e.IP != "" && e.At != ""
		}
		for _, k := range []models.EventKind{models.EventRegistered, models.EventSignIn, models.EventResetRequested, models.EventPasswordChanged} {
			if !kinds[string(k)] {
				t.Errorf("no complete %s event among %+v", k, doc.Events)
			}
		}
		if strings.Contains(r.Body, "someone@example.com") {
			t.Errorf("the export holds another account's address")
		}

		if r := app.NewBrowser(t).Get("/account/export"); r.StatusCode != http.StatusSeeOther || strings.Contains(r.Body, addr) {
			t.Errorf("signed-out export: %d", r.StatusCode)
		}
	})
}
