package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/auth"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/sqlite"
)

// TestMillionDeepValueRefused: a span whose attribute nests a million
// levels (the requests that overflowed the goroutine stack in pdata's
// KeyValueList.UnmarshalProto and, in JSON, in normalize's encoding of
// custom attributes) is rejected alone, fast; the request's other span is
// stored and the handler keeps serving.
func TestMillionDeepValueRefused(t *testing.T) {
	tests := []struct {
		name   string
		enc    encoding
		kvlist bool
		ce     string
	}{
		{"protobuf kvlist", encProto, true, ""},
		{"protobuf array", encProto, false, ""},
		{"JSON arrayValue", encJSON, false, ""},
		{"JSON kvlistValue gzip", encJSON, true, "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			levels := 1_000_000
			if tt.enc == encJSON && tt.kvlist {
				levels = 600_000 // 43 bytes a level: stay under the 32 MiB limit
			}
			body := deepTraceRequest(t, tt.enc, levels, tt.kvlist)
			size := len(body)
			if tt.ce == "gzip" {
				var buf bytes.Buffer
				zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
				if _, err := zw.Write(body); err != nil || zw.Close() != nil {
					t.Fatal(err)
				}
				body = buf.Bytes()
			}
			ct := ctProto
			if tt.enc == encJSON {
				ct = ctJSON
			}
			w := newMemWriter()
			h, _ := newTestHandler(t, w, nil)
			start := time.Now()
			rec := post(t, mux(h), "/v1/traces", ct, tt.ce, body)
			took := time.Since(start)
			t.Logf("%s: %d levels, %.1f MB (%.1f MB sent): answered in %v", tt.name, levels, float64(size)/1e6, float64(len(body))/1e6, took.Round(time.Microsecond))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d (%s), want 200 with a partial success", rec.Code, rec.Body.String())
			}
			got := decodeTraceResponse(t, rec, ct)
			if got.rejected != 1 || !strings.Contains(got.message, "value_too_deep (1)") || !strings.Contains(got.message, "deeper than 128 levels") {
				t.Errorf("partial success %d %q, want the deep span rejected for its depth", got.rejected, got.message)
			}
			if spans := w.all(); len(spans) != 1 || spans[0].SpanName != "good" && spans[0].SpanName != "chat 1" {
				t.Errorf("stored %d spans, want the good one", len(spans))
			}
			// Still serving.
			if rec := post(t, mux(h), "/v1/traces", ctProto, "", traceBody(t, sampleTraces(2), ctProto)); rec.Code != http.StatusOK {
				t.Errorf("next request: status %d, want 200", rec.Code)
			}
		})
	}
}

func TestUndecodableSpanRejectedAlone(t *testing.T) {
	good := func(id string) string {
		return `{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"` + id + `","name":"ok","startTimeUnixNano":"1763812800000000000"}`
	}
	body := `{"resourceSpans":[{"scopeSpans":[{"spans":[` + good("0000000000000001") + `,{"traceId":"zz","spanId":"0000000000000002"},` + good("0000000000000003") + `]}]}]}`
	w := newMemWriter()
	h, _ := newTestHandler(t, w, nil)
	rec := post(t, h.Traces(), "/v1/traces", ctJSON, "", []byte(body))
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", rec.Code, rec.Body.String())
	}
	got := decodeTraceResponse(t, rec, ctJSON)
	if got.rejected != 1 || !strings.Contains(got.message, "undecodable (1); span zz/0000000000000002: ") || strings.Contains(got.message, "error found in") {
		t.Errorf("partial success %d %q, want the bad span named with pdata's reason", got.rejected, got.message)
	}
	if n := len(w.all()); n != 2 {
		t.Errorf("stored %d spans, want the 2 good ones", n)
	}
}

