package models_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func passkeyMail(m models.PasskeyMail) (models.Message, error) {
	return models.Message{To: "x@example.com", Subject: "passkey " + m.Name, Text: "token " + m.NotMeToken}, nil
}

// addKey stores a passkey for acc, as registration does once WebAuthn has
// verified it.
func addKey(t *testing.T, s *models.Store, acc *models.Account, name string) *models.Passkey {
	t.Helper()
	pk := &models.Passkey{
		RPID: "example.com", CredentialID: []byte("cred-" + name), Name: name, PublicKey: []byte{1},
		AttestationType: "none", AttestationFormat: "none", AAGUID: make([]byte, 16),
	}
	if err := s.AddPasskey(context.Background(), acc, pk, models.Client{IP: "192.0.2.1"}, passkeyMail); err != nil {
		t.Fatal(err)
	}
	return pk
}

func TestNormalizePasskeyName(t *testing.T) {
	for in, want := range map[string]error{
		"Phone": nil, "  Ann's phone; work  ": nil, "Cafe\u0301": nil, strings.Repeat("é", 64): nil,
		"": models.ErrPasskeyNameRequired, " \t ": models.ErrPasskeyNameRequired,
		strings.Repeat("é", 65): models.ErrPasskeyNameLong, strings.Repeat("a", 5000): models.ErrPasskeyNameLong,
		"<b>": models.ErrPasskeyNameMarkup, "a>b": models.ErrPasskeyNameMarkup,
		"a\x00b": models.ErrPasskeyNameChars, "a\r\nb": models.ErrPasskeyNameChars, "a\xffb": models.ErrPasskeyNameChars,
		"a\u2028b": models.ErrPasskeyNameChars,
	} {
		got, err := models.NormalizePasskeyName(in)
		if !errors.Is(err, want) {
			t.Errorf("%q: %v, want %v", in, err, want)
		}
		if err == nil && (got != strings.TrimSpace(got) || got == "") {
			t.Errorf("%q normalised to %q", in, got)
		}
	}
	if got, _ := models.NormalizePasskeyName("Cafe\u0301"); got != "Caf\u00e9" {
		t.Errorf("not NFC: %q", got)
	}
}

// TestCeremonySingleUse: a ceremony is claimed once, even by requests
// racing each other, never by the wrong kind or session, and not after
// CeremonyTTL.
func TestCeremonySingleUse(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		token, err := s.BeginCeremony(ctx, models.Ceremony{Kind: models.CeremonyLogin, Data: "{}"})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for range 8 {
			wg.Go(func() {
				if _, err := s.ClaimCeremony(ctx, token, models.CeremonyLogin, ""); err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if !errors.Is(err, models.ErrCeremonyInvalid) {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Errorf("%d claims of one ceremony succeeded", won)
		}

		acc := register(t, s, "ceremony@example.com")
		for name, c := range map[string]struct {
			kind    models.CeremonyKind
			session string
			wait    time.Duration
		}{
			"wrong kind":    {models.CeremonyLogin, "sess", 0},
			"wrong session": {models.CeremonyRegister, "other", 0},
			"expired":       {models.CeremonyRegister, "sess", models.CeremonyTTL},
		} {
			token, err := s.BeginCeremony(ctx, models.Ceremony{Kind: models.CeremonyRegister, AccountID: &acc.ID, SessionHash: "sess", Data: "{}"})
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(c.wait)
			if _, err := s.ClaimCeremony(ctx, token, c.kind, c.session); !errors.Is(err, models.ErrCeremonyInvalid) {
				t.Errorf("%s: %v", name, err)
			}
			// Refused or not, the row is gone: no second try.
			if _, err := s.ClaimCeremony(ctx, token, models.CeremonyRegister, "sess"); !errors.Is(err, models.ErrCeremonyInvalid) {
				t.Errorf("%s, then the right claim: %v", name, err)
			}
		}
		for _, bad := range []string{"", "x", strings.Repeat("A", 43) + "!"} {
			if _, err := s.ClaimCeremony(ctx, bad, models.CeremonyLogin, ""); !errors.Is(err, models.ErrCeremonyInvalid) {
				t.Errorf("token %q: %v", bad, err)
			}
		}
		// Cleanup removes what was begun and never finished.
		if _, err := s.BeginCeremony(ctx, models.Ceremony{Kind: models.CeremonyLogin, Data: "{}"}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(models.CeremonyTTL + time.Second)
		if err := s.Cleanup(ctx, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.Ceremony)(nil))); n != 0 {
			t.Errorf("%d expired ceremonies after cleanup", n)
		}
	})
}

