package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/latchkey-auth/latchkey/app"
	"github.com/latchkey-auth/latchkey/models"
	"github.com/latchkey-auth/latchkey/notify"
)

// deleteArgs reads `user delete`'s arguments: one address, and --yes
// (before or after it) to skip the confirmation.
func deleteArgs(args []string) (email string, yes, ok bool) {
	for _, a := range args {
		switch {
		case a == "--yes" || a == "-yes" || a == "-y":
			yes = true
		case strings.HasPrefix(a, "-") || email != "":
			return "", false, false
		default:
			email = a
		}
	}
	return email, yes, email != ""
}

// errNotConfirmed is the refusal when the operator does not confirm.
var errNotConfirmed = errors.New("not confirmed: nothing was deleted (type the address, or pass --yes)")

// confirmDelete asks the operator to type the address again: a "yes" is
// too easy to give to the wrong command line.
func confirmDelete(email string, stdin io.Reader, stdout io.Writer) error {
	fmt.Fprintf(stdout, "Delete the account %s and everything of it? This cannot be undone.\nType the address to confirm: ", email)
	line, err := bufio.NewReader(io.LimitReader(stdin, models.MaxEmailLength+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	fmt.Fprintln(stdout)
	typed, err := models.NormalizeEmail(strings.TrimRight(line, "\r\n"))
	if err != nil || typed != email {
		return errNotConfirmed
	}
	return nil
}

// userDelete is the web flow's DeleteAccount from the command line: the
// account and everything of it removed in one transaction, every session
// ended, the goodbye email queued (and sent, with SMTP_URL, as
// set-password does).
func userDelete(ctx context.Context, a *app.App, rawEmail string, yes bool, stdin io.Reader, stdout io.Writer) error {
	email, err := models.NormalizeEmail(rawEmail)
	if err != nil {
		return err // a *FieldError already reads "email: …"
	}
	acc, err := accountFor(ctx, a, email)
	if err != nil {
		return err
	}
	if !yes {
		if err := confirmDelete(email, stdin, stdout); err != nil {
			return err
		}
	}
	cfg := a.Config()
	tracked, queued := models.TrackQueued(ctx)
	err = a.Store().DeleteAccount(tracked, models.DeleteAccountInput{
		Account: acc, ByOperator: true, Compose: notify.Goodbye(ctx, cfg.BaseURL),
	})
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("no account for %s (deleted meanwhile)", email)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %s and everything of it; every session signed out\n", email)
	if cfg.SMTPURL == "" {
		fmt.Fprintln(stdout, "goodbye email queued: the running server sends it (no SMTP_URL: it shows in the server's /dev/mailbox)")
		return nil
	}
	ids := queued()
	sent, err := a.Worker().SendQueued(ctx, ids)
	if err != nil {
		return fmt.Errorf("account deleted, but the goodbye email could not be sent (it stays queued for the server): %w", err)
	}
	if sent == len(ids) {
		fmt.Fprintln(stdout, "goodbye email sent to", email)
	} else {
		fmt.Fprintln(stdout, "goodbye email queued: the server's outbox worker sends it")
	}
	return nil
}
