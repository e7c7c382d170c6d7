package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// signedInRoutes are the routes behind requireSignedIn, with where a
// signed-out visitor is sent: back to the page after signing in only for
// a GET of a page other than /account.
var signedInRoutes = []struct {
	method, path, login string
}{
	{http.MethodGet, "/account", "/account/login"},
	{http.MethodGet, "/account/password", "/account/login?next=/account/password"},
	{http.MethodPost, "/account/password", "/account/login"},
	{http.MethodPost, "/account/sessions/revoke", "/account/login"},
	{http.MethodPost, "/account/sessions/revoke-others", "/account/login"},
}

func TestSignedInRoutesSendSignedOutVisitorsToSignIn(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	form := url.Values{"session": {strings.Repeat("a", 64)}, "current_password": {oldPassword}, "password": {newPassword}}
	visitors := map[string]func() *testutil.Browser{
		"no cookie": func() *testutil.Browser { return app.NewBrowser(t) },
		"unknown session cookie": func() *testutil.Browser {
			b := app.NewBrowser(t)
			u, _ := url.Parse(app.URL)
			b.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "latchkey_session", Value: "not-a-live-session"}})
			return b
		},
	}
	for _, r := range signedInRoutes {
		for who, browser := range visitors {
			send := func(headers ...string) *testutil.Response {
				if r.method == http.MethodGet {
					return browser().Get(r.path, headers...)
				}
				return browser().Post(r.path, form, headers...)
			}
			t.Run(r.method+" "+r.path+"/"+who+"/plain", func(t *testing.T) {
				resp := send()
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != r.login {
					t.Errorf("%d Location=%q, want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), r.login)
				}
			})
			t.Run(r.method+" "+r.path+"/"+who+"/htmx", func(t *testing.T) {
				// fetch would follow a 303 and swap the sign-in page into
				// the form: htmx is told where to go instead.
				resp := send("HX-Request", "true")
				if resp.StatusCode != http.StatusOK || resp.Header.Get("HX-Redirect") != r.login ||
					resp.Header.Get("Location") != "" || resp.Header.Get("Cache-Control") != "no-store" || resp.Body != "" {
					t.Errorf("%d HX-Redirect=%q Location=%q Cache-Control=%q body=%q, want 200 HX-Redirect %q",
						resp.StatusCode, resp.Header.Get("HX-Redirect"), resp.Header.Get("Location"),
						resp.Header.Get("Cache-Control"), resp.Body, r.login)
				}
			})
		}
	}
	if n, err := app.DB.NewSelect().Model((*models.Account)(nil)).Count(t.Context()); err != nil || n != 0 {
		t.Errorf("signed-out requests left %d accounts (%v)", n, err)
	}
}

// TestGuardKeepsNotFoundAndMethodNotAllowed: the guard covers its routes
// only. A route group that catches every path under /account (as
// echo.Group.Use does) would answer these with a sign-in redirect.
func TestGuardKeepsNotFoundAndMethodNotAllowed(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/account/nothing-here", http.StatusNotFound},
		{http.MethodGet, "/account/", http.StatusNotFound},
		{http.MethodPut, "/account", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/account/password", http.StatusMethodNotAllowed},
		{http.MethodGet, "/account/logout", http.StatusMethodNotAllowed},
		{http.MethodGet, "/account/login", http.StatusOK},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, app.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp := app.NewBrowser(t).Do(req)
			if resp.StatusCode != tc.want {
				t.Errorf("%d (Location %q), want %d", resp.StatusCode, resp.Header.Get("Location"), tc.want)
			}
		})
	}
}

// TestSessionAuthState: only a fully authenticated session signs its
// browser in; a session whose second factor is pending is signed out to
// every page, and the sign-in page is offered again.
func TestSessionAuthState(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		const email = "state@example.com"
		b := app.Register(t, email, oldPassword)
		hash := models.HashSessionID(b.Cookie("latchkey_session"))
		setState := func(state models.AuthState) {
			t.Helper()
			res, err := app.DB.NewUpdate().Model((*models.Session)(nil)).Set("auth_state = ?", state).
				Where("id_hash = ?", hash).Exec(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if n, err := res.RowsAffected(); err != nil || n != 1 {
				t.Fatalf("set auth_state: %d rows (%v)", n, err)
			}
		}

		if r := b.Get("/account"); r.StatusCode != http.StatusOK || r.Text(t, `[data-testid="account-email"]`) != email {
			t.Fatalf("full session: GET /account %d", r.StatusCode)
		}

		setState(models.AuthSecondFactorPending)
		if r := b.Get("/account"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login" {
			t.Errorf("pending session: GET /account %d %q, want 303 to /account/login", r.StatusCode, r.Header.Get("Location"))
		}
		if r := b.Get("/account/password"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login?next=/account/password" {
			t.Errorf("pending session: GET /account/password %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		if r := b.Post("/account/sessions/revoke-others", url.Values{}); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/login" {
			t.Errorf("pending session: revoke-others %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		// The sign-in page is shown, not skipped for /account, and the
		// layout names nobody.
		login := b.Get("/account/login")
		if login.StatusCode != http.StatusOK || strings.Contains(login.Body, email) {
			t.Errorf("pending session: GET /account/login %d (address shown: %v)", login.StatusCode, strings.Contains(login.Body, email))
		}

		setState(models.AuthFull)
		if r := b.Get("/account"); r.StatusCode != http.StatusOK || r.Text(t, `[data-testid="account-email"]`) != email {
			t.Errorf("full again: GET /account %d", r.StatusCode)
		}
	})
}
