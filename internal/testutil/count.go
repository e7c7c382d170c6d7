package testutil

import (
	"testing"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/models"
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

// VerifyMail is a stand-in compose function for the verification email
// that Store.Register queues, for tests that register through the store:
// a plain message carrying the code.
func VerifyMail(m models.VerifyMail) (models.Message, error) {
	return models.Message{To: m.Email, Subject: "Confirm your email address for Latchkey", Text: "verify code " + m.Code, HTML: "<p>verify</p>"}, nil
}
