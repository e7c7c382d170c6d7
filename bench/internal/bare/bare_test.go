package bare_test

import (
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/latchkey-auth/latchkey/bench/internal/bare"
)

func TestServeAnswersWithAFixedString(t *testing.T) {
	addr := freeAddr(t)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := bare.Serve(ln)
	defer srv.Close()
	if status, body := get(t, "http://"+addr+"/"); status != http.StatusOK || body != "Hello, World!" {
		t.Errorf("GET /: %d %q", status, body)
	}
}

// benchEnv is an environment asking for the bench's listener on addr.
func benchEnv(addr string) func(string) string {
	return func(k string) string {
		if k == "LATCHKEY_BENCH_BARE_ADDR" {
			return addr
		}
		return ""
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
