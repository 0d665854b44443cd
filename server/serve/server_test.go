package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// blockingStore is a store whose annotation upserts can be held, to have a
// request in flight at shutdown. Methods the tests do not use are left to
// the embedded nil interface (calling one panics).
type blockingStore struct {
	store.Store

	mu       sync.Mutex
	closed   bool
	written  []store.Annotation
	statsErr error

	hold    chan struct{} // when non-nil, UpsertAnnotation waits on it
	entered chan struct{} // receives when an upsert starts waiting
	ctxErr  chan error    // receives the request context's error when hold gives up
}

// QuerySpans and QueryAnnotations find nothing: an annotation upsert looks
// for its target and, for a thumbs, the author's earlier one.
func (b *blockingStore) QuerySpans(context.Context, store.SpanQuery) ([]model.Span, int64, error) {
	return nil, 0, nil
}

func (b *blockingStore) QueryAnnotations(context.Context, store.AnnotationQuery) ([]store.Annotation, error) {
	return nil, nil
}

func (b *blockingStore) UpsertAnnotation(ctx context.Context, a store.Annotation) (store.Annotation, error) {
	if b.hold != nil {
		b.entered <- struct{}{}
		select {
		case <-b.hold:
		case <-ctx.Done():
			b.ctxErr <- ctx.Err()
			return store.Annotation{}, ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return store.Annotation{}, errors.New("fake: write after Close")
	}
	a.ID = "a1"
	b.written = append(b.written, a)
	return a, nil
}

func (b *blockingStore) Projects(context.Context) ([]string, error) { return []string{"p/x"}, nil }

func (b *blockingStore) Stats(context.Context) (store.Stats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return store.Stats{Spans: 42, Bytes: 4096, WriteTransactions: 7, SearchBacklog: 3}, b.statsErr
}

func (b *blockingStore) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

func (b *blockingStore) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// running is a server under test.
type running struct {
	url      string
	stop     context.CancelFunc
	done     chan error
	lnClosed chan struct{} // closed when the server closes its listener
}

// notifyListener reports its Close.
type notifyListener struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
}

func (l *notifyListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.closed) })
	return err
}

