package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/internal/testutil"
)

func TestJSONLogsAndMetrics(t *testing.T) {
	metricsAddr := testutil.FreeAddr(t)
	srv := startServer(t, map[string]string{"DATABASE_URL": testutil.NewDatabaseURL(t, "sqlite"), "LOG_FORMAT": "json", "METRICS_ADDR": metricsAddr})
	c := browser(t)
	resp := post(t, c, srv.URL+"/account/login", url.Values{"email": {"who@example.com"}, "password": {"secret passphrase here"}})
	id := resp.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id header")
	}
	get(t, c, srv.URL+"/account/reset-password?code=SECRETCODEVALUE")

	// Every line is JSON; request lines carry the request id; nothing
	// secret is logged. (Log lines are flushed every 200 ms.)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(srv.logs.String(), id) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	found := false
	for _, line := range strings.Split(strings.TrimSpace(srv.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "request" {
			if rec["request_id"] == nil {
				t.Errorf("request line without request_id: %s", line)
			}
			if rec["request_id"] == id {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("no log line with request id %s", id)
	}
	if logs := srv.logs.String(); strings.Contains(logs, "SECRETCODEVALUE") || strings.Contains(logs, "secret passphrase") {
		t.Errorf("secrets in the logs")
	}

	mresp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{
		`latchkey_http_requests_total{method="POST",route="/account/login",status="422"} 1`,
		"latchkey_http_request_duration_seconds_bucket",
		"latchkey_outbox_backlog 0",
		`latchkey_outbox_send_failures_total{kind="permanent"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(body), "SECRETCODEVALUE") {
		t.Errorf("a URL's code became a metric label")
	}
}

func TestHealthcheckCommand(t *testing.T) {
	srv := startServer(t, map[string]string{"DATABASE_URL": testutil.NewDatabaseURL(t, "sqlite")})
	addr := strings.TrimPrefix(srv.URL, "http://")
	var stderr strings.Builder
	if code := run([]string{"healthcheck"}, nil, io.Discard, &stderr, env(map[string]string{"ADDR": addr})); code != 0 {
		t.Errorf("healthcheck of a live server: exit %d %s", code, stderr.String())
	}
	if code := run([]string{"healthcheck"}, nil, io.Discard, io.Discard, env(map[string]string{"ADDR": testutil.FreeAddr(t)})); code != 1 {
		t.Errorf("healthcheck of nothing: exit %d", code)
	}
}

// With a path prefix in BASE_URL, /healthz lives under it (SPEC §7), and
// so must the container's probe: `latchkey healthcheck` reads BASE_URL.
func TestHealthcheckCommandUnderBasePath(t *testing.T) {
	addr := testutil.FreeAddr(t)
	base := "http://" + addr + "/latchkey"
	startServer(t, map[string]string{"DATABASE_URL": testutil.NewDatabaseURL(t, "sqlite"), "ADDR": addr, "BASE_URL": base})
	var stderr strings.Builder
	if code := run([]string{"healthcheck"}, nil, io.Discard, &stderr, env(map[string]string{"ADDR": addr, "BASE_URL": base})); code != 0 {
		t.Errorf("healthcheck with the server's BASE_URL: exit %d %s", code, stderr.String())
	}
	// The unprefixed path is not the server's: a probe that ignored the
	// prefix would report a healthy server as down.
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /healthz outside the prefix: %d, want 404", resp.StatusCode)
	}
	if code := run([]string{"healthcheck"}, nil, io.Discard, io.Discard, env(map[string]string{"ADDR": addr})); code != 1 {
		t.Errorf("healthcheck without the prefix: exit %d, want 1 (404)", code)
	}
}
