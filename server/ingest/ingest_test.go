package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.uber.org/goleak"

	"github.com/weavetrace/weave/fuzztest"
	"github.com/weavetrace/weave/server/auth"
	"github.com/weavetrace/weave/server/metrics"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/store"
)

func TestMain(m *testing.M) {
	fuzztest.ShortMinimization()
	goleak.VerifyTestMain(m)
}

const (
	corpusDir   = "../normalize/testdata/corpus"
	testProject = "local/default"
	ctProto     = "application/x-protobuf"
	ctJSON      = "application/json"
)

func newTestHandler(t testing.TB, w store.Writer, mod func(*Config, *Settings)) (*Handler, *metrics.Registry) {
	t.Helper()
	reg := metrics.NewRegistry()
	c := Config{DefaultProject: testProject}
	s := Settings{Writer: w, Metrics: reg}
	if mod != nil {
		mod(&c, &s)
	}
	h, err := New(c, s)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h, reg
}

func post(t testing.TB, h http.Handler, path, ct, ce string, body []byte) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	if ce != "" {
		r.Header.Set("Content-Encoding", ce)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func mux(h *Handler) *http.ServeMux {
	m := http.NewServeMux()
	h.Register(m)
	return m
}

// traceBody encodes td as an export request body.
func traceBody(t testing.TB, td ptrace.Traces, ct string) []byte {
	t.Helper()
	req := ptraceotlp.NewExportRequestFromTraces(td)
	var b []byte
	var err error
	if ct == ctJSON {
		b, err = req.MarshalJSON()
	} else {
		b, err = req.MarshalProto()
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sampleTraces builds n valid spans in one resource, plus bad ones.
func sampleTraces(n int, bad ...func(ptrace.Span)) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	ss := rs.ScopeSpans().AppendEmpty()
	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	add := func(i int) ptrace.Span {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{0xaa, byte(i)})
		sp.SetSpanID(pcommon.SpanID{0xbb, byte(i), 1})
		sp.SetName("chat gpt-4o")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Second)))
		sp.Attributes().PutStr("gen_ai.provider.name", "openai")
		sp.Attributes().PutInt("gen_ai.usage.input_tokens", 10)
		return sp
	}
	for i := range n {
		add(i)
	}
	for j, f := range bad {
		f(add(100 + j))
	}
	return td
}

type okResponse struct {
	rejected int64
	message  string
}

