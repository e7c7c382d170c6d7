package handlers_test

// Passkeys (SPEC §9) at the HTTP level, with a software authenticator
// (testutil.Authenticator: ES256, "none" attestation) standing in for the
// browser's WebAuthn API. The app runs on http://localhost:PORT: a
// relying party id must be a domain name.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

const (
	passkeyAddedSubject   = "A passkey was added to your Latchkey account"
	passkeyRemovedSubject = "A passkey was removed from your Latchkey account"
)

// postJSON posts a JSON body as the page's script does (same origin).
func postJSON(b *testutil.Browser, path string, body []byte, headers ...string) *testutil.Response {
	req, err := http.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.Do(req)
}

// passkeyApp starts Latchkey on localhost, so it offers passkeys.
func passkeyApp(t *testing.T, dialect string, opts ...testutil.AppOption) *testutil.App {
	return testutil.StartApp(t, dialect, append([]testutil.AppOption{testutil.WithLocalhost()}, opts...)...)
}

// beginJSON posts to a begin endpoint and returns the options.
func beginJSON(t *testing.T, app *testutil.App, b *testutil.Browser, path string, body string) []byte {
	t.Helper()
	r := postJSON(b, app.URL+path, []byte(body))
	if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("%s: %d %s\n%s", path, r.StatusCode, r.Header.Get("Content-Type"), r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: Cache-Control %q", path, r.Header.Get("Cache-Control"))
	}
	return []byte(r.Body)
}

// addPasskey registers a passkey named name for the signed-in browser.
func addPasskey(t *testing.T, app *testutil.App, b *testutil.Browser, auth *testutil.Authenticator, name string) *testutil.SoftCredential {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	opts := beginJSON(t, app, b, "/account/passkeys/register/begin", string(body))
	att, cred := auth.Create(t, opts)
	r := postJSON(b, app.URL+"/account/passkeys/register/finish", att)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `"redirect":"/account"`) {
		t.Fatalf("register finish: %d\n%s", r.StatusCode, r.Body)
	}
	return cred
}

// passkeySignIn signs b in with cred and returns the finish response.
func passkeySignIn(t *testing.T, app *testutil.App, b *testutil.Browser, auth *testutil.Authenticator, cred *testutil.SoftCredential, query string) *testutil.Response {
	t.Helper()
	opts := beginJSON(t, app, b, "/account/login/passkey/begin", `{}`)
	return postJSON(b, app.URL+"/account/login/passkey/finish"+query, auth.Get(t, opts, cred))
}

