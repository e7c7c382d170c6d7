package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/latchkey-auth/latchkey/models"
)

// defaultPostgresURL is the admin connection used when TEST_DATABASE_URL
// is unset (the same default as the tests).
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// databases hands out empty databases of one dialect and removes them at
// the end: SQLite files under the bench's temp dir, or throwaway Postgres
// databases created through an admin connection.
type databases struct {
	dialect string
	dir     string
	admin   *sql.DB
	base    string
	created []string
	n       int
}

func newDatabases(ctx context.Context, dialect, dir string) (*databases, error) {
	d := &databases{dialect: dialect, dir: dir}
	if dialect != "postgres" {
		return d, nil
	}
	d.base = os.Getenv("TEST_DATABASE_URL")
	if d.base == "" {
		d.base = defaultPostgresURL
	}
	d.admin = sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(d.base), pgdriver.WithDialTimeout(3*time.Second)))
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.admin.PingContext(pctx); err != nil {
		_ = d.admin.Close() // the ping failure is the error to report
		return nil, fmt.Errorf("postgres at %s: %w (set TEST_DATABASE_URL)", redact(d.base), err)
	}
	return d, nil
}

// fresh returns the DATABASE_URL of a new, empty database.
func (d *databases) fresh(ctx context.Context) (string, error) {
	d.n++
	if d.dialect != "postgres" {
		return "sqlite:" + filepath.Join(d.dir, fmt.Sprintf("db%d", d.n), "latchkey.db"), nil
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	name := "latchkey_bench_" + hex.EncodeToString(b)
	if _, err := d.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("create database: %w", err)
	}
	d.created = append(d.created, name)
	u, err := url.Parse(d.base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

// close drops every database created (SQLite files go with the temp dir).
func (d *databases) close() error {
	if d.admin == nil {
		return nil
	}
	var firstErr error
	for _, name := range d.created {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if _, err := d.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil && firstErr == nil {
			firstErr = fmt.Errorf("drop database %s: %w", name, err)
		}
		cancel()
	}
	return firstErr
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// seedPassword is every seeded account's password.
const seedPassword = "bench: correct horse battery staple"

// seedAccounts inserts accounts with the given addresses into a migrated
// database. They share one real argon2id hash (models.HashParams), so a
// sign-in costs what it costs in production, without paying n hashes
// here.
func seedAccounts(ctx context.Context, databaseURL string, emails []string) error {
	hash, err := argon2id.CreateHash(models.NormalizePassword(seedPassword), &models.HashParams)
	if err != nil {
		return err
	}
	db, err := models.Open(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for start := 0; start < len(emails); start += 200 {
		batch := make([]models.Account, 0, 200)
		for _, e := range emails[start:min(start+200, len(emails))] {
			batch = append(batch, models.Account{Email: e, PasswordHash: hash, CreatedAt: now, UpdatedAt: now})
		}
		if _, err := db.NewInsert().Model(&batch).Exec(ctx); err != nil {
			return fmt.Errorf("seed accounts: %w", err)
		}
	}
	return nil
}
