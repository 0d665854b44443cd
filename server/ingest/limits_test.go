package ingest

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/model"
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
		{"protobuf kvlist gzip", encProto, true, "gzip"},
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
				body = gz(t, body)
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
