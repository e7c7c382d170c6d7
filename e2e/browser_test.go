package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

const (
	chromiumPath = "/usr/bin/chromium"
	// tabTimeout bounds everything one tab does.
	tabTimeout = 60 * time.Second
	// waitTimeout bounds one wait for a condition on the page.
	waitTimeout = 15 * time.Second

	desktopWidth, desktopHeight = 1280, 800
	mobileWidth, mobileHeight   = 360, 740
	// shotLimit is the largest full-page PNG kept; above it the shot is
	// of the viewport only.
	shotLimit = 150 << 10
)

// requireChromium skips the test without Debian's Chromium, or fails it
// under CI=true, where a missing browser is a broken setup.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := fmt.Sprintf("browser tests need Chromium at %s (apt-get install chromium): %v", chromiumPath, err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING: " + msg)
	}
}

// browser is one headless Chromium for one test.
type browser struct {
	t     *testing.T
	ctx   context.Context
	app   *testutil.App
	shots string
}

// startBrowser launches Chromium with a fresh profile, closed when the
// test ends; extra adds command-line flags (e.g. host-resolver-rules).
func startBrowser(t *testing.T, app *testutil.App, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	requireChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(desktopWidth, desktopHeight),
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// Cancelling the allocator waits for Chromium to exit, before the
	// profile directory is removed.
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first Do binds the browser's life to its context, so it gets
	// bctx itself, with a watchdog instead of a timeout.
	watchdog := time.AfterFunc(tabTimeout, cancelBrowser)
	err := chromedp.Do(bctx)
	watchdog.Stop()
	if err != nil {
		t.Fatalf("starting %s: %v", chromiumPath, err)
	}
	shots := os.Getenv("E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	} else if !filepath.IsAbs(shots) {
		// Relative to the repository, not to this package's directory.
		shots = testutil.RepoPath(t, shots)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: bctx, app: app, shots: shots}
}

// tab is one page in a browser context of its own (its own cookies), with
// JavaScript on or off.
type tab struct {
	t    *testing.T
	b    *browser
	ctx  context.Context
	js   bool
	name string

	mu       sync.Mutex
	requests []network.EventRequestWillBeSent
}

// newTab opens a tab. With js false, script execution is disabled on the
// target before its first navigation, and stays disabled across
// navigations (open checks that htmx never loads).
func (b *browser) newTab(t *testing.T, name string, js bool) *tab {
	t.Helper()
	tctx, cancelTab := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tctx); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	ctx, cancel := context.WithTimeout(tctx, tabTimeout)
	t.Cleanup(cancel)
	p := &tab{t: t, b: b, ctx: ctx, js: js, name: name}
	p.viewport(desktopWidth, desktopHeight, 1, false)
	if !js {
		p.setScripts(false)
	}
	// Record every request the page makes, to tell navigations from
	// fetches.
	events := chromedp.Events(ctx, network.RequestWillBeSent)
	go func() {
		for ev, err := range events {
			if err != nil {
				return
			}
			p.mu.Lock()
			p.requests = append(p.requests, ev)
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *tab) fatalf(format string, args ...any) {
	p.t.Helper()
	p.t.Fatalf("[%s] "+format, append([]any{p.name}, args...)...)
}

func (p *tab) errorf(format string, args ...any) {
	p.t.Helper()
	p.t.Errorf("[%s] "+format, append([]any{p.name}, args...)...)
}

// do runs actions, failing the test with what was being done.
func (p *tab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, actions...); err != nil {
		p.fatalf("%s: %v", what, err)
	}
}

func (p *tab) setScripts(on bool) {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !on}); err != nil {
		p.fatalf("set script execution %v: %v", on, err)
	}
}

func (p *tab) viewport(w, h int64, scale float64, mobile bool) {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: w, Height: h, DeviceScaleFactor: scale, Mobile: mobile,
	}); err != nil {
		p.fatalf("viewport %dx%d@%v: %v", w, h, scale, err)
	}
}

func (p *tab) colorScheme(scheme string) {
	p.t.Helper()
	var features []*emulation.MediaFeature
	if scheme != "" {
		features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
	}
	if _, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: features}); err != nil {
		p.fatalf("color scheme %q: %v", scheme, err)
	}
}

func (p *tab) url(path string) string {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		return path
	}
	return p.b.app.URL + path
}

// open navigates and returns the HTTP status of the page that loaded
// (after redirects).
func (p *tab) open(path string) int64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(p.url(path)))
	if err == nil && resp == nil {
		// Chromium now and then reports a navigation that replaced the
		// same URL without a document response: navigate once more.
		resp, err = chromedp.Run(ctx, chromedp.NavigateResponse(p.url(path)))
	}
	if err != nil || resp == nil {
		p.fatalf("open %s: no document response (%v)", path, err)
	}
	p.loaded("open " + path)
	return resp.Status
}

// clickAndLoad clicks and waits for the page load the click causes: a
// plain form post, a link, or an htmx HX-Redirect.
func (p *tab) clickAndLoad(what, sel string) int64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		// Most likely the form was refused and swapped in place: say why.
		shown := eval[[]string](p, `[...document.querySelectorAll(".form-error, .field-error, [data-testid=alert]")].map(e => e.textContent.trim()).filter(Boolean)`)
		p.fatalf("%s (click %s): no page load: %v; at %s, messages shown: %q", what, sel, err, p.path(), shown)
	}
	p.loaded(what)
	if resp == nil {
		return 0
	}
	return resp.Status
}

