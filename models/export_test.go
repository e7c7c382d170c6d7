package models

import (
	"context"
	"time"
)

// PreparedStatements is how many statements s has prepared, for tests.
func PreparedStatements(s *Store) int {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	return len(s.stmts.bySQL)
}

// IPKey is ipKey, for its table test.
var IPKey = ipKey

// Allow is allow, for tests of the counter itself and of Cleanup.
func (s *Store) Allow(ctx context.Context, key string, limit int, window time.Duration) error {
	return s.allow(ctx, key, limit, window)
}
