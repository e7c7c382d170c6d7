package main

import (
	"strings"
	"testing"
)

const exampleConf = `upstream latchkey { server ${LATCHKEY_UPSTREAM}; }
server {
    listen ${LISTEN};
    location / {
        auth_request /_latchkey/verify;
        auth_request_set $latchkey_user $upstream_http_x_latchkey_user;
        proxy_set_header X-Latchkey-User $latchkey_user;
        proxy_pass http://latchkey;
    }
}
`

func TestRenderNginxFillsOnlyPlaceholders(t *testing.T) {
	out, err := renderNginx(exampleConf, map[string]string{"LATCHKEY_UPSTREAM": "127.0.0.1:1", "LISTEN": "127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"server 127.0.0.1:1;", "listen 127.0.0.1:2;", "$latchkey_user $upstream_http_x_latchkey_user"} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered config lacks %q:\n%s", want, out)
		}
	}
	if _, err := renderNginx(exampleConf, map[string]string{"LISTEN": "x"}); err == nil || !strings.Contains(err.Error(), "LATCHKEY_UPSTREAM") {
		t.Errorf("a placeholder without a value: err = %v, want one naming it", err)
	}
}

func TestWithoutAuthRequest(t *testing.T) {
	out, err := withoutAuthRequest(exampleConf)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "auth_request /_latchkey/verify") {
		t.Errorf("auth_request still there:\n%s", out)
	}
	if !strings.Contains(out, "auth_request_set $latchkey_user") || !strings.Contains(out, "proxy_pass http://latchkey;") {
		t.Errorf("took out more than auth_request:\n%s", out)
	}
	if want := strings.Count(exampleConf, "\n") - 1; strings.Count(out, "\n") != want {
		t.Errorf("%d lines, want %d", strings.Count(out, "\n"), want)
	}
	if _, err := withoutAuthRequest("server { listen 80; }\n"); err == nil {
		t.Error("a file without auth_request: no error")
	}
}

func TestTableGrowth(t *testing.T) {
	got := tableGrowth(map[string]int64{"sessions": 3, "accounts": 10}, map[string]int64{"sessions": 5, "accounts": 10, "events": 1})
	if strings.Join(got, ", ") != "events +1, sessions +2" {
		t.Errorf("tableGrowth = %v", got)
	}
}

func TestEnvValueTakesTheLast(t *testing.T) {
	env := []string{"DATABASE_URL=sqlite:a", "X=1", "DATABASE_URL=postgres://b"}
	if got := envValue(env, "DATABASE_URL"); got != "postgres://b" {
		t.Errorf("envValue = %q", got)
	}
	if got := envValue(env, "DATABASE"); got != "" {
		t.Errorf("envValue of a prefix = %q, want empty", got)
	}
}

func TestTwinEnvDropsTheProcessesOwn(t *testing.T) {
	got := twinEnv([]string{"DATABASE_URL=x", "LATCHKEY_BENCH_BARE_ADDR=y", "LATCHKEY_CPUPROFILE=z", "LATCHKEY_BENCH_ASSETS=a"})
	if strings.Join(got, " ") != "DATABASE_URL=x LATCHKEY_BENCH_ASSETS=a" {
		t.Errorf("twinEnv = %v", got)
	}
}
