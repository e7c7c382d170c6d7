// Package testutil gives tests real parts: fresh SQLite and Postgres
// databases built from the migrations, an in-process SMTP server, a
// movable clock and a running Latchkey with an HTTP client.
package testutil

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/driver/pgdriver"

	"github.com/latchkey-auth/latchkey/app"
	"github.com/latchkey-auth/latchkey/models"
)

// DefaultPostgresURL is used when TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Dialects lists the databases every model test runs on.
var Dialects = []string{"sqlite", "postgres"}

// ForEachDB runs fn as a subtest on a fresh SQLite database and a fresh
// Postgres database, both built from the embedded migrations.
func ForEachDB(t *testing.T, fn func(t *testing.T, db *bun.DB)) {
	t.Helper()
	for _, d := range Dialects {
		t.Run(d, func(t *testing.T) {
			fn(t, NewDB(t, d))
		})
	}
}

// NewDB returns a fresh, migrated database of the given dialect, dropped
// when the test ends. Without a reachable Postgres the test is skipped
// with a loud message, unless CI=true, where it fails.
func NewDB(t testing.TB, dialect string) *bun.DB {
	t.Helper()
	url := NewDatabaseURL(t, dialect)
	db, err := models.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open %s: %v", dialect, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if _, err := models.Migrate(context.Background(), db); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return db
}

// NewDatabaseURL creates an empty database and returns its DATABASE_URL
// (for tests that start the binary).
func NewDatabaseURL(t testing.TB, dialect string) string {
	t.Helper()
	switch dialect {
	case "sqlite":
		return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
	case "postgres":
		return newPostgres(t)
	}
	t.Fatalf("unknown dialect %q", dialect)
	return ""
}

var (
	pgOnce  sync.Once
	pgAdmin *sql.DB
	pgErr   error
)

// PostgresURL returns TEST_DATABASE_URL or the default.
func PostgresURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return DefaultPostgresURL
}

func newPostgres(t testing.TB) string {
	t.Helper()
	base := PostgresURL()
	pgOnce.Do(func() {
		pgAdmin = sql.OpenDB(pgdriver.NewConnector(pgdriver.WithDSN(base), pgdriver.WithDialTimeout(3*time.Second)))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pgErr = pgAdmin.PingContext(ctx)
	})
	if pgErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Postgres is required when CI=true but %s does not answer: %v", redact(base), pgErr)
		}
		t.Skipf("SKIPPING POSTGRES TEST: no Postgres at %s (%v). Set TEST_DATABASE_URL or start Postgres; CI=true makes this a failure.", redact(base), pgErr)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "latchkey_test_" + hex.EncodeToString(b)
	if _, err := pgAdmin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := pgAdmin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	return withDatabase(base, name)
}

func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + name
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Clock is real time plus an offset that tests move forward.
type Clock struct {
	mu     sync.Mutex
	offset time.Duration
}

// NewClock starts at the real current time.
func NewClock() *Clock { return &Clock{} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().UTC().Add(c.offset)
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// TestHashParams returns cheap argon2id parameters for tests that hash
// often (1 MiB, one pass; the rest as models.HashParams). NewStore builds
// its hasher with them; tests of the real parameters use models.HashParams.
func TestHashParams() argon2id.Params {
	p := models.HashParams
	p.Memory, p.Iterations = 1024, 1
	return p
}

// NewStore builds a Store over db as the app does (app.NewStore), with a
// test clock, fast hashing (TestHashParams) and the default limits;
// WithHasher, WithLimits and WithSecret change those.
func NewStore(t testing.TB, db *bun.DB, clock *Clock, opts ...AppOption) *models.Store {
	t.Helper()
	c := collect(opts)
	s, err := app.NewStore(db, c.config(t, "127.0.0.1:0", "http://127.0.0.1"), c.storeOptions(clock)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Env is a getenv over m, for configuration tests (nil reads as empty).
func Env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestSecret is the SESSION_SECRET of test servers.
const TestSecret = "test-secret-test-secret-test-secret-0123456789"

// Tables lists every table of the schema, for tests that scan them all.
func Tables(t testing.TB, db *bun.DB) []string {
	t.Helper()
	var names []string
	var q string
	if db.Dialect().Name().String() == "pg" {
		q = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
	} else {
		q = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
	}
	if err := db.NewRaw(q).Scan(context.Background(), &names); err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return names
}

// DumpTable returns every row of a table as text, for scanning.
func DumpTable(t testing.TB, db *bun.DB, table string) string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), fmt.Sprintf("SELECT * FROM %s", table))
	if err != nil {
		t.Fatalf("dump %s: %v", table, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var sb strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for _, v := range vals {
			switch x := v.(type) {
			case []byte:
				sb.Write(x)
			default:
				fmt.Fprint(&sb, x)
			}
			sb.WriteByte('\t')
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}
