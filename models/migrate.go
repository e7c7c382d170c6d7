package models

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

//go:embed migrations
var migrationFiles embed.FS

// migrationLockID is the pg_advisory_lock key that serialises migrations
// across instances; an advisory lock dies with its connection, unlike bun's
// lock table row, which a killed process leaves behind.
const migrationLockID = 0x1a7c4e7

// Migrate applies every pending migration for the database's dialect and
// reports how many it applied.
func Migrate(ctx context.Context, db *bun.DB) (int, error) {
	dir := "migrations/sqlite"
	if db.Dialect().Name() == dialect.PG {
		dir = "migrations/postgres"
	}
	sub, err := fs.Sub(migrationFiles, dir)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	migrations := migrate.NewMigrations()
	if err := migrations.Discover(sub); err != nil {
		return 0, fmt.Errorf("migrate: discover: %w", err)
	}

	if db.Dialect().Name() == dialect.PG {
		conn, err := db.Conn(ctx)
		if err != nil {
			return 0, fmt.Errorf("migrate: lock connection: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", migrationLockID); err != nil {
			return 0, fmt.Errorf("migrate: advisory lock: %w", err)
		}
		defer func() {
			// Closing the connection releases the lock too; unlocking first
			// returns the connection to the pool clean.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", migrationLockID)
		}()
	}

	migrator := migrate.NewMigrator(db, migrations)
	if err := migrator.Init(ctx); err != nil {
		return 0, fmt.Errorf("migrate: init: %w", err)
	}
	group, err := migrator.Migrate(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrate: %w", err)
	}
	return len(group.Migrations), nil
}
