package handlers_test

import (
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

var requestIDRE = regexp.MustCompile(`request_id=(\S+)`)

// TestClientHangingUpMidBodyIsOneInfoLine: a client that announces a body
// and closes the connection partway through it did nothing wrong that an
// operator must hear about, and a flood of them must not page anyone: one
// INFO line with status 499 per request, and no ERROR or WARN.
func TestClientHangingUpMidBodyIsOneInfoLine(t *testing.T) {
	forEachApp(t, func(t *testing.T, app *testutil.App) {
		addr := strings.TrimPrefix(app.URL, "http://")
		for _, path := range []string{"/account/login", "/account/forgot-password", "/account/register", "/account/validate/email"} {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			_, err = conn.Write([]byte("POST " + path + " HTTP/1.1\r\nHost: " + addr + "\r\n" +
				"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n" +
				"email=abcd")) // 10 of the 1000 bytes announced
			if err != nil {
				t.Fatal(err)
			}
			_ = conn.Close()

			var line string
			deadline := time.Now().Add(10 * time.Second)
			for line == "" {
				for _, l := range strings.Split(app.Logs.String(), "\n") {
					if strings.Contains(l, "msg=request ") && strings.Contains(l, " path="+path+" ") {
						line = l
					}
				}
				if line == "" {
					if time.Now().After(deadline) {
						t.Fatalf("%s: no request line logged:\n%s", path, app.Logs.String())
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			m := requestIDRE.FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("%s: no request id in %q", path, line)
			}
			var lines []string
			for _, l := range strings.Split(app.Logs.String(), "\n") {
				if strings.Contains(l, "request_id="+m[1]) {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(line, "level=INFO ") || !strings.Contains(line, " status=499 ") {
				t.Errorf("%s: want one INFO line with status 499, got:\n%s", path, strings.Join(lines, "\n"))
			}
		}
		if logs := app.Logs.String(); strings.Contains(logs, "level=ERROR") || strings.Contains(logs, "level=WARN") {
			t.Errorf("a hang-up logged an error or a warning:\n%s", logs)
		}
	})
}
