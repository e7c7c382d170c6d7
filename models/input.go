package models

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Limits on user-supplied fields.
const (
	MaxEmailLength     = 254
	MaxLocalPartLength = 64
	MinPasswordRunes   = 8
	MaxPasswordRunes   = 256
	// MaxPasswordBytes bounds the raw field in bytes, before anything
	// walks it: four times what MaxPasswordRunes code points can take, so
	// a longer field is too long whatever it holds. Sign-in refuses a
	// longer password without hashing it: none can ever have been set.
	MaxPasswordBytes = 4096
	codeBytes        = 32
)

// FieldError is a validation failure of one form field; Message is written
// for the person filling in the form.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Validation errors for addresses.
var (
	ErrEmailRequired = &FieldError{"email", "Enter your email address."}
	ErrEmailInvalid  = &FieldError{"email", "Enter an email address like name@example.com."}
	ErrEmailTooLong  = &FieldError{"email", "That email address is too long."}
)

// NormalizeEmail trims and lower-cases an address and checks that it is a
// plain, printable-ASCII addr-spec of sane length. Non-ASCII addresses are
// refused on purpose: look-alike characters could otherwise make two
// accounts that read the same.
func NormalizeEmail(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", ErrEmailRequired
	}
	if len(s) > MaxEmailLength {
		return "", ErrEmailTooLong
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return "", ErrEmailInvalid
		}
	}
	s = strings.ToLower(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.Count(s, "@") != 1 {
		return "", ErrEmailInvalid
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > MaxLocalPartLength {
		return "", ErrEmailTooLong
	}
	if strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") ||
		!strings.Contains(domain, ".") && domain != "localhost" {
		return "", ErrEmailInvalid
	}
	for _, r := range domain {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return "", ErrEmailInvalid
		}
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", ErrEmailInvalid
	}
	return s, nil
}

// NewCode returns a fresh reset code (256 bits from crypto/rand, URL-safe
// base64) and the hex SHA-256 under which it is stored.
func NewCode() (code, hash string) {
	b := make([]byte, codeBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	code = base64.RawURLEncoding.EncodeToString(b)
	return code, HashCode(code)
}

// HashCode returns the hex SHA-256 of a code: the only form that is stored.
func HashCode(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

// ParseCode checks that s has the exact shape of a code NewCode makes and
// returns its hash. Anything else is refused before touching the database.
func ParseCode(s string) (hash string, ok bool) {
	if len(s) != base64.RawURLEncoding.EncodedLen(codeBytes) {
		return "", false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != codeBytes {
		return "", false
	}
	return HashCode(s), true
}

// ValidCodeHash reports whether s looks like a stored code hash (64 lower hex).
func ValidCodeHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// CleanText reports whether s is valid UTF-8 free of control characters
// (tab excepted): the bar every free-text field must pass.
func CleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f || r >= 0x80 && r < 0xa0 || r == 0x2028 || r == 0x2029 {
			return false
		}
	}
	return true
}
