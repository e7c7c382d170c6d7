package models

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"github.com/uptrace/bun"
)

// Second factors (SPEC §9): TOTP (RFC 6238) and single-use recovery codes.
//
// A totp_factors row whose confirmed_at is NULL is a set-up in progress:
// its secret is shown to the owner and waits PendingTOTPTTL for a first
// code. Only a confirmed row is a second factor. Secrets are sealed with
// their own key (KeyTOTPSecrets), bound to the account's id, so a copy of
// the database alone, or a sealed secret moved to another row, gives
// nobody a code.
//
// Recovery codes carry 80 random bits each and are stored as their
// SHA-256: with that much entropy nobody can search the hash, so a slow
// password hash (argon2id) would only make every code typed at the second
// step cost up to ten slow hashes (the codes have no per-code id to look
// up first), a lever for denial of service, and protect nothing more.

// TOTP as every authenticator app understands it.
const (
	// TOTPDigits is the length of a code.
	TOTPDigits = 6
	// TOTPPeriod is the length of a time step, in seconds.
	TOTPPeriod = 30
	// totpSkew is how many steps either side of now a code may be from,
	// for clocks that drift and people who type slowly.
	totpSkew = 1
	// totpSecretBytes is the secret's size: 160 bits (RFC 4226's advice).
	totpSecretBytes = 20
)

// Lifetimes and counts of the second-factor flows.
const (
	// PendingTOTPTTL is how long a set-up's secret waits for its first
	// code before the set-up must start again.
	PendingTOTPTTL = 15 * time.Minute
	// SecondStepTTL is how long a sign-in waits at its second step (a
	// session row in AuthSecondFactorPending) for a right code.
	SecondStepTTL = 5 * time.Minute
	// RecoveryCodeCount is how many recovery codes a set-up or a renewal
	// makes.
	RecoveryCodeCount = 10
	// recoveryCodeBytes is a recovery code's randomness: 80 bits.
	recoveryCodeBytes = 10
)

// Throttling of codes typed at the second step (TOTP or recovery),
// counted per account (AllowSecondStep), fixed rather than configurable so
// that the bound below always holds.
//
// In a window of 24 hours, opened by its first attempt, the first
// SecondStepFreeFailures attempts are free; attempt 6 opens a back-off of
// 1 s, attempt 7 of 2 s… attempt 15 of 512 s, so attempt 16 comes at the
// earliest 1+2+…+512 = 1023 s in; from then on each waits
// SecondStepMaxBlock (900 s): attempt k (k ≥ 16) at 1023 + (k−16)·900 s,
// which is inside the window while k ≤ 16 + ⌊(86400−1023)/900⌋ = 110. So
// at most 110 guesses a window, and any 24 hours meet at most two windows:
// fewer than 220 guesses a day. Each guess matches one of at most 3 valid
// TOTP codes (now and ±1 step) out of 10^6, so an attacker who has the
// password hits a code with probability at most 220 × 3 / 10^6 = 0.066 %
// a day (and the owner sees every wrong code in the account's activity).
// Recovery codes (10 of 2^80) add nothing measurable.
// TestSecondStepThrottleBound counts the 110.
const (
	SecondStepFreeFailures = 5
	SecondStepMaxBlock     = 15 * time.Minute
	secondStepWindow       = 24 * time.Hour
)

// Errors of the second-factor flows.
var (
	// ErrCodeInvalid: a TOTP or recovery code that is wrong, already used,
	// or typed at a second step that has expired (one answer for all).
	ErrCodeInvalid = errors.New("code is wrong, used or expired")
	// ErrTOTPEnabled: a set-up was asked for while TOTP is already on.
	ErrTOTPEnabled = errors.New("two-step sign-in is already on")
	// ErrTOTPNotEnabled: TOTP is off (nothing to confirm, renew or turn
	// off).
	ErrTOTPNotEnabled = errors.New("two-step sign-in is off")
)

// TOTPFactor mirrors totp_factors.
type TOTPFactor struct {
	bun.BaseModel `bun:"table:totp_factors"`

	AccountID    int64  `bun:"account_id,pk"`
	SealedSecret []byte `bun:"sealed_secret,notnull"`
	// LastStep is the last accepted time step: a code of that step or an
	// earlier one is refused (replay).
	LastStep    int64      `bun:"last_step,notnull"`
	CreatedAt   time.Time  `bun:"created_at,notnull"`
	ConfirmedAt *time.Time `bun:"confirmed_at"`
}

