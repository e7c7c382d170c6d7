package bare_test

import (
	"io"
	"net"
	"net/http"
	"testing"

	"latchkey/internal/bare"
)

func TestServeAnswersWithAFixedString(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := bare.Serve(ln)
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "Hello, World!" {
		t.Errorf("GET /: %d %q", resp.StatusCode, body)
	}
}
