// Package models owns Latchkey's data: bun models, the queries over them and
// the account rules (password hashing, reset codes, rate limits). It knows
// nothing of HTTP.
package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"github.com/uptrace/bun/driver/pgdriver"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Open connects to the database named by a DATABASE_URL value:
// "sqlite:PATH" or "postgres://…". It does not migrate.
func Open(ctx context.Context, databaseURL string) (*bun.DB, error) {
	switch {
	case strings.HasPrefix(databaseURL, "sqlite:"):
		return openSQLite(ctx, strings.TrimPrefix(databaseURL, "sqlite:"))
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		return openPostgres(ctx, databaseURL)
	default:
		return nil, errors.New("DATABASE_URL must start with sqlite: or postgres://")
	}
}

func openSQLite(ctx context.Context, path string) (*bun.DB, error) {
	if path == "" {
		return nil, errors.New("DATABASE_URL: sqlite: needs a file path")
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: create directory: %w", err)
		}
		if err := createPrivate(path); err != nil {
			return nil, err
		}
	}
	// Pragmas in the DSN reach every pooled connection (an Exec'd PRAGMA
	// reaches one). _txlock=immediate takes the write lock at BEGIN, so a
	// transaction that reads then writes waits on busy_timeout instead of
	// failing with SQLITE_BUSY halfway.
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	sqldb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	sqldb.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	sqldb.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	db := bun.NewDB(sqldb, sqlitedialect.New())
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	return db, nil
}

// createPrivate creates the database file, if it does not exist yet, as
// 0600: it holds password hashes, sessions and queued emails, and SQLite
// would create it 0644 (under the usual umask 022) in whatever folder
// DATABASE_URL names. SQLite's unix VFS gives the -wal and -shm files the
// main file's permissions, whatever the umask, so they are 0600 too. An
// existing file keeps the mode its owner chose.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the path is DATABASE_URL, the operator's choice
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("sqlite: create database file: %w", err)
	}
	return nil
}

func openPostgres(ctx context.Context, dsn string) (*bun.DB, error) {
	connector := pgdriver.NewConnector(
		pgdriver.WithDSN(dsn),
		pgdriver.WithTimeout(5*time.Second),
		pgdriver.WithDialTimeout(3*time.Second),
	)
	sqldb := sql.OpenDB(connector)
	sqldb.SetMaxOpenConns(4 * runtime.GOMAXPROCS(0))
	sqldb.SetMaxIdleConns(4 * runtime.GOMAXPROCS(0))
	sqldb.SetConnMaxIdleTime(5 * time.Minute)
	db := bun.NewDB(sqldb, pgdialect.New())
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return db, nil
}

// IsUniqueViolation reports whether err is a unique-constraint violation,
// judged by the driver's error code rather than its message.
func IsUniqueViolation(err error) bool {
	var pgErr pgdriver.Error
	if errors.As(err, &pgErr) {
		return pgErr.Field('C') == "23505"
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		return sqliteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE ||
			sqliteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}
