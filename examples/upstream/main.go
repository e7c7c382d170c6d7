// Command upstream is a tiny app to put behind a reverse proxy that asks
// Latchkey who is signed in (examples/nginx, examples/caddy,
// examples/traefik). Its page shows the identity headers it receives and
// offers a sign-out button.
//
//	LATCHKEY_URL=http://127.0.0.1:8000/latchkey APP_URL=http://127.0.0.1:8000 \
//	ADDR=127.0.0.1:3000 go run ./examples/upstream
//
// LATCHKEY_URL is Latchkey's public URL (its BASE_URL), APP_URL this app's
// public URL (the proxy's), ADDR where it listens: keep it where only the
// proxy reaches it, since it believes the X-Latchkey-* headers.
package main

import (
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/latchkey-auth/latchkey/examples/upstream/page"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg := page.Config{LatchkeyURL: os.Getenv("LATCHKEY_URL"), AppURL: os.Getenv("APP_URL")}
	if cfg.LatchkeyURL == "" || cfg.AppURL == "" {
		return errors.New("set LATCHKEY_URL (Latchkey's BASE_URL) and APP_URL (this app's public URL)")
	}
	addr := os.Getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:3000"
	}
	srv := &http.Server{Addr: addr, Handler: page.Handler(cfg), ReadHeaderTimeout: 10 * time.Second}
	log.Printf("upstream: listening on %s (Latchkey at %s)", addr, cfg.LatchkeyURL) // #nosec G706 -- the operator's own settings, logged at start-up
	if err := srv.ListenAndServe(); err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