// loaded checks, after each page load, that JavaScript is what the tab
// says: htmx running with it, never loaded without it.
func (p *tab) loaded(what string) {
	p.t.Helper()
	htmx := eval[string](p, `typeof window.htmx`)
	switch {
	case p.js && htmx != "object":
		p.fatalf("after %s: htmx is %s, want it running", what, htmx)
	case !p.js && htmx != "undefined":
		p.fatalf("after %s: htmx is %s although scripts are disabled", what, htmx)
	}
}

// click clicks without waiting for anything.
func (p *tab) click(what, sel string) {
	p.t.Helper()
	p.do(what, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto types text into a field with real key events.
func (p *tab) typeInto(sel, text string) {
	p.t.Helper()
	p.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
}

// clear empties a field.
func (p *tab) clear(sel string) {
	p.t.Helper()
	p.do("clear "+sel, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%s).value = ""`, js(sel))))
}

// press sends one key to the focused element.
func (p *tab) press(key string) {
	p.t.Helper()
	p.do(fmt.Sprintf("press %q", key), chromedp.KeyEvent(key))
}

func (p *tab) tab() { p.t.Helper(); p.press(kb.Tab) }

// eval evaluates a synchronous expression (it works with scripts
// disabled, since the DevTools protocol runs it, not the page).
func eval[T any](p *tab, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// js quotes a string for a JavaScript expression.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// waitFor polls a synchronous expression until it is true. The polling
// is done from Go, so it also works on pages with scripts disabled.
func (p *tab) waitFor(what, expr string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, waitTimeout)
	defer cancel()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err == nil && ok {
			return
		}
		lastErr = err
		select {
		case <-ctx.Done():
			p.fatalf("waited %s for %s (%s): %v, last error: %v", waitTimeout, what, expr, ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

// text returns the trimmed, space-collapsed text of the first match ("" if
// none).
func (p *tab) text(sel string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? "").replace(/\s+/g, " ").trim()`, js(sel)))
}

func (p *tab) exists(sel string) bool {
	p.t.Helper()
	return eval[bool](p, fmt.Sprintf(`document.querySelector(%s) !== null`, js(sel)))
}

// visible is an expression true when sel matches a rendered element.
func visible(sel string) string {
	return fmt.Sprintf(`(e => !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden")(document.querySelector(%s))`, js(sel))
}

func (p *tab) path() string {
	p.t.Helper()
	return eval[string](p, `location.pathname`)
}

func (p *tab) requirePath(want string) {
	p.t.Helper()
	if got := p.path(); got != want {
		p.fatalf("at %s, want %s", got, want)
	}
}

// mark sets a marker on window; it survives only while no page loads.
func (p *tab) mark() {
	p.t.Helper()
	p.do("set marker", chromedp.Evaluate[chromedp.Void](`window.__marker = 1`))
}

func (p *tab) requireMarker(what string) {
	p.t.Helper()
	if !eval[bool](p, `window.__marker === 1`) {
		p.fatalf("%s loaded a new page; htmx should have swapped the fragment in place", what)
	}
}

// requests returns the URLs of the requests of the given resource type
// made so far.
func (p *tab) requestsOf(typ network.ResourceType) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, r := range p.requests {
		if r.Type == typ {
			out = append(out, r.Request.Method+" "+strings.TrimPrefix(r.Request.URL, p.b.app.URL))
		}
	}
	return out
}

// shoot saves full-page PNGs of the page at desktop and mobile widths.
func (p *tab) shoot(name string) {
	p.t.Helper()
	base := p.name + "-" + name
	for _, v := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"desktop", desktopWidth, desktopHeight, false}, {"mobile", mobileWidth, mobileHeight, true}} {
		p.viewport(v.w, v.h, 1, v.mobile)
		buf, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
		if err == nil && len(buf) > shotLimit {
			buf, err = chromedp.Run(p.ctx, viewportShot)
		}
		if err != nil {
			p.fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(p.b.shots, base+"-"+v.suffix+".png"), buf, 0o644); err != nil {
			p.fatalf("saving screenshot: %v", err)
		}
	}
	p.viewport(desktopWidth, desktopHeight, 1, false)
}

// viewportShot is a PNG of the visible part of the page only.
var viewportShot chromedp.Action[[]byte] = func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
	r, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{Format: page.CaptureScreenshotFormatPng})
	return r.Data, err
}

// waitForMail waits for the latest email to an address with a subject,
// beyond the first skip such emails.
func waitForMail(t *testing.T, app *testutil.App, to, subject string, skip int) testutil.Email {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		var got []testutil.Email
		for _, e := range app.SMTP.Emails() {
			if e.Subject == subject && len(e.To) == 1 && e.To[0] == to {
				got = append(got, e)
			}
		}
		if len(got) > skip {
			return got[len(got)-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no email %q to %s after %s", subject, to, waitTimeout)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
