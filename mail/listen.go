package mail

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey-auth/latchkey/models"
)

// ListenPostgres wakes the worker whenever any instance queues mail
// (LISTEN on models.OutboxChannel). On SQLite, where one process writes,
// the in-process wake-up is enough and this returns at once. It returns
// when ctx ends; a lost connection is retried, with polling as the
// fallback meanwhile.
func (w *Worker) ListenPostgres(ctx context.Context) {
	w.init()
	ln := w.Store.OutboxListener()
	if ln == nil {
		return
	}
	// ReceiveTimeout does not return when ctx ends; closing the listener
	// does, so shutdown does not wait for the receive timeout.
	stop := context.AfterFunc(ctx, func() { _ = ln.Close() })
	defer stop()
	defer ln.Close()
	for ctx.Err() == nil {
		if err := ln.Listen(ctx, models.OutboxChannel); err != nil {
			if ctx.Err() == nil {
				w.Log.Warn("outbox: LISTEN failed; polling until it is back", "err", err)
			}
			sleep(ctx, 2*time.Second)
			continue
		}
		for ctx.Err() == nil {
			_, _, err := ln.ReceiveTimeout(ctx, time.Minute)
			if err != nil {
				if isTimeout(err) {
					continue
				}
				if ctx.Err() == nil {
					w.Log.Warn("outbox: notification stream broken; reconnecting", "err", err)
				}
				sleep(ctx, time.Second)
				break
			}
			w.Notify()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}
