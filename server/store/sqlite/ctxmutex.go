package sqlite

import "context"

// ctxMutex is a mutex whose wait can end with the caller's context
// (LockCtx): the writer connection and the search index's pass are held
// for whole transactions (a group write, a retention sweep, an index
// rebuild), and a request cancelled meanwhile — by its client, or by the
// server's shutdown — must not wait for them. Make it with
// make(ctxMutex, 1).
type ctxMutex chan struct{}

// Lock waits for the mutex.
func (m ctxMutex) Lock() { m <- struct{}{} }

// LockCtx waits for the mutex until ctx is done.
func (m ctxMutex) LockCtx(ctx context.Context) error {
	select {
	case m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unlock releases the mutex.
func (m ctxMutex) Unlock() { <-m }
