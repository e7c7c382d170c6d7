package models_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/latchkey-auth/latchkey/models"
)

// TestSQLiteFilesArePrivate: the database file and its WAL and shared-
// memory files hold password hashes, sessions and queued emails; they are
// created 0600 whatever the umask and whichever folder they live in.
// Not parallel: the umask belongs to the whole process.
func TestSQLiteFilesArePrivate(t *testing.T) {
	for _, umask := range []int{0o022, 0o002, 0o000} {
		t.Run(fmt.Sprintf("umask %03o", umask), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)
			path := filepath.Join(t.TempDir(), "nested", "latchkey.db")
			db, err := models.Open(t.Context(), "sqlite:"+path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := models.Migrate(t.Context(), db); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(t.Context(), "CREATE TABLE perm_probe (x INTEGER); INSERT INTO perm_probe VALUES (1)"); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{path, path + "-wal", path + "-shm"} {
				st, err := os.Stat(f)
				if err != nil {
					t.Fatalf("%s: %v (WAL mode keeps it while the database is open)", filepath.Base(f), err)
				}
				if mode := st.Mode().Perm(); mode != 0o600 {
					t.Errorf("%s: mode %04o, want 0600", filepath.Base(f), mode)
				}
			}
			if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("folder: %v %v, want 0700", st.Mode(), err)
			}
		})
	}
}

// An existing database file keeps the mode its owner gave it.
func TestSQLiteExistingFileKeepsItsMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "latchkey.db")
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	db, err := models.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), "CREATE TABLE perm_probe (x INTEGER)"); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("existing file: %v %v, want 0640 kept", st.Mode(), err)
	}
}
