package testutil

import (
	"testing"

	"github.com/uptrace/bun"
)

// CountRows counts the rows q selects. A failing query fails the test, so
// an assertion that wants no rows cannot pass on a broken query.
func CountRows(t testing.TB, q *bun.SelectQuery) int64 {
	t.Helper()
	n, err := q.Count(t.Context())
	if err != nil {
		t.Fatalf("count: %v", err)
	}
	return n
}