func TestPasskeyAddAndSignIn(t *testing.T) {
	for _, d := range testutil.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			app := passkeyApp(t, d)
			const email = "keys@example.com"
			owner := app.Register(t, email, oldPassword)

			// Before: the section says there are none; the add form is
			// hidden for the script to reveal, with the sentence for
			// browsers without JavaScript.
			page := owner.Get("/account").Doc(t)
			if page.Find(`[data-testid="passkeys-none"]`).Length() != 1 || page.Find(`[data-testid="passkeys-nojs"]`).Length() != 1 {
				t.Fatalf("passkey section before: %s", page.Find(`[data-testid="passkeys"]`).Text())
			}
			if _, hidden := page.Find(`form[data-testid="passkey-add"]`).Attr("hidden"); !hidden {
				t.Errorf("the add form is not rendered hidden")
			}
			if src, _ := page.Find(`[data-testid="passkeys"] script`).Attr("src"); !strings.HasPrefix(src, "/assets/passkeys.") {
				t.Errorf("passkeys.js not loaded by its content-hashed name: %q", src)
			}

			// The creation options ask for a discoverable credential with
			// user verification, no attestation, on BASE_URL's host.
			opts := beginJSON(t, app, owner, "/account/passkeys/register/begin", `{"name":"  Phone  "}`)
			var creation struct {
				PublicKey struct {
					RP          struct{ ID string } `json:"rp"`
					Attestation string              `json:"attestation"`
					Selection   struct {
						ResidentKey      string `json:"residentKey"`
						UserVerification string `json:"userVerification"`
					} `json:"authenticatorSelection"`
				} `json:"publicKey"`
			}
			if err := json.Unmarshal(opts, &creation); err != nil {
				t.Fatal(err)
			}
			if p := creation.PublicKey; p.RP.ID != "localhost" || p.Attestation != "none" || p.Selection.ResidentKey != "required" || p.Selection.UserVerification != "required" {
				t.Errorf("creation options: %s", opts)
			}
			auth := app.NewAuthenticator()
			auth.BackupEligible, auth.BackupState = true, true
			att, cred := auth.Create(t, opts)
			r := postJSON(owner, app.URL+"/account/passkeys/register/finish", att)
			if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `"redirect":"/account"`) {
				t.Fatalf("register finish: %d\n%s", r.StatusCode, r.Body)
			}

			var pk models.Passkey
			if err := app.DB.NewSelect().Model(&pk).Scan(t.Context()); err != nil {
				t.Fatal(err)
			}
			if pk.Name != "Phone" || pk.RPID != "localhost" || !bytes.Equal(pk.CredentialID, cred.ID) || pk.SignCount != 0 ||
				!pk.BackupEligible || !pk.BackupState || pk.Transports != "internal,hybrid" || pk.Attachment != "platform" ||
				len(pk.AAGUID) != 16 || len(pk.PublicKey) == 0 || pk.AttestationFormat != "none" || pk.LastUsedAt != nil {
				t.Errorf("stored passkey: %+v", pk)
			}
			mail := app.SMTP.WaitForSubject(t, passkeyAddedSubject, 1, 10*time.Second)[0]
			if mail.To[0] != email || !strings.Contains(mail.Text, "“Phone”") || !strings.HasPrefix(notMeRE.FindString(mail.Text), app.URL) {
				t.Errorf("passkey-added email to %v:\n%s", mail.To, mail.Text)
			}
			acct := owner.Get("/account")
			if got := acct.Text(t, `[data-testid="passkey-name"]`); got != "Phone" {
				t.Errorf("listed passkey %q", got)
			}
			if got := acct.Text(t, `[data-testid="passkey-last-used"]`); got != "Never" {
				t.Errorf("last used before any use: %q", got)
			}
			if got := acct.Text(t, `[data-testid="flash"]`); !strings.Contains(got, "Phone") {
				t.Errorf("flash after adding: %q", got)
			}

			// Signing in: a browser that was signed in with the password
			// gets a new session id; the old row is gone.
			other := app.NewBrowser(t)
			other.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}})
			before := other.Cookie("latchkey_session")
			var request struct {
				PublicKey struct {
					RPID             string `json:"rpId"`
					UserVerification string `json:"userVerification"`
					Allow            []any  `json:"allowCredentials"`
				} `json:"publicKey"`
			}
			reqOpts := beginJSON(t, app, other, "/account/login/passkey/begin", `{"mediation":"conditional"}`)
			if err := json.Unmarshal(reqOpts, &request); err != nil {
				t.Fatal(err)
			}
			if p := request.PublicKey; p.RPID != "localhost" || p.UserVerification != "required" || len(p.Allow) != 0 {
				t.Errorf("request options (discoverable, UV required): %s", reqOpts)
			}
			r = postJSON(other, app.URL+"/account/login/passkey/finish?next=%2Faccount%2Fpassword", auth.Get(t, reqOpts, cred))
			if r.StatusCode != http.StatusOK || !strings.Contains(r.Body, `"redirect":"/account/password"`) {
				t.Fatalf("passkey sign-in: %d\n%s", r.StatusCode, r.Body)
			}
			after := other.Cookie("latchkey_session")
			if after == "" || after == before {
				t.Errorf("the session id did not rotate")
			}
			if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Session)(nil)).Where("id_hash = ?", models.HashSessionID(before))); n != 0 {
				t.Errorf("the password session survived the passkey sign-in")
			}
			if other.Cookie("latchkey_device") == "" {
				t.Errorf("no device cookie after a passkey sign-in")
			}
			who := other.Get("/auth/whoami")
			if who.StatusCode != http.StatusOK || !strings.Contains(who.Body, `"mfa":true`) || !strings.Contains(who.Body, email) {
				t.Errorf("whoami after a passkey sign-in: %d %s", who.StatusCode, who.Body)
			}
			if err := app.DB.NewSelect().Model(&pk).WherePK().Scan(t.Context()); err != nil {
				t.Fatal(err)
			}
			if pk.SignCount != 1 || pk.LastUsedAt == nil || !pk.BackupState {
				t.Errorf("after use: count %d, last used %v, backup state %v", pk.SignCount, pk.LastUsedAt, pk.BackupState)
			}
			if got := other.Get("/account").Text(t, `[data-testid="passkey-last-used"]`); got == "Never" || got == "" {
				t.Errorf("last used after a sign-in: %q", got)
			}
			if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventPasskeySignIn)); n != 1 {
				t.Errorf("passkey sign-in events = %d", n)
			}
			// The password session stays mfa false.
			if who := owner.Get("/auth/whoami"); !strings.Contains(who.Body, `"mfa":false`) {
				t.Errorf("password session: %s", who.Body)
			}
			// Every ceremony was used up.
			if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Ceremony)(nil))); n != 0 {
				t.Errorf("%d ceremonies left", n)
			}
		})
	}
}

