// Package mail delivers queued email: the outbox worker, the SMTP sender
// and the in-memory dev mailbox.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/latchkey-auth/latchkey/models"
)

// Sender delivers one message.
type Sender interface {
	Send(ctx context.Context, msg models.Message) error
}

// PermanentError marks a failure that retrying cannot fix (an SMTP 5xx).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// SMTP sends through an SMTP server named by an smtp:// or smtps:// URL.
type SMTP struct {
	from string
	opts []gomail.Option
	host string
}

// NewSMTP parses SMTP_URL: smtp://[user:pass@]host:port uses STARTTLS when
// offered (and requires it for hosts other than loopback); smtps:// is
// implicit TLS.
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// The parse error would echo the URL, password included.
		return nil, errors.New("SMTP_URL is not a valid URL")
	}
	host, portStr, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, portStr = u.Host, ""
	}
	if host == "" {
		return nil, errors.New("SMTP_URL needs a host")
	}
	opts := []gomail.Option{gomail.WithTimeout(20 * time.Second)}
	loopback := host == "localhost"
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		loopback = true
	}
	switch u.Scheme {
	case "smtp":
		port := 587
		if portStr != "" {
			if port, err = strconv.Atoi(portStr); err != nil {
				return nil, errors.New("SMTP_URL has a bad port")
			}
		}
		opts = append(opts, gomail.WithPort(port))
		if loopback {
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
		} else {
			opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		}
	case "smtps":
		port := 465
		if portStr != "" {
			if port, err = strconv.Atoi(portStr); err != nil {
				return nil, errors.New("SMTP_URL has a bad port")
			}
		}
		opts = append(opts, gomail.WithSSL(), gomail.WithPort(port))
	default:
		return nil, errors.New("SMTP_URL must start with smtp:// or smtps://")
	}
	if u.User != nil {
		pass, _ := u.User.Password()
		auth := gomail.SMTPAuthAutoDiscover
		if loopback && u.Scheme == "smtp" {
			// PLAIN over an unencrypted loopback link (a local relay).
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(u.User.Username()), gomail.WithPassword(pass))
	}
	if _, err := gomail.NewClient(host, opts...); err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	return &SMTP{from: from, opts: opts, host: host}, nil
}

// Send delivers msg in its own connection. A 5xx answer becomes a
// *PermanentError; anything else (4xx, refused connection, timeout) is
// temporary.
func (s *SMTP) Send(ctx context.Context, msg models.Message) error {
	m := gomail.NewMsg()
	if err := m.From(s.from); err != nil {
		return &PermanentError{fmt.Errorf("from address: %w", err)}
	}
	if err := m.To(msg.To); err != nil {
		return &PermanentError{fmt.Errorf("recipient: %w", err)}
	}
	m.Subject(msg.Subject)
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(gomail.TypeTextPlain, msg.Text)
	if msg.HTML != "" {
		m.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)
	}
	client, err := gomail.NewClient(s.host, s.opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	if err := client.DialAndSendWithContext(ctx, m); err != nil {
		var se *gomail.SendError
		if errors.As(err, &se) && !se.IsTemp() && se.ErrorCode() >= 500 {
			return &PermanentError{err}
		}
		return fmt.Errorf("smtp send: %w", err)
	}
	return nil
}
