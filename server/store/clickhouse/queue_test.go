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
	t.Run("a lone write is flushed at once, the next one a flush interval later", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := &gatedConn{fakeConn: &fakeConn{}}
			s := New(g, Config{FlushInterval: time.Second, BatchRows: 1000}, Settings{})
			defer s.Close()
			start := time.Now()
			if err := s.WriteSpans(context.Background(), spansOf(1, "a")); err != nil {
				t.Fatal(err)
			}
			if err := s.WriteSpans(context.Background(), spansOf(1, "b")); err != nil {
				t.Fatal(err)
			}
			if len(g.flushes) != 2 {
				t.Fatalf("flushes: got %d, want 2", len(g.flushes))
			}
			if d := g.flushes[0].Sub(start); d != 0 {
				t.Errorf("first flush after %s, want at once", d)
			}
			if d := g.flushes[1].Sub(g.flushes[0]); d != time.Second {
				t.Errorf("second flush %s after the first, want the flush interval (1s)", d)
			}
		})
	})
	t.Run("concurrent writes share a batch; a full batch is flushed without waiting", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := &gatedConn{fakeConn: &fakeConn{}}
			s := New(g, Config{FlushInterval: time.Second, BatchRows: 10}, Settings{})
			defer s.Close()
			if err := s.WriteSpans(context.Background(), spansOf(1, "first")); err != nil {
				t.Fatal(err)
			}
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
			wg.Wait()
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
			g := &gatedConn{fakeConn: &fakeConn{}}
			s := New(g, Config{FlushInterval: time.Hour}, Settings{})
			if err := s.WriteSpans(context.Background(), spansOf(1, "a")); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.WriteSpans(context.Background(), spansOf(1, "b")) }()
			synctest.Wait() // b waits for the interval
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
