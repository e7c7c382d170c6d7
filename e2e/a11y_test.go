package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

// axeSource is axe-core, vendored in testdata.
var axeSource = sync.OnceValues(func() ([]byte, error) { return os.ReadFile("testdata/axe.min.js") })

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	URL    string `json:"helpUrl"`
	Nodes  []struct {
		Target  []string `json:"target"`
		HTML    string   `json:"html"`
		Summary string   `json:"summary"`
	} `json:"nodes"`
}

const axeRun = `axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({
	id: v.id, impact: v.impact || "", help: v.help, helpUrl: v.helpUrl,
	nodes: v.nodes.map(n => ({target: n.target.map(String), html: n.html, summary: n.failureSummary || ""})),
})))`

// axe runs axe-core on the page as it is and returns its violations.
// Without JavaScript, scripts are allowed for the audit only: the page's
// own scripts never ran and do not run now (loaded already checked).
func (p *tab) axe() []axeViolation {
	p.t.Helper()
	if !p.js {
		p.setScripts(true)
		defer p.setScripts(false)
		if htmx := eval[string](p, `typeof window.htmx`); htmx != "undefined" {
			p.fatalf("htmx is %s on a page loaded with scripts off", htmx)
		}
	}
	if !eval[bool](p, `typeof window.axe === "object"`) {
		src, err := axeSource()
		if err != nil {
			p.fatalf("reading axe-core: %v", err)
		}
		p.do("inject axe-core", chromedp.Evaluate[chromedp.Void](string(src)))
	}
	raw, err := chromedp.Run(p.ctx, chromedp.Evaluate[[]byte](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		p.fatalf("axe.run: %v", err)
	}
	var vs []axeViolation
	if err := json.Unmarshal(raw, &vs); err != nil {
		p.fatalf("axe results: %v\n%s", err, raw)
	}
	return vs
}

// reflowProblems lists what sticks out sideways at the current viewport.
const reflowProblems = `(() => {
	const root = document.documentElement, width = root.clientWidth;
	if (root.scrollWidth <= width && root.scrollWidth <= window.innerWidth) return [];
	const out = ["page is " + root.scrollWidth + "px wide in a " + width + "px viewport"];
	for (const e of document.body.querySelectorAll("*")) {
		const r = e.getBoundingClientRect();
		if (r.right > width + 0.5 && out.length < 8) {
			out.push(e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : "") + " reaches " + Math.round(r.right) + "px");
		}
	}
	return out;
})()`

// fieldProblems checks that every field showing an error says so to
// assistive technology: aria-invalid, and aria-describedby reaching the
// message.
const fieldProblems = `(() => {
	const out = [], text = e => (e ? e.textContent : "").replace(/\s+/g, " ").trim();
	for (const input of document.querySelectorAll("form input:not([type=hidden]), form textarea, form select")) {
		if (input.getAttribute("aria-hidden") === "true") continue;
		const fb = document.getElementById(input.id + "-feedback");
		const msg = fb ? text(fb.matches(".field-error") ? fb : fb.querySelector(".field-error")) : "";
		const invalid = input.getAttribute("aria-invalid") === "true";
		const ids = (input.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean);
		const described = ids.map(id => document.getElementById(id));
		if (described.some(d => !d)) out.push("#" + input.id + ": aria-describedby names a missing element (" + ids.join(" ") + ")");
		if (msg && !invalid) out.push("#" + input.id + " shows " + JSON.stringify(msg) + " without aria-invalid=true");
		if (msg && !described.map(text).join(" ").includes(msg)) out.push("#" + input.id + ": aria-describedby does not reach " + JSON.stringify(msg));
		if (invalid && !msg) out.push("#" + input.id + " is aria-invalid with no message");
	}
	return out;
})()`

// requireFieldsConsistent fails unless every field's error state is
// exposed as fieldProblems wants.
func (p *tab) requireFieldsConsistent(when string) {
	p.t.Helper()
	if out := eval[[]string](p, fieldProblems); len(out) > 0 {
		p.errorf("%s: error fields:\n\t%s", when, strings.Join(out, "\n\t"))
	}
}

// activeElement describes the focused element: tag#id, or tag "text".
const activeElement = `(e => !e || e === document.body ? "body" : e.id ? e.tagName.toLowerCase() + "#" + e.id :
	e.tagName.toLowerCase() + " " + JSON.stringify(e.textContent.replace(/\s+/g, " ").trim()))(document.activeElement)`

// audit is one row of the report.
type audit struct {
	page       string
	violations int
}

type auditor struct {
	mu   sync.Mutex
	rows []audit
}

// check audits the page as it is: axe-core in the light and dark colour
// schemes and on a phone-sized screen, reflow at 360px and at 200% zoom, error fields' ARIA, then
// screenshots.
func (a *auditor) check(p *tab, page string) {
	p.t.Helper()
	label := p.name + " " + page
	total := 0
	for _, run := range []struct {
		name, scheme string
		width        int64
	}{{"light", "light", desktopWidth}, {"dark", "dark", desktopWidth}, {"light, 360px", "light", mobileWidth}} {
		p.colorScheme(run.scheme)
		if run.width != desktopWidth {
			p.viewport(run.width, mobileHeight, 1, true)
		}
		vs := p.axe()
		p.viewport(desktopWidth, desktopHeight, 1, false)
		total += len(vs)
		for _, v := range vs {
			var b strings.Builder
			fmt.Fprintf(&b, "axe %s (%s): %s [%s] %s", v.ID, run.name, v.Help, v.Impact, v.URL)
			for _, n := range v.Nodes {
				fmt.Fprintf(&b, "\n\t%s\n\t\t%s\n\t\t%s", strings.Join(n.Target, " "), n.HTML, strings.ReplaceAll(n.Summary, "\n", "\n\t\t"))
			}
			p.t.Errorf("%s: %s", label, b.String())
		}
	}
	p.colorScheme("")

	for _, v := range []struct {
		name  string
		w, h  int64
		scale float64
	}{{"360px wide", mobileWidth, mobileHeight, 1}, {"200% zoom", desktopWidth / 2, desktopHeight / 2, 2}} {
		p.viewport(v.w, v.h, v.scale, false)
		if out := eval[[]string](p, reflowProblems); len(out) > 0 {
			total++
			p.t.Errorf("%s: horizontal overflow at %s:\n\t%s", label, v.name, strings.Join(out, "\n\t"))
		}
	}
	p.viewport(desktopWidth, desktopHeight, 1, false)

	if out := eval[[]string](p, fieldProblems); len(out) > 0 {
		total += len(out)
		p.t.Errorf("%s: error fields:\n\t%s", label, strings.Join(out, "\n\t"))
	}
	p.shoot(strings.ReplaceAll(page, " ", "-"))

	a.mu.Lock()
	a.rows = append(a.rows, audit{label, total})
	a.mu.Unlock()
}

// inlineChecksQuiet is true once no htmx request has been in flight for
// 700 ms: longer than the inline checks' input delay (300–500 ms), so a
// check that typing scheduled has started and finished before a submit.
const inlineChecksQuiet = `(() => {
	const busy = document.querySelector(".htmx-request") !== null;
	const now = performance.now();
	if (busy || window.__quietSince === undefined) {
		window.__quietSince = busy ? undefined : now;
		return false;
	}
	return now - window.__quietSince > 700;
})()`

// waitQuiet waits until inline checks are quiet (inlineChecksQuiet),
// counting only from now.
func waitQuiet(p *tab) {
	p.t.Helper()
	p.do("restart the quiet clock", chromedp.Evaluate[chromedp.Void](`window.__quietSince = undefined`))
	p.waitFor("inline checks to finish", inlineChecksQuiet)
}

// submitInvalid submits a form that fails validation: a 422 page without
// JavaScript, a swapped fragment (and no page load) with it. wait is an
// expression true once the errors show.
func submitInvalid(p *tab, form, wait string) {
	p.t.Helper()
	sel := form + ` button[type="submit"]`
	if p.js {
		// Let the inline checks that typing started finish first, as a
		// person reading them would; then flag the old form, so the wait
		// sees the swapped one (an inline check may have shown errors
		// already).
		waitQuiet(p)
		p.do("flag the old form", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).__stale = true`, js(form))))
		p.mark()
		p.click("submit "+form, sel)
		p.waitFor("the errors of "+form, fmt.Sprintf(`(f => f && !f.__stale)(document.querySelector(%s)) && (%s)`, js(form), wait))
		p.requireMarker("submitting " + form)
		return
	}
	if st := p.clickAndLoad("submit "+form, sel); st != http.StatusUnprocessableEntity {
		p.fatalf("submitting %s: %d, want 422", form, st)
	}
	p.waitFor("the errors of "+form, wait)
}

// requireFocus checks where focus is after a failed submit.
func requireFocus(p *tab, want, after string) {
	p.t.Helper()
	if p.js {
		p.waitFor("focus on "+want+" after "+after, fmt.Sprintf(`(%s) === %s`, activeElement, js(want)))
		return
	}
	// Without JavaScript, the autofocus attribute does it at load.
	if got := eval[string](p, activeElement); got != want {
		p.errorf("after %s focus is on %s, want %s", after, got, want)
	}
}

const invalidField = `document.querySelector('[aria-invalid="true"]') !== null`

func TestAccessibility(t *testing.T) {
	t.Parallel()
	requireChromium(t)
	app := testutil.StartApp(t, "sqlite")
	b := startBrowser(t, app)
	a := &auditor{}
	for _, withJS := range []bool{false, true} {
		name := map[bool]string{false: "a11y-nojs", true: "a11y-js"}[withJS]
		t.Run(name, func(t *testing.T) {
			p := b.newTab(t, name, withJS)
			email := name + "@example.com"

			p.open("/")
			a.check(p, "home")

			p.open("/account/register")
			a.check(p, "register")
			submitInvalid(p, "#register-form", invalidField)
			requireFocus(p, "input#email", "an empty registration")
			a.check(p, "register errors")
			if withJS {
				p.clear("#email")
				p.typeInto("#email", "nope")
				p.clear("#password")
				p.typeInto("#password", "short")
				p.waitFor("the meter", visible(`[data-testid="strength"]`))
				p.tab()
				p.waitFor("the inline email error", `document.querySelector('[data-testid="email-feedback"]').textContent.includes("email")`)
				a.check(p, "register inline")
			}
			p.clear("#email")
			p.typeInto("#email", email)
			p.clear("#password")
			p.typeInto("#password", oldPassword)
			p.clickAndLoad("create account", `#register-form button[type="submit"]`)
			p.requirePath("/account")
			// A second device, for the sessions table's sign-out buttons.
			other := app.NewBrowser(t)
			if resp := other.Post("/account/login", url.Values{"email": {email}, "password": {oldPassword}}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("second sign-in: %d", resp.StatusCode)
			}
			p.open("/account")
			a.check(p, "account")

			p.open("/account/password")
			a.check(p, "change password")
			submitInvalid(p, "#password-form", invalidField)
			requireFocus(p, "input#current_password", "an empty password change")
			a.check(p, "change password errors")

			if st := p.open("/no/such/page"); st != http.StatusNotFound {
				t.Errorf("missing page: %d", st)
			}
			a.check(p, "404")

			p.clickAndLoad("sign out", `[data-testid="logout"]`)
			p.open("/account/login")
			a.check(p, "login")
			keyboardOrder(p)
			submitInvalid(p, "#login-form", invalidField)
			requireFocus(p, "input#email", "an empty sign-in")
			a.check(p, "login errors")
			p.clear("#email")
			p.typeInto("#email", email)
			p.typeInto("#password", "not the password")
			submitInvalid(p, "#login-form", `document.querySelector('[data-testid="form-error"]') !== null`)
			if role := eval[string](p, `document.querySelector('[data-testid="form-error"]').getAttribute("role") || ""`); role != "alert" {
				t.Errorf("the sign-in error has role %q, want alert", role)
			}
			requireFocus(p, "input#password", "a wrong password")
			a.check(p, "login failed")

			p.open("/account/forgot-password")
			a.check(p, "forgot")
			submitInvalid(p, "#forgot-form", invalidField)
			requireFocus(p, "input#email", "an empty forgot-password form")
			a.check(p, "forgot errors")
			p.clear("#email")
			p.typeInto("#email", email)
			if withJS {
				p.click("send the link", `#forgot-form button[type="submit"]`)
				p.waitFor("the notice", visible(`[data-testid="forgot-sent"]`))
			} else {
				p.clickAndLoad("send the link", `#forgot-form button[type="submit"]`)
			}
			a.check(p, "forgot sent")

			link := testutil.ResetLink(t, waitForMail(t, app, email, resetSubject, 0))
			if st := p.open(link); st != http.StatusOK {
				t.Fatalf("reset link: %d", st)
			}
			a.check(p, "reset")
			p.typeInto("#password", "short")
			submitInvalid(p, "#reset-form", invalidField)
			requireFocus(p, "input#password", "a short new password")
			a.check(p, "reset errors")

			if st := p.open("/account/reset-password?code=nope"); st != http.StatusGone {
				t.Errorf("unknown code: %d, want 410", st)
			}
			a.check(p, "reset 410")
		})
	}

	var report strings.Builder
	for _, r := range a.rows {
		fmt.Fprintf(&report, "\n\t%-40s %d", r.page, r.violations)
	}
	t.Logf("problems per page (axe light+dark+360px, reflow, error fields):%s", report.String())
}

