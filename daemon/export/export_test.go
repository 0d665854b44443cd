package export

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"

	"github.com/weavetrace/weave/daemon/export/exporttest"
	"github.com/weavetrace/weave/daemon/spool"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

// span n of trace 1; running spans have no end time.
func span(n int, running bool) spans.Span {
	s := spans.Span{Name: fmt.Sprintf("execute_tool t%d", n), Kind: spans.KindInternal, Start: t0}
	s.TraceID[0] = 1
	s.SpanID[7] = byte(n)
	if !running {
		s.End = t0.Add(time.Second)
	}
	s.SetAttr(semconv.KeyToolName, fmt.Sprintf("t%d", n))
	return s
}

func spanID(n int) string {
	var id spanid.SpanID
	id[7] = byte(n)
	return hex.EncodeToString(id[:])
}

type rig struct {
	e    *Exporter
	sp   *spool.Queue
	rcv  *exporttest.Receiver
	stop func() error
}

// newRig starts an exporter against an in-memory receiver (handler h, or
// the receiver itself).
func newRig(t *testing.T, dir string, h func(*exporttest.Receiver) http.Handler) *rig {
	t.Helper()
	return newRigWith(t, dir, h, nil)
}

// newRigWith is newRig with the config and settings changed by set (nil:
// none).
func newRigWith(t *testing.T, dir string, h func(*exporttest.Receiver) http.Handler, set func(*Config, *Settings)) *rig {
	t.Helper()
	sp, err := spool.Open(dir, spool.Settings{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	rcv := exporttest.NewReceiver()
	var handler http.Handler = rcv
	if h != nil {
		handler = h(rcv)
	}
	c := Config{
		Target:     Target{Endpoint: "http://weave.test", Project: "acme/agents", APIKey: "k-1", ServiceVersion: "0.1.0"},
		MinBackoff: time.Second, MaxBackoff: 8 * time.Second,
		MaxBatchSpans: 4,
	}
	s := Settings{Spool: sp, Transport: exporttest.Transport{H: handler}}
	if set != nil {
		set(&c, &s)
	}
	e, err := New(context.Background(), c, s)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	r := &rig{e: e, sp: sp, rcv: rcv}
	r.stop = func() error {
		cancel()
		err := <-done
		sp.Close()
		return err
	}
	return r
}

func enqueue(t *testing.T, e *Exporter, batch ...spans.Span) {
	t.Helper()
	if err := e.Enqueue(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
}

func TestDelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, t.TempDir(), nil)
		enqueue(t, r.e, span(1, true))
		enqueue(t, r.e, span(1, false), span(2, false))
		synctest.Wait()
		got := r.rcv.Spans()
		if len(got) != 3 {
			t.Fatalf("received %d spans, want 3", len(got))
		}
		s := got[0]
		if s.Path != AgentsTracesPath || s.APIKey != "k-1" || s.Resource["service.name"] != "claude-code" ||
			s.Resource["wandb.entity"] != "acme" || s.Resource["wandb.project"] != "agents" || s.SpanID != spanID(1) || !s.End.IsZero() {
			t.Errorf("first span: got %+v, want path %s, api key, resource, running span 1", s, AgentsTracesPath)
		}
		st := r.e.Stats()
		if st.SpansSent != 3 || st.SpansSpooled != 0 || st.LastError != "" || st.Endpoint != "http://weave.test"+AgentsTracesPath {
			t.Errorf("stats: got %+v, want 3 sent, none spooled, no error", st)
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
}

// The endpoint is down for a while, then up: every span is delivered, in
// the order it was produced (a running copy never lands after its ended copy).
func TestEndpointDownThenUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, t.TempDir(), nil)
		r.rcv.SetStatus(http.StatusServiceUnavailable)
		for n := 1; n <= 6; n++ {
			enqueue(t, r.e, span(n, true))
			enqueue(t, r.e, span(n, false))
		}
		synctest.Wait()
		st := r.e.Stats()
		if st.SpansSent != 0 || st.SpoolRecords == 0 || st.LastError == "" || st.RetryIn == "" {
			t.Fatalf("while down: got %+v, want nothing sent, batches spooled, an error and a retry pending", st)
		}
		time.Sleep(30 * time.Second) // several backoff rounds, still down
		synctest.Wait()
		if n := len(r.rcv.Spans()); n != 0 {
			t.Fatalf("received %d spans while down, want 0", n)
		}
		r.rcv.SetStatus(http.StatusOK)
		time.Sleep(10 * time.Second) // past the longest backoff (8 s)
		synctest.Wait()
		got := r.rcv.Spans()
		if len(got) != 12 {
			t.Fatalf("after recovery: received %d spans, want all 12", len(got))
		}
		last := map[string]bool{} // span id -> last version seen was running
		for _, s := range got {
			last[s.SpanID] = s.End.IsZero()
		}
		for id, running := range last {
			if running {
				t.Errorf("span %s: the running copy arrived after the ended one", id)
			}
		}
		st = r.e.Stats()
		if st.SpansSent != 12 || st.SpoolRecords != 0 || st.SpansSpooled != 12 {
			t.Errorf("stats after recovery: got %+v, want 12 sent, spool empty", st)
		}
		// New batches go straight through again.
		enqueue(t, r.e, span(9, false))
		synctest.Wait()
		if n := len(r.rcv.Spans()); n != 13 {
			t.Errorf("after recovery, a new batch: got %d spans in total, want 13", n)
		}
		r.stop()
	})
}