// start runs a server on st until the test ends; opts adjust its
// Settings.
func start(t *testing.T, cfg Config, st store.Store, opts ...func(*Settings)) *running {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &notifyListener{Listener: inner, closed: make(chan struct{})}
	ready := make(chan net.Addr, 1)
	set := Settings{
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Version:   "test",
		Listener:  ln,
		OpenStore: func(context.Context, Config, *slog.Logger) (store.Store, string, error) { return st, "memory", nil },
		Ready:     func(a net.Addr) { ready <- a },
	}
	for _, o := range opts {
		o(&set)
	}
	srv, err := New(cfg, set)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stop: cancel, done: make(chan error, 1), lnClosed: ln.closed}
	go func() { r.done <- srv.Run(ctx) }()
	select {
	case a := <-ready:
		r.url = "http://" + a.String()
	case err := <-r.done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func testConfig(t *testing.T) Config {
	c := NewDefaultConfig()
	c.DataDir = t.TempDir()
	c.ShutdownTimeout = 10 * time.Second
	return c
}

func get(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRoutes(t *testing.T) {
	st := &blockingStore{}
	r := start(t, testConfig(t), st)
	tests := []struct {
		name   string
		path   string
		hdr    []string
		status int
		want   string
	}{
		{"healthz", "/healthz", nil, 200, "ok"},
		{"readyz", "/readyz", nil, 200, "ok"},
		{"ui_index", "/", nil, 200, "<!doctype html>"},
		{"ui_module", "/assets/js/main.js", nil, 200, "import"},
		{"ui_unknown_asset", "/assets/nope.js", nil, 404, ""},
		{"projects", "/genai/projects", nil, 200, `"default_project":"local/default"`},
		{"unknown_api_path", "/genai/nope", nil, 404, `"code":"not_found"`},
		{"localhost_host", "/healthz", []string{"Host", "localhost:7433"}, 200, "ok"},
		{"rebinding_host", "/genai/projects", []string{"Host", "attacker.example:7433"}, 403, `"code":"permission_denied"`},
		{"metrics", "/metrics", nil, 200, "weave_store_spans 42"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := get(t, r.url+tt.path, tt.hdr...)
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("GET %s: got %d %q, want %d containing %q", tt.path, status, body, tt.status, tt.want)
			}
		})
	}
	_, body := get(t, r.url+"/metrics")
	for _, want := range []string{
		`weave_http_requests_total{route="/healthz",code="200"}`,
		`weave_http_requests_total{route="/genai/projects",code="200"}`,
		`weave_http_requests_total{route="host_check",code="403"}`,
		`weave_http_request_duration_seconds_count{route="/readyz"}`,
		`weave_store_bytes 4096`,
		"# TYPE weave_store_write_transactions_total counter\nweave_store_write_transactions_total 7",
		`weave_store_search_backlog 3`,
		`weave_build_info{version="test"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

func TestReadyzWhenStoreFails(t *testing.T) {
	st := &blockingStore{statsErr: errors.New("disk gone")}
	r := start(t, testConfig(t), st)
	status, body := get(t, r.url+"/readyz")
	if status != 503 || !strings.Contains(body, "disk gone") {
		t.Errorf("readyz: got %d %q, want 503 naming the cause", status, body)
	}
	if status, _ := get(t, r.url+"/healthz"); status != 200 {
		t.Errorf("healthz: got %d, want 200 while the process serves", status)
	}
}

func post(url, body string) (*http.Response, error) {
	return http.Post(url, "application/json", strings.NewReader(body))
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	st := &blockingStore{hold: make(chan struct{}), entered: make(chan struct{}, 1), ctxErr: make(chan error, 1)}
	r := start(t, testConfig(t), st)

	type result struct {
		status int
		err    error
	}
	answered := make(chan result, 1)
	go func() {
		resp, err := post(r.url+"/genai/annotations/upsert",
			`{"project_id":"p/x","ref":"agent_turn/0123456789abcdef0123456789abcdef","kind":"thumbs","value":"up"}`)
		if err != nil {
			answered <- result{err: err}
			return
		}
		resp.Body.Close()
		answered <- result{status: resp.StatusCode}
	}()
	<-st.entered // the write is in flight

	r.stop() // SIGTERM
	// The listener closes first: new connections are refused while the
	// in-flight request is still running.
	<-r.lnClosed
	if conn, err := net.DialTimeout("tcp", strings.TrimPrefix(r.url, "http://"), time.Second); err == nil {
		conn.Close()
		t.Error("new connection accepted after the listener closed")
	}
	if st.isClosed() {
		t.Fatal("store closed while a request was in flight")
	}
	close(st.hold) // let the write finish
	res := <-answered
	if res.err != nil || res.status != 200 {
		t.Fatalf("in-flight request: got %d %v, want 200", res.status, res.err)
	}
	if err := <-r.done; err != nil {
		t.Fatalf("Run: got %v, want nil", err)
	}
	r.done <- nil // for the cleanup
	if !st.isClosed() || len(st.written) != 1 {
		t.Errorf("after shutdown: closed=%v written=%d, want closed and 1 write", st.isClosed(), len(st.written))
	}
}

func TestShutdownTimeoutCancelsStragglers(t *testing.T) {
	st := &blockingStore{hold: make(chan struct{}), entered: make(chan struct{}, 1), ctxErr: make(chan error, 1)}
	cfg := testConfig(t)
	cfg.ShutdownTimeout = time.Millisecond
	r := start(t, cfg, st)
	go func() {
		resp, err := post(r.url+"/genai/annotations/upsert",
			`{"project_id":"p/x","ref":"agent_turn/0123456789abcdef0123456789abcdef","kind":"thumbs","value":"up"}`)
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-st.entered
	r.stop()
	if err := <-st.ctxErr; !errors.Is(err, context.Canceled) {
		t.Errorf("straggler's context: got %v, want canceled", err)
	}
	if err := <-r.done; err != nil {
		t.Fatalf("Run: got %v, want nil", err)
	}
	r.done <- nil
	if !st.isClosed() {
		t.Error("store not closed after shutdown")
	}
}

func TestNewRefusesOpenNonLoopback(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		keys    string
		wantErr string
	}{
		{"open_all_interfaces", "0.0.0.0:7433", "", "refusing to serve"},
		{"open_lan", "10.0.0.5:7433", "", "WEAVE_API_KEYS"},
		{"open_loopback", "127.0.0.1:7433", "", ""},
		{"keys_all_interfaces", "0.0.0.0:7433", "0123456789abcdef0123=*", ""},
		{"bad_keys", "127.0.0.1:7433", "short=*", "at least 16"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewDefaultConfig()
			c.Addr = tt.addr
			c.APIKeys = tt.keys
			_, err := New(c, Settings{})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("New(%s): got %v, want error containing %q", tt.addr, err, tt.wantErr)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"defaults", func(*Config) {}, ""},
		{"no_port", func(c *Config) { c.Addr = "127.0.0.1" }, "--addr"},
		{"empty_data_dir", func(c *Config) { c.DataDir = " " }, "--data-dir"},
		{"unknown_store", func(c *Config) { c.Store = "postgres" }, "--store"},
		{"empty_project", func(c *Config) { c.DefaultProject = "" }, "--default-project"},
		{"tiny_body", func(c *Config) { c.MaxBodyBytes = 10 }, "--max-body"},
		{"two_errors", func(c *Config) { c.Store = "x"; c.MaxBodyBytes = 0 }, "--max-body"},
		{"tiny_ingest_memory", func(c *Config) { c.IngestMemoryBytes = 1000 }, "--ingest-memory"},
		{"no_sqlite_cache", func(c *Config) { c.SQLiteCacheMB = 0 }, "--sqlite-cache-mb"},
		{"negative_retention", func(c *Config) { c.RetentionDays = -1 }, "--retention-days"},
		{"project_retention", func(c *Config) { c.RetentionProjects = map[string]int{"a/b": -2} }, "--retention-project"},
		{"fast_retention", func(c *Config) { c.RetentionInterval = time.Second }, "--retention-interval"},
		{"retention", func(c *Config) { c.RetentionDays, c.RetentionProjects = 30, map[string]int{"a/b": 0} }, ""},
		{"pprof_loopback", func(c *Config) { c.PprofAddr = "127.0.0.1:6060" }, ""},
		{"pprof_localhost", func(c *Config) { c.PprofAddr = "localhost:0" }, ""},
		{"pprof_public", func(c *Config) { c.PprofAddr = "0.0.0.0:6060" }, "--pprof-addr"},
		{"pprof_no_port", func(c *Config) { c.PprofAddr = "127.0.0.1" }, "--pprof-addr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewDefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate: got %v, want error containing %q", err, tt.want)
			}
		})
	}
}

func TestClickHouseNeedsDSN(t *testing.T) {
	c := NewDefaultConfig()
	c.Store = StoreClickHouse
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "--clickhouse-dsn") {
		t.Errorf("Validate(clickhouse without DSN): got %v, want an error naming --clickhouse-dsn", err)
	}
	c.ClickHouse.DSN = "clickhouse://127.0.0.1:9000/weave"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate(clickhouse with DSN): got %v, want nil", err)
	}
}

func TestKeysGuardIngestAndAPI(t *testing.T) {
	cfg := testConfig(t)
	cfg.APIKeys = "key-for-project-a-0001=p/a"
	r := start(t, cfg, &blockingStore{})
	batch := otlpBatch(t, 1) // lands in the default project, local/default
	tests := []struct {
		name   string
		method string
		path   string
		body   []byte
		ct     string
		hdr    []string
		status int
	}{
		{"ingest_without_key", "POST", "/v1/traces", batch, "application/x-protobuf", nil, 401},
		// The key is checked before the body is parsed: an undecodable
		// body from someone without a key is a 401, not a 400.
		{"ingest_without_key_garbage_body", "POST", "/v1/traces", []byte{0xff, 0xff, 0xff}, "application/x-protobuf", nil, 401},
		{"ingest_unknown_key_garbage_json", "POST", "/v1/logs", []byte(`{"resourceLogs":[[[[`), "application/json", []string{"Authorization", "Bearer not-a-configured-key-0001"}, 401},
		{"ingest_other_project", "POST", "/v1/traces", batch, "application/x-protobuf", []string{"wandb-api-key", "key-for-project-a-0001"}, 403},
		{"api_without_key", "GET", "/genai/projects", nil, "", nil, 401},
		{"api_with_key_any_host", "GET", "/genai/projects", nil, "", []string{"wandb-api-key", "key-for-project-a-0001", "Host", "weave.example.com"}, 200},
		{"health_without_key", "GET", "/healthz", nil, "", nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, r.url+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ct != "" {
				req.Header.Set("Content-Type", tt.ct)
			}
			for i := 0; i+1 < len(tt.hdr); i += 2 {
				if tt.hdr[i] == "Host" {
					req.Host = tt.hdr[i+1]
					continue
				}
				req.Header.Set(tt.hdr[i], tt.hdr[i+1])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("%s %s: got %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			}
		})
	}
}

// TestPprofListener serves Go's profiles on a listener of its own, which
// stops with the server.
func TestPprofListener(t *testing.T) {
	cfg := testConfig(t)
	// Port 0, the port read from the log: a port found free and closed
	// could be taken by another process before the server binds it.
	cfg.PprofAddr = "127.0.0.1:0"
	logged := &urlLogged{msg: "pprof listening", url: make(chan string, 1)}
	r := start(t, cfg, &blockingStore{}, func(s *Settings) { s.Logger = slog.New(logged) })
	var prof string
	select {
	case prof = <-logged.url: // logged before Ready
	default:
		t.Fatal("no pprof listening line logged")
	}
	if code, body := get(t, prof+"cmdline"); code != http.StatusOK || body == "" {
		t.Fatalf("pprof cmdline: %d %q", code, body)
	}
	if code, body := get(t, r.url+"/debug/pprof/cmdline"); strings.Contains(body, os.Args[0]) {
		t.Errorf("the main listener serves profiles too: %d %q", code, body)
	}
	r.stop()
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	r.done <- nil // for the cleanup's receive
	if _, err := http.Get(prof + "cmdline"); err == nil {
		t.Error("pprof still answers after the server stopped")
	}
}

// urlLogged is a slog handler that hands on the url attribute of the
// first record with message msg.
type urlLogged struct {
	msg string
	url chan string
}

func (*urlLogged) Enabled(context.Context, slog.Level) bool { return true }
func (h *urlLogged) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h *urlLogged) WithGroup(string) slog.Handler          { return h }
func (h *urlLogged) Handle(_ context.Context, r slog.Record) error {
	if r.Message != h.msg {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "url" {
			select {
			case h.url <- a.Value.String():
			default:
			}
		}
		return true
	})
	return nil
}
