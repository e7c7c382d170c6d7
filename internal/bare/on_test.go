//go:build benchbare

package bare_test

import (
	"io"
	"net"
	"net/http"
	"testing"

	"latchkey/internal/bare"
)

func TestBenchBuildsServeTheFloorInProcess(t *testing.T) {
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
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "Hello, World!" {
		t.Errorf("GET /: %d %q", resp.StatusCode, body)
	}
}
