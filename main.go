// Command latchkey is an account system with safe password resets, as one
// binary: `latchkey [serve]`, `migrate`, `user create EMAIL`,
// `user set-password EMAIL`, `user delete [--yes] EMAIL`,
// `user reset-2fa EMAIL`, `healthcheck`, `version`. This file reads the
// configuration and chooses the subcommand; package app builds and serves
// the server, cli.go holds the other commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/latchkey-auth/latchkey/app"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run is main with its inputs explicit, so tests can drive the CLI.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if cmd == "version" {
		fmt.Fprintln(stdout, "latchkey", version)
		return 0
	}
	cfg, err := app.LoadConfig(getenv)
	if err != nil {
		fmt.Fprintln(stderr, "latchkey: configuration error:\n"+indent(err.Error()))
		return 2
	}
	if cmd == "healthcheck" {
		return healthcheck(cfg, stderr)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmd == "serve" && len(args) == 0 {
		if err := app.Serve(ctx, cfg, stderr, app.WithAssets(assetsFS()), app.WithVersion(version)); err != nil {
			fmt.Fprintln(stderr, "latchkey:", err)
			return 1
		}
		return 0
	}
	log := app.NewLogger(cfg, stderr)

	if cmd != "serve" {
		if err := requireSharedSecret(cfg); err != nil {
			fmt.Fprintln(stderr, "latchkey:", err)
			return 2
		}
	}

	var runErr error
	switch {
	case cmd == "migrate":
		runErr = withApp(ctx, cfg, log, func(a *app.App) error {
			fmt.Fprintln(stdout, "migrations applied:", a.Migrated())
			return nil
		})
	case cmd == "user" && len(args) == 2 && args[0] == "create":
		runErr = withApp(ctx, cfg, log, func(a *app.App) error { return userCreate(ctx, a, args[1], stdin, stdout) })
	case cmd == "user" && len(args) == 2 && args[0] == "set-password":
		runErr = withApp(ctx, cfg, log, func(a *app.App) error { return userSetPassword(ctx, a, args[1], stdin, stdout) })
	case cmd == "user" && len(args) >= 2 && args[0] == "delete":
		rawEmail, yes, ok := deleteArgs(args[1:])
		if !ok {
			fmt.Fprintln(stderr, "usage: latchkey user delete [--yes] EMAIL")
			return 2
		}
		runErr = withApp(ctx, cfg, log, func(a *app.App) error { return userDelete(ctx, a, rawEmail, yes, stdin, stdout) })
	case cmd == "user" && len(args) == 2 && args[0] == "reset-2fa":
		runErr = withApp(ctx, cfg, log, func(a *app.App) error { return userReset2FA(ctx, a, args[1], stdout) })
	default:
		fmt.Fprintln(stderr, "usage: latchkey [serve] | migrate | user create EMAIL | user set-password EMAIL | user delete [--yes] EMAIL | user reset-2fa EMAIL | healthcheck | version")
		return 2
	}
	if runErr != nil {
		fmt.Fprintln(stderr, "latchkey:", runErr)
		return 1
	}
	return 0
}

func indent(s string) string { return "  " + strings.ReplaceAll(s, "\n", "\n  ") }
