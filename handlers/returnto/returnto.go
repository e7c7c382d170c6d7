// Package returnto decides which return targets (the rd parameter of
// forward auth, SPEC §7) Latchkey may send a browser to: only places where
// its session cookie would be sent. Everything else is ignored as if
// absent, never reflected and never redirected to.
package returnto

import (
	"net/url"
	"strings"
)

// MaxLen bounds a return target; longer values are ignored.
const MaxLen = 2048

// Rule is the return-target rule of one deployment.
type Rule struct {
	// Host is BASE_URL's host name (no port), lower case.
	Host string
	// CookieDomain is COOKIE_DOMAIN (lower case, no leading dot), or "".
	CookieDomain string
	// AllowHTTP accepts http:// targets too (dev mode); production
	// accepts https:// only.
	AllowHTTP bool
}

// Check returns the target to redirect to and true when raw is an accepted
// return target: a local path ("/x", not "//x" or "/\x"), or an absolute
// http(s) URL whose host name, port ignored, is Host, CookieDomain or a
// subdomain of CookieDomain, with no user information. Control characters,
// backslashes and non-ASCII characters are refused anywhere; an absolute
// URL is returned in the form Go's parser reads it, so what is checked is
// what is sent.
func (r Rule) Check(raw string) (string, bool) {
	if raw == "" || len(raw) > MaxLen {
		return "", false
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c < 0x21 || c >= 0x7f || c == '\\' {
			// Controls, space, DEL, backslash and anything non-ASCII (look-alike
			// letters and full-width slashes included).
			return "", false
		}
	}
	if raw[0] == '/' {
		return checkLocal(raw)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" {
		return "", false
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !r.AllowHTTP {
			return "", false
		}
	default:
		return "", false
	}
	if !r.hostAllowed(u.Hostname()) {
		return "", false
	}
	// A port, if any, must be digits; url.Parse already insists on that.
	out := u.String()
	if strings.ContainsAny(out, "\\\r\n\t") {
		return "", false
	}
	return out, true
}

// checkLocal accepts a path on this origin. A second slash or an encoded
// slash or backslash at its start could be read as another host by a
// browser or by code that decodes the path first, so those are refused.
func checkLocal(raw string) (string, bool) {
	if len(raw) > 1 && raw[1] == '/' {
		return "", false
	}
	dec, err := url.PathUnescape(raw)
	if err != nil {
		return "", false
	}
	if strings.HasPrefix(dec, "//") || strings.HasPrefix(dec, "/\\") || strings.ContainsAny(dec, "\\\r\n\t\x00") {
		return "", false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "", false
	}
	return raw, true
}

// hostAllowed reports whether a URL's host name is where the session
// cookie goes.
func (r Rule) hostAllowed(host string) bool {
	host = strings.ToLower(host)
	if host == "" || strings.HasSuffix(host, ".") {
		return false
	}
	if host == r.Host {
		return true
	}
	if r.CookieDomain == "" {
		return false
	}
	return host == r.CookieDomain || strings.HasSuffix(host, "."+r.CookieDomain)
}
