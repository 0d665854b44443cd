package clickhouse

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitFor polls cond (the gate's state) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (g *gate) state() (readers, waiting int, writing bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.readers, g.waiting, g.writing
}

// TestGateOrder: readers share the gate; a writer waits for the readers
// already in and holds back the ones that come after it; they go once it
// is done.
func TestGateOrder(t *testing.T) {
	g := newGate()
	ctx := context.Background()
	if !g.read(ctx) || !g.read(ctx) {
		t.Fatal("two readers: want both in")
	}
	wrote := make(chan func())
	go func() {
		done, err := g.write(ctx)
		if err != nil {
			t.Error(err)
		}
		wrote <- done
	}()
	waitFor(t, "the writer waits", func() bool { _, w, _ := g.state(); return w == 1 })
	late := make(chan bool)
	go func() { late <- g.read(ctx) }()
	g.readDone()
	select {
	case <-wrote:
		t.Fatal("the writer went in with a reader still in")
	case <-late:
		t.Fatal("a reader went in past a waiting writer")
	case <-time.After(20 * time.Millisecond):
	}
	g.readDone()
	done := <-wrote
	if r, w, writing := g.state(); r != 0 || w != 0 || !writing {
		t.Fatalf("writer in: got readers %d, waiting %d, writing %v", r, w, writing)
	}
	select {
	case <-late:
		t.Fatal("a reader went in while the writer was in")
	case <-time.After(20 * time.Millisecond):
	}
	done()
	if !<-late {
		t.Fatal("the held-back reader did not go in after the write")
	}
	g.readDone()
	if r, w, writing := g.state(); r != 0 || w != 0 || writing {
		t.Fatalf("after all: got readers %d, waiting %d, writing %v", r, w, writing)
	}
}

// TestGateCancel: a reader or writer whose context ends stops waiting; a
// writer that gives up lets the readers it held back go.
func TestGateCancel(t *testing.T) {
	g := newGate()
	if !g.read(context.Background()) {
		t.Fatal("reader: want in")
	}
	wctx, cancelWriter := context.WithCancel(context.Background())
	werr := make(chan error)
	go func() {
		_, err := g.write(wctx)
		werr <- err
	}()
	waitFor(t, "the writer waits", func() bool { _, w, _ := g.state(); return w == 1 })

	rctx, cancelReader := context.WithCancel(context.Background())
	cancelReader()
	if g.read(rctx) {
		t.Fatal("a reader with an ended context went in past a waiting writer")
	}
	held := make(chan bool)
	go func() { held <- g.read(context.Background()) }()
	cancelWriter()
	if err := <-werr; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled writer: got %v, want context.Canceled", err)
	}
	if !<-held {
		t.Fatal("the reader held back by a writer that gave up did not go in")
	}
	g.readDone()
	g.readDone()
	done, err := g.write(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	done()
	if r, w, writing := g.state(); r != 0 || w != 0 || writing {
		t.Fatalf("after all: got readers %d, waiting %d, writing %v", r, w, writing)
	}
}
