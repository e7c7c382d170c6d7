package models_test

import (
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/models"
)

func TestIPKey(t *testing.T) {
	cases := []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"::ffff:203.0.113.7", "203.0.113.7"}, // IPv4-mapped: the IPv4 itself
		{"::ffff:cb00:7107", "203.0.113.7"},
		{"2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:DB8:1:2:a:b:c:d", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"}, // the next /64 is another client
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"},
		{"127.0.0.1", "127.0.0.1"},
		{"", ""},
		{"not an address", "not an address"},
	}
	for _, c := range cases {
		name := c.in
		if name == "" {
			name = "empty"
		}
		t.Run(name, func(t *testing.T) {
			if got := models.IPKey(c.in); got != c.want {
				t.Errorf("IPKey(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

func TestDeviceCookies(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	d := models.NewDeviceCookies([]byte(strings.Repeat("s", 32)))
	v := d.Issue("owner@example.com", now)
	dev, ok := d.Verify(v, "owner@example.com", now.Add(time.Hour))
	if !ok || dev == (models.Device{}) {
		t.Fatalf("a fresh cookie does not verify")
	}
	if w := d.Issue("owner@example.com", now); w == v {
		t.Errorf("two issues gave the same cookie: the nonce must be fresh")
	}
	if strings.Contains(v, "owner") {
		t.Errorf("the cookie names the address: %s", v)
	}
	tampered := []byte(v)
	tampered[3] ^= 1
	other := models.NewDeviceCookies([]byte(strings.Repeat("t", 32))).Issue("owner@example.com", now)
	for name, c := range map[string]struct{ value, email string }{
		"another address":  {v, "someone@example.com"},
		"tampered":         {string(tampered), "owner@example.com"},
		"another secret":   {other, "owner@example.com"},
		"empty":            {"", "owner@example.com"},
		"truncated":        {v[:len(v)-1], "owner@example.com"},
		"padded":           {v + "A", "owner@example.com"},
		"not base64":       {strings.Repeat("*", len(v)), "owner@example.com"},
		"signed-link form": {"a.b", "owner@example.com"},
	} {
		t.Run(name, func(t *testing.T) {
			if dev, ok := d.Verify(c.value, c.email, now); ok || dev != (models.Device{}) {
				t.Errorf("%s: accepted", name)
			}
		})
	}
	if _, ok := d.Verify(v, "owner@example.com", now.Add(models.DeviceCookieLifetime+time.Second)); ok {
		t.Errorf("a cookie older than its lifetime still verifies")
	}
}
