package main

import (
	"net/http"
	"net/http/httptest"
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

// TestNginxHarness runs nginx (when installed) with a small auth_request
// configuration in front of a fake verify and the bench's upstream page,
// rendered and stripped the way the end-to-end row does it.
func TestNginxHarness(t *testing.T) {
	bin, ok := nginxBinary()
	if !ok {
		t.Skip("SKIPPING: nginx is not installed")
	}
	verify := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != "s=1" {
			w.Header().Set("Location", "http://auth.bench.test/account/login")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("X-Latchkey-User", "u1")
	}))
	defer verify.Close()
	app := httptest.NewServer(upstreamPage())
	defer app.Close()
	const conf = `upstream latchkey { server ${LATCHKEY_UPSTREAM}; }
upstream protected_app { server ${APP_UPSTREAM}; }
# First, so the default: only a request naming APP_HOST reaches the app.
server {
    listen ${LISTEN};
    server_name other.bench.test;
    return 404;
}
server {
    listen ${LISTEN};
    server_name ${APP_HOST};
    location = /_v { internal; proxy_pass http://latchkey/auth/verify; proxy_pass_request_body off; proxy_set_header Content-Length ""; }
    location / {
        auth_request /_v;
        auth_request_set $login $upstream_http_location;
        error_page 401 =302 $login;
        auth_request_set $user $upstream_http_x_latchkey_user;
        proxy_set_header X-Latchkey-User $user;
        proxy_pass http://protected_app;
    }
}
`
	tmp := t.TempDir()
	hc := newClient(1)
	for _, c := range []struct {
		name         string
		strip        bool
		cookie, user string
		status       int
	}{
		{"protected, signed in", false, "s=1", "u1", http.StatusOK},
		{"protected, signed out", false, "", "", http.StatusFound},
		{"without auth_request", true, "", "", http.StatusOK},
	} {
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		vars := map[string]string{"LISTEN": addr, "APP_HOST": benchAppHost,
			"LATCHKEY_UPSTREAM": strings.TrimPrefix(verify.URL, "http://"), "APP_UPSTREAM": strings.TrimPrefix(app.URL, "http://")}
		rendered, err := renderNginx(conf, vars)
		if err != nil {
			t.Fatal(err)
		}
		if c.strip {
			if rendered, err = withoutAuthRequest(rendered); err != nil {
				t.Fatal(err)
			}
		}
		np, err := startNginx(t.Context(), bin, tmp, strings.ReplaceAll(c.name, " ", "-"), rendered, addr)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{"Host": {benchAppHost}}
		if c.cookie != "" {
			h.Set("Cookie", c.cookie)
		}
		status, _, hd, err := get(t.Context(), hc, "http://"+addr+"/dashboard", h)
		np.stop()
		if err != nil {
			t.Fatal(err)
		}
		if status != c.status || hd.Get("X-Bench-Seen-User") != c.user {
			t.Errorf("%s: %d, user %q; want %d, %q\n%s", c.name, status, hd.Get("X-Bench-Seen-User"), c.status, c.user, np.logs())
		}
	}
}
