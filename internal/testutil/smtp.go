package testutil

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// Email is a message the test SMTP server accepted, decoded.
type Email struct {
	From    string
	To      []string
	Subject string
	Text    string
	HTML    string
	Raw     []byte
}

// SMTPServer is a real SMTP server in the test process.
type SMTPServer struct {
	Addr string

	mu       sync.Mutex
	emails   []Email
	failCode int
	delay    time.Duration
	arrived  chan struct{}
	srv      *smtp.Server
	ln       net.Listener
}

// StartSMTP starts an SMTP server on a loopback port, stopped at cleanup.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	s := &SMTPServer{arrived: make(chan struct{}, 1000)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	s.start(ln)
	t.Cleanup(s.Stop)
	return s
}

func (s *SMTPServer) start(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &smtpSession{srv: s}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	s.mu.Lock()
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// URL is the SMTP_URL of this server.
func (s *SMTPServer) URL() string { return "smtp://" + s.Addr }

// Stop closes the server (an outage); Restart brings it back on the same
// address.
func (s *SMTPServer) Stop() {
	s.mu.Lock()
	srv, ln := s.srv, s.ln
	s.srv, s.ln = nil, nil
	s.mu.Unlock()
	if ln != nil {
		// Closed here too: Serve may not have registered it yet.
		_ = ln.Close()
	}
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart listens again on the same address after Stop.
func (s *SMTPServer) Restart(t testing.TB) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("smtp restart: %v", err)
	}
	s.start(ln)
}

// FailWith makes the server answer DATA with this SMTP code (451: try
// later; 550: refused); 0 restores normal service.
func (s *SMTPServer) FailWith(code int) {
	s.mu.Lock()
	s.failCode = code
	s.mu.Unlock()
}

// Delay makes the server hold each message this long before accepting it
// (a slow send in progress).
func (s *SMTPServer) Delay(d time.Duration) {
	s.mu.Lock()
	s.delay = d
	s.mu.Unlock()
}

// Emails returns what has arrived so far.
func (s *SMTPServer) Emails() []Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Email(nil), s.emails...)
}

// WaitFor waits until n emails have arrived in all, failing the test after
// timeout.
func (s *SMTPServer) WaitFor(t testing.TB, n int, timeout time.Duration) []Email {
	t.Helper()
	deadline := time.After(timeout)
	for {
		if got := s.Emails(); len(got) >= n {
			return got
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("waited %s for %d emails, got %d", timeout, n, len(s.Emails()))
		}
	}
}

// Last returns the latest email to an address, failing if there is none.
func (s *SMTPServer) Last(t testing.TB, to string) Email {
	t.Helper()
	emails := s.Emails()
	for i := len(emails) - 1; i >= 0; i-- {
		for _, r := range emails[i].To {
			if r == to {
				return emails[i]
			}
		}
	}
	t.Fatalf("no email to %s among %d", to, len(emails))
	return Email{}
}

type smtpSession struct {
	srv  *SMTPServer
	from string
	to   []string
}

func (s *smtpSession) AuthMechanisms() []string { return nil }
func (s *smtpSession) Reset()                   { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error            { return nil }
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	code, delay := s.srv.failCode, s.srv.delay
	s.srv.mu.Unlock()
	time.Sleep(delay)
	if code != 0 {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: "test server refuses"}
	}
	email, err := parseEmail(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unparsable: " + err.Error()}
	}
	email.From, email.To = s.from, s.to
	s.srv.mu.Lock()
	s.srv.emails = append(s.srv.emails, email)
	s.srv.mu.Unlock()
	s.srv.arrived <- struct{}{}
	return nil
}

// parseEmail decodes a message's subject and its text and HTML parts.
func parseEmail(raw []byte) (Email, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Email{}, err
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Email{}, err
	}
	e := Email{Subject: subject, Raw: raw}
	err = walkParts(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body, &e)
	return e, err
}

func walkParts(ctype, encoding string, body io.Reader, e *Email) error {
	mt, params, err := mime.ParseMediaType(ctype)
	if err != nil {
		return err
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := walkParts(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, e); err != nil {
				return err
			}
		}
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return err
	}
	switch mt {
	case "text/plain":
		e.Text = strings.ReplaceAll(string(b), "\r\n", "\n")
	case "text/html":
		e.HTML = string(b)
	}
	return nil
}

// WaitForSubject waits until at least n emails with this subject have
// arrived and returns them.
func (s *SMTPServer) WaitForSubject(t testing.TB, subject string, n int, timeout time.Duration) []Email {
	t.Helper()
	deadline := time.After(timeout)
	for {
		var got []Email
		for _, e := range s.Emails() {
			if e.Subject == subject {
				got = append(got, e)
			}
		}
		if len(got) >= n {
			return got
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("waited %s for %d emails %q, got %d", timeout, n, subject, len(got))
		}
	}
}

// WaitForTo waits until an email with this subject has arrived for the
// address and returns the latest such email. Other tests' mail to other
// addresses, arriving in any order, does not satisfy it.
func (s *SMTPServer) WaitForTo(t testing.TB, to, subject string, timeout time.Duration) Email {
	t.Helper()
	deadline := time.After(timeout)
	for {
		emails := s.Emails()
		for i := len(emails) - 1; i >= 0; i-- {
			if emails[i].Subject != subject {
				continue
			}
			for _, r := range emails[i].To {
				if r == to {
					return emails[i]
				}
			}
		}
		select {
		case <-s.arrived:
		case <-deadline:
			t.Fatalf("waited %s for an email %q to %s", timeout, subject, to)
		}
	}
}
