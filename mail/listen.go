package mail

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey-auth/latchkey/models"
)

// ListenPostgres keeps this instance's one LISTEN connection: on
// models.OutboxChannel it wakes the worker whenever any instance queues
// mail, and on models.SessionsChannel it drops sessions other instances
// ended from the store's session cache. While the connection is down
// notifications may be lost, so the worker falls back to polling and the
// session cache is flushed and bypassed (models.Store.SessionCacheListening)
// until LISTEN is back. On SQLite, where one process writes, the
// in-process wake-up and invalidation are enough and this returns at
// once. It returns when ctx ends; a lost connection is retried.
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
	defer w.Store.SessionCacheListening(false)
	for ctx.Err() == nil {
		if err := ln.Listen(ctx, models.OutboxChannel, models.SessionsChannel); err != nil {
			if ctx.Err() == nil {
				w.Log.Warn("LISTEN failed; polling for mail and bypassing the session cache until it is back", "err", err)
			}
			sleep(ctx, 2*time.Second)
			continue
		}
		w.Store.SessionCacheListening(true)
		for ctx.Err() == nil {
			channel, payload, err := ln.ReceiveTimeout(ctx, time.Minute)
			if err != nil {
				if isTimeout(err) {
					continue
				}
				// The listener reconnects by itself, but whatever was
				// notified meanwhile is lost: start the cache afresh.
				w.Store.SessionCacheListening(false)
				if ctx.Err() == nil {
					w.Log.Warn("notification stream broken; reconnecting", "err", err)
				}
				sleep(ctx, time.Second)
				break
			}
			if channel == models.SessionsChannel {
				w.Store.SessionsEnded(payload)
				continue
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