func decodeTraceResponse(t testing.TB, rec *httptest.ResponseRecorder, ct string) okResponse {
	t.Helper()
	if got := rec.Header().Get("Content-Type"); got != ct {
		t.Errorf("response Content-Type = %q, want %q", got, ct)
	}
	resp := ptraceotlp.NewExportResponse()
	var err error
	if ct == ctJSON {
		err = resp.UnmarshalJSON(rec.Body.Bytes())
	} else {
		err = resp.UnmarshalProto(rec.Body.Bytes())
	}
	if err != nil {
		t.Fatalf("response does not decode as ExportTraceServiceResponse: %v (%q)", err, rec.Body.String())
	}
	return okResponse{resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage()}
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		c    Config
		s    Settings
	}{
		{"no writer", Config{DefaultProject: "p"}, Settings{}},
		{"no default project", Config{}, Settings{Writer: newMemWriter()}},
		{"negative limit", Config{DefaultProject: "p", MaxBodyBytes: -1}, Settings{Writer: newMemWriter()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.c, tt.s); err == nil || !strings.HasPrefix(err.Error(), "ingest: ") {
				t.Errorf("New: got %v, want an ingest: error", err)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	good := traceBody(t, sampleTraces(1), ctProto)
	bomb := gz(t, bytes.Repeat([]byte{0}, 4096))
	tests := []struct {
		name       string
		method     string
		ct, ce     string
		body       []byte
		limit      int64
		authorize  func(*http.Request, string) error
		wantStatus int
		wantMsg    string
	}{
		{"get refused", http.MethodGet, ctProto, "", good, 0, nil, 405, "method GET not allowed"},
		{"missing content type", http.MethodPost, "", "", good, 0, nil, 415, "missing Content-Type"},
		{"text content type", http.MethodPost, "text/plain", "", good, 0, nil, 415, `unsupported Content-Type "text/plain"`},
		{"brotli encoding", http.MethodPost, ctProto, "br", good, 0, nil, 415, `unsupported Content-Encoding "br"`},
		{"garbage protobuf", http.MethodPost, ctProto, "", []byte{0xff, 0xff, 0xff}, 0, nil, 400, "cannot decode OTLP protobuf trace request"},
		{"garbage json", http.MethodPost, ctJSON, "", []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}`), 0, nil, 400, "cannot decode OTLP JSON trace request"},
		{"undecodable resource", http.MethodPost, ctJSON, "", []byte(`{"resourceSpans":[{"resource":{"attributes":7},"scopeSpans":[{"spans":[{}]}]}]}`), 0, nil, 400, "resource 1: "},
		{"truncated json", http.MethodPost, ctJSON, "", []byte(`{"resourceSpans":[`), 0, nil, 400, "cannot decode OTLP JSON"},
		{"not gzip", http.MethodPost, ctProto, "gzip", good, 0, nil, 400, "not valid gzip"},
		{"body over limit", http.MethodPost, ctProto, "", good, 10, nil, 413, "exceeds the limit of 10 bytes"},
		{"decompressed over limit", http.MethodPost, ctProto, "gzip", bomb, 1024, nil, 413, "decompressed body exceeds the limit of 1024 bytes"},
		{"unauthenticated", http.MethodPost, ctProto, "", good, 0, func(*http.Request, string) error { return auth.ErrUnauthenticated }, 401, "missing or unknown API key"},
		{"forbidden", http.MethodPost, ctProto, "", good, 0, func(*http.Request, string) error {
			return fmt.Errorf("%w: key k may not access project %s", auth.ErrForbidden, testProject)
		}, 403, "may not access project local/default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newMemWriter()
			h, _ := newTestHandler(t, w, func(c *Config, s *Settings) { c.MaxBodyBytes = tt.limit; s.Authorize = tt.authorize })
			r := httptest.NewRequest(tt.method, "/v1/traces", bytes.NewReader(tt.body))
			if tt.ct != "" {
				r.Header.Set("Content-Type", tt.ct)
			}
			if tt.ce != "" {
				r.Header.Set("Content-Encoding", tt.ce)
			}
			rec := httptest.NewRecorder()
			mux(h).ServeHTTP(rec, r)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %q)", rec.Code, tt.wantStatus, rec.Body.String())
			}
			if !strings.Contains(rec.Body.String(), tt.wantMsg) {
				t.Errorf("body %q does not contain %q", rec.Body.String(), tt.wantMsg)
			}
			if n := len(w.all()); n != 0 {
				t.Errorf("stored %d spans, want none", n)
			}
		})
	}
}

func TestErrorBodyIsRPCStatusInRequestEncoding(t *testing.T) {
	h, _ := newTestHandler(t, newMemWriter(), nil)
	rec := post(t, h.Traces(), "/v1/traces", ctJSON, "", []byte("nope"))
	var st struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Code != 3 || !strings.HasPrefix(st.Message, "ingest: cannot decode") {
		t.Errorf("JSON error body = %q (%v), want {code:3, message:ingest: cannot decode…}", rec.Body.String(), err)
	}
	rec = post(t, h.Traces(), "/v1/traces", ctProto, "", []byte{0xff})
	b := rec.Body.Bytes()
	if len(b) < 4 || b[0] != 0x08 || b[1] != 3 || b[2] != 0x12 || !bytes.Contains(b, []byte("ingest: cannot decode")) {
		t.Errorf("protobuf error body = %x, want a google.rpc.Status with code 3", b)
	}
}

func TestPartialSuccessKeepsTheRest(t *testing.T) {
	for _, ct := range []string{ctProto, ctJSON} {
		t.Run(ct, func(t *testing.T) {
			w := newMemWriter()
			h, reg := newTestHandler(t, w, nil)
			td := sampleTraces(3,
				func(sp ptrace.Span) { sp.SetTraceID(pcommon.TraceID{}) },
				func(sp ptrace.Span) { sp.SetStartTimestamp(0) },
				func(sp ptrace.Span) { sp.SetEndTimestamp(pcommon.Timestamp(1 << 63)) }, // past 2262: must not wrap to 1677
			)
			rec := post(t, h.Traces(), "/v1/traces", ct, "", traceBody(t, td, ct))
			if rec.Code != 200 {
				t.Fatalf("status = %d, want 200 (%s)", rec.Code, rec.Body.String())
			}
			got := decodeTraceResponse(t, rec, ct)
			if got.rejected != 3 {
				t.Errorf("rejected_spans = %d, want 3", got.rejected)
			}
			// Each reason is named with its first span and why.
			for _, reason := range []string{"invalid_trace_id (1)", "missing_start_time (1)", "time_out_of_range (1)",
				"; missing_start_time: span aa650000000000000000000000000000/bb65010000000000: span has no start time",
				"; time_out_of_range: span aa660000000000000000000000000000/bb66010000000000: endTimeUnixNano 9223372036854775808 is after 2262-04-11T23:47:15Z"} {
				if !strings.Contains(got.message, reason) {
					t.Errorf("error_message %q does not name %q", got.message, reason)
				}
			}
			if n := len(w.all()); n != 3 {
				t.Errorf("stored %d spans, want the 3 good ones", n)
			}
			if w.writes != 1 {
				t.Errorf("WriteSpans called %d times, want once per request", w.writes)
			}
			var out bytes.Buffer
			_ = reg.WritePrometheus(&out)
			for _, line := range []string{
				`weave_ingest_spans_received_total 6`,
				`weave_ingest_spans_stored_total 3`,
				`weave_ingest_spans_rejected_total{reason="invalid_trace_id"} 1`,
				`weave_ingest_requests_total{signal="traces",code="200"} 1`,
				`weave_ingest_batch_duration_seconds_count{signal="traces"} 1`,
			} {
				if !strings.Contains(out.String(), line+"\n") {
					t.Errorf("metrics lack %q", line)
				}
			}
		})
	}
}

func TestAllAcceptedAnswersEmptyResponse(t *testing.T) {
	h, _ := newTestHandler(t, newMemWriter(), nil)
	rec := post(t, h.Traces(), "/v1/traces", ctJSON, "", traceBody(t, sampleTraces(2), ctJSON))
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "{}" {
		t.Errorf("got %d %q, want 200 {}", rec.Code, rec.Body.String())
	}
	rec = post(t, h.Traces(), "/v1/traces", ctProto, "", traceBody(t, sampleTraces(2), ctProto))
	if rec.Code != 200 || rec.Body.Len() != 0 {
		t.Errorf("got %d %x, want 200 and an empty protobuf message", rec.Code, rec.Body.Bytes())
	}
}

func TestStoreFailureIsRetryable(t *testing.T) {
	w := newMemWriter()
	h, _ := newTestHandler(t, w, nil)
	// A parked event for the incoming span must survive the failed write.
	key := store.SpanKey{ProjectID: testProject, TraceID: "aa000000000000000000000000000000", SpanID: "bb00010000000000"}
	_ = w.WritePendingEvents(context.Background(), []store.KeyedEvents{{Key: key, Events: []model.Event{{Name: "gen_ai.user.message", Time: time.Unix(1, 0)}}}})
	w.failNext["WriteSpans"] = errDown
	rec := post(t, h.Traces(), "/v1/traces", ctProto, "", traceBody(t, sampleTraces(1), ctProto))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status = %d (Retry-After %q), want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if n := w.pendingCount(); n != 1 {
		t.Errorf("parked events after a failed write = %d, want 1 (put back)", n)
	}
	// The retry succeeds and takes the event.
	rec = post(t, h.Traces(), "/v1/traces", ctProto, "", traceBody(t, sampleTraces(1), ctProto))
	if rec.Code != 200 {
		t.Fatalf("retry status = %d, want 200", rec.Code)
	}
	s, ok := w.get(key)
	if !ok || len(s.Events) != 1 {
		t.Errorf("stored span events = %v (found %v), want the parked event", s.Events, ok)
	}
}

// Putting back the parked events of a batch that was not written runs
// without the request's cancellation (a shutdown that cut the request off
// must not lose them), but not for ever: a store that does not answer
// (here, until the context ends) no longer holds the request — and the
// server's shutdown waiting for it — for good.
func TestRestorePendingBounded(t *testing.T) {
	defer func(d time.Duration) { restoreTimeout = d }(restoreTimeout)
	restoreTimeout = time.Millisecond // any bound will do; it only has to end
	w := newMemWriter()
	h, _ := newTestHandler(t, w, nil)
	key := store.SpanKey{ProjectID: testProject, TraceID: "aa000000000000000000000000000000", SpanID: "bb00010000000000"}
	_ = w.WritePendingEvents(context.Background(), []store.KeyedEvents{{Key: key, Events: []model.Event{{Name: "gen_ai.user.message", Time: time.Unix(1, 0)}}}})
	w.failNext["WriteSpans"] = errDown
	w.mu.Lock()
	w.pendingWait = true
	w.mu.Unlock()
	done := make(chan int, 1)
	go func() {
		done <- post(t, h.Traces(), "/v1/traces", ctProto, "", traceBody(t, sampleTraces(1), ctProto)).Code
	}()
	select {
	case code := <-done:
		if code != http.StatusServiceUnavailable {
			t.Errorf("status = %d, want 503", code)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a speed check
		t.Fatal("the request waits for good on a store that does not answer the put-back")
	}
}

func TestProjectRoutingAndAuthorizePerProject(t *testing.T) {
	td := sampleTraces(1)
	rs2 := td.ResourceSpans().AppendEmpty()
	rs2.Resource().Attributes().PutStr("wandb.entity", "acme")
	rs2.Resource().Attributes().PutStr("wandb.project", "bots")
	sampleTraces(1).ResourceSpans().At(0).ScopeSpans().CopyTo(rs2.ScopeSpans())
	rs2.ScopeSpans().At(0).Spans().At(0).SetSpanID(pcommon.SpanID{7})
	var asked []string
	w := newMemWriter()
	h, _ := newTestHandler(t, w, func(c *Config, s *Settings) {
		s.Authorize = func(r *http.Request, p string) error { asked = append(asked, p); return nil }
	})
	rec := post(t, h.Traces(), "/agents/otel/v1/traces", ctProto, "", traceBody(t, td, ctProto))
	if rec.Code != 200 {
		t.Fatalf("status = %d", rec.Code)
	}
	if got, want := strings.Join(asked, ","), "acme/bots,local/default"; got != want {
		t.Errorf("Authorize asked for %q, want %q", got, want)
	}
	var projects []string
	for _, s := range w.all() {
		projects = append(projects, s.ProjectID)
	}
	sort.Strings(projects)
	if got, want := strings.Join(projects, ","), "acme/bots,local/default"; got != want {
		t.Errorf("stored projects %q, want %q", got, want)
	}
}

type corpusCase struct{ dir, name string }

func corpusCases(t testing.TB) []corpusCase {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*.pb"))
	var out []corpusCase
	for _, p := range paths {
		if strings.HasSuffix(p, ".logs.pb") {
			continue
		}
		out = append(out, corpusCase{filepath.Dir(p), strings.TrimSuffix(filepath.Base(p), ".pb")})
	}
	if len(out) == 0 {
		t.Fatalf("no corpus cases under %s", corpusDir)
	}
	return out
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCorpusBodiesAllPaths(t *testing.T) {
	paths := TracePaths
	for i, c := range corpusCases(t) {
		for _, ext := range []string{".pb", ".json"} {
			t.Run(filepath.Base(c.dir)+"/"+c.name+ext, func(t *testing.T) {
				body := readFile(t, filepath.Join(c.dir, c.name+ext))
				ct, ce := ctProto, ""
				if ext == ".json" {
					ct = ctJSON
				}
				if i%2 == 0 {
					body, ce = gz(t, body), "gzip"
				}
				w := newMemWriter()
				h, _ := newTestHandler(t, w, nil)
				rec := post(t, mux(h), paths[i%len(paths)], ct, ce, body)
				if rec.Code != 200 {
					t.Fatalf("status = %d, want 200 (%s)", rec.Code, rec.Body.String())
				}
				if got := decodeTraceResponse(t, rec, ct); got.rejected != 0 {
					t.Errorf("rejected %d spans (%s), want 0", got.rejected, got.message)
				}
				req := ptraceotlp.NewExportRequest()
				_ = req.UnmarshalProto(readFile(t, filepath.Join(c.dir, c.name+".pb")))
				if got, want := len(w.all()), req.Traces().SpanCount(); got != want {
					t.Errorf("stored %d spans, want %d", got, want)
				}
			})
		}
	}
}

// ingestCase posts a corpus case's traces and logs in the given order and
// returns the stored spans as JSON, sorted. chunkItems, when given, is the
// handler's chunk size.
func ingestCase(t *testing.T, c corpusCase, ext string, logsFirst bool, chunkItems ...int) (string, *memWriter) {
	t.Helper()
	ct := ctProto
	if ext == ".json" {
		ct = ctJSON
	}
	w := newMemWriter()
	h, _ := newTestHandler(t, w, nil)
	for _, n := range chunkItems {
		h.chunkItems = n
	}
	m := mux(h)
	traces := func() {
		if rec := post(t, m, "/v1/traces", ct, "", readFile(t, filepath.Join(c.dir, c.name+ext))); rec.Code != 200 {
			t.Fatalf("traces: status %d %s", rec.Code, rec.Body.String())
		}
	}
	logs := func() {
		rec := post(t, m, "/v1/logs", ct, "", readFile(t, filepath.Join(c.dir, c.name+".logs"+ext)))
		if rec.Code != 200 {
			t.Fatalf("logs: status %d %s", rec.Code, rec.Body.String())
		}
		resp := plogotlp.NewExportResponse()
		var err error
		if ct == ctJSON {
			err = resp.UnmarshalJSON(rec.Body.Bytes())
		} else {
			err = resp.UnmarshalProto(rec.Body.Bytes())
		}
		if err != nil {
			t.Fatalf("logs response does not decode: %v", err)
		}
		if n := resp.PartialSuccess().RejectedLogRecords(); n != 0 {
			t.Errorf("rejected %d log records (%s), want 0", n, resp.PartialSuccess().ErrorMessage())
		}
	}
	if logsFirst {
		logs()
		traces()
	} else {
		traces()
		logs()
	}
	spans := w.all()
	sort.Slice(spans, func(i, j int) bool { return spans[i].SpanID < spans[j].SpanID })
	b, err := json.Marshal(spans)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), w
}

func TestLogsAttachInEitherOrder(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*.logs.pb"))
	if len(paths) == 0 {
		t.Fatalf("no log fixtures under %s", corpusDir)
	}
	for _, p := range paths {
		c := corpusCase{filepath.Dir(p), strings.TrimSuffix(filepath.Base(p), ".logs.pb")}
		for _, ext := range []string{".pb", ".json"} {
			t.Run(filepath.Base(c.dir)+"/"+c.name+ext, func(t *testing.T) {
				spansFirst, w1 := ingestCase(t, c, ext, false)
				logsFirst, w2 := ingestCase(t, c, ext, true)
				if spansFirst != logsFirst {
					t.Errorf("stored rows differ by arrival order:\nspans first: %s\nlogs first:  %s", spansFirst, logsFirst)
				}
				// Requests handled one span and one record at a time store
				// the same rows.
				if oneByOne, _ := ingestCase(t, c, ext, true, 1); oneByOne != logsFirst {
					t.Errorf("stored rows differ in chunks of one:\nchunks of one: %s\nwhole:         %s", oneByOne, logsFirst)
				}
				if n := w1.pendingCount() + w2.pendingCount(); n != 0 {
					t.Errorf("%d events left parked, want 0", n)
				}
				for _, s := range w1.all() {
					if len(normalize.LogDerived(s.Events)) == 0 {
						continue // a span no record was addressed to (the Anthropic SDK's own)
					}
					if len(s.InputMessages) == 0 {
						t.Errorf("span %s has no input messages after its log records were attached", s.SpanID)
					}
					if len(s.OutputMessages) == 0 && s.StatusCode != model.StatusError {
						t.Errorf("span %s has no output messages after its log records were attached", s.SpanID)
					}
				}
			})
		}
	}
}

func TestResentSpanKeepsLogEvents(t *testing.T) {
	c := corpusCase{filepath.Join(corpusDir, "otel-instrumentation-openai"), "chat"}
	if _, err := os.Stat(filepath.Join(c.dir, "chat.pb")); err != nil {
		t.Fatalf("corpus missing: %v", err)
	}
	want, _ := ingestCase(t, c, ".pb", false)
	// The exporter sends the span again after its log records were
	// attached (a retry): the new copy carries only the span's own events.
	w := newMemWriter()
	m := mux(mustHandler(t, w))
	post(t, m, "/v1/traces", ctProto, "", readFile(t, filepath.Join(c.dir, "chat.pb")))
	post(t, m, "/v1/logs", ctProto, "", readFile(t, filepath.Join(c.dir, "chat.logs.pb")))
	post(t, m, "/v1/traces", ctProto, "", readFile(t, filepath.Join(c.dir, "chat.pb")))
	b, _ := json.Marshal(w.all())
	if string(b) != want {
		t.Errorf("after the span was sent again:\ngot  %s\nwant %s", b, want)
	}
}

func mustHandler(t testing.TB, w store.Writer) *Handler {
	t.Helper()
	h, _ := newTestHandler(t, w, nil)
	return h
}

func TestEventsParkedDuringWriteAreApplied(t *testing.T) {
	w := newMemWriter()
	h, _ := newTestHandler(t, w, nil)
	key := store.SpanKey{ProjectID: testProject, TraceID: "aa000000000000000000000000000000", SpanID: "bb00010000000000"}
	parked := false
	// The log records arrive while the span is being written: they are
	// parked after the span's handler took the (empty) pending set and
	// before its span is visible.
	w.afterWrite = func([]model.Span) {
		if parked {
			return
		}
		parked = true
		_ = w.WritePendingEvents(context.Background(), []store.KeyedEvents{{Key: key, Events: []model.Event{{
			Name: "gen_ai.user.message", Time: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
			Attributes: map[string]any{"body": map[string]any{"content": "late hello"}, "weave.event.source": "otlp_log"},
		}}}})
	}
	if rec := post(t, h.Traces(), "/v1/traces", ctProto, "", traceBody(t, sampleTraces(1), ctProto)); rec.Code != 200 {
		t.Fatalf("status %d", rec.Code)
	}
	s, _ := w.get(key)
	if len(s.InputMessages) != 1 || s.InputMessages[0].Text() != "late hello" {
		t.Errorf("input_messages = %+v, want the late event's message", s.InputMessages)
	}
	if n := w.pendingCount(); n != 0 {
		t.Errorf("%d events left parked, want 0", n)
	}
}

func TestLogsRejectNonGenAIRecords(t *testing.T) {
	body := []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[
		{"timeUnixNano":"1","body":{"stringValue":"plain app log"},"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331"},
		{"timeUnixNano":"1","eventName":"gen_ai.user.message","body":{"kvlistValue":{"values":[{"key":"content","value":{"stringValue":"hi"}}]}}}
	]}]}]}`)
	w := newMemWriter()
	h, _ := newTestHandler(t, w, nil)
	rec := post(t, h.Logs(), "/v1/logs", ctJSON, "", body)
	if rec.Code != 200 {
		t.Fatalf("status %d %s", rec.Code, rec.Body.String())
	}
	resp := plogotlp.NewExportResponse()
	if err := resp.UnmarshalJSON(rec.Body.Bytes()); err != nil {
		t.Fatal(err)
	}
	if n := resp.PartialSuccess().RejectedLogRecords(); n != 2 {
		t.Errorf("rejected_log_records = %d, want 2", n)
	}
	msg := resp.PartialSuccess().ErrorMessage()
	if !strings.Contains(msg, "not_genai_event (1)") || !strings.Contains(msg, "no_span_context (1)") {
		t.Errorf("error_message %q, want both reasons", msg)
	}
}

func TestLogStoreFailures(t *testing.T) {
	body := readCorpusFile(t, filepath.Join(corpusDir, "otel-instrumentation-openai", "chat.logs.pb"))
	for _, op := range []string{"GetSpans", "WritePendingEvents"} {
		t.Run(op, func(t *testing.T) {
			w := newMemWriter()
			w.failNext[op] = errDown
			h, _ := newTestHandler(t, w, nil)
			if rec := post(t, h.Logs(), "/v1/logs", ctProto, "", body); rec.Code != 503 {
				t.Errorf("status = %d, want 503", rec.Code)
			}
		})
	}
}

func readCorpusFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("corpus missing: %v", err)
	}
	return b
}

func TestClockDrivesLatency(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := 1500 * time.Millisecond
	clock := func() time.Time { now = now.Add(step); return now }
	h, reg := newTestHandler(t, newMemWriter(), func(c *Config, s *Settings) { s.Now = clock })
	post(t, h.Traces(), "/v1/traces", ctProto, "", traceBody(t, sampleTraces(1), ctProto))
	var out bytes.Buffer
	_ = reg.WritePrometheus(&out)
	if !strings.Contains(out.String(), `weave_ingest_batch_duration_seconds_sum{signal="traces"} 1.5`+"\n") {
		t.Errorf("latency sum not 1.5 s:\n%s", out.String())
	}
}

func TestSharedRegistryAcrossHandlers(t *testing.T) {
	reg := metrics.NewRegistry()
	for range 2 {
		if _, err := New(Config{DefaultProject: "p"}, Settings{Writer: newMemWriter(), Metrics: reg}); err != nil {
			t.Fatalf("New with a shared registry: %v", err)
		}
	}
}

func TestReadErrorTypes(t *testing.T) {
	h, _ := newTestHandler(t, newMemWriter(), nil)
	r := httptest.NewRequest(http.MethodPost, "/v1/traces", errReader{})
	r.Header.Set("Content-Type", ctProto)
	rec := httptest.NewRecorder()
	h.Traces().ServeHTTP(rec, r)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "cannot read body") {
		t.Errorf("got %d %q, want 400 cannot read body", rec.Code, rec.Body.String())
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

var _ io.Reader = errReader{}