// TestLargeRequestWrittenInChunks: a request is decoded, normalized and
// written a chunk at a time; a store failure part-way answers 503 and the
// client's retry (upserts) stores everything once.
func TestLargeRequestWrittenInChunks(t *testing.T) {
	for _, ct := range []string{ctProto, ctJSON} {
		t.Run(ct, func(t *testing.T) {
			w := newMemWriter()
			h, _ := newTestHandler(t, w, nil)
			h.chunkItems = 10
			td := sampleTraces(95, func(sp ptrace.Span) { sp.SetSpanID(pcommon.SpanID{}) })
			body := traceBody(t, td, ct)
			fails := 0
			w.afterWrite = func([]model.Span) {
				if w.writes == 4 && fails == 0 {
					fails++
					w.mu.Lock()
					w.failNext["WriteSpans"] = errDown
					w.mu.Unlock()
				}
			}
			rec := post(t, h.Traces(), "/v1/traces", ct, "", body)
			if rec.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503 when the fifth chunk fails", rec.Code)
			}
			if n := len(w.all()); n != 40 {
				t.Errorf("stored %d spans before the failure, want 40", n)
			}
			rec = post(t, h.Traces(), "/v1/traces", ct, "", body)
			if rec.Code != http.StatusOK {
				t.Fatalf("retry: status %d (%s), want 200", rec.Code, rec.Body.String())
			}
			if got := decodeTraceResponse(t, rec, ct); got.rejected != 1 {
				t.Errorf("rejected %d (%s), want the span without id", got.rejected, got.message)
			}
			if n := len(w.all()); n != 95 {
				t.Errorf("stored %d spans, want 95", n)
			}
			if w.writes != 4+10 {
				t.Errorf("WriteSpans called %d times, want 4 then 10 (chunks of 10)", w.writes)
			}
		})
	}
}

// countingBody counts the bytes the handler reads of a request body.
type countingBody struct {
	r    io.Reader
	read int
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	return n, err
}