// TestPasskeyResponsesRefused: malformed, oversized, replayed, expired,
// foreign-origin and wrong-RP WebAuthn responses get a 4xx and change
// nothing.
func TestPasskeyResponsesRefused(t *testing.T) {
	for _, d := range testutil.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			app := passkeyApp(t, d)
			owner := app.Register(t, "refuse@example.com", oldPassword)
			auth := app.NewAuthenticator()
			cred := addPasskey(t, app, owner, auth, "Phone")
			sessions := func() int64 { return testutil.CountRows(t, app.DB.NewSelect().Model((*models.Session)(nil))) }
			start := sessions()

			finish := "/account/login/passkey/finish"
			check := func(name string, r *testutil.Response, want int, code string) {
				t.Helper()
				if r.StatusCode != want || code != "" && !strings.Contains(r.Body, `"error":"`+code+`"`) {
					t.Errorf("%s: %d %s, want %d %s", name, r.StatusCode, r.Body, want, code)
				}
			}

			// A valid assertion, kept for the replays below.
			b := app.NewBrowser(t)
			opts := beginJSON(t, app, b, "/account/login/passkey/begin", `{}`)
			good := auth.Get(t, opts, cred)

			for _, c := range []struct {
				name, body, ctype string
				want              int
				code              string
			}{
				{"not JSON", `id=x`, "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
				{"broken JSON", `{"id":`, "application/json", 400, "malformed"},
				{"unknown field", strings.Replace(string(good), `{`, `{"extra":1,`, 1), "application/json", 400, "malformed"},
				{"trailing data", string(good) + `{}`, "application/json", 400, "malformed"},
				{"invalid UTF-8", strings.Replace(string(good), `"public-key"`, "\"public-key\xff\"", 1), "application/json", 400, "malformed"},
				{"array", `[]`, "application/json", 400, "malformed"},
				{"empty object", `{}`, "application/json", 400, "malformed"},
				{"oversized", `{"id":"` + strings.Repeat("A", 20<<10) + `"}`, "application/json", 413, "too_large"},
			} {
				req, _ := http.NewRequest(http.MethodPost, app.URL+finish, strings.NewReader(c.body))
				req.Header.Set("Content-Type", c.ctype)
				check(c.name, b.Do(req), c.want, c.code)
			}
			// Malformed bodies did not spend the ceremony: the good
			// response still works, once.
			if r := postJSON(b, app.URL+finish, good); r.StatusCode != http.StatusOK {
				t.Fatalf("the valid assertion after malformed ones: %d %s", r.StatusCode, r.Body)
			}
			// Replayed: the same response again (its ceremony is used up)…
			check("replay, same ceremony", postJSON(b, app.URL+finish, good), 400, "ceremony_expired")
			// …and in a fresh ceremony (its challenge is not the new one).
			beginJSON(t, app, b, "/account/login/passkey/begin", `{}`)
			check("replay, new ceremony", postJSON(b, app.URL+finish, good), 401, "refused")
			// No ceremony at all.
			check("no ceremony", postJSON(app.NewBrowser(t), app.URL+finish, good), 400, "ceremony_expired")

			// Signed by an authenticator on another origin or for another
			// relying party (a phishing page relaying the challenge).
			for name, forge := range map[string]func(a *testutil.Authenticator){
				"foreign origin":   func(a *testutil.Authenticator) { a.Origin = "https://evil.example" },
				"same host, https": func(a *testutil.Authenticator) { a.Origin = strings.Replace(app.Origin, "http:", "https:", 1) },
				"foreign RP id":    func(a *testutil.Authenticator) { a.RPID = "evil.example" },
				"subdomain of the RP": func(a *testutil.Authenticator) {
					a.Origin = strings.Replace(app.Origin, "localhost", "app.localhost", 1)
				},
			} {
				evil := *auth
				forge(&evil)
				v := app.NewBrowser(t)
				opts := beginJSON(t, app, v, "/account/login/passkey/begin", `{}`)
				check("sign-in, "+name, postJSON(v, app.URL+finish, evil.Get(t, opts, cred)), 401, "refused")
				if v.Cookie("latchkey_session") != "" {
					t.Errorf("%s: a session cookie was set", name)
				}
				body, _ := json.Marshal(map[string]string{"name": "Evil"})
				opts = beginJSON(t, app, owner, "/account/passkeys/register/begin", string(body))
				att, _ := evil.Create(t, opts)
				check("registration, "+name, postJSON(owner, app.URL+"/account/passkeys/register/finish", att), 400, "refused")
			}

			// A ceremony older than CeremonyTTL has expired.
			v := app.NewBrowser(t)
			opts = beginJSON(t, app, v, "/account/login/passkey/begin", `{}`)
			app.Clock.Advance(models.CeremonyTTL + time.Second)
			check("expired ceremony", postJSON(v, app.URL+finish, auth.Get(t, opts, cred)), 400, "ceremony_expired")

			// A registration begun by one session cannot be finished by
			// another browser, even with the visitor cookie copied.
			owner = app.Register(t, "second@example.com", oldPassword)
			opts = beginJSON(t, app, owner, "/account/passkeys/register/begin", `{"name":"Mine"}`)
			thief := app.Register(t, "thief@example.com", oldPassword)
			u, _ := url.Parse(app.URL)
			thief.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "latchkey_visitor", Value: owner.Cookie("latchkey_visitor")}})
			att, _ := auth.Create(t, opts)
			check("registration from another session", postJSON(thief, app.URL+"/account/passkeys/register/finish", att), 400, "ceremony_expired")

			if got := sessions(); got != start+3 { // the one good sign-in, the two registrations
				t.Errorf("sessions %d → %d: a refused response signed someone in", start, got)
			}
			if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Passkey)(nil))); n != 1 {
				t.Errorf("%d passkeys, want 1", n)
			}
		})
	}
}

