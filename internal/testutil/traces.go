package testutil

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/uptrace/bun"
)

// AccountTraces scans every row of every table of the schema (Tables) for
// an account: its numeric id in any account_id column (or at the end of
// a rate-limit key), and its public id or address anywhere. allow says
// whether a hit may stay (the goodbye email's outbox row); it gets the
// table, the column and the whole row by column name. It returns one line
// per hit, for the test to report.
func AccountTraces(t testing.TB, db *bun.DB, id int64, publicID, email string, allow func(table, column string, row map[string]string) bool) []string {
	t.Helper()
	ctx := context.Background()
	idText := strconv.FormatInt(id, 10)
	var hits []string
	for _, table := range Tables(t, db) {
		rows, err := db.QueryContext(ctx, fmt.Sprintf("SELECT * FROM %q", table))
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("scan %s: %v", table, err)
			}
			row := make(map[string]string, len(cols))
			for i, c := range cols {
				switch v := vals[i].(type) {
				case nil:
				case []byte:
					row[c] = string(v)
				default:
					row[c] = fmt.Sprint(v)
				}
			}
			for _, c := range cols {
				v := row[c]
				var what string
				switch {
				case (c == "account_id" || strings.HasSuffix(c, "_account_id")) && v == idText:
					what = "account id"
				case table == "accounts" && c == "id" && v == idText:
					what = "account row"
				case c == "key" && strings.HasSuffix(v, ":"+idText):
					what = "account id in a key"
				case publicID != "" && strings.Contains(strings.ToLower(v), strings.ToLower(publicID)):
					what = "public id"
				case email != "" && strings.Contains(strings.ToLower(v), strings.ToLower(email)):
					what = "address"
				default:
					continue
				}
				if allow != nil && allow(table, c, row) {
					continue
				}
				hits = append(hits, fmt.Sprintf("%s.%s holds the %s: %q", table, c, what, v))
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		_ = rows.Close()
	}
	return hits
}
