// Package e2e holds Latchkey's browser tests. They run the whole app in
// the test process (testutil.StartApp: real database, real SMTP server,
// real HTTP) and drive Debian's Chromium over the DevTools protocol with
// chromedp, with JavaScript on and off.
//
// Without /usr/bin/chromium the tests skip, unless CI=true, where they
// fail. E2E_SCREENSHOTS names a directory for full-page screenshots of
// every page visited (default: a temporary directory).
package e2e
