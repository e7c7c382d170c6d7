package models

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"time"
)

// DeviceCookieLifetime is how long a device cookie is honoured after the
// sign-in that issued it.
const DeviceCookieLifetime = 365 * 24 * time.Hour

// Layout of a device cookie before base64: a random nonce, the issue time
// (Unix seconds, big-endian) and an HMAC-SHA256 over both and the address.
const (
	deviceNonceBytes = 16
	deviceTimeBytes  = 8
	deviceMACBytes   = sha256.Size
	devicePayload    = deviceNonceBytes + deviceTimeBytes
)

// Device is a browser that proved, with a device cookie, that it signed in
// to an address before ("Slow Down Online Guessing Attacks with Device
// Cookies", OWASP). The zero value is no device. Only
// DeviceCookies.Verify makes one, so a caller cannot invent one.
type Device struct {
	nonce string
}

// DeviceCookies issues and checks device cookies with a key derived from
// SESSION_SECRET for this purpose alone (KeyDeviceCookie).
type DeviceCookies struct {
	key []byte
}

// NewDeviceCookies derives the device-cookie key from the master secret.
func NewDeviceCookies(secret []byte) *DeviceCookies {
	return &DeviceCookies{key: DeriveKey(secret, KeyDeviceCookie)}
}

// mac authenticates the payload for one canonical address; the address
// itself is not in the cookie, which so names nobody.
func (d *DeviceCookies) mac(email string, payload []byte) []byte {
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte("device\x00"))
	m.Write([]byte(email))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// Issue returns a fresh device cookie value for a canonical address, with
// a new random nonce (so a success starts the device's count afresh).
func (d *DeviceCookies) Issue(email string, now time.Time) string {
	buf := make([]byte, devicePayload, devicePayload+deviceMACBytes)
	_, _ = rand.Read(buf[:deviceNonceBytes])                                       // crypto/rand.Read never fails (Go 1.24+).
	binary.BigEndian.PutUint64(buf[deviceNonceBytes:], uint64(now.Unix()))         // #nosec G115 -- times after 1970
	return base64.RawURLEncoding.EncodeToString(append(buf, d.mac(email, buf)...)) // the MAC follows the payload
}

// Verify returns the Device of a cookie value Issue made for this
// canonical address and that is not older than DeviceCookieLifetime; ok
// is false for anything else (absent, malformed, forged, for another
// address, expired).
func (d *DeviceCookies) Verify(value, email string, now time.Time) (dev Device, ok bool) {
	if len(value) != base64.RawURLEncoding.EncodedLen(devicePayload+deviceMACBytes) {
		return Device{}, false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(value)
	if err != nil || len(raw) != devicePayload+deviceMACBytes {
		return Device{}, false
	}
	payload, sig := raw[:devicePayload], raw[devicePayload:]
	if !hmac.Equal(sig, d.mac(email, payload)) {
		return Device{}, false
	}
	// Authenticated, so a time Issue wrote.
	issued := time.Unix(int64(binary.BigEndian.Uint64(payload[deviceNonceBytes:])), 0) // #nosec G115 -- authenticated, was a positive int64
	if now.Sub(issued) > DeviceCookieLifetime {
		return Device{}, false
	}
	return Device{nonce: hex.EncodeToString(payload[:deviceNonceBytes])}, true
}