// RecoveryCode mirrors recovery_codes.
type RecoveryCode struct {
	bun.BaseModel `bun:"table:recovery_codes"`

	ID        int64      `bun:"id,pk,autoincrement"`
	AccountID int64      `bun:"account_id,notnull"`
	CodeHash  string     `bun:"code_hash,notnull"`
	CreatedAt time.Time  `bun:"created_at,notnull"`
	UsedAt    *time.Time `bun:"used_at"`
}

// FactorTOTP names the TOTP factor for people, in emails.
const FactorTOTP = "an authenticator app (a 6-digit code)"

// FactorChange says what happened to an account's second factors, for
// the email that tells the owner.
type FactorChange int

// The changes a factor email reports. The zero value is none.
const (
	FactorAdded FactorChange = iota + 1
	FactorRemoved
	RecoveryCodeUsed
	RecoveryCodesRenewed
	FactorsResetByOperator
)

// FactorMail describes a second-factor email for the compose function
// that renders it.
type FactorMail struct {
	Account *Account
	Change  FactorChange
	// Factor names the factor (FactorTOTP, or a passkey's); empty for
	// FactorsResetByOperator, which removes them all.
	Factor string
	When   time.Time
	// Client is who made the change (the zero Client for the operator).
	Client Client
	// RecoveryLeft is how many unused recovery codes remain (for
	// RecoveryCodeUsed).
	RecoveryLeft int
	// NotMeToken is the sealed token of the email's "this wasn't me" link.
	NotMeToken string
}

// ComposeFactor renders a second-factor email.
type ComposeFactor func(FactorMail) (Message, error)

// TOTPSetup is a TOTP secret being set up: what the set-up page shows.
type TOTPSetup struct {
	secret []byte
	// ExpiresAt is when the set-up must start again.
	ExpiresAt time.Time
}

// Secret is the secret as an authenticator app takes it typed in: base32,
// without padding.
func (t *TOTPSetup) Secret() string {
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(t.secret)
}

// Key is the secret as an otpauth:// key (its URL for a link, its Image
// for a QR code), labelled issuer:account in the app.
func (t *TOTPSetup) Key(issuer, account string) (*otp.Key, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Secret: t.secret,
		Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	return key, nil
}

// TOTPStatus is an account's second-factor state, for its pages.
type TOTPStatus struct {
	// Enabled: a confirmed TOTP factor, since EnabledAt.
	Enabled   bool
	EnabledAt time.Time
	// RecoveryLeft counts unused recovery codes.
	RecoveryLeft int
	// Pending is a set-up in progress (nil: none, or expired).
	Pending *TOTPSetup
}

// StepCode is a code typed at a second step, parsed: a TOTP code or a
// recovery code (as its hash).
type StepCode struct {
	totp         string
	recoveryHash string
}

// IsRecovery reports whether the code has the shape of a recovery code.
func (c StepCode) IsRecovery() bool { return c.recoveryHash != "" }

// recoveryAlphabet writes recovery codes: lower-case base32.
var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// recoveryChars is the length of a recovery code without its hyphens.
const recoveryChars = recoveryCodeBytes * 8 / 5

// ParseStepCode reads what was typed at a second step: six digits (a TOTP
// code) or a recovery code (xxxx-xxxx-xxxx-xxxx, any case, hyphens and
// spaces optional). Anything else is refused before any work.
func ParseStepCode(raw string) (StepCode, bool) {
	if len(raw) > 64 {
		return StepCode{}, false
	}
	s := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(raw)))
	if c, ok := ParseTOTPCode(s); ok {
		return c, true
	}
	if len(s) != recoveryChars {
		return StepCode{}, false
	}
	if _, err := recoveryEncoding.DecodeString(s); err != nil {
		return StepCode{}, false
	}
	return StepCode{recoveryHash: HashCode(s)}, true
}

