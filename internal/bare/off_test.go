//go:build !benchbare

package bare_test

import (
	"io"
	"net"
	"testing"

	"github.com/latchkey-auth/latchkey/internal/bare"
	"github.com/latchkey-auth/latchkey/internal/testutil"
)

// Release builds must not open the bench's listener, whatever the
// environment says.
func TestReleaseBuildsIgnoreTheBenchVariable(t *testing.T) {
	addr := testutil.FreeAddr(t)
	stop := bare.StartInProcess(benchEnv(addr), io.Discard)
	defer stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Fatalf("something listens on %s", addr)
	}
}
