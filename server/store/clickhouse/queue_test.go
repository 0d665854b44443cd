package clickhouse

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store/storetest"
)

// gatedConn is a fakeConn whose span_state inserts (the last insert of a
// flush) wait for a gate and can fail; it records when each flush ended.
type gatedConn struct {
	*fakeConn
	mu      sync.Mutex
	gate    chan struct{} // nil: no wait
	fail    error
	flushes []time.Time
	sizes   []int
}

func (g *gatedConn) PrepareBatch(ctx context.Context, sql string, opts ...driver.PrepareBatchOption) (driver.Batch, error) {
	b, err := g.fakeConn.PrepareBatch(ctx, sql, opts...)
	if err != nil || !strings.Contains(sql, "`span_state`") {
		return b, err
	}
	return &gatedBatch{Batch: b, g: g}, nil
}

type gatedBatch struct {
	driver.Batch
	g *gatedConn
}

func (b *gatedBatch) Send() error {
	b.g.mu.Lock()
	gate, fail := b.g.gate, b.g.fail
	b.g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return fail
	}
	b.g.mu.Lock()
	b.g.flushes = append(b.g.flushes, time.Now())
	b.g.sizes = append(b.g.sizes, b.Batch.Rows())
	b.g.mu.Unlock()
	return b.Batch.Send()
}

func spansOf(n int, tag string) []model.Span {
	var out []model.Span
	for i := 0; i < n; i++ {
		out = append(out, model.Span{ProjectID: "p/q", TraceID: storetest.TraceID(tag, i), SpanID: storetest.SpanID(tag, i),
			SpanName: "s", StartedAt: storetest.T0.Add(time.Duration(i) * time.Second)})
	}
	return out
}

