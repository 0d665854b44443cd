package clickhouse

import (
	"context"
	"fmt"
	"sync"
)

// gate makes a batch visible to the store's readers all at once. A flush
// inserts into one table after another (spans first, span_state last) and
// ClickHouse has no transaction across them: a read between two inserts
// would see the spans table ahead of the states and conversation rows (a
// span counted, its conversation not yet showing it). The writer holds
// the gate exclusively while it inserts; every read method holds it
// shared for all its queries. A writer waiting for the gate holds back
// readers that come after it, so a steady stream of reads cannot starve
// ingest; a write waits at most for the reads already running.
//
// It covers the readers of this Store: another weave-server process
// writing to the same database is not held back (README, "Writes").
type gate struct {
	mu      sync.Mutex
	readers int
	writing bool
	waiting int           // writers waiting for the readers to leave
	changed chan struct{} // closed (and replaced) when the gate opens up
}

func newGate() *gate { return &gate{changed: make(chan struct{})} }

// wake tells every waiter to look again; g.mu is held.
func (g *gate) wake() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// read waits until no writer holds or waits for the gate, then holds it
// shared and returns true; false if ctx ended first.
func (g *gate) read(ctx context.Context) bool {
	for {
		g.mu.Lock()
		if !g.writing && g.waiting == 0 {
			g.readers++
			g.mu.Unlock()
			return true
		}
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (g *gate) readDone() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.readers--
	if g.readers == 0 {
		g.wake()
	}
}

// write waits until no reader or other writer holds the gate, then holds
// it exclusively; the caller calls the returned function when its inserts
// are done.
func (g *gate) write(ctx context.Context) (done func(), err error) {
	g.mu.Lock()
	g.waiting++
	for g.writing || g.readers > 0 {
		ch := g.changed
		g.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			g.mu.Lock()
			g.waiting--
			g.wake() // readers held back by this writer may go
			g.mu.Unlock()
			return nil, fmt.Errorf("clickhouse: waiting for reads to finish: %w", ctx.Err())
		}
		g.mu.Lock()
	}
	g.waiting--
	g.writing = true
	g.mu.Unlock()
	return g.writeDone, nil
}

func (g *gate) writeDone() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writing = false
	g.wake()
}

// reading holds the store's gate for one read method, all its queries:
// `defer s.reading(ctx)()` first thing. If ctx ends while it waits for a
// write, it returns without holding the gate and the method's first query
// fails with ctx's error.
func (s *Store) reading(ctx context.Context) (done func()) {
	if !s.visible.read(ctx) {
		return func() {}
	}
	return s.visible.readDone
}

// writing holds the store's gate while a write makes its rows visible.
func (s *Store) writing(ctx context.Context) (done func(), err error) {
	return s.visible.write(ctx)
}
