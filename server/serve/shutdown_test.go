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