func postCounted(h http.Handler, ct string, body []byte, mod func(*http.Request)) (*httptest.ResponseRecorder, *countingBody) {
	cb := &countingBody{r: bytes.NewReader(body)}
	r := httptest.NewRequest(http.MethodPost, "/v1/traces", cb)
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Type", ct)
	if mod != nil {
		mod(r)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec, cb
}

// TestBusyAnswers503WithRetryAfter: with the memory budget taken, a request
// waits AdmissionWait, then gets 503 with Retry-After; its body is read
// away (so the client sees the answer, not a reset) but never kept. Once
// room frees, the same request is stored.
func TestBusyAnswers503WithRetryAfter(t *testing.T) {
	w := newMemWriter()
	h, reg := newTestHandler(t, w, func(c *Config, s *Settings) {
		c.MaxInFlightBytes = 4 << 20
		c.AdmissionWait = 20 * time.Millisecond
	})
	body := traceBody(t, sampleTraces(3), ctProto)
	if err := h.budget.acquire(context.Background(), 4<<20); err != nil {
		t.Fatal(err)
	}
	rec, cb := postCounted(h.Traces(), ctProto, body, nil)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "busy") {
		t.Fatalf("got %d (Retry-After %q) %q, want 503 busy with Retry-After", rec.Code, rec.Header().Get("Retry-After"), rec.Body.String())
	}
	if cb.read != len(body) {
		t.Errorf("read %d of %d body bytes, want all (drained)", cb.read, len(body))
	}
	if n := len(w.all()); n != 0 {
		t.Errorf("stored %d spans, want none", n)
	}
	h.budget.release(4 << 20)
	rec, _ = postCounted(h.Traces(), ctProto, body, nil)
	if rec.Code != http.StatusOK || len(w.all()) != 3 {
		t.Fatalf("after release: status %d, %d spans stored, want 200 and 3", rec.Code, len(w.all()))
	}
	if got := h.budget.inUse(); got != 0 {
		t.Errorf("budget in use after the requests: %d, want 0", got)
	}
	var out bytes.Buffer
	_ = reg.WritePrometheus(&out)
	for _, line := range []string{"weave_ingest_requests_throttled_total 1\n", "weave_ingest_in_flight_bytes 0\n"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// TestWaitingRequestAdmittedWhenRoomFrees: a request that finds no room
// waits for it rather than failing at once.
func TestWaitingRequestAdmittedWhenRoomFrees(t *testing.T) {
	w := newMemWriter()
	h, _ := newTestHandler(t, w, func(c *Config, s *Settings) {
		c.MaxInFlightBytes = 4 << 20
		c.AdmissionWait = time.Minute
	})
	if err := h.budget.acquire(context.Background(), 4<<20); err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() {
		rec, _ := postCounted(h.Traces(), ctProto, traceBody(t, sampleTraces(1), ctProto), nil)
		done <- rec.Code
	}()
	for h.budget.waiting() == 0 {
		time.Sleep(time.Millisecond)
	}
	h.budget.release(4 << 20)
	if code := <-done; code != http.StatusOK {
		t.Fatalf("status %d, want 200 once room freed", code)
	}
}

// TestRefusedBeforeReadingTheBody: a declared length over the limit and,
// with Authenticate set, a missing key are answered without reading a byte
// of the body.
func TestRefusedBeforeReadingTheBody(t *testing.T) {
	body := traceBody(t, sampleTraces(2), ctProto)
	w := newMemWriter()
	h, _ := newTestHandler(t, w, func(c *Config, s *Settings) {
		c.MaxBodyBytes = int64(len(body)) - 1
	})
	rec, cb := postCounted(h.Traces(), ctProto, body, nil)
	if rec.Code != http.StatusRequestEntityTooLarge || cb.read != 0 {
		t.Errorf("over the limit: status %d after reading %d bytes, want 413 unread", rec.Code, cb.read)
	}

	keyed, _ := newTestHandler(t, w, func(c *Config, s *Settings) {
		s.Authenticate = func(r *http.Request) error {
			if r.Header.Get("wandb-api-key") != "right" {
				return auth.ErrUnauthenticated
			}
			return nil
		}
	})
	// A hostile body: without a key it must not even be scanned.
	deep := deepTraceRequest(t, encProto, 1_000_000, true)
	rec, cb = postCounted(keyed.Traces(), ctProto, deep, nil)
	if rec.Code != http.StatusUnauthorized || cb.read != 0 {
		t.Errorf("no key: status %d after reading %d bytes, want 401 unread", rec.Code, cb.read)
	}
	rec, cb = postCounted(keyed.Traces(), "text/plain", deep, nil)
	if rec.Code != http.StatusUnauthorized || cb.read != 0 {
		t.Errorf("no key, bad content type: status %d, want 401 first", rec.Code)
	}
	rec, _ = postCounted(keyed.Traces(), ctProto, body, func(r *http.Request) { r.Header.Set("wandb-api-key", "right") })
	if rec.Code != http.StatusOK {
		t.Errorf("with the key: status %d (%s), want 200", rec.Code, rec.Body.String())
	}
}

func TestBudgetServesInOrder(t *testing.T) {
	b := newBudget(10)
	ctx := context.Background()
	if err := b.acquire(ctx, 8); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 3)
	// A big waiter first, then a small one that would fit now: the small
	// one waits its turn (no starvation of the big one).
	go func() { _ = b.acquire(ctx, 9); order <- 9 }()
	for b.waiting() < 1 {
		time.Sleep(time.Millisecond)
	}
	go func() { _ = b.acquire(ctx, 2); order <- 2 }()
	for b.waiting() < 2 {
		time.Sleep(time.Millisecond)
	}
	// A waiter whose context ends leaves the queue.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error)
	go func() { errc <- b.acquire(cctx, 5) }()
	for b.waiting() < 3 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("cancelled acquire succeeded")
	}
	b.release(8)
	if first := <-order; first != 9 {
		t.Fatalf("first served %d, want the big waiter (9)", first)
	}
	b.release(9)
	if second := <-order; second != 2 {
		t.Fatalf("second served %d, want 2", second)
	}
	b.release(2)
	if b.inUse() != 0 || b.waiting() != 0 {
		t.Errorf("in use %d, waiting %d, want 0 and 0", b.inUse(), b.waiting())
	}
}

// TestDeepJSONStringsRoundTripTheStore: string attributes holding JSON
// nested just under and over encoding/json's limit reach the embedded
// store and are read back (the read API's path), as text or as parsed
// messages.
func TestDeepJSONStringsRoundTripTheStore(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	h, _ := newTestHandler(t, st, nil)
	for i, depth := range []int{9_990, 10_001, 1_000_000} {
		td := sampleTraces(1)
		sp := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
		sp.SetSpanID(pcommon.SpanID{0xdd, byte(i + 1)})
		arrays := strings.Repeat("[", depth) + `"x"` + strings.Repeat("]", depth)
		sp.Attributes().PutStr("gen_ai.input.messages", arrays)
		sp.Attributes().PutStr("gen_ai.tool.call.arguments", arrays)
		sp.Attributes().PutStr("input.value", strings.Repeat(`{"a":`, min(depth, 100_000))+"1"+strings.Repeat("}", min(depth, 100_000)))
		rec := post(t, h.Traces(), "/v1/traces", ctProto, "", traceBody(t, td, ctProto))
		if rec.Code != http.StatusOK {
			t.Fatalf("depth %d: status %d (%s)", depth, rec.Code, rec.Body.String())
		}
		if got := decodeTraceResponse(t, rec, ctProto); got.rejected != 0 {
			t.Errorf("depth %d: rejected %d (%s)", depth, got.rejected, got.message)
		}
		key := store.SpanKey{ProjectID: testProject, TraceID: "aa000000000000000000000000000000", SpanID: fmt.Sprintf("dd%02x000000000000", i+1)}
		spans, err := st.GetSpans(ctx, []store.SpanKey{key})
		if err != nil || len(spans) != 1 {
			t.Fatalf("depth %d: read back %d spans: %v", depth, len(spans), err)
		}
	}
}