// TestPasskeySignInCounter: the counter must move forward (or stay 0 for
// synced passkeys); the session is fully signed in with MFA.
func TestPasskeySignInCounter(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		acc := register(t, s, "counter@example.com")
		pk := addKey(t, s, acc, "Key")
		use := func(n uint32) error {
			_, _, err := s.SignInWithPasskey(ctx, acc, models.PasskeyUse{ID: pk.ID, SignCount: n}, models.Client{})
			return err
		}
		for _, n := range []uint32{0, 0, 5} { // 0 then 0: synced; 5: it started counting
			if err := use(n); err != nil {
				t.Fatalf("counter %d: %v", n, err)
			}
		}
		for _, n := range []uint32{5, 4, 0} {
			if err := use(n); !errors.Is(err, models.ErrPasskeyRefused) {
				t.Errorf("counter %d after 5: %v", n, err)
			}
		}
		id, sess, err := s.SignInWithPasskey(ctx, acc, models.PasskeyUse{ID: pk.ID, SignCount: 6}, models.Client{})
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := s.LoadSession(ctx, id)
		if err != nil || !loaded.MFA || !loaded.SignedIn() || !sess.MFA {
			t.Errorf("session: %+v, %v", loaded, err)
		}
		// Someone else's passkey id signs nobody in.
		other := register(t, s, "other-counter@example.com")
		if _, _, err := s.SignInWithPasskey(ctx, other, models.PasskeyUse{ID: pk.ID, SignCount: 99}, models.Client{}); !errors.Is(err, models.ErrPasskeyRefused) {
			t.Errorf("another account's passkey: %v", err)
		}
	})
}

// TestPasskeysGoWithTheirAccount: passkeys and pending ceremonies are
// removed with the account (ON DELETE CASCADE); duplicates and the
// per-account cap are refused.
func TestPasskeysGoWithTheirAccount(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		acc := register(t, s, "cascade@example.com")
		addKey(t, s, acc, "One")
		dup := &models.Passkey{RPID: "example.com", CredentialID: []byte("cred-One"), Name: "Again", PublicKey: []byte{1}, AAGUID: []byte{}}
		if err := s.AddPasskey(ctx, register(t, s, "dup@example.com"), dup, models.Client{}, passkeyMail); !errors.Is(err, models.ErrPasskeyExists) {
			t.Errorf("a credential registered twice: %v", err)
		}
		for i := 1; i < models.MaxPasskeysPerAccount; i++ {
			addKey(t, s, acc, "k"+strings.Repeat("x", i))
		}
		if err := s.AddPasskey(ctx, acc, &models.Passkey{RPID: "example.com", CredentialID: []byte("one too many"), Name: "n", PublicKey: []byte{1}, AAGUID: []byte{}}, models.Client{}, passkeyMail); !errors.Is(err, models.ErrTooManyPasskeys) {
			t.Errorf("passkey %d: %v", models.MaxPasskeysPerAccount+1, err)
		}
		if _, err := s.BeginCeremony(ctx, models.Ceremony{Kind: models.CeremonyRegister, AccountID: &acc.ID, SessionHash: "s", Data: "{}"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.NewDelete().Model((*models.Account)(nil)).Where("id = ?", acc.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for name, q := range map[string]*bun.SelectQuery{
			"passkeys":   db.NewSelect().Model((*models.Passkey)(nil)).Where("account_id = ?", acc.ID),
			"ceremonies": db.NewSelect().Model((*models.Ceremony)(nil)).Where("account_id = ?", acc.ID),
		} {
			if n := testutil.CountRows(t, q); n != 0 {
				t.Errorf("%d %s outlived their account", n, name)
			}
		}
	})
}

// TestNotMeRemovesRecentPasskeys: "this wasn't me" removes the passkeys
// added in the last 24 hours (an intruder's) and keeps older ones.
func TestNotMeRemovesRecentPasskeys(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		acc := register(t, s, "recent@example.com")
		addKey(t, s, acc, "Owner's")
		clock.Advance(models.NotMeRecentFactors + time.Minute)
		addKey(t, s, acc, "Intruder's")
		token := changePassword(t, s, acc, "the intruder's password", models.ChangedBySelf)
		if _, err := s.ConfirmNotMe(ctx, token, models.Client{IP: "192.0.2.9"}, resetMail); err != nil {
			t.Fatal(err)
		}
		keys, err := s.Passkeys(ctx, acc.ID, "example.com")
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || keys[0].Name != "Owner's" {
			t.Errorf("passkeys after not-me: %+v", keys)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventPasskeyRemoved)); n != 1 {
			t.Errorf("passkey-removed events = %d", n)
		}
	})
}
