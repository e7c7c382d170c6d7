package models_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/latchkey-auth/latchkey/models"
)

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"ann@example.com", " ANN@Example.COM ", "a@b", "аnn@example.com", "a\r\n@x.com", "\xff@x.com", "a@@x.com", strings.Repeat("a", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := models.NormalizeEmail(in)
		if err != nil {
			return
		}
		if len(out) > models.MaxEmailLength || strings.Count(out, "@") != 1 || strings.ToLower(out) != out {
			t.Fatalf("%q normalised to %q", in, out)
		}
		for i := 0; i < len(out); i++ {
			if out[i] <= 0x20 || out[i] >= 0x7f {
				t.Fatalf("%q normalised to %q with byte %#x", in, out, out[i])
			}
		}
		again, err := models.NormalizeEmail(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q → %q → %q (%v)", in, out, again, err)
		}
	})
}

func FuzzPasswordPolicy(f *testing.F) {
	for _, s := range []string{"correct horse battery staple", "password1", "ＰＡＳＳＷＯＲＤ１", "ﬁnest passphrase", "\x00\x01", "é", strings.Repeat("x", 300),
		"\ufdfa", strings.Repeat("\ufdfa", 8), strings.Repeat("\ufdfa", 15), strings.Repeat("e\u0301", 4)} {
		f.Add(s, "ann@example.com")
	}
	f.Fuzz(func(t *testing.T, pw, email string) {
		out, ferr := models.CheckPasswordPolicy(pw, email)
		if ferr != nil {
			if out != "" {
				t.Fatalf("refused password returned %q", out)
			}
			return
		}
		// The minimum holds on what was typed, the maximum on both forms.
		typed, n := utf8.RuneCountInString(pw), utf8.RuneCountInString(out)
		if typed < models.MinPasswordRunes || typed > models.MaxPasswordRunes || n > models.MaxPasswordRunes || !utf8.ValidString(out) {
			t.Fatalf("accepted %q (%d runes typed, %d normalised)", pw, typed, n)
		}
		if out != models.NormalizePassword(out) {
			t.Fatalf("accepted password is not NFKC-stable: %q", out)
		}
		if s := models.Strength(pw, email); s < 1 || s > 4 {
			t.Fatalf("strength %d for an accepted password", s)
		}
	})
}

func FuzzParseCode(f *testing.F) {
	code, _ := models.NewCode()
	for _, s := range []string{code, "", "abc", strings.Repeat("A", 43), strings.Repeat("-", 43), code + "=", "%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		hash, ok := models.ParseCode(in)
		if !ok {
			return
		}
		if len(in) != 43 || !models.ValidCodeHash(hash) || hash != models.HashCode(in) {
			t.Fatalf("%q accepted with hash %q", in, hash)
		}
	})
}