// ParseTOTPCode accepts exactly six ASCII digits (spaces around or in the
// middle allowed, as apps show "123 456").
func ParseTOTPCode(raw string) (StepCode, bool) {
	s := strings.ReplaceAll(strings.TrimSpace(raw), " ", "")
	if len(s) != TOTPDigits {
		return StepCode{}, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return StepCode{}, false
		}
	}
	return StepCode{totp: s}, true
}

// newRecoveryCodes makes RecoveryCodeCount fresh codes: what to show once,
// and the rows to store.
func newRecoveryCodes(accountID int64, now time.Time) ([]string, []RecoveryCode) {
	shown := make([]string, 0, RecoveryCodeCount)
	rows := make([]RecoveryCode, 0, RecoveryCodeCount)
	for range RecoveryCodeCount {
		b := make([]byte, recoveryCodeBytes)
		_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
		s := recoveryEncoding.EncodeToString(b)
		shown = append(shown, s[0:4]+"-"+s[4:8]+"-"+s[8:12]+"-"+s[12:16])
		rows = append(rows, RecoveryCode{AccountID: accountID, CodeHash: HashCode(s), CreatedAt: now})
	}
	return shown, rows
}

// totpAD binds a sealed secret to its account.
func totpAD(accountID int64) []byte {
	return []byte("latchkey-totp\x00" + strconv.FormatInt(accountID, 10))
}

func (s *Store) sealTOTP(accountID int64, secret []byte) ([]byte, error) {
	if s.factors == nil {
		return nil, errors.New("totp: no factor sealer configured")
	}
	return s.factors.Seal(secret, totpAD(accountID)), nil
}

func (s *Store) openTOTP(f *TOTPFactor) ([]byte, error) {
	if s.factors == nil {
		return nil, errors.New("totp: no factor sealer configured")
	}
	secret, err := s.factors.Open(f.SealedSecret, totpAD(f.AccountID))
	if err != nil {
		return nil, fmt.Errorf("totp: open secret of account %d: %w", f.AccountID, err)
	}
	return secret, nil
}

// totpFactor loads an account's TOTP row (confirmed or not), or nil.
func totpFactor(ctx context.Context, db bun.IDB, accountID int64) (*TOTPFactor, error) {
	f := new(TOTPFactor)
	err := db.NewSelect().Model(f).Where("account_id = ?", accountID).Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("totp factor: %w", err)
	}
	return f, nil
}

// matchTOTP returns the newest time step within ±totpSkew of now, after
// lastStep, whose code is code; 0 if none. Every candidate is computed
// and compared in constant time, whichever matches.
func matchTOTP(secret []byte, code string, now time.Time, lastStep int64) int64 {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
	cur := now.Unix() / TOTPPeriod
	var found int64
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		want, err := totp.GenerateCodeCustom(enc, time.Unix(step*TOTPPeriod, 0), totp.ValidateOpts{
			Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			continue // unreachable: the secret is ours, valid base32
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > lastStep {
			found = step
		}
	}
	return found
}

// HasSecondFactor reports whether an account has any second factor: a
// confirmed TOTP factor or a passkey.
func (s *Store) HasSecondFactor(ctx context.Context, accountID int64) (bool, error) {
	on, err := s.TOTPEnabled(ctx, accountID)
	if err != nil || on {
		return on, err
	}
	n, err := s.db.NewSelect().Model((*Passkey)(nil)).Where("account_id = ?", accountID).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("has second factor: %w", err)
	}
	return n > 0, nil
}

// TOTPEnabled reports whether an account has a confirmed TOTP factor:
// then the right password only leads to the second step of signing in
// (SPEC §9, "signing in with TOTP on"). A passkey is not asked for there:
// it is a sign-in of its own.
func (s *Store) TOTPEnabled(ctx context.Context, accountID int64) (bool, error) {
	n, err := s.db.NewSelect().Model((*TOTPFactor)(nil)).
		Where("account_id = ? AND confirmed_at IS NOT NULL", accountID).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("totp enabled: %w", err)
	}
	return n > 0, nil
}