// TestPasskeyCounterRegression: an assertion whose signature counter does
// not move forward is refused (a cloned key), and the owner sees it in the
// security activity; a synced passkey's constant 0 is fine.
func TestPasskeyCounterRegression(t *testing.T) {
	for _, d := range testutil.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			app := passkeyApp(t, d)
			owner := app.Register(t, "clone@example.com", oldPassword)
			auth := app.NewAuthenticator()
			cred := addPasskey(t, app, owner, auth, "Key")
			if r := passkeySignIn(t, app, app.NewBrowser(t), auth, cred, ""); r.StatusCode != http.StatusOK {
				t.Fatalf("first sign-in: %d %s", r.StatusCode, r.Body)
			}
			// A copy of the key still at counter 1.
			clone := *cred
			clone.SignCount = cred.SignCount - 1 // it reports the counter the genuine key last did
			v := app.NewBrowser(t)
			if r := passkeySignIn(t, app, v, auth, &clone, ""); r.StatusCode != http.StatusUnauthorized || v.Cookie("latchkey_session") != "" {
				t.Errorf("counter 1 after 1: %d %s", r.StatusCode, r.Body)
			}
			if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventPasskeyRefused)); n != 1 {
				t.Errorf("passkey-refused events = %d", n)
			}
			if got := owner.Get("/account").Body; !strings.Contains(got, "Passkey refused") {
				t.Errorf("the account page does not show the refusal")
			}
			// The original, moving forward, still works.
			if r := passkeySignIn(t, app, app.NewBrowser(t), auth, cred, ""); r.StatusCode != http.StatusOK {
				t.Errorf("the genuine key after the clone: %d %s", r.StatusCode, r.Body)
			}

			synced := addPasskey(t, app, owner, auth, "Synced")
			synced.ZeroCounter = true
			for i := range 2 {
				if r := passkeySignIn(t, app, app.NewBrowser(t), auth, synced, ""); r.StatusCode != http.StatusOK {
					t.Errorf("synced passkey, sign-in %d: %d %s", i+1, r.StatusCode, r.Body)
				}
			}
		})
	}
}