// After an outage the status says it is over, when and how long it was;
// an error the server answers (400) is no outage.
func TestOutageResolved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, t.TempDir(), nil)
		start := time.Now()
		r.rcv.SetStatus(http.StatusServiceUnavailable)
		enqueue(t, r.e, span(1, false))
		synctest.Wait()
		st := r.e.Stats()
		if !st.OutageSince.Equal(start) || st.LastError == "" || !st.ResolvedAt.IsZero() {
			t.Fatalf("while down: got outage since %v, error %q, resolved %v; want since %v, an error, not resolved", st.OutageSince, st.LastError, st.ResolvedAt, start)
		}
		time.Sleep(2*time.Minute + 3*time.Second)
		r.rcv.SetStatus(http.StatusOK)
		time.Sleep(9 * time.Second) // past the longest backoff (8 s)
		synctest.Wait()
		st = r.e.Stats()
		if st.SpansSent != 1 || !st.OutageSince.IsZero() || !st.LastOutageStart.Equal(start) ||
			st.ResolvedAt.Before(start.Add(2*time.Minute+3*time.Second)) || st.ResolvedAt.After(time.Now()) {
			t.Errorf("after recovery: got %+v; want the span sent, the outage from %v resolved after 2m3s", st, start)
		}
		if st.LastError == "" || st.ResolvedAt.Before(st.LastErrorAt) {
			t.Errorf("after recovery: last error %q at %v, resolved at %v; want the error kept, resolved after it", st.LastError, st.LastErrorAt, st.ResolvedAt)
		}
		r.stop()
	})
}

// The daemon died with spans spooled while the server was down (issue 12:
// "0 of 26 spans delivered 30 s after the server came back"). The next
// exporter, with the default backoff, retries on its own and delivers all
// of them within 30 s of the server's return, however long it was down.
func TestSpooledSpansDeliveredSoonAfterOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		sp, err := spool.Open(dir, spool.Settings{MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		for n := 1; n <= 26; n++ { // left by the daemon that died
			b, _ := json.Marshal([]spans.Span{span(n, false)})
			if err := sp.Put(b); err != nil {
				t.Fatal(err)
			}
		}
		sp.Close()
		down := func(rcv *exporttest.Receiver) http.Handler { rcv.SetStatus(http.StatusServiceUnavailable); return rcv } // before Run starts
		r := newRigWith(t, dir, down, func(c *Config, _ *Settings) { c.MinBackoff, c.MaxBackoff = 0, 0 })                // the default backoff
		defer r.stop()
		time.Sleep(139 * time.Second) // down as long as in the issue
		synctest.Wait()
		if n := len(r.rcv.Spans()); n != 0 {
			t.Fatalf("delivered %d spans while down", n)
		}
		// Back just after a failed attempt: the worst moment.
		for tries := r.rcv.Requests(); r.rcv.Requests() == tries; {
			time.Sleep(100 * time.Millisecond)
			synctest.Wait()
		}
		r.rcv.SetStatus(http.StatusOK)
		time.Sleep(30 * time.Second)
		synctest.Wait()
		if n := len(r.rcv.Distinct()); n != 26 {
			t.Errorf("30 s after the server came back: %d of 26 spans delivered", n)
		}
	})
}

// Retries back off exponentially (1 s doubling to 8 s, jittered).
func TestBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, t.TempDir(), nil)
		r.rcv.SetStatus(http.StatusBadGateway)
		enqueue(t, r.e, span(1, false))
		time.Sleep(60 * time.Second)
		synctest.Wait()
		// Delays in [b/2, b] for b = 1, 2, 4, 8, 8, ...: between 8 and 18 attempts in 60 s.
		if n := r.rcv.Requests(); n < 8 || n > 18 {
			t.Errorf("attempts in 60 s: got %d, want 8..18", n)
		}
		r.stop()
	})
}

func TestBadRequestDropped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, t.TempDir(), func(rcv *exporttest.Receiver) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if n := countSpans(t, req); n == 2 {
					http.Error(w, "bad span", http.StatusBadRequest)
					return
				}
				rcv.ServeHTTP(w, req)
			})
		})
		enqueue(t, r.e, span(1, false), span(2, false)) // rejected
		synctest.Wait()
		enqueue(t, r.e, span(3, false)) // goes through, no retry wait
		synctest.Wait()
		st := r.e.Stats()
		if st.SpansRejected != 2 || st.SpansSent != 1 || st.SpoolRecords != 0 || st.LastError == "" || len(r.rcv.Spans()) != 1 {
			t.Errorf("stats: got %+v, want 2 rejected, 1 sent, nothing spooled", st)
		}
		r.stop()
	})
}

