package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/internal/testutil"
	"github.com/latchkey-auth/latchkey/models"
)

// registerCapturing registers an account and returns it with the raw code
// of its verification email.
func registerCapturing(t *testing.T, s *models.Store, email string) (*models.Account, string) {
	t.Helper()
	var code string
	capture := func(m models.VerifyMail) (models.Message, error) { code = m.Code; return testutil.VerifyMail(m) }
	acc, err := s.Register(context.Background(), email, "correct horse battery staple", models.Client{IP: "192.0.2.1"}, capture)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := models.ParseCode(code); !ok {
		t.Fatalf("verification code %q does not parse", code)
	}
	return acc, code
}

func verifiedAt(t *testing.T, db *bun.DB, id int64) *time.Time {
	t.Helper()
	acc, err := models.AccountByID(context.Background(), db, id)
	if err != nil {
		t.Fatal(err)
	}
	return acc.EmailVerifiedAt
}

// Registering queues the verification email in the account's own
// transaction: a compose that fails leaves no account, no code and no
// mail; a good one leaves one of each, the code stored only as its hash.
func TestRegisterQueuesVerificationInTheSameTransaction(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		failing := func(models.VerifyMail) (models.Message, error) { return models.Message{}, errors.New("template broke") }
		if _, err := s.Register(ctx, "roll@example.com", "correct horse battery staple", models.Client{}, failing); err == nil {
			t.Fatal("registration succeeded without its email")
		}
		for _, m := range []any{(*models.Account)(nil), (*models.EmailVerification)(nil), (*models.OutboxEmail)(nil), (*models.SecurityEvent)(nil)} {
			if n := testutil.CountRows(t, db.NewSelect().Model(m)); n != 0 {
				t.Errorf("%T: %d rows after a failed registration", m, n)
			}
		}

		acc, code := registerCapturing(t, s, "roll@example.com")
		var row models.EmailVerification
		if err := db.NewSelect().Model(&row).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if row.CodeHash != models.HashCode(code) || row.AccountID != acc.ID || row.Email != acc.Email || row.UsedAt != nil ||
			!row.ExpiresAt.Equal(row.CreatedAt.Add(24*time.Hour)) {
			t.Errorf("verification row %+v", row)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.OutboxEmail)(nil)).Where("kind = ? AND recipient = ?", models.MailVerifyEmail, acc.Email)); n != 1 {
			t.Errorf("%d verification emails queued, want 1", n)
		}
		for _, table := range testutil.Tables(t, db) {
			if strings.Contains(testutil.DumpTable(t, db, table), code) {
				t.Errorf("table %s holds the raw verification code", table)
			}
		}
		if verifiedAt(t, db, acc.ID) != nil {
			t.Errorf("a new account is verified before its link is opened")
		}
	})
}

// A code verifies once; opening it again says "already verified" and
// changes nothing; an unknown code and an expired one are refused.
func TestVerifyEmailIsSingleUseAndExpires(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		acc, code := registerCapturing(t, s, "once@example.com")
		got, outcome, err := s.VerifyEmail(ctx, models.HashCode(code), models.Client{IP: "198.51.100.3"})
		if err != nil || outcome != models.Verified || got.ID != acc.ID || got.EmailVerifiedAt == nil {
			t.Fatalf("first use: %v %v %+v", outcome, err, got)
		}
		first := verifiedAt(t, db, acc.ID)
		if first == nil {
			t.Fatal("not verified")
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventEmailVerified)); n != 1 {
			t.Errorf("%d verification events, want 1", n)
		}
		clock.Advance(time.Minute)
		_, outcome, err = s.VerifyEmail(ctx, models.HashCode(code), models.Client{})
		if err != nil || outcome != models.AlreadyVerified {
			t.Errorf("second use: %v %v", outcome, err)
		}
		if again := verifiedAt(t, db, acc.ID); again == nil || !again.Equal(*first) {
			t.Errorf("second use moved the verification time: %v → %v", first, again)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.SecurityEvent)(nil)).Where("kind = ?", models.EventEmailVerified)); n != 1 {
			t.Errorf("second use wrote an event (%d)", n)
		}
		if _, _, err := s.VerifyEmail(ctx, models.HashCode("unknown-code"), models.Client{}); !errors.Is(err, models.ErrVerifyInvalid) {
			t.Errorf("unknown code: %v", err)
		}

		late, lateCode := registerCapturing(t, s, "late@example.com")
		clock.Advance(24*time.Hour + time.Second)
		if _, _, err := s.VerifyEmail(ctx, models.HashCode(lateCode), models.Client{}); !errors.Is(err, models.ErrVerifyInvalid) {
			t.Errorf("expired code: %v", err)
		}
		if verifiedAt(t, db, late.ID) != nil {
			t.Errorf("an expired code verified the address")
		}
	})
}

