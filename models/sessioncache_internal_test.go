package models

import (
	"strings"
	"testing"
	"time"
)

// TestSessionCacheRules checks the session cache's rules with a clock the
// test moves: the hard maximum age counted from before the database read,
// the generation rule that turns away a fill begun before an
// invalidation, per-session and per-account invalidation, the offline
// state, the size bound and private copies.
func TestSessionCacheRules(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	row := func(hash string, account int64) *Session {
		return &Session{IDHash: hash, AccountID: account, AuthState: AuthFull, Account: &Account{ID: account, Email: "a@example.com"}}
	}
	fill := func(c *sessionCache, s *Session) {
		gen, at, ok := c.begin()
		if !ok {
			t.Fatal("cache offline")
		}
		c.put(gen, at, s)
	}
	hit := func(c *sessionCache, hash string) bool {
		_, ok := c.get(hash)
		return ok
	}

	t.Run("max age from before the read", func(t *testing.T) {
		c := newSessionCache(clock, 500*time.Millisecond, 10, true)
		gen, at, _ := c.begin()
		now = now.Add(300 * time.Millisecond) // a slow database read
		c.put(gen, at, row("a", 1))
		now = now.Add(199 * time.Millisecond)
		if !hit(c, "a") {
			t.Fatal("entry 499 ms old not served")
		}
		now = now.Add(time.Millisecond)
		if hit(c, "a") {
			t.Fatal("entry 500 ms old (from before its read) served")
		}
	})

	t.Run("a fill begun before an invalidation is not inserted", func(t *testing.T) {
		c := newSessionCache(clock, 500*time.Millisecond, 10, true)
		gen, at, _ := c.begin()          // the fill reads the row…
		c.invalidate([]string{"a"}, nil) // …the session is ended and committed…
		c.put(gen, at, row("a", 1))      // …and the fill comes back with the old row.
		if hit(c, "a") {
			t.Fatal("a fill that read before the invalidation was inserted after it")
		}
		gen, at, _ = c.begin()
		c.invalidate(nil, []int64{99}) // any invalidation turns old fills away
		c.put(gen, at, row("a", 1))
		if hit(c, "a") {
			t.Fatal("a fill begun before an account invalidation was inserted")
		}
		fill(c, row("a", 1)) // a fill begun after is fine
		if !hit(c, "a") {
			t.Fatal("a fill begun after the invalidation was not inserted")
		}
	})

	t.Run("invalidation by session and by account", func(t *testing.T) {
		c := newSessionCache(clock, 500*time.Millisecond, 10, true)
		fill(c, row("a1", 1))
		fill(c, row("a2", 1))
		fill(c, row("b1", 2))
		c.invalidate([]string{"a1"}, nil)
		if hit(c, "a1") || !hit(c, "a2") || !hit(c, "b1") {
			t.Fatal("session invalidation dropped the wrong entries")
		}
		c.invalidate(nil, []int64{1})
		if hit(c, "a2") || !hit(c, "b1") {
			t.Fatal("account invalidation dropped the wrong entries")
		}
	})

	t.Run("offline: flushed, neither served nor filled", func(t *testing.T) {
		c := newSessionCache(clock, 500*time.Millisecond, 10, true)
		fill(c, row("a", 1))
		gen, at, _ := c.begin() // a fill in flight when LISTEN drops
		c.setOnline(false)
		if hit(c, "a") {
			t.Fatal("entry served after going offline")
		}
		c.put(gen, at, row("b", 1))
		if _, _, ok := c.begin(); ok {
			t.Fatal("fill allowed while offline")
		}
		c.setOnline(true)
		if hit(c, "b") {
			t.Fatal("a fill from before going offline was inserted")
		}
		c.put(gen, at, row("b", 1))
		if hit(c, "b") {
			t.Fatal("a fill from before going offline was inserted after coming back")
		}
	})

	t.Run("bounded", func(t *testing.T) {
		c := newSessionCache(clock, 500*time.Millisecond, 3, true)
		for i := range 10 {
			fill(c, row(strings.Repeat("x", i+1), 1))
		}
		if n := c.len(); n > 3 {
			t.Fatalf("%d entries, limit 3", n)
		}
	})

	t.Run("callers get copies", func(t *testing.T) {
		c := newSessionCache(clock, 500*time.Millisecond, 10, true)
		fill(c, row("a", 1))
		s, _ := c.get("a")
		s.Account.Email, s.AuthState = "changed@example.com", AuthSecondFactorPending
		again, _ := c.get("a")
		if again.Account.Email != "a@example.com" || again.AuthState != AuthFull {
			t.Fatal("a caller's change reached the cache")
		}
	})
}
