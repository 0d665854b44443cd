package store

import "context"

// CtxMutex is a mutex whose wait can end with the caller's context
// (LockCtx). Both backends hold theirs for whole transactions or round
// trips (the embedded store's writer and index pass, ClickHouse's writes,
// deletions and annotation upserts), and a request cancelled meanwhile —
// by its client, or by the server's shutdown — must not wait them out.
// Make it with NewCtxMutex.
type CtxMutex chan struct{}

// NewCtxMutex returns an unlocked CtxMutex.
func NewCtxMutex() CtxMutex { return make(CtxMutex, 1) }

// Lock waits for the mutex.
func (m CtxMutex) Lock() { m <- struct{}{} }

// LockCtx waits for the mutex until ctx is done.
func (m CtxMutex) LockCtx(ctx context.Context) error {
	select {
	case m <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Unlock releases the mutex.
func (m CtxMutex) Unlock() { <-m }