// TOTPStatus returns an account's TOTP state and its unused recovery
// codes.
func (s *Store) TOTPStatus(ctx context.Context, accountID int64) (TOTPStatus, error) {
	var st TOTPStatus
	f, err := totpFactor(ctx, s.db, accountID)
	if err != nil {
		return st, err
	}
	now := s.now()
	switch {
	case f == nil:
	case f.ConfirmedAt != nil:
		st.Enabled, st.EnabledAt = true, *f.ConfirmedAt
	case now.Sub(f.CreatedAt) < PendingTOTPTTL:
		secret, err := s.openTOTP(f)
		if err != nil {
			return st, err
		}
		st.Pending = &TOTPSetup{secret: secret, ExpiresAt: f.CreatedAt.Add(PendingTOTPTTL)}
	}
	n, err := s.db.NewSelect().Model((*RecoveryCode)(nil)).
		Where("account_id = ? AND used_at IS NULL", accountID).Count(ctx)
	if err != nil {
		return st, fmt.Errorf("totp status: %w", err)
	}
	st.RecoveryLeft = int(n)
	return st, nil
}

// BeginTOTP starts a TOTP set-up: a fresh secret, sealed, in a pending
// row that replaces any earlier set-up. ErrTOTPEnabled if TOTP is on.
func (s *Store) BeginTOTP(ctx context.Context, acc *Account) (*TOTPSetup, error) {
	secret := make([]byte, totpSecretBytes)
	_, _ = rand.Read(secret) // crypto/rand.Read never fails (Go 1.24+).
	sealed, err := s.sealTOTP(acc.ID, secret)
	if err != nil {
		return nil, err
	}
	now := s.now()
	err = s.inTx(ctx, func(ctx context.Context, tx bun.Tx, _ *queued) error {
		f, err := totpFactor(ctx, tx, acc.ID)
		if err != nil {
			return err
		}
		if f != nil && f.ConfirmedAt != nil {
			return ErrTOTPEnabled
		}
		if f != nil {
			_, err = tx.NewUpdate().Model((*TOTPFactor)(nil)).
				Set("sealed_secret = ?", sealed).Set("created_at = ?", now).Set("last_step = 0").
				Where("account_id = ? AND confirmed_at IS NULL", acc.ID).Exec(ctx)
		} else {
			_, err = tx.NewInsert().Model(&TOTPFactor{AccountID: acc.ID, SealedSecret: sealed, CreatedAt: now}).Exec(ctx)
		}
		if err != nil {
			return fmt.Errorf("store pending secret: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("begin totp: %w", err)
	}
	return &TOTPSetup{secret: secret, ExpiresAt: now.Add(PendingTOTPTTL)}, nil
}

// FactorInput is what the signed-in owner's factor changes need.
type FactorInput struct {
	Account *Account
	// Code is the code typed (ParseTOTPCode for a set-up or a renewal;
	// ParseStepCode to turn TOTP off, which also takes a recovery code).
	Code    StepCode
	Client  Client
	Compose ComposeFactor
}

// ConfirmTOTP ends a set-up with the first right code, all or nothing:
// the factor confirmed (the code's step spent), RecoveryCodeCount new
// recovery codes stored (any old ones gone), an event written and the
// "second factor added" email queued. It returns the recovery codes, to
// show once. ErrCodeInvalid for a wrong code, ErrTOTPNotEnabled when no
// set-up is pending (or it expired), ErrTOTPEnabled if it is already on.
func (s *Store) ConfirmTOTP(ctx context.Context, in FactorInput) ([]string, error) {
	var shown []string
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		now := s.now()
		f, err := totpFactor(ctx, tx, in.Account.ID)
		if err != nil {
			return err
		}
		switch {
		case f == nil || now.Sub(f.CreatedAt) >= PendingTOTPTTL && f.ConfirmedAt == nil:
			return ErrTOTPNotEnabled
		case f.ConfirmedAt != nil:
			return ErrTOTPEnabled
		case in.Code.totp == "":
			return ErrCodeInvalid
		}
		secret, err := s.openTOTP(f)
		if err != nil {
			return err
		}
		step := matchTOTP(secret, in.Code.totp, now, 0)
		if step == 0 {
			return ErrCodeInvalid
		}
		res, err := tx.NewUpdate().Model((*TOTPFactor)(nil)).
			Set("confirmed_at = ?", now).Set("last_step = ?", step).
			Where("account_id = ? AND confirmed_at IS NULL AND created_at = ?", f.AccountID, f.CreatedAt).Exec(ctx)
		if err != nil {
			return fmt.Errorf("confirm totp: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrCodeInvalid // a concurrent set-up replaced the secret
		}
		if shown, err = replaceRecoveryCodes(ctx, tx, in.Account.ID, now); err != nil {
			return err
		}
		return s.factorChanged(ctx, tx, q, EventTOTPEnabled, FactorMail{
			Account: in.Account, Change: FactorAdded, Factor: FactorTOTP, When: now, Client: in.Client.clean(),
		}, in.Compose)
	})
	if err != nil {
		return nil, fmt.Errorf("confirm totp: %w", err)
	}
	return shown, nil
}

// RenewRecoveryCodes replaces an account's recovery codes with new ones,
// to show once, given a right TOTP code (its step spent): the old codes no
// longer work. An event is written and the owner emailed.
func (s *Store) RenewRecoveryCodes(ctx context.Context, in FactorInput) ([]string, error) {
	var shown []string
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		now := s.now()
		if err := s.spendTOTP(ctx, tx, in.Account.ID, in.Code, now); err != nil {
			return err
		}
		var err error
		if shown, err = replaceRecoveryCodes(ctx, tx, in.Account.ID, now); err != nil {
			return err
		}
		return s.factorChanged(ctx, tx, q, EventRecoveryCodesRenewed, FactorMail{
			Account: in.Account, Change: RecoveryCodesRenewed, Factor: FactorTOTP, When: now, Client: in.Client.clean(),
			RecoveryLeft: len(shown),
		}, in.Compose)
	})
	if err != nil {
		return nil, fmt.Errorf("renew recovery codes: %w", err)
	}
	return shown, nil
}

