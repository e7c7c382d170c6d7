package models

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// SessionsChannel is the Postgres NOTIFY channel on which an instance that
// ends sessions tells every other instance to drop them from its session
// cache. The payload is "s:" and a session id hash, or "a:" and an
// account id (every session of that account).
const SessionsChannel = "latchkey_sessions"

// Session cache bounds. SessionCacheMaxAge is a hard limit: an entry older
// than that is never served, whatever notifications say, so a session
// ended on another instance is refused here within SessionCacheMaxAge
// plus one database read even if its notification is lost (SPEC §7
// promises 1 s).
const (
	SessionCacheMaxAge  = 500 * time.Millisecond
	SessionCacheEntries = 10000
)

// sessionCache keeps recently loaded sessions (with their accounts) by id
// hash for the forward-auth check, which a proxy sends for every request
// of the app it guards.
//
// Correctness rests on three rules:
//   - Every entry is younger than maxAge, measured from before the
//     database read that filled it.
//   - Invalidation removes entries and bumps a generation counter; a fill
//     records the generation before its database read and is inserted
//     only if no invalidation came in between, so a fill that read a row
//     before an invalidation cannot put it back after.
//   - When invalidations may be missed (Postgres with the LISTEN
//     connection down), the cache is "offline": flushed, and neither
//     served nor filled until it is back.
type sessionCache struct {
	// now is a clock for ages only; time.Now in production, so its
	// monotonic reading makes ages immune to wall-clock steps.
	now    func() time.Time
	maxAge time.Duration
	limit  int

	mu      sync.Mutex
	gen     uint64
	online  bool
	entries map[string]cacheEntry
}

type cacheEntry struct {
	sess     Session // Account points at acc
	acc      Account
	loadedAt time.Time
}

func newSessionCache(now func() time.Time, maxAge time.Duration, limit int, online bool) *sessionCache {
	return &sessionCache{now: now, maxAge: maxAge, limit: limit, online: online, entries: map[string]cacheEntry{}}
}

// get returns a copy of a live entry (the caller may change it freely).
func (c *sessionCache) get(idHash string) (*Session, bool) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[idHash]
	if ok && now.Sub(e.loadedAt) >= c.maxAge {
		delete(c.entries, idHash)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	return e.copy(), true
}

func (e *cacheEntry) copy() *Session {
	sess := e.sess
	acc := e.acc
	sess.Account = &acc
	return &sess
}

// begin starts a fill: it returns the generation and the time to stamp the
// entry with, both taken before the database read. ok is false while the
// cache is offline: nothing is to be filled then.
func (c *sessionCache) begin() (gen uint64, at time.Time, ok bool) {
	at = c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, at, c.online
}

// put inserts what a fill begun at (gen, at) read, unless an invalidation
// (or a change of the cache's state) came in between.
func (c *sessionCache) put(gen uint64, at time.Time, sess *Session) {
	if sess == nil || sess.Account == nil {
		return
	}
	e := cacheEntry{sess: *sess, acc: *sess.Account, loadedAt: at}
	e.sess.Account = nil
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen || !c.online {
		return
	}
	if len(c.entries) >= c.limit {
		c.evict()
	}
	c.entries[sess.IDHash] = e
}

// evict makes room: expired entries go first; if none had expired, an
// arbitrary one (map order) goes. Called with mu held.
func (c *sessionCache) evict() {
	now := c.now()
	for k, e := range c.entries {
		if now.Sub(e.loadedAt) >= c.maxAge {
			delete(c.entries, k)
		}
	}
	if len(c.entries) < c.limit {
		return
	}
	for k := range c.entries {
		delete(c.entries, k)
		if len(c.entries) < c.limit {
			return
		}
	}
}

// invalidate drops the given sessions and every session of the given
// accounts, and turns away every fill begun before.
func (c *sessionCache) invalidate(idHashes []string, accountIDs []int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, h := range idHashes {
		delete(c.entries, h)
	}
	if len(accountIDs) == 0 {
		return
	}
	for k, e := range c.entries {
		for _, id := range accountIDs {
			if e.sess.AccountID == id {
				delete(c.entries, k)
				break
			}
		}
	}
}

