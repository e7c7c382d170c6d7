package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
)

// Authenticator is a software passkey authenticator for HTTP-level tests:
// it answers the creation and request options Latchkey's begin endpoints
// send with the JSON a browser would post to finish, using ES256 keys and
// "none" attestation, with user presence and user verification.
type Authenticator struct {
	// RPID is the relying party id it signs for (BASE_URL's host);
	// Origin the origin it puts in the client data (a browser's is the
	// page's). Tests change them to forge foreign responses.
	RPID   string
	Origin string
	// BackupEligible and BackupState set the BE and BS flags of the
	// credentials it creates (a synced passkey has both).
	BackupEligible, BackupState bool
}

// NewAuthenticator returns an authenticator for the app's origin.
func (a *App) NewAuthenticator() *Authenticator {
	return &Authenticator{RPID: "localhost", Origin: a.Origin}
}

// SoftCredential is one credential an Authenticator created.
type SoftCredential struct {
	ID         []byte
	Key        *ecdsa.PrivateKey
	UserHandle []byte
	// SignCount is the counter of the last assertion; each assertion
	// increments it and reports it (unless ZeroCounter: synced passkeys
	// always report 0).
	SignCount   uint32
	ZeroCounter bool
	Flags       byte
}

// Authenticator-data flags.
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// Create answers creation options (the JSON of register/begin) with a
// new credential: the body for register/finish, and the credential.
func (a *Authenticator) Create(t testing.TB, options []byte) ([]byte, *SoftCredential) {
	t.Helper()
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &opts); err != nil || opts.PublicKey.Challenge == "" {
		t.Fatalf("creation options: %v\n%s", err, options)
	}
	handle, err := base64.RawURLEncoding.DecodeString(opts.PublicKey.User.ID)
	if err != nil {
		t.Fatalf("user handle %q: %v", opts.PublicKey.User.ID, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	_, _ = rand.Read(id)
	cred := &SoftCredential{ID: id, Key: key, UserHandle: handle, Flags: flagUP | flagUV}
	if a.BackupEligible {
		cred.Flags |= flagBE
	}
	if a.BackupState {
		cred.Flags |= flagBS
	}
	pub, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(map[int64]any{1: int64(2), 3: int64(-7), -1: int64(1), -2: pub[1:33], -3: pub[33:65]})
	if err != nil {
		t.Fatal(err)
	}
	attested := make([]byte, 16)                                        // AAGUID: all zeros, as "none" attestation allows
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(id))) // #nosec G115 -- 32 bytes
	attested = append(attested, id...)
	attested = append(attested, cose...)
	authData := a.authData(cred.Flags|flagAT, 0, attested)
	object, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"id": b64(id), "rawId": b64(id), "type": "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64(a.clientData("webauthn.create", opts.PublicKey.Challenge)),
			"attestationObject": b64(object),
			"transports":        []string{"internal", "hybrid"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body, cred
}

// Get answers request options (the JSON of login/passkey/begin) with an
// assertion by cred: the body for login/passkey/finish.
func (a *Authenticator) Get(t testing.TB, options []byte, cred *SoftCredential) []byte {
	t.Helper()
	var opts struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &opts); err != nil || opts.PublicKey.Challenge == "" {
		t.Fatalf("request options: %v\n%s", err, options)
	}
	var count uint32
	if !cred.ZeroCounter {
		cred.SignCount++
		count = cred.SignCount
	}
	authData := a.authData(cred.Flags, count, nil)
	clientData := a.clientData("webauthn.get", opts.PublicKey.Challenge)
	sum := sha256.Sum256(clientData)
	digest := sha256.Sum256(append(append([]byte{}, authData...), sum[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, cred.Key, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"id": b64(cred.ID), "rawId": b64(cred.ID), "type": "public-key",
		"authenticatorAttachment": "platform",
		"clientExtensionResults":  map[string]any{},
		"response": map[string]any{
			"clientDataJSON":    b64(clientData),
			"authenticatorData": b64(authData),
			"signature":         b64(sig),
			"userHandle":        b64(cred.UserHandle),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func (a *Authenticator) authData(flags byte, count uint32, attested []byte) []byte {
	rp := sha256.Sum256([]byte(a.RPID))
	out := append(rp[:], flags)
	out = binary.BigEndian.AppendUint32(out, count)
	return append(out, attested...)
}

func (a *Authenticator) clientData(typ, challenge string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": a.Origin, "crossOrigin": false})
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
