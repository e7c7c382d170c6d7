package bare_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/latchkey-auth/latchkey/bench/internal/bare"
)

func TestBenchBuildsServeTheFloorInProcess(t *testing.T) {
	addr := freeAddr(t)
	stop := bare.StartInProcess(benchEnv(addr), io.Discard)
	defer stop()
	if status, body := get(t, "http://"+addr+"/"); status != http.StatusOK || body != "Hello, World!" {
		t.Errorf("GET /: %d %q", status, body)
	}
}