// setOnline flushes the cache and turns it on or off.
func (c *sessionCache) setOnline(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.online = on
	clear(c.entries)
}

// flush drops every entry and turns away every fill begun before.
func (c *sessionCache) flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// len is the number of entries, expired ones included (for tests).
func (c *sessionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// endSessions records, inside a transaction, that the listed sessions and
// every session of the listed accounts are being deleted: on Postgres it
// notifies every instance (delivered when the transaction commits), and
// inTx drops them from this instance's cache once it has committed. Every
// path that deletes session rows calls it, so that no cache serves a
// session that has ended.
func (s *Store) endSessions(ctx context.Context, tx bun.IDB, q *queued, idHashes []string, accountIDs []int64) error {
	q.endedSessions = append(q.endedSessions, idHashes...)
	q.endedAccounts = append(q.endedAccounts, accountIDs...)
	if s.db.Dialect().Name() != dialect.PG {
		return nil
	}
	for _, h := range idHashes {
		if _, err := tx.ExecContext(ctx, "SELECT pg_notify(?, ?)", SessionsChannel, "s:"+h); err != nil {
			return fmt.Errorf("notify ended session: %w", err)
		}
	}
	for _, id := range accountIDs {
		if _, err := tx.ExecContext(ctx, "SELECT pg_notify(?, ?)", SessionsChannel, "a:"+strconv.FormatInt(id, 10)); err != nil {
			return fmt.Errorf("notify ended sessions: %w", err)
		}
	}
	return nil
}

// SessionsEnded applies a notification received on SessionsChannel from
// another instance: it drops the named session or account from this
// instance's session cache. An unreadable payload flushes the whole cache.
func (s *Store) SessionsEnded(payload string) {
	kind, val, _ := strings.Cut(payload, ":")
	switch kind {
	case "s":
		if ValidCodeHash(val) {
			s.sessionCache.invalidate([]string{val}, nil)
			return
		}
	case "a":
		if id, err := strconv.ParseInt(val, 10, 64); err == nil {
			s.sessionCache.invalidate(nil, []int64{id})
			return
		}
	}
	s.sessionCache.flush()
}

// SessionCacheListening tells the store whether this instance is
// listening on SessionsChannel (Postgres). The session cache is used only
// while it is: a lost LISTEN connection could drop notifications, so the
// cache is flushed and bypassed until the listener is back. On SQLite,
// where one process serves, the cache is always on.
func (s *Store) SessionCacheListening(on bool) {
	if s.db.Dialect().Name() != dialect.PG {
		return
	}
	s.sessionCache.setOnline(on)
}

// SessionCached reports whether the session with this raw id is in the
// session cache now (for tests and diagnostics).
func (s *Store) SessionCached(id string) bool {
	_, ok := s.sessionCache.get(HashSessionID(id))
	return ok
}

// SessionCacheSize is the number of entries in the session cache, expired
// ones included (for tests and diagnostics).
func (s *Store) SessionCacheSize() int { return s.sessionCache.len() }

// LoadSessionCached is LoadSession for the forward-auth check: the same
// answer, served from an in-process cache for at most SessionCacheMaxAge
// after the database read. Sessions ended on this instance are dropped from
// the cache when their transaction commits, and on other instances when
// the Postgres notification arrives. The idle and absolute lifetimes are
// checked on every call; a cached session due for its last-seen update
// (at most once a minute) is read again, which writes it.
func (s *Store) LoadSessionCached(ctx context.Context, id string) (*Session, error) {
	idHash := HashSessionID(id)
	if sess, ok := s.sessionCache.get(idHash); ok {
		now := s.now()
		if idle := now.Sub(sess.LastSeenAt); idle < touchEvery && idle < s.sessionIdle && now.Sub(sess.CreatedAt) < s.sessionMax {
			return sess, nil
		}
		// Due for a touch (or expired): LoadSession decides and writes.
	}
	gen, at, ok := s.sessionCache.begin()
	sess, err := s.loadSession(ctx, idHash)
	if err != nil {
		return nil, err
	}
	if ok {
		s.sessionCache.put(gen, at, sess)
	}
	return sess, nil
}
