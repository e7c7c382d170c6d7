package models

// PreparedStatements is how many statements s has prepared, for tests.
func PreparedStatements(s *Store) int {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	return len(s.stmts.bySQL)
}

// IPKey is ipKey, for its table test.
var IPKey = ipKey