// TestPasskeyNameBadInput is the bad-input matrix for the passkey name
// (the begin request's one field): clear 4xx answers, nothing stored,
// nothing rendered unescaped.
func TestPasskeyNameBadInput(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		owner := app.Register(t, "names@example.com", oldPassword)
		begin := app.URL + "/account/passkeys/register/begin"
		for _, c := range []struct {
			name, body string
			want       int
			message    string
		}{
			{"missing", `{}`, 422, "Give this passkey a name"},
			{"empty", `{"name":""}`, 422, "Give this passkey a name"},
			{"spaces only", `{"name":"   "}`, 422, "Give this passkey a name"},
			{"65 characters", `{"name":"` + strings.Repeat("é", 65) + `"}`, 422, "at most 64 characters"},
			{"huge field", `{"name":"` + strings.Repeat("a", 10000) + `"}`, 413, ""},
			{"NUL", `{"name":"a\u0000b"}`, 400, ""},
			{"CRLF", `{"name":"a\r\nBcc: x"}`, 400, ""},
			{"C1 control", `{"name":"a\u0085b"}`, 400, ""},
			{"invalid UTF-8", "{\"name\":\"a\xffb\"}", 400, ""},
			{"HTML", `{"name":"<img src=x onerror=alert(1)>"}`, 422, "Leave out the characters"},
			{"script", `{"name":"<script>alert(1)</script>"}`, 422, "Leave out the characters"},
			{"number", `{"name":42}`, 400, ""},
			{"duplicate key wins nothing", `{"name":"a","name":"<b>"}`, 422, "Leave out the characters"},
			{"unknown field", `{"name":"Phone","admin":true}`, 400, ""},
			{"form encoded", `name=Phone`, 415, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				ctype := "application/json"
				if c.want == 415 {
					ctype = "application/x-www-form-urlencoded"
				}
				req, _ := http.NewRequest(http.MethodPost, begin, strings.NewReader(c.body))
				req.Header.Set("Content-Type", ctype)
				r := owner.Do(req)
				if r.StatusCode != c.want || !strings.Contains(r.Body, c.message) {
					t.Errorf("%d %s, want %d %q", r.StatusCode, r.Body, c.want, c.message)
				}
				if strings.Contains(r.Body, "<img") || strings.Contains(r.Body, "<script") {
					t.Errorf("markup echoed: %s", r.Body)
				}
			})
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Ceremony)(nil))); n != 0 {
			t.Errorf("refused names began %d ceremonies", n)
		}

		// SQL metacharacters, quotes and combining marks are a name like
		// any other: stored as typed (NFC), shown escaped.
		auth := app.NewAuthenticator()
		sqlName := `Robert'); DROP TABLE passkeys;-- "&"`
		addPasskey(t, app, owner, auth, sqlName)
		addPasskey(t, app, owner, auth, "Cafe\u0301")
		var names []string
		if err := app.DB.NewSelect().Model((*models.Passkey)(nil)).Column("name").Order("id").Scan(t.Context(), &names); err != nil {
			t.Fatal(err)
		}
		if len(names) != 2 || names[0] != sqlName || names[1] != "Caf\u00e9" {
			t.Errorf("stored names %q", names)
		}
		page := owner.Get("/account")
		if !strings.Contains(page.Body, "Robert&#39;); DROP TABLE passkeys;-- &#34;&amp;&#34;") {
			t.Errorf("the name is not shown escaped")
		}
	}, testutil.WithLocalhost())
}