// DisableTOTP turns TOTP off, given a right TOTP or recovery code (spent):
// the factor and every recovery code removed, an event written and the
// "second factor removed" email queued, in one transaction. The caller
// has checked the current password.
func (s *Store) DisableTOTP(ctx context.Context, in FactorInput) error {
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		now := s.now()
		if in.Code.IsRecovery() {
			if err := spendRecoveryCode(ctx, tx, in.Account.ID, in.Code.recoveryHash, now); err != nil {
				return err
			}
		} else if err := s.spendTOTP(ctx, tx, in.Account.ID, in.Code, now); err != nil {
			return err
		}
		if err := removeTOTP(ctx, tx, in.Account.ID); err != nil {
			return err
		}
		return s.factorChanged(ctx, tx, q, EventTOTPDisabled, FactorMail{
			Account: in.Account, Change: FactorRemoved, Factor: FactorTOTP, When: now, Client: in.Client.clean(),
		}, in.Compose)
	})
	if err != nil {
		return fmt.Errorf("disable totp: %w", err)
	}
	return nil
}

// RemoveFactors removes every second factor of an account (TOTP, its
// set-up in progress, recovery codes, passkeys), for an operator (latchkey user reset-2fa): an event and the "second factors
// reset" email when there was anything to remove. It reports whether
// there was.
func (s *Store) RemoveFactors(ctx context.Context, acc *Account, client Client, compose ComposeFactor) (bool, error) {
	var removed bool
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		removed = false
		now := s.now()
		f, err := totpFactor(ctx, tx, acc.ID)
		if err != nil {
			return err
		}
		codes, err := tx.NewSelect().Model((*RecoveryCode)(nil)).Where("account_id = ?", acc.ID).Count(ctx)
		if err != nil {
			return fmt.Errorf("count recovery codes: %w", err)
		}
		if err := removeTOTP(ctx, tx, acc.ID); err != nil {
			return err
		}
		passkeys, err := removePasskeys(ctx, tx, acc.ID, time.Time{}, client.clean(), now)
		if err != nil {
			return err
		}
		if f == nil && codes == 0 && passkeys == 0 {
			return nil
		}
		removed = true
		return s.factorChanged(ctx, tx, q, EventFactorsReset, FactorMail{
			Account: acc, Change: FactorsResetByOperator, When: now, Client: client.clean(),
		}, compose)
	})
	if err != nil {
		return false, fmt.Errorf("remove factors: %w", err)
	}
	return removed, nil
}

