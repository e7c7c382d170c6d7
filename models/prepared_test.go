package models

import (
	"sync"
	"testing"
	"time"
)

// The session lookup runs as one prepared statement on SQLite, reused on
// every pooled connection, and loads exactly what bun's own query loads.
func TestSessionLookupIsPreparedOnSQLite(t *testing.T) {
	db, err := Open(t.Context(), "sqlite:"+t.TempDir()+"/prepared.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := Migrate(t.Context(), db); err != nil {
		t.Fatal(err)
	}
	params := HashParams
	params.Memory, params.Iterations = 64, 1
	hasher, err := NewHasher(params, 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{DB: db, Hasher: hasher, Clock: time.Now, SessionIdle: time.Hour, SessionMax: time.Hour}
	acc, err := s.Register(t.Context(), "prepared@example.com", "correct horse battery staple", Client{IP: "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := s.CreateSession(t.Context(), db, acc.ID, Client{IP: "192.0.2.1", UserAgent: "test"})
	if err != nil {
		t.Fatal(err)
	}
	want := new(Session)
	if err := db.NewSelect().Model(want).Relation("Account").Where("session.id_hash = ?", HashSessionID(id)).Scan(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Concurrent lookups spread over the pool's connections.
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			got, err := s.LoadSession(t.Context(), id)
			if err != nil {
				t.Error(err)
				return
			}
			if got.IDHash != want.IDHash || got.IP != want.IP || got.UserAgent != want.UserAgent ||
				!got.CreatedAt.Equal(want.CreatedAt) || !got.LastSeenAt.Equal(want.LastSeenAt) ||
				got.Account == nil || got.Account.ID != acc.ID || got.Account.Email != want.Account.Email ||
				got.Account.PasswordHash != want.Account.PasswordHash || !got.Account.CreatedAt.Equal(want.Account.CreatedAt) {
				t.Errorf("prepared lookup loaded %+v (account %+v), bun's query %+v (account %+v)", got, got.Account, want, want.Account)
			}
		})
	}
	wg.Wait()
	if _, err := s.LoadSession(t.Context(), "no such session"); err != ErrSessionNotFound {
		t.Errorf("unknown session: %v", err)
	}
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if len(s.stmts.bySQL) != 1 {
		t.Errorf("%d prepared statements after 17 lookups, want 1", len(s.stmts.bySQL))
	}
}
