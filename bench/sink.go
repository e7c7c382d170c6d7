package main

import (
	"io"
	"maps"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is an SMTP server in the bench process that accepts everything and
// notes when each recipient's message was accepted. (internal/testutil's
// server needs a testing.TB and keeps every message; a benchmark sends
// thousands.)
type sink struct {
	addr string
	srv  *smtp.Server

	mu       sync.Mutex
	accepted int
	byRcpt   map[string]int // messages accepted per recipient
	waiters  map[string]chan time.Time
}

func startSink() (*sink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &sink{addr: ln.Addr().String(), byRcpt: map[string]int{}, waiters: map[string]chan time.Time{}}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sink: s}, nil
	}))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) close() { _ = s.srv.Close() }

// url is the SMTP_URL for the server under test.
func (s *sink) url() string { return "smtp://" + s.addr }

// count returns how many messages have been accepted.
func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// received returns how many messages each recipient has been sent.
func (s *sink) received() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.byRcpt)
}

// expect returns a channel that receives the time the next message to rcpt
// is accepted. Register before triggering the message.
func (s *sink) expect(rcpt string) <-chan time.Time {
	ch := make(chan time.Time, 1)
	s.mu.Lock()
	s.waiters[strings.ToLower(rcpt)] = ch
	s.mu.Unlock()
	return ch
}

func (s *sink) forget(rcpt string) {
	s.mu.Lock()
	delete(s.waiters, strings.ToLower(rcpt))
	s.mu.Unlock()
}

// waitCount waits until at least n messages have been accepted in all, or
// timeout; it reports the count reached.
func (s *sink) waitCount(n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		c := s.count()
		if c >= n || time.Now().After(deadline) {
			return c
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type sinkSession struct {
	sink *sink
	to   []string
}

func (s *sinkSession) Reset()        { s.to = nil }
func (s *sinkSession) Logout() error { return nil }
func (s *sinkSession) Mail(string, *smtp.MailOptions) error {
	return nil
}
func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, strings.ToLower(to))
	return nil
}

// Data reads the message; the moment it returns nil is the moment the
// server says 250, which is what "accepted" means.
func (s *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	now := time.Now()
	s.sink.mu.Lock()
	s.sink.accepted++
	for _, rcpt := range s.to {
		s.sink.byRcpt[rcpt]++
		if ch, ok := s.sink.waiters[rcpt]; ok {
			ch <- now
			delete(s.sink.waiters, rcpt)
		}
	}
	s.sink.mu.Unlock()
	return nil
}
