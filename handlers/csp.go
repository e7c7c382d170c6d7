package handlers

import (
	"strings"

	"github.com/latchkey-auth/latchkey/handlers/returnto"
)

// formActionPolicy is contentSecurityPolicy with form-action widened to
// every accepted return target (SPEC §7): a form post's 303 to an rd is a
// navigation that form-action governs, so with 'self' alone a sign-in
// without JavaScript could not go back to an app on another port of
// BASE_URL's host or on a COOKIE_DOMAIN subdomain (the browser blocks the
// redirect). Any port, as the rule ignores ports; http too in dev mode.
func formActionPolicy(rule returnto.Rule) string {
	schemes := []string{"https"}
	if rule.AllowHTTP {
		schemes = append(schemes, "http")
	}
	var hosts []string
	if rule.Host != "" && !strings.Contains(rule.Host, ":") { // no IPv6 literals in CSP
		hosts = append(hosts, rule.Host)
	}
	if rule.CookieDomain != "" {
		hosts = append(hosts, rule.CookieDomain, "*."+rule.CookieDomain)
	}
	sources := "form-action 'self'"
	for _, host := range hosts {
		for _, scheme := range schemes {
			sources += " " + scheme + "://" + host + ":*"
		}
	}
	return strings.Replace(contentSecurityPolicy, "form-action 'self'", sources, 1)
}
