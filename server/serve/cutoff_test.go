package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// ctxStore is a real store whose WriteSpans and Delete wait until their
// context is done and fail with its error: a store call that honours its
// cancellation, whatever it waits for.
type ctxStore struct {
	store.Store
	entered chan struct{}
	closed  atomic.Bool
}

func (c *ctxStore) Close() error {
	c.closed.Store(true)
	return c.Store.Close()
}

func (c *ctxStore) WriteSpans(ctx context.Context, _ []model.Span) error {
	c.entered <- struct{}{}
	<-ctx.Done()
	return ctx.Err()
}

func (c *ctxStore) Projects(context.Context) ([]string, error) { return []string{"acme/p"}, nil }

func (c *ctxStore) Delete(ctx context.Context, _ store.Deletion) (store.Deleted, error) {
	c.entered <- struct{}{}
	<-ctx.Done()
	return store.Deleted{}, ctx.Err()
}

// logRecorder is a slog handler keeping the messages logged.
type logRecorder struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newLogRecorder() logRecorder { return logRecorder{mu: new(sync.Mutex), msgs: new([]string)} }

func (l logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l logRecorder) WithGroup(string) slog.Handler            { return l }
func (l logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	*l.msgs = append(*l.msgs, r.Message)
	return nil
}

func (l logRecorder) has(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range *l.msgs {
		if len(m) >= len(prefix) && m[:len(prefix)] == prefix {
			return true
		}
	}
	return false
}

// storeUses start, on a running server, a use of the store that is still
// running when the shutdown cuts it off.
var storeUses = []struct {
	name string
	cfg  func(*Config)
	use  func(t *testing.T, httpURL, grpcAddr string)
}{
	{"retention round", func(c *Config) { c.RetentionDays = 7 }, func(*testing.T, string, string) {}},
	{"ingest batch past the shutdown timeout", func(c *Config) { c.ShutdownTimeout = time.Nanosecond },
		func(t *testing.T, url, _ string) {
			go func() {
				resp, err := http.Post(url+"/agents/otel/v1/traces", "application/x-protobuf", bytes.NewReader(otlpBatch(t, 3)))
				if err == nil { // cut off by the shutdown: any answer will do
					resp.Body.Close()
				}
			}()
		}},
	{"OTLP/gRPC export past the shutdown timeout", func(c *Config) { c.ShutdownTimeout = time.Nanosecond },
		func(t *testing.T, _, addr string) {
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			req := ptraceotlp.NewExportRequest()
			if err := req.UnmarshalProto(otlpBatch(t, 3)); err != nil {
				t.Fatal(err)
			}
			go func() {
				defer conn.Close()
				_, _ = ptraceotlp.NewGRPCClient(conn).Export(context.Background(), req) // cut off: any answer will do
			}()
		}},
}

// runHangGuard turns a Run that hangs into a failure; it is no speed check.
const runHangGuard = 30 * time.Second

// cutOffRun is one server run that stops while a store call is running.
type cutOffRun struct {
	cfg     Config
	cutoff  time.Duration // Settings.CutoffWait
	log     slog.Handler
	st      store.Store
	entered <-chan struct{} // a receive per store call started
	// afterStop, when set, runs once the server was told to stop.
	afterStop func()
	// release lets a held store call go (when Run hangs).
	release func()
	use     func(t *testing.T, httpURL, grpcAddr string)
}

// run runs a server on r.st, starts r.use, waits for the store call it
// makes, stops the server and returns what Run returned. A Run still
// running after runHangGuard fails the test, once r.release let the store
// call go.
func (r cutOffRun) run(t *testing.T) error {
	t.Helper()
	hln, gln := loopbackListeners(t)
	ready := make(chan net.Addr, 1)
	srv, err := New(r.cfg, Settings{
		Logger: slog.New(r.log), Listener: hln, GRPCListener: gln, CutoffWait: r.cutoff,
		OpenStore: func(context.Context, Config, *slog.Logger) (store.Store, string, error) { return r.st, "test", nil },
		Ready:     func(a net.Addr) { ready <- a },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	r.use(t, fmt.Sprintf("http://%s", <-ready), gln.Addr().String())
	<-r.entered
	stop()
	if r.afterStop != nil {
		r.afterStop()
	}
	select {
	case err := <-done:
		return err
	case <-time.After(runHangGuard):
		r.release()
		<-done
		t.Fatalf("Run hung on a store call until it was released")
		return nil
	}
}

// TestShutdownCutoff: store calls that honour their context end when the
// shutdown cancels them, and Run returns nil having closed the store,
// however long it would wait for them. One that ignores its context (held
// until the test releases it) no longer hangs the shutdown: past
// Settings.CutoffWait Run logs what it gave up on and returns
// ErrShutdownAbandoned, leaving the store open rather than closing it
// under the call.
func TestShutdownCutoff(t *testing.T) {
	for _, tc := range storeUses {
		for _, honours := range []bool{true, false} {
			name := tc.name + "/ignores its context"
			if honours {
				name = tc.name + "/honours its context"
			}
			t.Run(name, func(t *testing.T) {
				cfg := testConfig(t)
				tc.cfg(&cfg)
				real, _, err := OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				log := newLogRecorder()
				if honours {
					checkHonoured(t, cutOffRun{cfg: cfg, cutoff: time.Hour, log: log, use: tc.use}, real)
				} else {
					checkIgnored(t, cutOffRun{cfg: cfg, cutoff: time.Nanosecond, log: log, use: tc.use}, real)
				}
			})
		}
	}
}

func checkHonoured(t *testing.T, r cutOffRun, real store.Store) {
	cs := &ctxStore{Store: real, entered: make(chan struct{}, 1)}
	r.st, r.entered, r.release = cs, cs.entered, func() {}
	if err := r.run(t); err != nil {
		t.Errorf("Run: %v", err)
	}
	if r.log.(logRecorder).has("shutdown: gave up") {
		t.Errorf("Run gave up on a call that honours its context")
	}
	if !cs.closed.Load() {
		t.Errorf("Run left the store open")
		real.Close()
	}
}

func checkIgnored(t *testing.T, r cutOffRun, real store.Store) {
	hs := newHeldStore(real)
	var once sync.Once
	r.st, r.entered, r.release = hs, hs.entered, func() { once.Do(func() { close(hs.release) }) }
	err := r.run(t)
	if !errors.Is(err, ErrShutdownAbandoned) {
		t.Errorf("Run: got %v, want ErrShutdownAbandoned", err)
	}
	log := r.log.(logRecorder)
	if !log.has("shutdown: gave up waiting for") {
		t.Errorf("nothing logged about the call given up on; logged %q", *log.msgs)
	}
	select {
	case <-hs.closing:
		t.Errorf("the store was closed under the call still running")
	default:
	}
	r.release()
	if err := hs.Close(); err != nil {
		t.Errorf("closing the store Run left open: %v", err)
	}
}