// removeRecentFactors is ConfirmNotMe's part for TOTP (passkeys have
// removePasskeys): inside its transaction, it removes what was added in
// the last NotMeRecentFactors (a TOTP factor confirmed then, with every
// recovery code; a set-up in progress; recovery codes made then, which
// whoever made them has seen), and writes an event if anything went.
func (s *Store) removeRecentFactors(ctx context.Context, tx bun.IDB, accountID int64, client Client, now time.Time) error {
	cutoff := now.Add(-NotMeRecentFactors)
	removed := false
	f, err := totpFactor(ctx, tx, accountID)
	if err != nil {
		return err
	}
	if f != nil && (f.ConfirmedAt == nil || f.ConfirmedAt.After(cutoff)) {
		if err := removeTOTP(ctx, tx, accountID); err != nil {
			return err
		}
		removed = f.ConfirmedAt != nil
	} else {
		res, err := tx.NewDelete().Model((*RecoveryCode)(nil)).
			Where("account_id = ? AND created_at > ?", accountID, cutoff).Exec(ctx)
		if err != nil {
			return fmt.Errorf("remove recent recovery codes: %w", err)
		}
		n, _ := res.RowsAffected()
		removed = n > 0
	}
	if !removed {
		return nil
	}
	return RecordEvent(ctx, tx, accountID, EventFactorsRemovedNotMe, client, now)
}

// removeTOTP deletes an account's TOTP row and recovery codes.
func removeTOTP(ctx context.Context, tx bun.IDB, accountID int64) error {
	if _, err := tx.NewDelete().Model((*TOTPFactor)(nil)).Where("account_id = ?", accountID).Exec(ctx); err != nil {
		return fmt.Errorf("remove totp: %w", err)
	}
	if _, err := tx.NewDelete().Model((*RecoveryCode)(nil)).Where("account_id = ?", accountID).Exec(ctx); err != nil {
		return fmt.Errorf("remove recovery codes: %w", err)
	}
	return nil
}

// replaceRecoveryCodes stores a fresh set of recovery codes in place of
// any earlier ones and returns them to show.
func replaceRecoveryCodes(ctx context.Context, tx bun.IDB, accountID int64, now time.Time) ([]string, error) {
	if _, err := tx.NewDelete().Model((*RecoveryCode)(nil)).Where("account_id = ?", accountID).Exec(ctx); err != nil {
		return nil, fmt.Errorf("drop recovery codes: %w", err)
	}
	shown, rows := newRecoveryCodes(accountID, now)
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return nil, fmt.Errorf("store recovery codes: %w", err)
	}
	return shown, nil
}

// spendTOTP accepts a TOTP code of a confirmed factor once: its step is
// stored with one conditional UPDATE, so of two uses of one code (or of
// two concurrent requests) exactly one wins. ErrTOTPNotEnabled without a
// confirmed factor, ErrCodeInvalid for a wrong or replayed code.
func (s *Store) spendTOTP(ctx context.Context, tx bun.IDB, accountID int64, code StepCode, now time.Time) error {
	f, err := totpFactor(ctx, tx, accountID)
	if err != nil {
		return err
	}
	if f == nil || f.ConfirmedAt == nil {
		return ErrTOTPNotEnabled
	}
	if code.totp == "" {
		return ErrCodeInvalid
	}
	secret, err := s.openTOTP(f)
	if err != nil {
		return err
	}
	step := matchTOTP(secret, code.totp, now, f.LastStep)
	if step == 0 {
		return ErrCodeInvalid
	}
	return claimStep(ctx, tx, accountID, step)
}

