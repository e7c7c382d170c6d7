//go:build !benchbare

package bare_test

import (
	"io"
	"net"
	"testing"

	"latchkey/internal/bare"
)

// Release builds must not open the bench's listener, whatever the
// environment says.
func TestReleaseBuildsIgnoreTheBenchVariable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	stop := bare.StartInProcess(func(k string) string {
		if k == "LATCHKEY_BENCH_BARE_ADDR" {
			return addr
		}
		return ""
	}, io.Discard)
	defer stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Fatalf("something listens on %s", addr)
	}
}