// TestPasskeyRemove: a confirmation page, then the removal with its event
// and email; another account's passkey and malformed ids are refused; the
// removed passkey signs nobody in.
func TestPasskeyRemove(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "remove@example.com"
		owner := app.Register(t, email, oldPassword)
		auth := app.NewAuthenticator()
		cred := addPasskey(t, app, owner, auth, "Old key")
		link, ok := owner.Get("/account").Doc(t).Find(`[data-testid="passkey-remove"]`).Attr("href")
		if !ok {
			t.Fatal("no remove link")
		}
		confirm := owner.Get(link)
		if confirm.StatusCode != http.StatusOK || confirm.Text(t, `[data-testid="passkey-remove-name"]`) != "Old key" {
			t.Fatalf("confirmation page: %d", confirm.StatusCode)
		}
		id, _ := confirm.Doc(t).Find(`[data-testid="passkey-remove-form"] input[name="id"]`).Attr("value")

		// Someone else's passkey, and ids that are not ids.
		stranger := app.Register(t, "stranger@example.com", oldPassword)
		if r := stranger.Get(link); r.StatusCode != http.StatusNotFound {
			t.Errorf("another account's confirmation page: %d", r.StatusCode)
		}
		if r := stranger.Post("/account/passkeys/remove", url.Values{"id": {id}}); r.StatusCode != http.StatusNotFound {
			t.Errorf("removing another account's passkey: %d", r.StatusCode)
		}
		for _, bad := range []url.Values{{"id": {"abc"}}, {"id": {"-1"}}, {"id": {"01"}}, {"id": {id, id}}, {}, {"id": {"1\r\n"}}} {
			if r := owner.Post("/account/passkeys/remove", bad); r.StatusCode != http.StatusBadRequest {
				t.Errorf("remove %v: %d", bad, r.StatusCode)
			}
		}
		if r := owner.Get("/account/passkeys/remove?id=x"); r.StatusCode != http.StatusBadRequest {
			t.Errorf("confirmation page for id x: %d", r.StatusCode)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Passkey)(nil))); n != 1 {
			t.Fatalf("refused removals removed something: %d passkeys", n)
		}

		r := owner.Post("/account/passkeys/remove", url.Values{"id": {id}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
			t.Fatalf("remove: %d %s", r.StatusCode, r.Header.Get("Location"))
		}
		acct := owner.Get("/account")
		if acct.Doc(t).Find(`[data-testid="passkeys-none"]`).Length() != 1 || !strings.Contains(acct.Text(t, `[data-testid="flash"]`), "Old key") {
			t.Errorf("after removal: %s", acct.Text(t, `[data-testid="passkeys"]`))
		}
		mail := app.SMTP.WaitForSubject(t, passkeyRemovedSubject, 1, 10*time.Second)[0]
		if mail.To[0] != email || !strings.Contains(mail.Text, "“Old key”") || notMeRE.FindString(mail.Text) == "" {
			t.Errorf("passkey-removed email:\n%s", mail.Text)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventPasskeyRemoved)); n != 1 {
			t.Errorf("passkey-removed events = %d", n)
		}
		if r := owner.Post("/account/passkeys/remove", url.Values{"id": {id}}); r.StatusCode != http.StatusNotFound {
			t.Errorf("second removal: %d", r.StatusCode)
		}
		if r := passkeySignIn(t, app, app.NewBrowser(t), auth, cred, ""); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("sign-in with the removed passkey: %d %s", r.StatusCode, r.Body)
		}
	}, testutil.WithLocalhost())
}

