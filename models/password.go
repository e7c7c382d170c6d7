package models

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alexedwards/argon2id"
	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// HashParams are the argon2id parameters for new hashes: OWASP's minimum
// (m=19 MiB, t=2, p=1) chosen explicitly, since argon2id.DefaultParams sets
// p from the host's CPU count.
var HashParams = argon2id.Params{
	Memory:      19 * 1024,
	Iterations:  2,
	Parallelism: 1,
	SaltLength:  16,
	KeyLength:   32,
}

// Bounds for parameters read back from stored hashes, so a tampered or
// foreign hash cannot make one check allocate gigabytes or spin for minutes.
const (
	maxHashMemory     = 256 * 1024
	maxHashIterations = 16
	maxHashThreads    = 8
	maxHashKeyLength  = 128
)

// ErrBusy means too many password hashes are already in flight; the caller
// should answer 503 with Retry-After.
var ErrBusy = errors.New("password hashing at capacity")

// Hasher hashes and checks passwords with argon2id, never running more than
// a fixed number of hashes at once: each one holds m KiB of memory, so the
// bound is what keeps a sign-in flood from exhausting RAM.
type Hasher struct {
	params argon2id.Params
	slots  chan struct{}
	wait   time.Duration
	// dummy is a well-formed hash that matches nothing.
	dummy string
}

// NewHasher builds a Hasher that runs at most concurrency hashes at once and
// lets a caller wait up to wait for a slot before giving up with ErrBusy.
func NewHasher(params argon2id.Params, concurrency int, wait time.Duration) (*Hasher, error) {
	if concurrency < 1 {
		concurrency = 1
	}
	h := &Hasher{params: params, slots: make(chan struct{}, concurrency), wait: wait}
	// The dummy hash lets unknown addresses pay for one real check. It needs
	// no hashing to make: random salt and key under the current parameters
	// match no password, and checking against it costs exactly what
	// checking a real hash costs.
	salt := make([]byte, params.SaltLength)
	key := make([]byte, params.KeyLength)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+).
	_, _ = rand.Read(key)
	h.dummy = fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, params.Memory, params.Iterations,
		params.Parallelism, base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	if _, _, _, err := argon2id.DecodeHash(h.dummy); err != nil {
		return nil, fmt.Errorf("hasher: %w", err)
	}
	return h, nil
}

// Capacity returns how many hashes may run at once.
func (h *Hasher) Capacity() int { return cap(h.slots) }

// InFlight returns how many hashes are running now.
func (h *Hasher) InFlight() int { return len(h.slots) }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		return nil
	default:
	}
	timer := time.NewTimer(h.wait)
	defer timer.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-timer.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release frees a slot after a hash that used memKiB KiB. That buffer is
// garbage by now; a collection is run first, while the slot is still
// held, so the next hash in this slot reuses its pages. Left to the
// pacer, the next hash would allocate before the buffer is collected: the
// heap would hold a dead buffer per slot on top of the live ones or, under
// the memory limit, the runtime would hand the dead pages back to the OS
// and fault fresh ones in for every hash (a fifth of the sign-in
// throughput on a 2-CPU machine; see go run ./bench). The collection is
// small next to the hash, as the rest of the heap is small; buffers of
// 1 MiB or less (test parameters) are left to the pacer.
func (h *Hasher) release(memKiB uint32) {
	if memKiB > 1024 {
		runtime.GC()
	}
	<-h.slots
}

// Hash returns the argon2id hash of an already normalised password.
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release(h.params.Memory)
	hash, err := argon2id.CreateHash(password, &h.params)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return hash, nil
}

// Check compares a normalised password with a stored hash. rehash is true
// when the hash was made with parameters other than the current ones.
func (h *Hasher) Check(ctx context.Context, password, hash string) (ok, rehash bool, err error) {
	params, _, _, err := argon2id.DecodeHash(hash)
	if err != nil {
		return false, false, fmt.Errorf("check password: %w", err)
	}
	if params.Memory == 0 || params.Memory > maxHashMemory || params.Iterations == 0 ||
		params.Iterations > maxHashIterations || params.Parallelism == 0 ||
		params.Parallelism > maxHashThreads || params.KeyLength == 0 || params.KeyLength > maxHashKeyLength {
		return false, false, errors.New("check password: stored hash parameters out of bounds")
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	defer h.release(params.Memory)
	match, _, err := argon2id.CheckHash(password, hash)
	if err != nil {
		return false, false, fmt.Errorf("check password: %w", err)
	}
	return match, *params != h.params, nil
}

// CheckDummy spends the same work as Check on a hash that matches nothing,
// so a sign-in for an unknown address costs what a wrong password costs.
func (h *Hasher) CheckDummy(ctx context.Context, password string) error {
	_, _, err := h.Check(ctx, password, h.dummy)
	return err
}

// NormalizePassword applies NFKC, the one normalisation used both when a
// password is set and when it is checked.
func NormalizePassword(raw string) string {
	return norm.NFKC.String(raw)
}

// Password policy errors.
var (
	ErrPasswordRequired = &FieldError{"password", "Enter a password."}
	ErrPasswordShort    = &FieldError{"password", fmt.Sprintf("Use at least %d characters.", MinPasswordRunes)}
	ErrPasswordLong     = &FieldError{"password", fmt.Sprintf("Use at most %d characters.", MaxPasswordRunes)}
	ErrPasswordInvalid  = &FieldError{"password", "The password contains characters that cannot be used."}
	ErrPasswordCommon   = &FieldError{"password", "This password is too common. Choose one that is harder to guess."}
	ErrPasswordPersonal = &FieldError{"password", "Do not use your email address or the product's name in your password."}
)

// CheckPasswordPolicy applies the policy (NIST SP 800-63B): no composition
// rules, no common passwords, nothing taken from the address or the
// product name, and a length counted as the user typed it: at least
// MinPasswordRunes code points before normalisation (NFKC expands some
// single characters, U+FDFA into 18, which must not pass for a long
// password) and at most MaxPasswordRunes both before and after it (so the
// hash never sees more). It returns the normalised password.
func CheckPasswordPolicy(raw, email string) (string, *FieldError) {
	if raw == "" {
		return "", ErrPasswordRequired
	}
	// The byte bound comes first so nothing below ever walks a huge field:
	// over MaxPasswordBytes is over MaxPasswordRunes code points too.
	if len(raw) > MaxPasswordBytes {
		return "", ErrPasswordLong
	}
	if !utf8.ValidString(raw) {
		return "", ErrPasswordInvalid
	}
	// The same bar as every form field (so a password set from the CLI can
	// be typed into the web form), and no tab either.
	if !CleanText(raw) || strings.ContainsRune(raw, '\t') {
		return "", ErrPasswordInvalid
	}
	typed := utf8.RuneCountInString(raw)
	if typed > MaxPasswordRunes {
		return "", ErrPasswordLong
	}
	if typed < MinPasswordRunes {
		return "", ErrPasswordShort
	}
	pw := NormalizePassword(raw)
	if utf8.RuneCountInString(pw) > MaxPasswordRunes {
		return "", ErrPasswordLong
	}
	lower := strings.ToLower(pw)
	if IsCommonPassword(lower) {
		return "", ErrPasswordCommon
	}
	if strings.Contains(lower, "latchkey") {
		return "", ErrPasswordPersonal
	}
	if local, _, ok := strings.Cut(email, "@"); ok && len(local) >= 4 && strings.Contains(lower, strings.ToLower(local)) {
		return "", ErrPasswordPersonal
	}
	return pw, nil
}
