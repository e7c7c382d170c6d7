package models_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

func factorMail(m models.FactorMail) (models.Message, error) {
	return models.Message{To: m.Account.Email, Subject: "factor", Text: "t"}, nil
}

func code(t *testing.T, secret string, at time.Time) models.StepCode {
	t.Helper()
	s, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := models.ParseTOTPCode(s)
	if !ok {
		t.Fatalf("code %q does not parse", s)
	}
	return c
}

// turnOn sets TOTP up for acc and returns the secret and recovery codes.
func turnOn(t *testing.T, s *models.Store, clock *testutil.Clock, acc *models.Account) (string, []string) {
	t.Helper()
	setup, err := s.BeginTOTP(context.Background(), acc)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := s.ConfirmTOTP(context.Background(), models.FactorInput{Account: acc, Code: code(t, setup.Secret(), clock.Now()), Compose: factorMail})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Second)
	return setup.Secret(), codes
}

// TestSecondStepThrottleBound counts what SecondStepFreeFailures' comment
// computes: an attacker who guesses as fast as the back-off lets them
// (waiting out each block exactly, wasting no refused attempt) gets 110
// guesses in a 24-hour window, so < 220 in any day, and the probability
// of hitting one of the ≤ 3 valid codes is ≤ 220 × 3 / 10^6.
func TestSecondStepThrottleBound(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		acc := register(t, s, "guessed@example.com")
		start := clock.Now()
		end := start.Add(24 * time.Hour)
		guesses := 0
		for clock.Now().Before(end) {
			if err := s.AllowSecondStep(ctx, acc); err != nil {
				t.Fatalf("guess %d at +%s refused: %v", guesses+1, clock.Now().Sub(start), err)
			}
			guesses++
			var until *time.Time
			if err := db.NewSelect().Table("rate_limits").Column("blocked_until").
				Where("key = ?", "second-factor:"+acc.PublicID).Scan(ctx, &until); err != nil {
				t.Fatal(err)
			}
			if until != nil && until.After(clock.Now()) {
				clock.Advance(until.Sub(clock.Now()))
			}
		}
		if guesses != 110 {
			t.Errorf("%d guesses in 24 hours, the comment says 110", guesses)
		}
		if p := float64(2*guesses) * 3 / 1e6; p > 0.00066 {
			t.Errorf("daily probability bound %.5f", p)
		}
		// Inside a block a guess is refused, with a wait.
		_ = s.AllowSecondStep(ctx, acc) // opens a block in the new window…
		for range models.SecondStepFreeFailures + 1 {
			_ = s.AllowSecondStep(ctx, acc)
		}
		var limited *models.LimitedError
		if err := s.AllowSecondStep(ctx, acc); !errors.As(err, &limited) || limited.RetryAfter <= 0 {
			t.Errorf("guess during a block: %v", err)
		}
	})
}

// TestSecondStepCodeOnce: two sign-ins racing with the same right code,
// and two with the same recovery code: exactly one of each signs in.
func TestSecondStepCodeOnce(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		acc := register(t, s, "race@example.com")
		secret, recovery := turnOn(t, s, clock, acc)
		rc, ok := models.ParseStepCode(recovery[0])
		if !ok {
			t.Fatalf("recovery code %q does not parse", recovery[0])
		}
		for name, c := range map[string]models.StepCode{"totp": code(t, secret, clock.Now()), "recovery": rc} {
			t.Run(name, func(t *testing.T) {
				var wg sync.WaitGroup
				results := make(chan error, 2)
				for range 2 {
					_, pending, err := s.SignInPending(ctx, acc, models.Client{})
					if err != nil {
						t.Fatal(err)
					}
					pending.Account = acc
					wg.Add(1)
					go func() {
						defer wg.Done()
						_, err := s.CompleteSecondStep(ctx, models.SecondStepInput{Session: pending, Code: c, Compose: factorMail})
						results <- err
					}()
				}
				wg.Wait()
				close(results)
				var ok, refused int
				for err := range results {
					switch {
					case err == nil:
						ok++
					case errors.Is(err, models.ErrCodeInvalid):
						refused++
					default:
						t.Errorf("unexpected: %v", err)
					}
				}
				if ok != 1 || refused != 1 {
					t.Errorf("%d sign-ins and %d refusals with one code, want 1 and 1", ok, refused)
				}
			})
		}
	})
}