func TestTooLargeSplit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, t.TempDir(), func(rcv *exporttest.Receiver) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if countSpans(t, req) > 1 {
					http.Error(w, "too large", http.StatusRequestEntityTooLarge)
					return
				}
				rcv.ServeHTTP(w, req)
			})
		})
		enqueue(t, r.e, span(1, false), span(2, false), span(3, false))
		synctest.Wait()
		if n := len(r.rcv.Spans()); n != 3 {
			t.Errorf("received %d spans, want 3 (split one by one)", n)
		}
		r.stop()
	})
}

// Shutdown with the endpoint down: the queue goes to the spool, and a
// later exporter (the next daemon) delivers it.
func TestShutdownSpoolsThenNextRunDelivers(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, dir, nil)
		r.rcv.SetStatus(http.StatusServiceUnavailable)
		enqueue(t, r.e, span(1, false))
		synctest.Wait()
		enqueue(t, r.e, span(2, false))
		enqueue(t, r.e, span(3, false))
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, dir, nil)
		synctest.Wait()
		got := r.rcv.Spans()
		if len(got) != 3 || got[0].SpanID != spanID(1) || got[2].SpanID != spanID(3) {
			t.Errorf("next run delivered %d spans, want the 3 in order", len(got))
		}
		r.stop()
	})
}

func countSpans(t *testing.T, req *http.Request) int {
	b, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(b)) // for the receiver
	er := ptraceotlp.NewExportRequest()
	if err := er.UnmarshalProto(b); err != nil {
		t.Errorf("bad OTLP request: %v", err)
		return 0
	}
	return er.Traces().SpanCount()
}

// Over real HTTP (protobuf on a loopback port): down, then up, everything
// delivered.
func TestRealHTTPDownThenUp(t *testing.T) {
	rcv := exporttest.NewReceiver().Start()
	defer rcv.Close()
	sp, err := spool.Open(t.TempDir(), spool.Settings{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	e, err := New(context.Background(), Config{
		Target:     Target{Endpoint: rcv.URL()},
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	}, Settings{Spool: sp})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() { cancel(); <-done }()

	rcv.SetStatus(http.StatusServiceUnavailable)
	for n := 1; n <= 20; n++ {
		enqueue(t, e, span(n, false))
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	// Wait until the receiver has refused a few attempts, then bring it up.
	if err := rcv.Wait(wctx, func([]exporttest.Span) bool { return rcv.Rejected() >= 2 }); err != nil {
		t.Fatalf("waiting for refused attempts: %v", err)
	}
	rcv.SetStatus(http.StatusOK)
	if err := rcv.Wait(wctx, func(s []exporttest.Span) bool { return len(s) >= 20 }); err != nil {
		t.Fatalf("waiting for 20 spans: %v (got %d, stats %+v)", err, len(rcv.Spans()), e.Stats())
	}
	if d := rcv.Distinct(); len(d) != 20 {
		t.Errorf("distinct spans: got %d, want 20", len(d))
	}
}

// The spool fills while the endpoint is down: the oldest batches are
// dropped and counted; when it is back, the rest is delivered.
func TestSpoolOverflowWhileDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sp, err := spool.Open(t.TempDir(), spool.Settings{MaxBytes: 8 << 10, SegmentBytes: 1 << 10})
		if err != nil {
			t.Fatal(err)
		}
		rcv := exporttest.NewReceiver()
		rcv.SetStatus(http.StatusServiceUnavailable)
		e, err := New(context.Background(), Config{Target: Target{Endpoint: "http://weave.test"}, MinBackoff: time.Second, MaxBackoff: 2 * time.Second},
			Settings{Spool: sp, Transport: exporttest.Transport{H: rcv}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		const n = 60
		for i := 1; i <= n; i++ {
			enqueue(t, e, span(i, false))
			synctest.Wait()
		}
		st := e.Stats()
		if st.SpoolDropped == 0 || st.SpoolBytes > 8<<10 || st.SpansSpooled != n {
			t.Fatalf("while down: got %+v, want drops, spool within 8 KiB, all %d spooled", st, n)
		}
		rcv.SetStatus(http.StatusOK)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		got := rcv.Spans()
		st = e.Stats()
		if int64(len(got))+st.SpoolDropped != n || got[len(got)-1].SpanID != spanID(n) || st.SpoolRecords != 0 {
			t.Errorf("after recovery: %d delivered + %d dropped, last %s, spool %d, want %d in all, the newest last, spool empty",
				len(got), st.SpoolDropped, got[len(got)-1].SpanID, st.SpoolRecords, n)
		}
		cancel()
		<-done
		sp.Close()
	})
}
