package handlers

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/latchkey-auth/latchkey/models"
)

// A client that hangs up mid-request cancels its context; the error that
// follows (here a transaction rolled back under it) makes a 499 with a
// warning, not a 500 with an error.
func TestErrorsAfterTheClientLeftAreNotServerErrors(t *testing.T) {
	db, err := models.Open(t.Context(), "sqlite://"+t.TempDir()+"/errors.db")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var logs bytes.Buffer
	h := testAssets(t)
	h.log, h.store = slog.New(slog.NewTextHandler(&logs, nil)), models.NewStore(db, models.StoreOptions{})
	for name, cancelled := range map[string]bool{"client gone": true, "client still there": false} {
		t.Run(name, func(t *testing.T) {
			logs.Reset()
			ctx, cancel := context.WithCancel(t.Context())
			if cancelled {
				cancel()
			}
			req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/account/login", nil)
			rec := httptest.NewRecorder()
			c := echo.New().NewContext(req, rec)
			h.handleError(fmt.Errorf("sign-in attempt: %w", sql.ErrTxDone), c)
			cancel()
			want := http.StatusInternalServerError
			if cancelled {
				want = 499
			}
			if rec.Code != want {
				t.Errorf("%s: status %d, want %d", name, rec.Code, want)
			}
			if logged := strings.Contains(logs.String(), "level=ERROR"); logged != !cancelled {
				t.Errorf("%s: error logged = %v:\n%s", name, logged, logs.String())
			}
			// Not hidden either: a stalled database that outlasted the
			// client must still show in the log.
			if !strings.Contains(logs.String(), "transaction has already been committed") {
				t.Errorf("%s: the failure is not in the log:\n%s", name, logs.String())
			}
		})
	}
}