// TestPasskeyNotMeRemovesIt: the "this wasn't me" link of the
// passkey-added email removes the passkey (added in the last 24 hours)
// along with everything not-me does.
func TestPasskeyNotMeRemovesIt(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		owner := app.Register(t, "notme-key@example.com", oldPassword)
		auth := app.NewAuthenticator()
		cred := addPasskey(t, app, owner, auth, "Intruder's")
		link := notMeRE.FindString(app.SMTP.WaitForSubject(t, passkeyAddedSubject, 1, 10*time.Second)[0].Text)
		b := app.NewBrowser(t)
		token, _ := b.Get(link).Doc(t).Find(`input[name="token"]`).Attr("value")
		if r := b.Post("/account/not-me", url.Values{"token": {token}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("not-me: %d", r.StatusCode)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Passkey)(nil))); n != 0 {
			t.Errorf("%d passkeys after not-me", n)
		}
		if r := passkeySignIn(t, app, app.NewBrowser(t), auth, cred, ""); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("the intruder's passkey still signs in: %d", r.StatusCode)
		}
	}, testutil.WithLocalhost())
}

// TestPasskeysNeedADomain: on an IP-address BASE_URL there is no relying
// party id, so nothing offers passkeys and the endpoints are 404.
func TestPasskeysNeedADomain(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	b := app.NewBrowser(t)
	login := b.Get("/account/login")
	if login.Doc(t).Find(`[data-testid="passkey-signin"]`).Length() != 0 || strings.Contains(login.Body, "webauthn") {
		t.Errorf("the sign-in page offers passkeys on an IP address")
	}
	if r := postJSON(b, app.URL+"/account/login/passkey/begin", []byte(`{}`)); r.StatusCode != http.StatusNotFound {
		t.Errorf("begin: %d", r.StatusCode)
	}
	owner := app.Register(t, "ip@example.com", oldPassword)
	if owner.Get("/account").Doc(t).Find(`[data-testid="passkeys"]`).Length() != 0 {
		t.Errorf("the account page offers passkeys on an IP address")
	}
}

// TestPasskeySignInPage: the email field carries the autofill token, and
// the button is rendered hidden next to the sentence for browsers without
// JavaScript; rd and next reach the finish URL.
func TestPasskeySignInPage(t *testing.T) {
	app := passkeyApp(t, "sqlite")
	doc := app.NewBrowser(t).Get("/account/login?next=%2Faccount%2Fpassword").Doc(t)
	if ac, _ := doc.Find(`input#email`).Attr("autocomplete"); ac != "username webauthn" {
		t.Errorf("email autocomplete %q", ac)
	}
	btn := doc.Find(`[data-testid="passkey-signin-button"]`)
	if _, hidden := btn.Attr("hidden"); !hidden || btn.Text() != "Sign in with a passkey" {
		t.Errorf("passkey button: hidden=%v text %q", hidden, btn.Text())
	}
	if finish, _ := btn.Attr("data-finish"); finish != "/account/login/passkey/finish?next=%2Faccount%2Fpassword" {
		t.Errorf("finish URL %q", finish)
	}
	if doc.Find(`[data-testid="passkey-signin-nojs"]`).Length() != 1 {
		t.Errorf("no sentence for browsers without JavaScript")
	}
	// A failed password submit (htmx) keeps the autofill token.
	r := app.NewBrowser(t).Post("/account/login", url.Values{"email": {"x@example.com"}, "password": {"wrong"}}, "HX-Request", "true")
	if ac, _ := r.Doc(t).Find(`input#email`).Attr("autocomplete"); ac != "username webauthn" {
		t.Errorf("email autocomplete after a failed submit %q", ac)
	}
}

