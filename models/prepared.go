package models

import (
	"context"
	"database/sql"
	"sync"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// Prepared statements for the hottest query on SQLite: the session lookup
// that every signed-in request makes. bun writes argument values into the
// SQL text, so each lookup is a new statement that SQLite parses and plans
// again (most of the lookup's CPU). Here bun builds the query once from
// the models with a placeholder where the value goes, database/sql
// prepares it on each pooled connection the first time it is used there,
// and every lookup only binds the value: BenchmarkSessionLoad/sqlite
// 84 → 31 µs (the benchmark that justifies it: go test ./models -bench
// SessionLoad).
//
// Postgres keeps bun's one-round-trip simple queries. Prepared statements
// measured faster there too (396 → 219 µs, mostly planning saved), but a
// named statement on a server connection breaks behind a transaction-mode
// connection pooler (PgBouncer before 1.21) and fails with "cached plan
// must not change result type" when a migration alters a column it reads
// while older instances still run: failures an operator would meet in
// production for a gain the bench does not need.

// prepared returns the connection to run q on: on SQLite, q's SQL as a
// prepared statement with args bound (q takes the returned where values in place of
// args go); elsewhere the database itself, with the args written into the
// SQL as bun does.
func (s *Store) prepared(args ...any) (conn bun.IConn, where []any) {
	if s.db.Dialect().Name() != dialect.SQLite {
		return s.db.DB, args // what bun runs queries on by default
	}
	where = make([]any, len(args))
	for i := range where {
		where[i] = bun.Safe("?")
	}
	return preparedConn{stmts: &s.stmts, db: s.db.DB, args: args}, where
}

// statements caches prepared statements by their SQL text. The zero value
// is ready; it lives as long as its database.
type statements struct {
	mu    sync.Mutex
	bySQL map[string]*sql.Stmt
}

func (s *statements) get(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stmt, ok := s.bySQL[query]; ok {
		return stmt, nil
	}
	stmt, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if s.bySQL == nil {
		s.bySQL = map[string]*sql.Stmt{}
	}
	s.bySQL[query] = stmt
	return stmt, nil
}

// preparedConn is the connection bun runs one query on: bun hands it the
// SQL text with the placeholder, and it runs that as a prepared statement
// with args bound.
type preparedConn struct {
	stmts *statements
	db    *sql.DB
	args  []any
}

func (c preparedConn) QueryContext(ctx context.Context, query string, _ ...any) (*sql.Rows, error) {
	stmt, err := c.stmts.get(ctx, c.db, query)
	if err != nil {
		return nil, err
	}
	return stmt.QueryContext(ctx, c.args...)
}

func (c preparedConn) ExecContext(ctx context.Context, query string, _ ...any) (sql.Result, error) {
	stmt, err := c.stmts.get(ctx, c.db, query)
	if err != nil {
		return nil, err
	}
	return stmt.ExecContext(ctx, c.args...)
}

func (c preparedConn) QueryRowContext(ctx context.Context, query string, _ ...any) *sql.Row {
	stmt, err := c.stmts.get(ctx, c.db, query)
	if err != nil {
		// A *sql.Row cannot be made to carry an error from outside; an
		// unprepared run reports the same failure through Scan.
		return c.db.QueryRowContext(ctx, query, c.args...)
	}
	return stmt.QueryRowContext(ctx, c.args...)
}