// TestTimestampsNeverWrap: start times past 2262 (2^63 ns and the largest
// uint64, which used to be stored as 1677–1970 and 1969-12-31) are
// rejected with a message naming the time; a span ending before it starts
// is kept as ending when it started; the extremes weave does store come
// back exactly from the embedded store.
func TestTimestampsNeverWrap(t *testing.T) {
	ctx := context.Background()
	st := openSQLite(t)
	h, reg := newTestHandler(t, st, nil)
	maxNanos := pcommon.Timestamp(store.MaxTime.UnixNano())
	minStart := pcommon.Timestamp(1000) // 1970-01-01T00:00:00.000001Z
	td := sampleTraces(0,
		func(sp ptrace.Span) { sp.SetStartTimestamp(1 << 63); sp.SetEndTimestamp(0) },
		func(sp ptrace.Span) { sp.SetStartTimestamp(pcommon.Timestamp(^uint64(0))); sp.SetEndTimestamp(0) },
		func(sp ptrace.Span) { sp.SetEndTimestamp(sp.StartTimestamp() - 5e9) },
		func(sp ptrace.Span) { sp.SetStartTimestamp(maxNanos); sp.SetEndTimestamp(maxNanos) },
		func(sp ptrace.Span) { sp.SetStartTimestamp(minStart); sp.SetEndTimestamp(0) },
	)
	for _, ct := range []string{ctProto, ctJSON} {
		rec := post(t, h.Traces(), "/v1/traces", ct, "", traceBody(t, td, ct))
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: status %d (%s)", ct, rec.Code, rec.Body.String())
		}
		got := decodeTraceResponse(t, rec, ct)
		if got.rejected != 2 || !strings.Contains(got.message, "time_out_of_range (2)") || !strings.Contains(got.message, "startTimeUnixNano 9223372036854775808 is after 2262-04-11T23:47:15Z") {
			t.Errorf("%s: partial success %d %q, want the two spans past 2262 rejected, named", ct, got.rejected, got.message)
		}
	}
	key := func(i int) store.SpanKey {
		return store.SpanKey{ProjectID: testProject, TraceID: fmt.Sprintf("aa%02x0000000000000000000000000000", 100+i), SpanID: fmt.Sprintf("bb%02x010000000000", 100+i)}
	}
	spans, err := st.GetSpans(ctx, []store.SpanKey{key(0), key(1), key(2), key(3), key(4)})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]model.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
	}
	if len(byID) != 3 {
		t.Fatalf("stored %d of the spans, want 3 (none past 2262)", len(byID))
	}
	for _, s := range spans {
		if s.StartedAt.Year() < 1970 {
			t.Errorf("span %s stored starting %v: wrapped", s.SpanID, s.StartedAt)
		}
	}
	if s := byID[key(2).SpanID]; !s.EndedAt.Equal(s.StartedAt) || s.DurationMs() != 0 {
		t.Errorf("span ending before its start: stored %v–%v, want ended when it started", s.StartedAt, s.EndedAt)
	}
	if s := byID[key(3).SpanID]; !s.StartedAt.Equal(store.MaxTime) {
		t.Errorf("span at the latest storable time: stored %v, want %v", s.StartedAt, store.MaxTime)
	}
	if s := byID[key(4).SpanID]; !s.StartedAt.Equal(time.Unix(0, 1000).UTC()) {
		t.Errorf("span 1 µs after the epoch: stored %v", s.StartedAt)
	}
	var out bytes.Buffer
	_ = reg.WritePrometheus(&out)
	if !strings.Contains(out.String(), `weave_ingest_span_warnings_total{code="end_before_start"} 2`) {
		t.Errorf("metrics lack the end_before_start warnings")
	}
}

// openSQLite opens an embedded store in a temporary directory, closed when
// the test ends.
func openSQLite(tb testing.TB) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "weave.db"), sqlite.Settings{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}
