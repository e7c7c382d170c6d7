package mail

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/latchkey-auth/latchkey/models"
)

// Mailbox is the dev-mode sender: it keeps the last messages in memory for
// /dev/mailbox and prints them to the log. It exists only while SMTP_URL is
// unset and BASE_URL is not https.
type Mailbox struct {
	mu     sync.Mutex
	keep   int
	items  []Delivered
	log    *slog.Logger
	nextID int
}

// Delivered is one message the dev mailbox received.
type Delivered struct {
	ID   int
	At   time.Time
	Msg  models.Message
	Kind string
}

// NewMailbox returns a dev mailbox keeping the last keep messages.
func NewMailbox(keep int, log *slog.Logger) *Mailbox {
	return &Mailbox{keep: keep, log: log}
}

// Send stores msg and logs it. Dev mode only: the text may hold a reset
// link, which is what a developer running `go run .` needs to see.
func (m *Mailbox) Send(_ context.Context, msg models.Message) error {
	m.mu.Lock()
	m.nextID++
	m.items = append(m.items, Delivered{ID: m.nextID, At: time.Now(), Msg: msg})
	if len(m.items) > m.keep {
		m.items = m.items[len(m.items)-m.keep:]
	}
	m.mu.Unlock()
	if m.log != nil {
		m.log.Info("dev mailbox: email delivered (dev mode only; also at /dev/mailbox)",
			"to", msg.To, "subject", msg.Subject, "text", msg.Text)
	}
	return nil
}

// Messages returns the stored messages, newest first.
func (m *Mailbox) Messages() []Delivered {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Delivered, len(m.items))
	for i, d := range m.items {
		out[len(out)-1-i] = d
	}
	return out
}

// Message returns one stored message by id.
func (m *Mailbox) Message(id int) (Delivered, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, d := range m.items {
		if d.ID == id {
			return d, true
		}
	}
	return Delivered{}, false
}