func TestBatching(t *testing.T) {
	t.Run("a write that finds the writer idle is flushed at once, the next one of a caller that waited for its answer too", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := &gatedConn{fakeConn: &fakeConn{}}
			s := New(g, Config{FlushInterval: time.Second, BatchRows: 1000}, Settings{})
			defer s.Close()
			start := time.Now()
			for _, tag := range []string{"a", "b", "c"} {
				if err := s.WriteSpans(context.Background(), spansOf(1, tag)); err != nil {
					t.Fatal(err)
				}
			}
			if len(g.flushes) != 3 {
				t.Fatalf("flushes: got %d, want 3", len(g.flushes))
			}
			for i, at := range g.flushes {
				if d := at.Sub(start); d != 0 {
					t.Errorf("flush %d after %s, want at once (weave-agentd sends its requests one after the other)", i+1, d)
				}
			}
		})
	})
	t.Run("writes that arrive while a flush runs share the next batch, a flush interval after that flush began", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			gate := make(chan struct{})
			g := &gatedConn{fakeConn: &fakeConn{}, gate: gate}
			s := New(g, Config{FlushInterval: time.Second, BatchRows: 1000}, Settings{})
			defer s.Close()
			start := time.Now()
			done := make(chan error, 4)
			go func() { done <- s.WriteSpans(context.Background(), spansOf(1, "first")) }()
			synctest.Wait() // its flush holds at the gate
			for _, tag := range []string{"x", "y", "z"} {
				go func() { done <- s.WriteSpans(context.Background(), spansOf(2, tag)) }()
			}
			synctest.Wait() // queued behind it
			close(gate)
			for i := 0; i < 4; i++ {
				if err := <-done; err != nil {
					t.Fatal(err)
				}
			}
			if len(g.flushes) != 2 || g.sizes[1] != 6 {
				t.Fatalf("flushes: got %d with state rows %v, want 2, the second with the 6 spans of 3 writes", len(g.flushes), g.sizes)
			}
			if d := g.flushes[1].Sub(start); d != time.Second {
				t.Errorf("second flush %s after the first began, want the flush interval (1s)", d)
			}
			// The writer is idle again: the next write goes at once.
			before := time.Now()
			if err := s.WriteSpans(context.Background(), spansOf(1, "alone")); err != nil {
				t.Fatal(err)
			}
			if d := g.flushes[2].Sub(before); d != 0 {
				t.Errorf("write to an idle writer flushed after %s, want at once", d)
			}
		})
	})
	t.Run("concurrent writes share a batch; a full batch is flushed without waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			gate := make(chan struct{})
			g := &gatedConn{fakeConn: &fakeConn{}, gate: gate}
			s := New(g, Config{FlushInterval: time.Second, BatchRows: 10}, Settings{})
			defer s.Close()
			first := make(chan error, 1)
			go func() { first <- s.WriteSpans(context.Background(), spansOf(1, "first")) }()
			synctest.Wait() // its flush holds at the gate
			start := time.Now()
			var wg sync.WaitGroup
			for i := 0; i < 5; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := s.WriteSpans(context.Background(), spansOf(2, "w"+string(rune('a'+i)))); err != nil {
						t.Error(err)
					}
				}()
			}
			synctest.Wait()
			close(gate)
			wg.Wait()
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			if len(g.flushes) != 2 || g.sizes[1] != 10 {
				t.Fatalf("flushes: got %d with state rows %v, want 2, the second with the 10 spans of 5 writes", len(g.flushes), g.sizes)
			}
			if d := g.flushes[1].Sub(start); d >= time.Second {
				t.Errorf("full batch flushed after %s, want before the interval", d)
			}
		})
	})
	t.Run("a full queue makes writers wait; their context ends the wait", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			gate := make(chan struct{})
			g := &gatedConn{fakeConn: &fakeConn{}, gate: gate}
			s := New(g, Config{FlushInterval: -1, BatchRows: 1000, MaxQueuedRows: 3}, Settings{})
			defer s.Close()
			done := make(chan error, 2)
			go func() { done <- s.WriteSpans(context.Background(), spansOf(2, "in-flight")) }()
			synctest.Wait() // the writer holds that batch at the gate
			go func() { done <- s.WriteSpans(context.Background(), spansOf(3, "queued")) }()
			synctest.Wait() // queued: the queue holds 3 of 3
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := s.WriteSpans(ctx, spansOf(1, "blocked"))
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "queue") {
				t.Errorf("write into a full queue: got %v, want a deadline error while waiting for room", err)
			}
			close(gate)
			for i := 0; i < 2; i++ {
				if err := <-done; err != nil {
					t.Errorf("queued write: %v", err)
				}
			}
		})
	})
	t.Run("a failed insert fails every write of the batch; a retry succeeds", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := &gatedConn{fakeConn: &fakeConn{}, fail: errors.New("code: 241, memory limit exceeded")}
			s := New(g, Config{FlushInterval: -1}, Settings{})
			defer s.Close()
			err := s.WriteSpans(context.Background(), spansOf(2, "x"))
			if err == nil || !strings.Contains(err.Error(), "memory limit") {
				t.Fatalf("WriteSpans: got %v, want the insert error", err)
			}
			g.mu.Lock()
			g.fail = nil
			g.mu.Unlock()
			if err := s.WriteSpans(context.Background(), spansOf(2, "x")); err != nil {
				t.Errorf("retry: %v", err)
			}
		})
	})
	t.Run("Close flushes what is queued, then writes fail", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			gate := make(chan struct{})
			g := &gatedConn{fakeConn: &fakeConn{}, gate: gate}
			s := New(g, Config{FlushInterval: time.Hour}, Settings{})
			first := make(chan error, 1)
			go func() { first <- s.WriteSpans(context.Background(), spansOf(1, "a")) }()
			synctest.Wait() // a's flush holds at the gate
			done := make(chan error, 1)
			go func() { done <- s.WriteSpans(context.Background(), spansOf(1, "b")) }()
			synctest.Wait()
			close(gate)
			if err := <-first; err != nil {
				t.Fatal(err)
			}
			synctest.Wait() // b, which came during a's flush, waits for the interval
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Errorf("write queued at Close: got %v, want it flushed", err)
			}
			if err := s.WriteSpans(context.Background(), spansOf(1, "c")); !errors.Is(err, errClosed) {
				t.Errorf("write after Close: got %v, want %v", err, errClosed)
			}
			if !g.closed {
				t.Error("Close did not close the connection")
			}
		})
	})
}
