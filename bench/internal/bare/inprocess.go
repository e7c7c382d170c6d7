package bare

import (
	"fmt"
	"io"
	"net"
)

// StartInProcess serves the bare handler from this process on
// $LATCHKEY_BENCH_BARE_ADDR, if set: the bench's server (bench/server)
// calls it, so that page throughput is compared with a bare Echo handler
// in the same process, on the same runtime, behind the same process
// boundary.
func StartInProcess(getenv func(string) string, stderr io.Writer) (stop func()) {
	addr := getenv("LATCHKEY_BENCH_BARE_ADDR")
	if addr == "" {
		return func() {}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(stderr, "bench bare handler:", err)
		return func() {}
	}
	srv := Serve(ln)
	return func() { _ = srv.Close() }
}
