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

func TestSecretCheckValue(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		secret := []byte(testutil.TestSecret)
		other := []byte(strings.Repeat("o", 40))
		// First start stores the value; the same secret passes again.
		for range 2 {
			if err := models.CheckSecret(ctx, db, secret); err != nil {
				t.Fatalf("right secret refused: %v", err)
			}
		}
		if err := models.CheckSecret(ctx, db, other); !errors.Is(err, models.ErrSecretMismatch) {
			t.Fatalf("other secret: %v, want ErrSecretMismatch", err)
		}
		var rows []models.Setting
		if err := db.NewSelect().Model(&rows).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].Value != models.SecretCheckValue(secret) {
			t.Fatalf("settings: %+v", rows)
		}
		// The stored value is neither the secret nor a key derived from it.
		for _, label := range []string{models.KeyCheck, models.KeyOutbox, models.KeyCookieHash, models.KeyCookieBlock, models.KeyLinkTokens, models.KeyDeviceCookie} {
			if strings.Contains(rows[0].Value, string(secret)) || strings.Contains(rows[0].Value, string(models.DeriveKey(secret, label))) ||
				strings.Contains(rows[0].Value, hexOf(models.DeriveKey(secret, label))) {
				t.Errorf("check value reveals the %s key", label)
			}
		}
	})
}

func hexOf(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

// A database used before check values existed has none: the first start
// stores one, unless the outbox holds mail its secret cannot open.
func TestSecretCheckOnExistingDatabase(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := testutil.NewStore(t, db, testutil.NewClock()) // seals with TestSecret
		if _, err := s.Register(ctx, "old@example.com", "correct horse battery staple", models.Client{}, testutil.VerifyMail); err != nil {
			t.Fatal(err)
		}
		if err := s.RequestReset(ctx, "old@example.com", models.Client{}, resetMail); err != nil {
			t.Fatal(err)
		}
		if err := models.CheckSecret(ctx, db, []byte(strings.Repeat("w", 40))); !errors.Is(err, models.ErrSecretMismatch) {
			t.Fatalf("a secret that opens no queued mail: %v, want ErrSecretMismatch", err)
		}
		if n, _ := db.NewSelect().Model((*models.Setting)(nil)).Count(ctx); n != 0 {
			t.Fatalf("the wrong secret's check value was stored")
		}
		if err := models.CheckSecret(ctx, db, []byte(testutil.TestSecret)); err != nil {
			t.Fatalf("the secret that sealed the queued mail: %v", err)
		}
	})
}

// ClaimQueued takes only the listed messages, and only while pending.
func TestClaimQueuedTakesOnlyItsOwn(t *testing.T) {
	testutil.ForEachDB(t, func(t *testing.T, db *bun.DB) {
		ctx := context.Background()
		s := testutil.NewStore(t, db, testutil.NewClock())
		tracked, queued := models.TrackQueued(ctx)
		for _, e := range []string{"a@example.com", "b@example.com"} {
			if _, err := s.Register(ctx, e, "correct horse battery staple", models.Client{}, testutil.VerifyMail); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.RequestReset(tracked, "a@example.com", models.Client{}, resetMail); err != nil {
			t.Fatal(err)
		}
		mine := queued()
		if len(mine) != 1 {
			t.Fatalf("OnQueued ids: %v", mine)
		}
		other := mine[0]
		tracked, queued = models.TrackQueued(ctx)
		if err := s.RequestReset(tracked, "b@example.com", models.Client{}, resetMail); err != nil {
			t.Fatal(err)
		}
		mine = queued()
		if len(mine) != 1 || mine[0] == other {
			t.Fatalf("OnQueued ids: %v (other %d)", mine, other)
		}
		rows, err := s.ClaimQueued(ctx, mine, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 || rows[0].ID != mine[0] || rows[0].Recipient != "b@example.com" {
			t.Fatalf("claimed %+v, want only %d", rows, mine[0])
		}
		// Already claimed: not again.
		if rows, err := s.ClaimQueued(ctx, mine, time.Minute); err != nil || len(rows) != 0 {
			t.Fatalf("second claim: %d rows, %v", len(rows), err)
		}
		var o models.OutboxEmail
		if err := db.NewSelect().Model(&o).Where("id = ?", other).Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if o.Status != models.OutboxPending || o.Attempts != 0 {
			t.Errorf("the other message was touched: %s, %d attempts", o.Status, o.Attempts)
		}
	})
}
