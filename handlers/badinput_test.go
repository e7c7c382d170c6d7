package handlers_test

// Malformed, oversized and hostile request bodies.

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func TestBadInput(t *testing.T) {
	app := testutil.StartApp(t, "sqlite")
	b := app.NewBrowser(t)
	post := func(path, body, ctype string) int {
		req, err := http.NewRequest(http.MethodPost, app.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		return b.Do(req).StatusCode
	}
	const form = "application/x-www-form-urlencoded"
	cases := []struct {
		name, path, body, ctype string
		want                    int
	}{
		{"invalid UTF-8", "/account/register", "email=%ff%fe%40example.com&password=abcdefghijk", form, 400},
		{"NUL", "/account/login", "email=a%00b%40example.com&password=x", form, 400},
		{"CRLF in email", "/account/forgot-password", "email=a%40example.com%0d%0aBcc:%20x%40evil.example", form, 400},
		{"duplicated field", "/account/register", "email=a%40example.com&email=b%40example.com&password=abcdefghijk", form, 400},
		{"array-form field", "/account/register", "email[]=a%40example.com&password=abcdefghijk", form, 422},
		{"multipart", "/account/register", "--x\r\n", "multipart/form-data; boundary=x", 415},
		{"json", "/account/login", `{"email":"a@example.com"}`, "application/json", 415},
		{"overlong email", "/account/register", "email=" + strings.Repeat("a", 250) + "%40example.com&password=abcdefghijk", form, 422},
		{"overlong local part", "/account/register", "email=" + strings.Repeat("a", 65) + "%40example.com&password=abcdefghijk", form, 422},
		{"script in email", "/account/forgot-password", "email=%3Cscript%3E%40example.com", form, 422},
		{"SQL in email", "/account/login", "email=a%27%20OR%201%3D1--%40example.com&password=x", form, 422},
		{"unicode look-alike", "/account/register", "email=%D0%B0dmin%40example.com&password=abcdefghijk", form, 422},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := post(c.path, c.body, c.ctype); got != c.want {
				t.Errorf("%s: %d, want %d", c.name, got, c.want)
			}
		})
	}

	// The signed-in change-of-address form, the same way.
	signed := app.Register(t, "bad.input@example.com", oldPassword)
	for _, c := range []struct {
		name, body, ctype string
		want              int
	}{
		{"change email: invalid UTF-8", "email=%ff%fe%40example.com&current_password=abcdefghijk", form, 400},
		{"change email: NUL", "email=a%00b%40example.com&current_password=x", form, 400},
		{"change email: CRLF", "email=a%40example.com%0d%0aBcc:%20x%40evil.example&current_password=x", form, 400},
		{"change email: control character in password", "email=a%40example.com&current_password=a%07b", form, 400},
		{"change email: duplicated field", "email=a%40example.com&email=b%40example.com&current_password=x", form, 400},
		{"change email: array-form field", "email[]=a%40example.com&current_password=x", form, 422},
		{"change email: multipart", "--x\r\n", "multipart/form-data; boundary=x", 415},
		{"change email: json", `{"email":"a@example.com"}`, "application/json", 415},
		{"change email: overlong email", "email=" + strings.Repeat("a", 250) + "%40example.com&current_password=x", form, 422},
		{"change email: overlong local part", "email=" + strings.Repeat("a", 65) + "%40example.com&current_password=x", form, 422},
		{"change email: script in email", "email=%3Cscript%3E%40example.com&current_password=x", form, 422},
		{"change email: SQL in email", "email=a%27%20OR%201%3D1--%40example.com&current_password=x", form, 422},
		{"change email: unicode look-alike", "email=%D0%B0dmin%40example.com&current_password=x", form, 422},
		{"change email: overlong password", "email=a%40example.com&current_password=" + strings.Repeat("a", models.MaxPasswordBytes+1), form, 422},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, app.URL+"/account/email", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.ctype)
			if got := signed.Do(req).StatusCode; got != c.want {
				t.Errorf("%s: %d, want %d", c.name, got, c.want)
			}
		})
	}
	if r := signed.Post("/account/email", url.Values{"email": {`"><img src=x onerror=alert(1)>@example.com`}, "current_password": {"x"}}); strings.Contains(r.Body, "<img src=x") {
		t.Errorf("change email: field rendered unescaped")
	}
	if r := signed.Get("/account/email/confirm?code=%22%3E%3Cimg%20src%3Dx%3E"); r.StatusCode != http.StatusGone || strings.Contains(r.Body, "<img") {
		t.Errorf("confirm with markup in the code: %d", r.StatusCode)
	}
	if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.EmailChange)(nil))); n != 0 {
		t.Errorf("bad input stored %d changes of address", n)
	}
	if _, err := app.Store.AccountByEmail(t.Context(), "bad.input@example.com"); err != nil {
		t.Errorf("bad input changed the address: %v", err)
	}

	// The two-step forms: the second step of signing in (a browser whose
	// password was right) and the signed-in set-up page.
	const twoStepEmail = "badinput-2fa@example.com"
	signedIn := app.Register(t, twoStepEmail, oldPassword)
	enableTOTP(t, app, signedIn)
	pending := passwordStep(t, app, twoStepEmail)
	postAs := func(b *testutil.Browser, path, body, ctype string) int {
		req, err := http.NewRequest(http.MethodPost, app.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", ctype)
		return b.Do(req).StatusCode
	}
	twoStepCases := []struct {
		name, path, body, ctype string
		b                       *testutil.Browser
		want                    int
	}{
		{"2fa code invalid UTF-8", "/account/login/2fa", "code=%ff%fe", form, pending, 400},
		{"2fa code NUL", "/account/login/2fa", "code=12%003456", form, pending, 400},
		{"2fa code duplicated", "/account/login/2fa", "code=123456&code=654321", form, pending, 400},
		{"2fa code array-form", "/account/login/2fa", "code[]=123456", form, pending, 422},
		{"2fa multipart", "/account/login/2fa", "--x\r\n", "multipart/form-data; boundary=x", pending, 415},
		{"2fa json", "/account/login/2fa", `{"code":"123456"}`, "application/json", pending, 415},
		{"2fa code overlong", "/account/login/2fa", "code=" + strings.Repeat("1", 5000), form, pending, 422},
		{"2fa code script", "/account/login/2fa", "code=%3Cscript%3E", form, pending, 422},
		{"2fa code SQL", "/account/login/2fa", "code=1%27%20OR%201%3D1--", form, pending, 422},
		{"2fa code full-width digits", "/account/login/2fa", "code=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96", form, pending, 422},
		{"set-up action unknown", "/account/2fa", "action=nope", form, signedIn, 400},
		{"set-up action missing", "/account/2fa", "code=123456", form, signedIn, 400},
		{"set-up action duplicated", "/account/2fa", "action=begin&action=disable", form, signedIn, 400},
		{"set-up code invalid UTF-8", "/account/2fa", "action=renew&code=%ff", form, signedIn, 400},
		{"set-up password NUL", "/account/2fa", "action=disable&current_password=a%00b&code=123456", form, signedIn, 400},
		{"set-up multipart", "/account/2fa", "--x\r\n", "multipart/form-data; boundary=x", signedIn, 415},
		{"set-up renew code overlong", "/account/2fa", "action=renew&code=" + strings.Repeat("1", 5000), form, signedIn, 422},
		{"set-up disable code letters", "/account/2fa", "action=disable&current_password=x&code=abcdef", form, signedIn, 422},
	}
	for _, c := range twoStepCases {
		t.Run(c.name, func(t *testing.T) {
			if got := postAs(c.b, c.path, c.body, c.ctype); got != c.want {
				t.Errorf("%s: %d, want %d", c.name, got, c.want)
			}
		})
	}
	if !hasSecondFactor(t, app, twoStepEmail) {
		t.Errorf("bad input turned two-step sign-in off")
	}
	if r := pending.Get("/account"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("bad input at the second step signed in: %d", r.StatusCode)
	}

	big := strings.Repeat("a", 2<<20)
	if got := post("/account/login", "email=a%40example.com&password="+big, form); got != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body with Content-Length: %d", got)
	}
	req, err := http.NewRequest(http.MethodPost, app.URL+"/account/login", io.MultiReader(strings.NewReader("email=a%40example.com&password="), strings.NewReader(big)))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked
	req.Header.Set("Content-Type", form)
	if got := b.Do(req).StatusCode; got != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB chunked body: %d", got)
	}

	// HTML in a field comes back inert.
	r := b.Post("/account/login", url.Values{"email": {`"><img src=x onerror=alert(1) hx-get="/x">`}, "password": {"x"}})
	if strings.Contains(r.Body, "<img src=x") || strings.Contains(r.Body, `hx-get="/x"`) {
		t.Errorf("field rendered unescaped")
	}
	if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Account)(nil))); n != 2 { // the two registered above
		t.Errorf("bad input created %d accounts", n-2)
	}

	// The deletion form, signed in, with the right password beside the
	// bad field: refused the same way, and the account stays.
	del := app.Register(t, "stays@example.com", "correct horse battery staple")
	right := "current_password=correct+horse+battery+staple"
	for _, c := range []struct {
		name, body, ctype string
		want              int
	}{
		{"NUL", "current_password=a%00b", form, 400},
		{"invalid UTF-8", "current_password=%ff%fe", form, 400},
		{"duplicated field", right + "&current_password=x", form, 400},
		{"array-form field", "current_password[]=correct+horse+battery+staple", form, 422},
		{"multipart", "--x\r\n", "multipart/form-data; boundary=x", 415},
		{"json", `{"current_password":"correct horse battery staple"}`, "application/json", 415},
		{"query string only", "", form, 422},
	} {
		t.Run("delete "+c.name, func(t *testing.T) {
			path := "/account/delete"
			if c.name == "query string only" {
				path += "?" + right
			}
			req, err := http.NewRequest(http.MethodPost, app.URL+path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.ctype)
			if got := del.Do(req).StatusCode; got != c.want {
				t.Errorf("delete %s: %d, want %d", c.name, got, c.want)
			}
		})
	}
	if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.Account)(nil))); n != 3 { // with bad.input@ and the two-step one above
		t.Errorf("bad input to the deletion form: %d accounts, want 3", n)
	}

	// The resend-verification button (signed in): its form has no fields,
	// but whatever it carries meets the same bar, and a refusal sends
	// nothing. (The GET code parameter's matrix: TestVerificationLinkGone.)
	for _, c := range []struct {
		name, body, ctype string
		want              int
	}{
		{"invalid UTF-8", "x=%ff%fe", form, 400},
		{"NUL", "x=a%00b", form, 400},
		{"CRLF", "x=a%0d%0aBcc:%20x%40evil.example", form, 400},
		{"control character in a name", "a%01b=1", form, 400},
		{"duplicated field", "x=1&x=2", form, 400},
		{"malformed body", "%", form, 400},
		{"multipart", "--x\r\n", "multipart/form-data; boundary=x", 415},
		{"json", `{"email":"a@example.com"}`, "application/json", 415},
		{"2 MiB body", "x=" + big, form, 413},
	} {
		t.Run("resend "+c.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, app.URL+"/account/verify-email/resend", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.ctype)
			if got := del.Do(req).StatusCode; got != c.want {
				t.Errorf("resend %s: %d, want %d", c.name, got, c.want)
			}
		})
	}
	if n := testutil.CountRows(t, app.DB.NewSelect().Model((*models.OutboxEmail)(nil)).
		Where("kind = ? AND recipient = ?", models.MailVerifyEmail, "stays@example.com")); n != 1 {
		t.Errorf("%d verification emails, want only the registration's", n)
	}
}