// TestTOTPSecretsSealedPerAccount: a sealed secret copied into another
// account's row opens for nobody; an expired set-up cannot be confirmed.
func TestTOTPSecretsSealedPerAccount(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		a, b := register(t, s, "sa@example.com"), register(t, s, "sb@example.com")
		turnOn(t, s, clock, a)
		if _, err := s.BeginTOTP(ctx, b); err != nil {
			t.Fatal(err)
		}
		var rowA models.TOTPFactor
		if err := db.NewSelect().Model(&rowA).Where("account_id = ?", a.ID).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := db.NewUpdate().Model((*models.TOTPFactor)(nil)).Set("sealed_secret = ?", rowA.SealedSecret).
			Where("account_id = ?", b.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.TOTPStatus(ctx, b.ID); err == nil {
			t.Error("another account's sealed secret opened")
		}
		// A fresh set-up for b, left to expire.
		setupB, err := s.BeginTOTP(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(models.PendingTOTPTTL)
		_, err = s.ConfirmTOTP(ctx, models.FactorInput{Account: b, Code: code(t, setupB.Secret(), clock.Now()), Compose: factorMail})
		if !errors.Is(err, models.ErrTOTPNotEnabled) {
			t.Errorf("confirming an expired set-up: %v", err)
		}
		if err := s.Cleanup(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.TOTPFactor)(nil))); n != 1 {
			t.Errorf("%d TOTP rows after cleanup, want a's only", n)
		}
	})
}

// TestRemoveFactors: the operator's reset removes TOTP, recovery codes
// and passkeys (and reports nothing to remove the second time); a passkey
// alone counts as a second factor, and is removed too.
func TestRemoveFactors(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		keyOnly := register(t, s, "keyonly@example.com")
		addKey(t, s, keyOnly, "Phone")
		if on, err := s.HasSecondFactor(ctx, keyOnly.ID); err != nil || !on {
			t.Errorf("a passkey is not a second factor: %v", err)
		}
		if on, _ := s.TOTPEnabled(ctx, keyOnly.ID); on {
			t.Error("a passkey counts as TOTP")
		}
		if removed, err := s.RemoveFactors(ctx, keyOnly, models.Client{}, factorMail); err != nil || !removed {
			t.Errorf("removing a passkey-only account's factors: %v %v", removed, err)
		}
		acc := register(t, s, "ops@example.com")
		turnOn(t, s, clock, acc)
		addKey(t, s, acc, "Laptop")
		var mailed []models.FactorMail
		compose := func(m models.FactorMail) (models.Message, error) { mailed = append(mailed, m); return factorMail(m) }
		removed, err := s.RemoveFactors(ctx, acc, models.Client{}, compose)
		if err != nil || !removed {
			t.Fatalf("remove: %v %v", removed, err)
		}
		if on, _ := s.HasSecondFactor(ctx, acc.ID); on || testutil.CountRows(t, db.NewSelect().Model((*models.RecoveryCode)(nil))) != 0 ||
			testutil.CountRows(t, db.NewSelect().Model((*models.Passkey)(nil))) != 0 {
			t.Error("factors left")
		}
		if len(mailed) != 1 || mailed[0].Change != models.FactorsResetByOperator || mailed[0].NotMeToken == "" {
			t.Errorf("mails %+v", mailed)
		}
		if removed, err := s.RemoveFactors(ctx, acc, models.Client{}, compose); err != nil || removed || len(mailed) != 1 {
			t.Errorf("second removal: %v %v, %d mails", removed, err, len(mailed))
		}
	})
}

// TestParseStepCode: six digits or a recovery code's shape, nothing else.
func TestParseStepCode(t *testing.T) {
	for raw, want := range map[string]string{
		"123456": "totp", " 123 456 ": "totp", "abcd-efgh-ijkl-mnop": "recovery", "ABCDEFGHIJKLMNOP": "recovery",
		"abcd efgh ijkl mnop": "recovery", "12345": "", "1234567": "", "abcd-efgh-ijkl-mno1": "", "": "", "１２３４５６": "",
	} {
		c, ok := models.ParseStepCode(raw)
		got := ""
		if ok {
			got = map[bool]string{true: "recovery", false: "totp"}[c.IsRecovery()]
		}
		if got != want {
			t.Errorf("ParseStepCode(%q) = %q, want %q", raw, got, want)
		}
	}
}