// claimStep stores step as the last accepted one unless a later (or the
// same) one was accepted meanwhile: ErrCodeInvalid then.
func claimStep(ctx context.Context, tx bun.IDB, accountID, step int64) error {
	res, err := tx.NewUpdate().Model((*TOTPFactor)(nil)).Set("last_step = ?", step).
		Where("account_id = ? AND confirmed_at IS NOT NULL AND last_step < ?", accountID, step).Exec(ctx)
	if err != nil {
		return fmt.Errorf("spend totp step: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrCodeInvalid
	}
	return nil
}

// spendRecoveryCode uses up one unused recovery code, with one conditional
// UPDATE: ErrCodeInvalid if it is unknown or used.
func spendRecoveryCode(ctx context.Context, tx bun.IDB, accountID int64, hash string, now time.Time) error {
	res, err := tx.NewUpdate().Model((*RecoveryCode)(nil)).Set("used_at = ?", now).
		Where("account_id = ? AND code_hash = ? AND used_at IS NULL", accountID, hash).Exec(ctx)
	if err != nil {
		return fmt.Errorf("spend recovery code: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return ErrCodeInvalid
	}
	return nil
}

// factorChanged writes the event and queues the owner's email (with a
// "this wasn't me" link) of a second-factor change, inside its
// transaction.
func (s *Store) factorChanged(ctx context.Context, tx bun.IDB, q *queued, kind EventKind, m FactorMail, compose ComposeFactor) error {
	if err := RecordEvent(ctx, tx, m.Account.ID, kind, m.Client, m.When); err != nil {
		return err
	}
	return s.queueOwnerNotice(ctx, tx, q, m.Account, m.When, MailFactor, func(token string) (Message, error) {
		m.NotMeToken = token
		return compose(m)
	})
}

// AllowSecondStep counts one code typed at the second step for this
// account (TOTP or recovery, at sign-in or to change a factor) and refuses
// it (a *LimitedError) while the account is in back-off: see
// SecondStepFreeFailures for the arithmetic. A right code at sign-in
// clears the count.
func (s *Store) AllowSecondStep(ctx context.Context, acc *Account) error {
	var refused *LimitedError
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, _ *queued) error {
		var err error
		refused, err = s.backoff(ctx, tx, limitSecondStep.key(acc.PublicID), SecondStepFreeFailures, secondStepWindow, SecondStepMaxBlock, s.now())
		return err
	})
	if err != nil {
		return fmt.Errorf("second step attempt: %w", err)
	}
	if refused != nil {
		return refused
	}
	return nil
}

// SecondStepInput is what CompleteSecondStep needs.
type SecondStepInput struct {
	// Session is the browser's session row, AuthSecondFactorPending, with
	// its Account.
	Session *Session
	Code    StepCode
	Client  Client
	// Compose renders the "recovery code used" email.
	Compose ComposeFactor
}

// SecondStepResult is a completed sign-in.
type SecondStepResult struct {
	// ID is the new session's raw id (for the cookie); Session its row.
	ID      string
	Session *Session
	// Recovery: a recovery code was used; RecoveryLeft are left.
	Recovery     bool
	RecoveryLeft int
}