// A code proves only the address it was sent to: once the account's
// address is another, it is refused and changes nothing.
func TestVerifyCodeForAnOldAddressIsRefused(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		acc, code := registerCapturing(t, s, "before@example.com")
		if _, err := db.NewUpdate().Model((*models.Account)(nil)).Set("email = ?", "after@example.com").Where("id = ?", acc.ID).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.VerifyEmail(ctx, models.HashCode(code), models.Client{}); !errors.Is(err, models.ErrVerifyInvalid) {
			t.Errorf("code for the old address: %v", err)
		}
		if verifiedAt(t, db, acc.ID) != nil {
			t.Errorf("the new address was verified by the old one's code")
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.EmailVerification)(nil)).Where("used_at IS NULL")); n != 1 {
			t.Errorf("the refused code was spent anyway")
		}
	})
}

// At most VerifyResendsPerHour resent emails an hour per account; the
// fourth has the same outcome and sends nothing; an hour later it works
// again; a verified account needs none.
func TestResendVerificationLimit(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		clock := testutil.NewClock()
		s := testutil.NewStore(t, db, clock)
		ctx := context.Background()
		acc, _ := registerCapturing(t, s, "again@example.com")
		mails := func() int64 {
			return testutil.CountRows(t, db.NewSelect().Model((*models.OutboxEmail)(nil)).Where("kind = ?", models.MailVerifyEmail))
		}
		for i := range models.VerifyResendsPerHour + 1 {
			outcome, err := s.ResendVerification(ctx, acc.ID, models.Client{}, testutil.VerifyMail)
			if err != nil || outcome != models.ResendQueued {
				t.Fatalf("resend %d: %v %v", i+1, outcome, err)
			}
		}
		if n := mails(); n != 1+models.VerifyResendsPerHour {
			t.Errorf("%d verification emails, want the registration's and %d resent", n, models.VerifyResendsPerHour)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.EmailVerification)(nil))); n != 1+models.VerifyResendsPerHour {
			t.Errorf("%d codes stored, want %d", n, 1+models.VerifyResendsPerHour)
		}
		clock.Advance(61 * time.Minute)
		if _, err := s.ResendVerification(ctx, acc.ID, models.Client{}, testutil.VerifyMail); err != nil {
			t.Fatal(err)
		}
		if n := mails(); n != 2+models.VerifyResendsPerHour {
			t.Errorf("an hour later: %d emails", n)
		}

		other, code := registerCapturing(t, s, "done@example.com")
		if _, _, err := s.VerifyEmail(ctx, models.HashCode(code), models.Client{}); err != nil {
			t.Fatal(err)
		}
		before := mails()
		if outcome, err := s.ResendVerification(ctx, other.ID, models.Client{}, testutil.VerifyMail); err != nil || outcome != models.ResendNotNeeded {
			t.Errorf("verified account: %v %v", outcome, err)
		}
		if mails() != before {
			t.Errorf("a verified account was sent a link")
		}
	})
}

// Completing a reset verifies the address and uses up the open
// verification codes: a later click says "already verified".
func TestResetVerifiesAndUsesUpVerificationCodes(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		ctx := context.Background()
		acc, code := registerCapturing(t, s, "reset@example.com")
		hash := requestReset(t, s, acc.Email)
		if _, err := s.CompleteReset(ctx, hash, "a new long passphrase", models.Client{}, noMail); err != nil {
			t.Fatal(err)
		}
		if verifiedAt(t, db, acc.ID) == nil {
			t.Fatal("a completed reset did not verify the address")
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.EmailVerification)(nil)).Where("used_at IS NULL")); n != 0 {
			t.Errorf("%d verification codes still open after the reset", n)
		}
		if _, outcome, err := s.VerifyEmail(ctx, models.HashCode(code), models.Client{}); err != nil || outcome != models.AlreadyVerified {
			t.Errorf("the link after a reset: %v %v", outcome, err)
		}
	})
}

// Deleting an account deletes its verification codes (ON DELETE CASCADE).
func TestVerificationCodesGoWithTheirAccount(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		s := testutil.NewStore(t, db, testutil.NewClock())
		acc, _ := registerCapturing(t, s, "gone@example.com")
		if _, err := db.NewDelete().Model((*models.Account)(nil)).Where("id = ?", acc.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := testutil.CountRows(t, db.NewSelect().Model((*models.EmailVerification)(nil))); n != 0 {
			t.Errorf("%d codes outlive their account", n)
		}
	})
}