// keyboardOrder tabs through a fresh sign-in page from the top: the skip link
// first, then the header, then the form in order; the skip link moves
// focus to the main content.
func keyboardOrder(p *tab) {
	p.t.Helper()
	want := []string{`a "Skip to content"`, `a "Latchkey"`, `a "Sign in"`, `a "Create account"`, "input#email", "input#password"}
	if p.js {
		want = append(want, `button "Show"`)
	}
	want = append(want, `button "Sign in"`)
	p.open("/account/login")
	var got []string
	for range want {
		p.tab()
		got = append(got, eval[string](p, activeElement))
	}
	if strings.Join(got, ", ") != strings.Join(want, ", ") {
		p.errorf("tab order on the sign-in page:\n\tgot  %s\n\twant %s", strings.Join(got, ", "), strings.Join(want, ", "))
	}

	// Back to the top: the skip link is the first stop and jumps to main.
	p.open("/account/login")
	p.tab()
	if got := eval[string](p, activeElement); got != want[0] {
		p.fatalf("first tab stop is %s, want the skip link", got)
	}
	if !eval[bool](p, visible(".skip-link")+` && document.querySelector(".skip-link").getBoundingClientRect().top >= 0`) {
		p.errorf("the focused skip link is not on screen")
	}
	p.press("\r")
	p.waitFor("focus on main after the skip link", `document.activeElement === document.querySelector("main")`)
}
