package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/app"
	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/notify"
)

// The commands other than serve: migrate, user create, user set-password,
// user reset-2fa and healthcheck.

// withApp builds the app (database opened and migrated, secret checked,
// store and mail worker ready), runs fn and closes it.
func withApp(ctx context.Context, cfg *app.Config, log *slog.Logger, fn func(*app.App) error) error {
	a, err := app.New(ctx, cfg, app.WithLogger(log), app.WithAssets(assetsFS()), app.WithVersion(version))
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a)
}

// requireSharedSecret refuses a command other than serve against Postgres
// without SESSION_SECRET: the dev secret file lives in ./data under the
// working directory, so a command run from anywhere but the server's
// folder would get a secret of its own. With SQLite's default the data
// directory holds both the database and the secret, so dev needs no setup.
func requireSharedSecret(cfg *app.Config) error {
	if cfg.SessionSecret != nil || strings.HasPrefix(cfg.DatabaseURL, "sqlite:") {
		return nil
	}
	return errors.New("SESSION_SECRET is required with a Postgres DATABASE_URL: set it to the secret the server uses")
}

// healthcheck GETs /healthz (under BASE_URL's path prefix) on ADDR: the container's probe, since a
// distroless image has no shell or curl.
func healthcheck(cfg *app.Config, stderr io.Writer) int {
	host, port, _ := net.SplitHostPort(cfg.Addr) // validated by app.LoadConfig
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	// /healthz lives under BASE_URL's path prefix, like every route.
	resp, err := client.Get("http://" + net.JoinHostPort(host, port) + cfg.BasePath() + "/healthz")
	if err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "healthcheck: status", resp.StatusCode)
		return 1
	}
	return 0
}

// readPassword reads one line from stdin.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(stdin, models.MaxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input (one line expected)")
	}
	return line, nil
}

// cliCredentials normalises the address argument and reads the password
// from stdin, applying the same policy as the web forms.
func cliCredentials(rawEmail string, stdin io.Reader) (email, password string, err error) {
	email, err = models.NormalizeEmail(rawEmail)
	if err != nil {
		// A *FieldError already reads "email: …".
		return "", "", err
	}
	raw, err := readPassword(stdin)
	if err != nil {
		return "", "", err
	}
	password, ferr := models.CheckPasswordPolicy(raw, email)
	if ferr != nil {
		return "", "", fmt.Errorf("password: %s", ferr.Message)
	}
	return email, password, nil
}

// userCreate creates an account with the password read from stdin, as
// registration does: the verification email is queued with it (an
// operator typing an address does not prove that its owner reads it).
// With SMTP_URL the command sends that email itself; without it, it stays
// queued for the running server.
func userCreate(ctx context.Context, a *app.App, rawEmail string, stdin io.Reader, stdout io.Writer) error {
	email, password, err := cliCredentials(rawEmail, stdin)
	if err != nil {
		return err
	}
	tracked, queued := models.TrackQueued(ctx)
	if _, err := a.Store().Register(tracked, email, password, models.Client{}, notify.Verify(ctx, a.Config().BaseURL)); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "created", email)
	return sendOwnMail(ctx, a, queued(), "verification email", email, stdout)
}

// sendOwnMail sends the messages this command queued (ids), and only
// those: other mail in the shared outbox is the server's. Without
// SMTP_URL they stay queued for the running server, whose dev mailbox
// shows them.
func sendOwnMail(ctx context.Context, a *app.App, ids []int64, what, to string, stdout io.Writer) error {
	if a.Config().SMTPURL == "" {
		fmt.Fprintln(stdout, what+" queued: the running server sends it (no SMTP_URL: it shows in the server's /dev/mailbox)")
		return nil
	}
	sent, err := a.Worker().SendQueued(ctx, ids)
	if err != nil {
		return fmt.Errorf("the %s could not be sent (it stays queued for the server): %w", what, err)
	}
	if sent == len(ids) {
		fmt.Fprintln(stdout, what, "sent to", to)
	} else {
		fmt.Fprintln(stdout, what+" queued: the server's outbox worker sends it")
	}
	return nil
}

// userSetPassword is the web flow's SetPassword from the command line:
// same policy, every session revoked, the notification email queued. With
// SMTP_URL the command sends that email itself (only that one: other mail
// in the shared outbox is the server's); without it, it stays queued for
// the running server, whose dev mailbox shows it.
func userSetPassword(ctx context.Context, a *app.App, rawEmail string, stdin io.Reader, stdout io.Writer) error {
	email, password, err := cliCredentials(rawEmail, stdin)
	if err != nil {
		return err
	}
	acc, err := accountFor(ctx, a, email)
	if err != nil {
		return err
	}
	tracked, queued := models.TrackQueued(ctx)
	if err := a.Store().SetPassword(tracked, models.SetPasswordInput{
		Account: acc, Password: password, Change: models.ChangedByOperator, Compose: notify.Changed(ctx, a.Config().BaseURL),
	}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "password set for %s; every session signed out\n", email)
	if err := sendOwnMail(ctx, a, queued(), "notification email", email, stdout); err != nil {
		return fmt.Errorf("password set, but %w", err)
	}
	return nil
}

// userReset2FA removes every second factor of an account (TOTP, recovery
// codes; passkeys too) for an owner who lost them: an event, and an
// email to the owner with a "this wasn't me" link, sent as set-password
// sends its own.
func userReset2FA(ctx context.Context, a *app.App, rawEmail string, stdout io.Writer) error {
	email, err := models.NormalizeEmail(rawEmail)
	if err != nil {
		return err
	}
	acc, err := accountFor(ctx, a, email)
	if err != nil {
		return err
	}
	tracked, queued := models.TrackQueued(ctx)
	removed, err := a.Store().RemoveFactors(tracked, acc, models.Client{}, notify.Factor(ctx, a.Config().BaseURL))
	if err != nil {
		return err
	}
	if !removed {
		fmt.Fprintf(stdout, "%s has no second factor: nothing to remove\n", email)
		return nil
	}
	fmt.Fprintf(stdout, "second factors removed for %s: the password alone signs in\n", email)
	if err := sendOwnMail(ctx, a, queued(), "notification email", email, stdout); err != nil {
		return fmt.Errorf("second factors removed, but %w", err)
	}
	return nil
}

// accountFor is the account a command names, or an error that says there
// is none.
func accountFor(ctx context.Context, a *app.App, email string) (*models.Account, error) {
	acc, err := a.Store().AccountByEmail(ctx, email)
	if errors.Is(err, models.ErrNotFound) {
		return nil, fmt.Errorf("no account for %s", email)
	}
	return acc, err
}
