package models

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Purpose labels for keys derived from SESSION_SECRET. Each purpose gets its
// own key so that a key recovered from one use opens nothing else.
const (
	KeyCookieHash   = "github.com/latchkey-auth/latchkey/v1/cookie-hash"
	KeyCookieBlock  = "github.com/latchkey-auth/latchkey/v1/cookie-block"
	KeyOutbox       = "github.com/latchkey-auth/latchkey/v1/outbox-aead"
	KeyDeviceCookie = "github.com/latchkey-auth/latchkey/v1/device-cookie"
	// KeyLinkTokens seals one-time link tokens ("this wasn't me"), so a
	// token reveals nothing about its account.
	KeyLinkTokens = "github.com/latchkey-auth/latchkey/v1/link-tokens-aead" // #nosec G101 -- a public HKDF label, not a secret
	// KeyTOTPSecrets seals TOTP secrets at rest (totp_factors), so a copy
	// of the database alone yields no second factor.
	KeyTOTPSecrets = "github.com/latchkey-auth/latchkey/v1/totp-secrets-aead" // #nosec G101 -- a public HKDF label, not a secret
)

// DeriveKey derives a 32-byte key for one purpose from the master secret
// with HKDF-SHA256.
func DeriveKey(secret []byte, purpose string) []byte {
	key, err := hkdf.Key(sha256.New, secret, nil, purpose, 32)
	if err != nil {
		// Only reachable with an absurd length; 32 is fixed above.
		panic(fmt.Sprintf("hkdf: %v", err))
	}
	return key
}

// Sealer encrypts values at rest with AES-256-GCM, binding each ciphertext
// to a context string (for example the outbox row's kind) as associated data.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer builds a Sealer from a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext; the nonce is prepended to the result.
func (s *Sealer) Seal(plaintext, associated []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails (Go 1.24+).
	return s.aead.Seal(nonce, nonce, plaintext, associated)
}

// Open decrypts what Seal produced.
func (s *Sealer) Open(sealed, associated []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealer: ciphertext too short")
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], associated)
	if err != nil {
		return nil, fmt.Errorf("sealer: %w", err)
	}
	return out, nil
}