// CompleteSecondStep counts the code typed at a sign-in's second step
// against the account's guesses (as AllowSecondStep does: a
// *LimitedError while in back-off), checks it and, if it is right and the
// step has not expired (SecondStepTTL), signs the browser in, all or
// nothing: the code spent (TOTP step or recovery
// code), the pending session row replaced by a new AuthFull one with MFA
// set (a new id), the account's second-step count cleared, a sign-in event
// written and, for a recovery code, an event and the owner's email (how
// many codes are left, a "this wasn't me" link) queued.
//
// A wrong code and an expired step get the same ErrCodeInvalid after the
// same work (the secret opened, every candidate step computed, the
// recovery code looked up, a failure event committed); a right code on an
// expired step is not spent.
func (s *Store) CompleteSecondStep(ctx context.Context, in SecondStepInput) (*SecondStepResult, error) {
	pending, acc := in.Session, in.Session.Account
	client := in.Client.clean()
	var out *SecondStepResult
	var wrong bool
	var refused *LimitedError
	err := s.inTx(ctx, func(ctx context.Context, tx bun.Tx, q *queued) error {
		out, wrong = nil, false
		now := s.now()
		// The guess is counted first, in this transaction (one commit
		// fewer than a separate AllowSecondStep); a refusal commits the
		// count and checks nothing.
		var err error
		if refused, err = s.backoff(ctx, tx, limitSecondStep.key(acc.PublicID), SecondStepFreeFailures, secondStepWindow, SecondStepMaxBlock, now); err != nil || refused != nil {
			return err
		}
		expired := pending.AuthState != AuthSecondFactorPending || now.Sub(pending.CreatedAt) >= SecondStepTTL
		f, err := totpFactor(ctx, tx, acc.ID)
		if err != nil {
			return err
		}
		var step int64
		recoveryFound := false
		if f != nil && f.ConfirmedAt != nil {
			secret, err := s.openTOTP(f)
			if err != nil {
				return err
			}
			step = matchTOTP(secret, in.Code.totp, now, f.LastStep)
		}
		// Whether the code is right or the step expired, the same
		// lookups (which ones depends only on the code's shape).
		if in.Code.IsRecovery() {
			n, err := tx.NewSelect().Model((*RecoveryCode)(nil)).
				Where("account_id = ? AND code_hash = ? AND used_at IS NULL", acc.ID, in.Code.recoveryHash).Count(ctx)
			if err != nil {
				return fmt.Errorf("look up recovery code: %w", err)
			}
			recoveryFound = n > 0
		}
		if expired || (step == 0 && !recoveryFound) {
			wrong = true
			return RecordEvent(ctx, tx, acc.ID, EventSecondStepFailed, client, now)
		}
		if recoveryFound {
			err = spendRecoveryCode(ctx, tx, acc.ID, in.Code.recoveryHash, now)
		} else {
			err = claimStep(ctx, tx, acc.ID, step)
		}
		if err != nil {
			return err
		}
		// Claim the pending row: only one right code promotes it.
		res, err := tx.NewDelete().Model((*Session)(nil)).
			Where("id_hash = ? AND auth_state = ?", pending.IDHash, AuthSecondFactorPending).Exec(ctx)
		if err != nil {
			return fmt.Errorf("claim pending session: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrSessionNotFound
		}
		if err := s.endSessions(ctx, tx, q, []string{pending.IDHash}, nil); err != nil {
			return err
		}
		id, sess, err := s.createSession(ctx, tx, acc.ID, client, AuthFull, true)
		if err != nil {
			return err
		}
		if err := resetLimit(ctx, tx, limitSecondStep.key(acc.PublicID)); err != nil {
			return err
		}
		if err := RecordEvent(ctx, tx, acc.ID, EventSignIn, client, now); err != nil {
			return err
		}
		out = &SecondStepResult{ID: id, Session: sess}
		if !recoveryFound {
			return nil
		}
		left, err := tx.NewSelect().Model((*RecoveryCode)(nil)).
			Where("account_id = ? AND used_at IS NULL", acc.ID).Count(ctx)
		if err != nil {
			return fmt.Errorf("count recovery codes: %w", err)
		}
		out.Recovery, out.RecoveryLeft = true, int(left)
		return s.factorChanged(ctx, tx, q, EventRecoveryCodeUsed, FactorMail{
			Account: acc, Change: RecoveryCodeUsed, Factor: FactorTOTP, When: now, Client: client, RecoveryLeft: int(left),
		}, in.Compose)
	})
	if err != nil {
		if errors.Is(err, ErrCodeInvalid) {
			return nil, ErrCodeInvalid
		}
		return nil, fmt.Errorf("second step: %w", err)
	}
	if refused != nil {
		return nil, refused
	}
	if wrong {
		return nil, ErrCodeInvalid
	}
	return out, nil
}

// exportTOTP adds an account's TOTP factor and unused recovery codes to
// its export (ExportAccount), by kind and dates: no secret, no code, no
// hash.
func (s *Store) exportTOTP(ctx context.Context, accountID int64, data *AccountData) error {
	var f TOTPFactor
	err := s.db.NewSelect().Model(&f).Column("confirmed_at").
		Where("account_id = ? AND confirmed_at IS NOT NULL", accountID).Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("totp: %w", err)
	}
	data.Factors = append(data.Factors, FactorData{Kind: "totp", Name: "Authenticator app", CreatedAt: *f.ConfirmedAt})
	var codes []RecoveryCode
	if err := s.db.NewSelect().Model(&codes).Column("created_at").
		Where("account_id = ? AND used_at IS NULL", accountID).Scan(ctx); err != nil {
		return fmt.Errorf("recovery codes: %w", err)
	}
	if len(codes) > 0 {
		data.Factors = append(data.Factors, FactorData{
			Kind: "recovery-codes", Name: fmt.Sprintf("%d unused recovery codes", len(codes)), CreatedAt: codes[0].CreatedAt,
		})
	}
	return nil
}
