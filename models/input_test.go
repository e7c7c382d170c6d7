package models_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func TestNormalizeEmail(t *testing.T) {
	ok := map[string]string{
		"  Ann@Example.COM ":      "ann@example.com",
		"a.b+tag@sub.example.org": "a.b+tag@sub.example.org",
	}
	for in, want := range ok {
		if got, err := models.NormalizeEmail(in); err != nil || got != want {
			t.Errorf("%q → %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "plain", "@example.com", "a@", "a@b@example.com", "a b@example.com",
		"a@example", "a@.example.com", "a@example..com", "<script>@example.com", "Ann <ann@example.com>",
		"аnn@example.com" /* Cyrillic а */, "ann@exämple.com", "a\r\n@example.com", "a\x00@example.com",
		strings.Repeat("a", 65) + "@example.com", strings.Repeat("a", 60) + "@" + strings.Repeat("b", 200) + ".com"} {
		if got, err := models.NormalizeEmail(bad); err == nil {
			t.Errorf("%q accepted as %q", bad, got)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	if models.CommonPasswordCount() < 10000 {
		t.Fatalf("common password list has %d entries", models.CommonPasswordCount())
	}
	cases := []struct {
		name, pw, email string
		err             *models.FieldError
	}{
		{"empty", "", "a@example.com", models.ErrPasswordRequired},
		{"short", "short", "a@example.com", models.ErrPasswordShort},
		{"full-width short", "ｐａｓｓ", "a@example.com", models.ErrPasswordShort},
		{"257 accented", strings.Repeat("é", 257), "a@example.com", models.ErrPasswordLong},
		{"common", "password1", "a@example.com", models.ErrPasswordCommon},
		{"common upper-case", "PASSWORD1", "a@example.com", models.ErrPasswordCommon},
		{"common full-width", "ＰＡＳＳＷＯＲＤ１", "a@example.com", models.ErrPasswordCommon}, // NFKC folds full-width
		{"names the service", "mylatchkeypass", "a@example.com", models.ErrPasswordPersonal},
		{"names the address", "jonathan-rocks-2024", "jonathan@example.com", models.ErrPasswordPersonal},
		{"tab", "tab\tinside password", "a@example.com", models.ErrPasswordInvalid},
		{"line separator", "line\u2028separator inside", "a@example.com", models.ErrPasswordInvalid},
		{"C1 control", "c1\u0085control inside", "a@example.com", models.ErrPasswordInvalid},
		{"passphrase", "correct horse battery staple", "a@example.com", nil},
		{"256 accented", strings.Repeat("é", 256), "a@example.com", nil},
		{"lower-case only", "lowercaseonlyisfine", "a@example.com", nil},
		// Length is counted as typed: U+FDFA is one code point that NFKC
		// expands to 18; it must not pass for an 18-character password.
		{"1 typed expands to 18", "\ufdfa", "a@example.com", models.ErrPasswordShort},
		{"7 typed that expand", strings.Repeat("\ufdfa", 7), "a@example.com", models.ErrPasswordShort},
		{"8 typed that expand", strings.Repeat("\ufdfa", 8), "a@example.com", nil}, // 8 typed, 144 after NFKC
		// ...and the maximum holds on both forms: 15 typed, 270 after NFKC.
		{"15 typed expand past the maximum", strings.Repeat("\ufdfa", 15), "a@example.com", models.ErrPasswordLong},
		{"257 ASCII", strings.Repeat("a", 257), "a@example.com", models.ErrPasswordLong},
		{"10000 ASCII", strings.Repeat("a", 10000), "a@example.com", models.ErrPasswordLong},
		// Eight typed code points that NFKC composes into four.
		{"8 typed compose to 4", strings.Repeat("e\u0301", 4), "a@example.com", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := models.CheckPasswordPolicy(c.pw, c.email)
			if err != c.err {
				t.Errorf("%q: got %v, want %v", c.pw, err, c.err)
			}
		})
	}
	if s := models.Strength(strings.Repeat("\ufdfa", 3), "a@example.com"); s != 0 {
		t.Errorf("three typed characters scored %d, want 0 (too weak)", s)
	}
	// The same normalisation on set and check.
	a, err := models.CheckPasswordPolicy("ﬁnest passphrase", "x@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if a != models.NormalizePassword("finest passphrase") {
		t.Errorf("NFKC not applied: %q", a)
	}
}

func TestCodes(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		code, hash := models.NewCode()
		if len(code) != 43 || seen[code] {
			t.Fatalf("code %q", code)
		}
		seen[code] = true
		if h, ok := models.ParseCode(code); !ok || h != hash || !models.ValidCodeHash(hash) {
			t.Fatalf("round trip failed for %q", code)
		}
	}
	for _, bad := range []string{"", "abc", strings.Repeat("A", 42), strings.Repeat("A", 44), strings.Repeat("+", 43), strings.Repeat("A", 42) + "="} {
		if _, ok := models.ParseCode(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestHasherBoundsConcurrencyAndStoredParameters(t *testing.T) {
	h, err := models.NewHasher(testutil.TestHashParams(), 2, 30*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	// Tampered stored hashes with absurd parameters are refused before
	// hashing.
	for _, evil := range []string{
		"$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1024,t=1000000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=1024,t=1,p=255$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
	} {
		if ok, _, err := h.Check(context.Background(), "x", evil); ok || err == nil {
			t.Errorf("accepted out-of-bounds hash %q", evil)
		}
	}
	// With both slots held, a third hash waits briefly and gets ErrBusy.
	slow, err := models.NewHasher(models.HashParams, 2, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 12)
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := slow.Hash(context.Background(), "some password")
			errs <- err
		}()
	}
	peak := 0
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			peak = max(peak, slow.InFlight())
			time.Sleep(time.Millisecond)
		}
	}
	close(errs)
	busy := 0
	for err := range errs {
		if errors.Is(err, models.ErrBusy) {
			busy++
		} else if err != nil {
			t.Error(err)
		}
	}
	if peak > 2 {
		t.Errorf("%d hashes ran at once; the bound is 2", peak)
	}
	if busy == 0 {
		t.Errorf("no request was turned away with ErrBusy")
	}
	t.Logf("peak in flight %d of %d, %d of 12 turned away", peak, slow.Capacity(), busy)
}

func TestHashParamsMeetOWASP(t *testing.T) {
	p := models.HashParams
	if p.Memory < 19*1024 || p.Iterations < 2 || p.Parallelism != 1 || p.SaltLength < 16 || p.KeyLength < 32 {
		t.Errorf("parameters below OWASP: %+v", p)
	}
}

// Each hash's buffer is collected before its slot is given to the next
// hash, so a flood of sign-ins holds at most HASH_CONCURRENCY buffers, not
// one live and one dead per slot (see Hasher.release).
func TestHasherCollectsEachHashBuffer(t *testing.T) {
	h, err := models.NewHasher(models.HashParams, 1, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	buffer := uint64(models.HashParams.Memory) << 10
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 3 {
		if _, err := h.Hash(t.Context(), "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
		if err := h.CheckDummy(t.Context(), "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		// Other tests' goroutines allocate too; a dead buffer is 19 MiB.
		if after.HeapAlloc > before.HeapAlloc+buffer/2 {
			t.Fatalf("heap grew from %d to %d bytes after a hash: the %d-byte buffer was not collected", before.HeapAlloc, after.HeapAlloc, buffer)
		}
	}
}
