package serve

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/sqlite"
)

// gatedStore is a real store whose WriteSpans waits at a gate, so a batch
// is in flight when the server is told to stop.
type gatedStore struct {
	store.Store
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedStore) WriteSpans(ctx context.Context, spans []model.Span) error {
	g.entered <- struct{}{}
	<-g.gate
	return g.Store.WriteSpans(ctx, spans)
}

// otlpBatch is an OTLP/protobuf export request with n chat spans of one
// trace.
func otlpBatch(t *testing.T, n int) []byte {
	t.Helper()
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "claude-code")
	ss := rs.ScopeSpans().AppendEmpty()
	start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	for i := range n {
		s := ss.Spans().AppendEmpty()
		s.SetTraceID(pcommon.TraceID{0xab, 1})
		s.SetSpanID(pcommon.SpanID{0xcd, byte(i + 1)})
		s.SetName("chat claude-sonnet-4-5")
		s.SetKind(ptrace.SpanKindClient)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Second)))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i)*time.Second + 500*time.Millisecond)))
		s.Attributes().PutStr("gen_ai.operation.name", "chat")
		s.Attributes().PutStr("gen_ai.request.model", "claude-sonnet-4-5")
		s.Attributes().PutInt("gen_ai.usage.input_tokens", 10)
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestShutdownLosesNoBatch stops the server while an OTLP batch is being
// written: the batch is answered 200, is in the store afterwards, and the
// store is closed only after it.
func TestShutdownLosesNoBatch(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DBFileName)
	real, err := sqlite.Open(context.Background(), path, sqlite.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	gs := &gatedStore{Store: real, entered: make(chan struct{}, 1), gate: make(chan struct{})}

	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &notifyListener{Listener: inner, closed: make(chan struct{})}
	cfg := testConfig(t)
	ready := make(chan net.Addr, 1)
	srv, err := New(cfg, Settings{
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Listener:  ln,
		OpenStore: func(context.Context, Config, *slog.Logger) (store.Store, string, error) { return gs, path, nil },
		Ready:     func(a net.Addr) { ready <- a },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	url := fmt.Sprintf("http://%s/agents/otel/v1/traces", <-ready)

	const n = 25
	answer := make(chan int, 1)
	go func() {
		resp, err := http.Post(url, "application/x-protobuf", bytes.NewReader(otlpBatch(t, n)))
		if err != nil {
			answer <- -1
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Logf("answer body: %q", body)
		}
		answer <- resp.StatusCode
	}()
	<-gs.entered // the batch is being written
	stop()       // SIGTERM
	<-ln.closed  // no new connections from here on
	close(gs.gate)
	if code := <-answer; code != http.StatusOK {
		t.Fatalf("in-flight batch: got status %d, want 200", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	// The store was closed by the shutdown (a second Open would fail
	// otherwise) and holds the whole batch.
	again, err := sqlite.Open(context.Background(), path, sqlite.Settings{})
	if err != nil {
		t.Fatalf("reopen after shutdown: %v", err)
	}
	defer again.Close()
	tid := pcommon.TraceID{0xab, 1}
	got, err := again.TraceSpans(context.Background(), cfg.DefaultProject, hex.EncodeToString(tid[:]))
	if err != nil || len(got) != n {
		t.Fatalf("after shutdown: got %d spans (%v), want %d", len(got), err, n)
	}
}

// heldStore is a real store whose WriteSpans and Delete hold on, ignoring
// their context, until released — a slow batch, a slow retention round —
// and which records a Close that comes while one of them still runs.
type heldStore struct {
	store.Store
	entered chan struct{} // a send per call held
	release chan struct{}
	closing chan struct{} // closed by Close

	mu          sync.Mutex
	running     int
	closedInUse bool
}

func newHeldStore(st store.Store) *heldStore {
	return &heldStore{Store: st, entered: make(chan struct{}, 1), release: make(chan struct{}), closing: make(chan struct{})}
}

func (h *heldStore) hold() {
	h.mu.Lock()
	h.running++
	h.mu.Unlock()
	h.entered <- struct{}{}
	select {
	case <-h.release:
	case <-h.closing: // closed under it: recorded by Close
	}
	h.mu.Lock()
	h.running--
	h.mu.Unlock()
}

func (h *heldStore) WriteSpans(ctx context.Context, spans []model.Span) error {
	h.hold()
	return h.Store.WriteSpans(ctx, spans)
}

// Projects has one project, so that a retention round deletes in it.
func (h *heldStore) Projects(context.Context) ([]string, error) { return []string{"acme/p"}, nil }

func (h *heldStore) Delete(ctx context.Context, d store.Deletion) (store.Deleted, error) {
	h.hold()
	return h.Store.(store.Deleter).Delete(context.WithoutCancel(ctx), d)
}

func (h *heldStore) Close() error {
	h.mu.Lock()
	h.closedInUse = h.running > 0
	h.mu.Unlock()
	close(h.closing)
	return h.Store.Close()
}

// logSignal is a slog handler that closes seen when a record with message
// msg is logged.
type logSignal struct {
	msg  string
	once *sync.Once
	seen chan struct{}
}

func (l logSignal) Enabled(context.Context, slog.Level) bool { return true }
func (l logSignal) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l logSignal) WithGroup(string) slog.Handler            { return l }
func (l logSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == l.msg {
		l.once.Do(func() { close(l.seen) })
	}
	return nil
}

// TestShutdownWaitsForStoreUsers stops the server while something still
// uses the store and checks that the store is closed only after it
// returned. The held call is released once Run logs that it waits for it;
// a Run that closes the store without waiting releases it by that Close
// (and is caught).
func TestShutdownWaitsForStoreUsers(t *testing.T) {
	waits := map[string]string{ // what Run logs before waiting for the use
		"retention round":                            "retention stopping",
		"ingest batch past the shutdown timeout":     "waiting for the requests cut off to return",
		"OTLP/gRPC export past the shutdown timeout": "waiting for the requests cut off to return",
	}
	for _, tc := range storeUses {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.cfg(&cfg)
			real, _, err := OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			hs := newHeldStore(real)
			waiting := logSignal{msg: waits[tc.name], once: new(sync.Once), seen: make(chan struct{})}
			var once sync.Once
			release := func() { once.Do(func() { close(hs.release) }) }
			err = cutOffRun{cfg: cfg, cutoff: time.Hour, log: waiting, st: hs, entered: hs.entered, use: tc.use, release: release,
				afterStop: func() {
					select {
					case <-waiting.seen:
					case <-hs.closing:
					}
					release()
				}}.run(t)
			if err != nil {
				t.Errorf("Run: %v", err)
			}
			if hs.closedInUse {
				t.Errorf("got the store closed while in use (%s), want it closed after", tc.name)
			}
		})
	}
}

// roundCounter is a store that counts the retention rounds begun (each
// starts by listing the projects).
type roundCounter struct {
	store.Store
	rounds atomic.Int32
}

func (r *roundCounter) Projects(ctx context.Context) ([]string, error) {
	r.rounds.Add(1)
	return r.Store.Projects(ctx)
}

func (r *roundCounter) Delete(ctx context.Context, d store.Deletion) (store.Deleted, error) {
	return r.Store.(store.Deleter).Delete(ctx, d)
}

// TestListenFailureClosesListeners gives a pprof address already in use:
// Run fails, the HTTP and OTLP/gRPC listeners it was given are closed,
// and no retention round ran.
func TestListenFailureClosesListeners(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t)
	cfg.PprofAddr = busy.Addr().String()
	cfg.RetentionDays = 7
	var lns []*notifyListener
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, &notifyListener{Listener: ln, closed: make(chan struct{})})
	}
	real, _, err := OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st := &roundCounter{Store: real}
	srv, err := New(cfg, Settings{
		Listener:     lns[0],
		GRPCListener: lns[1],
		OpenStore:    func(context.Context, Config, *slog.Logger) (store.Store, string, error) { return st, "sqlite", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "pprof: listen on "+cfg.PprofAddr) {
		t.Fatalf("Run: got %v, want the pprof listen error", err)
	}
	// Closed by Run, seen on the listeners themselves: binding their ports
	// again would also fail when another process took one meanwhile.
	for i, name := range []string{"http", "grpc"} {
		select {
		case <-lns[i].closed:
		default:
			t.Errorf("%s listener %s still open after Run failed", name, lns[i].Addr())
		}
	}
	if n := st.rounds.Load(); n != 0 {
		t.Errorf("retention rounds run by a server that did not start: got %d, want 0", n)
	}
}