// TestPasskeyEndpointsCrossOrigin: the JSON endpoints are same-origin
// only, for a signed-in browser too.
func TestPasskeyEndpointsCrossOrigin(t *testing.T) {
	app := passkeyApp(t, "sqlite")
	owner := app.Register(t, "cross@example.com", oldPassword)
	for _, path := range []string{"/account/passkeys/register/begin", "/account/passkeys/register/finish", "/account/login/passkey/begin", "/account/login/passkey/finish"} {
		for name, hdr := range map[string][]string{
			"cross-site":     {"Sec-Fetch-Site", "cross-site"},
			"same-site":      {"Sec-Fetch-Site", "same-site"},
			"foreign origin": {"Sec-Fetch-Site", "", "Origin", "https://evil.example"},
		} {
			if r := postJSON(owner, app.URL+path, []byte(`{"name":"x"}`), hdr...); r.StatusCode != http.StatusForbidden {
				t.Errorf("%s from %s: %d", path, name, r.StatusCode)
			}
		}
	}
	if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Ceremony)(nil))); n != 0 {
		t.Errorf("refused requests began %d ceremonies", n)
	}
}

// TestPasskeyCeremonyLimit: beginning ceremonies is limited per IP.
func TestPasskeyCeremonyLimit(t *testing.T) {
	app := passkeyApp(t, "sqlite")
	b := app.NewBrowser(t)
	for i := range models.PasskeyCeremoniesPerMinute {
		if r := postJSON(b, app.URL+"/account/login/passkey/begin", []byte(`{}`)); r.StatusCode != http.StatusOK {
			t.Fatalf("begin %d: %d", i+1, r.StatusCode)
		}
	}
	r := postJSON(b, app.URL+"/account/login/passkey/begin", []byte(`{}`))
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || !strings.Contains(r.Body, "rate_limited") {
		t.Errorf("over the limit: %d %s", r.StatusCode, r.Body)
	}
}

// TestPasskeyExportAndDeletion: the export lists passkeys by name and
// dates, never the credential id or public key; deleting the account
// removes them.
func TestPasskeyExportAndDeletion(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		owner := app.Register(t, "export-keys@example.com", oldPassword)
		auth := app.NewAuthenticator()
		cred := addPasskey(t, app, owner, auth, "Phone")
		addPasskey(t, app, owner, auth, "Laptop")
		if r := passkeySignIn(t, app, app.NewBrowser(t), auth, cred, ""); r.StatusCode != http.StatusOK {
			t.Fatalf("sign-in: %d", r.StatusCode)
		}
		r := owner.Get("/account/export")
		if r.StatusCode != http.StatusOK {
			t.Fatalf("export: %d", r.StatusCode)
		}
		var doc struct {
			Factors []struct {
				Kind       string     `json:"kind"`
				Name       string     `json:"name"`
				CreatedAt  time.Time  `json:"created_at"`
				LastUsedAt *time.Time `json:"last_used_at"`
			} `json:"factors"`
		}
		if err := json.Unmarshal([]byte(r.Body), &doc); err != nil {
			t.Fatal(err)
		}
		if len(doc.Factors) != 2 || doc.Factors[0].Kind != "passkey" || doc.Factors[0].Name != "Phone" || doc.Factors[0].LastUsedAt == nil ||
			doc.Factors[1].Name != "Laptop" || doc.Factors[1].LastUsedAt != nil || doc.Factors[1].CreatedAt.IsZero() {
			t.Errorf("exported factors: %+v", doc.Factors)
		}
		var keys []models.Passkey
		if err := app.DB.NewSelect().Model(&keys).Scan(t.Context()); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			for _, secret := range []string{b64url(k.CredentialID), b64std(k.CredentialID), b64url(k.PublicKey), b64std(k.PublicKey), hexOf(k.PublicKey)} {
				if strings.Contains(r.Body, secret[:16]) {
					t.Errorf("the export holds key material of %q", k.Name)
				}
			}
		}

		if r := owner.Post("/account/delete", url.Values{"current_password": {oldPassword}}); r.StatusCode != http.StatusSeeOther {
			t.Fatalf("delete: %d %s", r.StatusCode, r.Body)
		}
		if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Passkey)(nil))); n != 0 {
			t.Errorf("%d passkeys outlived their account", n)
		}
		if r := passkeySignIn(t, app, app.NewBrowser(t), auth, cred, ""); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("a deleted account's passkey: %d", r.StatusCode)
		}
	}, testutil.WithLocalhost())
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
func b64std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
func hexOf(b []byte) string  { return hex.EncodeToString(b) }
