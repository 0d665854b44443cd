package ingest

import (
	"container/list"
	"context"
	"sync"
)

// chunkExpansion is about how many bytes of memory one byte of a chunk's
// encoding takes while it is decoded, normalized and written (pdata's
// values, the normalized rows with their raw spans and messages, the
// store's write batch), measured on realistic GenAI spans.
const chunkExpansion = 20

// requestCost estimates the memory a request with a body buffer of size
// bytes takes while it is handled: the buffer, and one chunk's working set.
func requestCost(size int64) int64 {
	return size + chunkExpansion*min(size, DefaultChunkBytes)
}

// budget is a weighted semaphore over bytes of memory: requests take
// their estimated cost before reading their body and give it back when
// answered. Waiters are served in arrival order, so a large request is
// not starved by a stream of small ones.
type budget struct {
	mu      sync.Mutex
	size    int64
	used    int64
	waiters list.List // of *budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

func newBudget(size int64) *budget { return &budget{size: size} }

// acquire takes n bytes (at most the whole budget), waiting until they are
// free or ctx ends.
func (b *budget) acquire(ctx context.Context, n int64) error {
	b.mu.Lock()
	if b.waiters.Len() == 0 && b.used+n <= b.size {
		b.used += n
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	elem := b.waiters.PushBack(w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		b.used -= n
	default:
		b.waiters.Remove(elem)
	}
	b.wake()
	return ctx.Err()
}

// tryAcquire takes n bytes (at most the whole budget) if they are free
// now and nobody waits.
func (b *budget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.waiters.Len() == 0 && b.used+n <= b.size {
		b.used += n
		return true
	}
	return false
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.wake()
	b.mu.Unlock()
}

// wake grants waiters, in order, while the first one fits.
func (b *budget) wake() {
	for e := b.waiters.Front(); e != nil; e = b.waiters.Front() {
		w := e.Value.(*budgetWaiter)
		if b.used+w.n > b.size {
			return
		}
		b.used += w.n
		b.waiters.Remove(e)
		close(w.ready)
	}
}

// waiting is the number of waiters (for tests).
func (b *budget) waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waiters.Len()
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// reservation is what one request holds of the budget.
type reservation struct {
	b    *budget
	held int64
}

// growTo makes the reservation cover cost (capped at the whole budget, so
// that any request can run alone), waiting while ctx allows.
func (r *reservation) growTo(ctx context.Context, cost int64) error {
	cost = min(cost, r.b.size)
	if cost <= r.held {
		return nil
	}
	if err := r.b.acquire(ctx, cost-r.held); err != nil {
		return err
	}
	r.held = cost
	return nil
}

// tryGrowTo is growTo without waiting: false when the room is not free
// now.
func (r *reservation) tryGrowTo(cost int64) bool {
	cost = min(cost, r.b.size)
	if cost <= r.held {
		return true
	}
	if !r.b.tryAcquire(cost - r.held) {
		return false
	}
	r.held = cost
	return true
}

func (r *reservation) release() {
	if r.held > 0 {
		r.b.release(r.held)
		r.held = 0
	}
}
