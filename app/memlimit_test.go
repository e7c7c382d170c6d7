package app

import (
	"io"
	"log/slog"
	"math"
	"runtime/debug"
	"testing"

	"github.com/latchkey-auth/latchkey/models"
)

// The soft memory limit is sized from HASH_CONCURRENCY (22 MiB plus one
// argon2id buffer per slot) and left alone when GOMEMLIMIT is set.
// Nothing here touches a database, so it runs once, not per dialect.
func TestMemoryLimitFollowsHashConcurrency(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	t.Setenv("GOMEMLIMIT", "")
	SetMemoryLimit(&Config{HashConcurrency: 3}, log)
	want := int64(22<<20) + 3*int64(models.HashParams.Memory)*1024
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Errorf("limit with 3 slots: %d, want %d (22 MiB + 3 × %d KiB)", got, want, models.HashParams.Memory)
	}

	debug.SetMemoryLimit(math.MaxInt64)
	t.Setenv("GOMEMLIMIT", "100MiB")
	SetMemoryLimit(&Config{HashConcurrency: 3}, log)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set: the server changed the limit to %d", got)
	}
}
