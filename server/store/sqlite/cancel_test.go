package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

// hangGuard turns a call that waits for good into a failure; it is no
// speed check.
const hangGuard = 10 * time.Second

// waitFor yields until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", hangGuard, what)
		}
		runtime.Gosched()
	}
}

// TestWriteSpansHonoursCancellation: while the writer is busy (here held
// by the test, as a long group write or retention sweep holds it), a
// WriteSpans whose context ends returns at once — the leader waiting for
// the writer, and a caller queued behind it — instead of waiting for the
// writer (which kept a server's shutdown waiting).
func TestWriteSpansHonoursCancellation(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "weave.db"), Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := storetest.NewWorkload(3, "acme/cancel", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	batch := func() []model.Span { return w.Next() }

	s.wmu.Lock()
	locked := true
	defer func() {
		if locked {
			s.wmu.Unlock()
		}
	}()
	write := func(ctx context.Context, spans []model.Span) <-chan error {
		done := make(chan error, 1)
		go func() { done <- s.WriteSpans(ctx, spans) }()
		return done
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	a := write(ctxA, batch())
	waitFor(t, "the first caller to lead", func() bool { return len(s.group.lead) == 1 })
	ctxB, cancelB := context.WithCancel(context.Background())
	defer cancelB()
	b := write(ctxB, batch())
	waitFor(t, "the second caller to queue", func() bool {
		s.group.mu.Lock()
		defer s.group.mu.Unlock()
		for _, m := range s.group.queue {
			if m.ctx == ctxB {
				return true
			}
		}
		return false
	})
	for _, c := range []struct {
		name   string
		cancel context.CancelFunc
		done   <-chan error
	}{{"queued behind the leader", cancelB, b}, {"leader waiting for the writer", cancelA, a}} {
		c.cancel()
		select {
		case err := <-c.done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: got %v, want context.Canceled", c.name, err)
			}
		case <-time.After(hangGuard):
			s.wmu.Unlock()
			locked = false
			<-c.done
			t.Fatalf("%s: WriteSpans waited for the writer after its context was cancelled", c.name)
		}
	}
	s.wmu.Unlock()
	locked = false
	// The writer serves the next caller; the cancelled batches were not
	// written.
	if err := s.WriteSpans(context.Background(), batch()); err != nil {
		t.Fatalf("WriteSpans after: %v", err)
	}
	if n := s.commits.Load(); n != 1 {
		t.Errorf("write transactions committed: got %d, want 1 (the cancelled batches skipped)", n)
	}
}

// TestSearchHonoursCancellation: a search waits for the index to catch up
// with the writes before it; while a pass is under way (here held by the
// test, as a rebuild holds it for minutes), a search whose context ends
// returns instead of waiting for the pass.
func TestSearchHonoursCancellation(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "weave.db"), Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.ix.mu.Lock()
	locked := true
	defer func() {
		if locked {
			s.ix.mu.Unlock()
		}
	}()
	w := storetest.NewWorkload(3, "acme/cancel", time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	if err := s.WriteSpans(context.Background(), w.Next()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.SearchMessages(ctx, store.SearchQuery{ProjectID: "acme/cancel", Query: "hello", Limit: 10})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("SearchMessages: got %v, want context.Canceled", err)
		}
	case <-time.After(hangGuard):
		s.ix.mu.Unlock()
		locked = false
		<-done
		t.Fatal("SearchMessages waited for the index pass after its context was cancelled")
	}
}
