package mail

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/latchkey-auth/latchkey/internal/metrics"
	"github.com/latchkey-auth/latchkey/models"
)

// Worker delivers the outbox. It wakes when a transaction queues mail
// (the store's MailQueued signal, or Notify), and polls as a fallback for
// mail queued by other instances and for retries that come due.
type Worker struct {
	Store  *models.Store
	Sender Sender
	Log    *slog.Logger
	// Metrics, if set, counts deliveries and failures.
	Metrics *metrics.Metrics
	// Tuning holds the timing; zero fields take defaults.
	Tuning

	wake chan struct{}
	once sync.Once
}

// Tuning is a worker's timing and concurrency. Zero fields take the
// defaults; tests shorten them.
type Tuning struct {
	// Poll is the longest the worker sleeps between looks at the queue.
	Poll time.Duration
	// Lease is how long a claimed message is reserved for this worker; a
	// crash mid-send makes it due again after the lease.
	Lease time.Duration
	// MaxAttempts is how many temporary failures a message survives
	// before it is marked failed.
	MaxAttempts int
	// BackoffBase and BackoffMax shape the retry delay: base·2^(n-1),
	// capped, with ±20 % jitter.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// SendTimeout bounds one delivery.
	SendTimeout time.Duration
	// Senders is how many messages are sent at once (default 4).
	Senders int
}

func (w *Worker) init() {
	w.once.Do(func() {
		w.wake = make(chan struct{}, 1)
		if w.Poll == 0 {
			w.Poll = 5 * time.Second
		}
		if w.Lease == 0 {
			w.Lease = 2 * time.Minute
		}
		if w.MaxAttempts == 0 {
			w.MaxAttempts = 12
		}
		if w.BackoffBase == 0 {
			w.BackoffBase = 2 * time.Second
		}
		if w.BackoffMax == 0 {
			w.BackoffMax = 15 * time.Minute
		}
		if w.Senders == 0 {
			w.Senders = 4
		}
		if w.SendTimeout == 0 {
			w.SendTimeout = 30 * time.Second
		}
		if w.Log == nil {
			w.Log = slog.Default()
		}
	})
}

// Notify wakes the worker; it never blocks.
func (w *Worker) Notify() {
	w.init()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx is cancelled. A send under way when ctx ends is
// finished (within SendTimeout) and recorded before Run returns.
func (w *Worker) Run(ctx context.Context) {
	w.init()
	for {
		sleep := w.Poll
		if err := w.drain(ctx); err != nil && ctx.Err() == nil {
			w.Log.Warn("outbox: delivery pass failed", "err", err)
		}
		if next, ok, err := w.Store.NextDue(ctx); err == nil && ok {
			if d := next.Sub(w.Store.Now()); d < sleep {
				sleep = max(d, 10*time.Millisecond)
			}
		}
		timer := time.NewTimer(sleep)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-w.wake:
			timer.Stop()
		case <-w.Store.MailQueued():
			timer.Stop()
		case <-timer.C:
		}
	}
}

// drain sends everything due now, with up to Senders sends at once (each
// sender claims one message at a time).
func (w *Worker) drain(ctx context.Context) error {
	errs := make(chan error, w.Senders)
	for range w.Senders {
		go func() { errs <- w.drainOne(ctx) }()
	}
	var first error
	for range w.Senders {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (w *Worker) drainOne(ctx context.Context) error {
	for ctx.Err() == nil {
		// One message per claim: each lease starts when its send starts,
		// so a slow send never lets the next message's lease run out
		// while it waits here.
		rows, err := w.Store.ClaimDue(ctx, 1, w.Lease)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			return nil
		}
		for i := range rows {
			w.deliver(ctx, &rows[i])
		}
	}
	return nil
}

// deliver sends one claimed message, records the outcome and reports
// whether it went out. The outcome is written even if ctx has been
// cancelled, so a shutdown never leaves a sent message marked as pending.
func (w *Worker) deliver(ctx context.Context, row *models.OutboxEmail) bool {
	done := context.WithoutCancel(ctx)
	log := w.Log.With("outbox_id", row.ID, "kind", row.Kind, "attempt", row.Attempts)
	msg, err := w.Store.OpenMessage(row)
	if err != nil {
		log.Error("outbox: cannot open message; marking failed", "err", err)
		_ = w.Store.MarkFailed(done, row, "cannot decrypt: "+err.Error())
		return false
	}
	sendCtx, cancel := context.WithTimeout(done, w.SendTimeout)
	err = w.Sender.Send(sendCtx, msg)
	cancel()
	if err == nil {
		w.Metrics.Sent()
		if err := w.Store.MarkSent(done, row); err != nil {
			// The message went out; the lease will make it due again, the
			// at-least-once window the README describes.
			log.Error("outbox: sent but could not record it", "err", err)
		}
		return true
	}
	var perm *PermanentError
	w.Metrics.SendFailed(errors.As(err, &perm) || row.Attempts >= w.MaxAttempts)
	switch {
	case errors.As(err, &perm):
		log.Error("outbox: permanent failure; message marked failed", "err", err)
		_ = w.Store.MarkFailed(done, row, err.Error())
	case row.Attempts >= w.MaxAttempts:
		log.Error("outbox: too many attempts; message marked failed", "err", err)
		_ = w.Store.MarkFailed(done, row, err.Error())
	default:
		delay := w.backoff(row.Attempts)
		log.Warn("outbox: temporary failure; will retry", "err", err, "retry_in", delay.Round(time.Millisecond))
		if err := w.Store.MarkRetry(done, row, delay, err.Error()); err != nil {
			log.Error("outbox: could not schedule retry", "err", err)
		}
	}
	return false
}

// backoff is base·2^(attempt-1), capped, with ±20 % jitter.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.BackoffMax
	if attempt < 30 {
		if exp := w.BackoffBase << max(attempt-1, 0); exp < d {
			d = exp
		}
	}
	jitter := 0.8 + 0.4*rand.Float64() // #nosec G404 -- retry jitter needs spread, not secrecy
	return time.Duration(float64(d) * jitter)
}

// SendQueued delivers the messages with the given outbox ids, and no
// other, once each, and reports how many went out. It is for the CLI,
// which must never claim mail that other processes queued: a server with
// the same database sends that, and whatever SendQueued could not send
// (SMTP down, or already taken by a server's worker) stays for it.
func (w *Worker) SendQueued(ctx context.Context, ids []int64) (sent int, err error) {
	w.init()
	rows, err := w.Store.ClaimQueued(ctx, ids, w.Lease)
	if err != nil {
		return 0, err
	}
	for i := range rows {
		if w.deliver(ctx, &rows[i]) {
			sent++
		}
	}
	return sent, nil
}
