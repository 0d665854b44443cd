package ingest

import (
	"encoding/binary"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/store"
)

// fuzzHandler is one handler and store for all the executions of a fuzz
// worker: building them costs far more than most inputs do. Each
// execution starts from an empty store.
type fuzzHandler struct {
	w *memWriter
	h *Handler
	m *http.ServeMux
}

func newFuzzHandler(f *testing.F) *fuzzHandler {
	w := newMemWriter()
	h, _ := newTestHandler(f, w, nil)
	return &fuzzHandler{w: w, h: h, m: mux(h)}
}

func (fh *fuzzHandler) reset() {
	fh.w.mu.Lock()
	clear(fh.w.spans)
	clear(fh.w.pending)
	fh.w.writes = 0
	fh.w.mu.Unlock()
	fh.h.attached = newKeySet(1 << 16)
}

// checkStored holds every stored span to what an OTLP span can say: a
// start after the epoch (OTLP times are unsigned) and no later than
// store.MaxTime, never wrapped, and an end that is unset or not before
// the start.
func (fh *fuzzHandler) checkStored(t *testing.T) {
	t.Helper()
	for _, s := range fh.w.all() {
		if s.StartedAt.Before(time.Unix(0, 0)) || s.StartedAt.After(store.MaxTime) {
			t.Fatalf("span %s stored starting %v", s.SpanID, s.StartedAt)
		}
		if !s.EndedAt.IsZero() && s.EndedAt.Before(s.StartedAt) {
			t.Fatalf("span %s stored ending %v before its start %v", s.SpanID, s.EndedAt, s.StartedAt)
		}
		for _, e := range s.Events {
			if e.Time.Before(time.Unix(0, 0)) || e.Time.After(store.MaxTime) {
				t.Fatalf("span %s: event %q at %v", s.SpanID, e.Name, e.Time)
			}
		}
	}
}

// FuzzTracesHandler posts arbitrary bodies in both encodings, seeded with
// the corpus' real requests cut into one-span (one-record) requests and
// with shapes built by code (nesting around MaxValueDepth, wrapped times,
// logs). The handler must answer with a known status, never panic, store
// only what it acknowledged, and store only sane times.
//
// Seeds stay small (maxFuzzSeed): the fuzzer minimizes every input that
// finds new coverage, one execution per candidate, and on the corpus' whole
// requests (up to 40 KB) that took the entire run — 5 to 200 executions in
// 20 s. TestCorpusBodiesAllPaths covers the whole requests, FuzzShapes the
// large shapes.
func FuzzTracesHandler(f *testing.F) {
	const maxFuzzSeed = 2 << 10
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*"))
	seen := map[string]bool{}
	for _, p := range paths {
		enc := encProto
		switch {
		case strings.HasSuffix(p, ".decoded.json"):
			continue
		case strings.HasSuffix(p, ".json"):
			enc = encJSON
		case !strings.HasSuffix(p, ".pb"):
			continue
		}
		sig := signalTraces
		if strings.Contains(p, ".logs.") {
			sig = signalLogs
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		l, err := scanRequest(sig, enc, b)
		if err != nil {
			f.Fatalf("%s: %v", p, err)
		}
		for _, pieces := range l.chunks(1, 1) {
			if one := l.encode(pieces); len(one) <= maxFuzzSeed && !seen[string(one)] {
				seen[string(one)] = true
				f.Add(one, enc == encJSON, sig == signalLogs)
			}
		}
	}
	f.Add([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","startTimeUnixNano":"1","attributes":[{"key":"gen_ai.input.messages","value":{"stringValue":"[{"}}]}]}]}]}`), true, false)
	for _, s := range seedShapes {
		for _, enc := range []encoding{encProto, encJSON} {
			if b := shapedRequest(f, enc, s); len(b) <= maxFuzzSeed {
				f.Add(b, enc == encJSON, s.logs)
			}
		}
	}
	fh := newFuzzHandler(f)
	f.Fuzz(func(t *testing.T, body []byte, isJSON, isLogs bool) {
		fh.reset()
		ct := ctProto
		if isJSON {
			ct = ctJSON
		}
		path := "/v1/traces"
		if isLogs {
			path = "/v1/logs"
		}
		rec := post(t, fh.m, path, ct, "", body)
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			if len(fh.w.all()) != 0 {
				t.Fatalf("400 but %d spans stored", len(fh.w.all()))
			}
		default:
			t.Fatalf("status %d (%s), want 200 or 400", rec.Code, rec.Body.String())
		}
		fh.checkStored(t)
	})
}

// shape describes a request built by code for the fuzzers: spans (or log
// records) with the given times, and one more whose attribute (or body)
// nests depth lists or maps.
type shape struct {
	count             int
	depth             int
	kvlist, logs      bool
	start, end, event uint64
}

var seedShapes = []shape{
	{count: 3, depth: MaxValueDepth, start: 1_763_812_800_000_000_000, end: 1_763_812_801_000_000_000},
	{count: 1, depth: MaxValueDepth + 1, kvlist: true, start: 1 << 63},
	{count: 1, depth: MaxValueDepth + 1, start: 1_763_812_800_000_000_000, event: 1},
	{count: 2, depth: 1000, start: ^uint64(0), end: ^uint64(0), event: 1 << 63},
	{count: 5000, depth: 0, start: 1, end: 0},
	{count: 2, depth: 5, start: 1_763_812_800_000_000_000, end: 1_763_812_700_000_000_000, event: 0},
	{count: 2, depth: MaxValueDepth + 1, kvlist: true, logs: true, start: 1 << 63},
	{count: 1, depth: 3000, logs: true, event: ^uint64(0)},
}

const (
	maxShapeCount = 5000
	maxShapeDepth = 5000
)

// shapedRequest renders s as an export request in enc: the items through
// pdata, the deep one by hand (pdata would recurse as deep to marshal it)
// in a resource of its own.
func shapedRequest(tb testing.TB, enc encoding, s shape) []byte {
	tb.Helper()
	count, depth := min(max(s.count, 0), maxShapeCount), min(max(s.depth, 0), maxShapeDepth)
	var body []byte
	var err error
	if s.logs {
		ld := plog.NewLogs()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		for i := range count {
			lr := lrs.AppendEmpty()
			lr.SetEventName("gen_ai.user.message")
			lr.SetTraceID(pcommon.TraceID{0xaa, byte(i), byte(i >> 8)})
			lr.SetSpanID(pcommon.SpanID{0xbb, byte(i), byte(i >> 8)})
			lr.SetTimestamp(pcommon.Timestamp(s.event))
			lr.SetObservedTimestamp(pcommon.Timestamp(s.start))
			lr.Body().SetStr("hello")
		}
		req := plogotlp.NewExportRequestFromLogs(ld)
		if enc == encJSON {
			body, err = req.MarshalJSON()
		} else {
			body, err = req.MarshalProto()
		}
	} else {
		td := ptrace.NewTraces()
		sps := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans()
		for i := range count {
			sp := sps.AppendEmpty()
			sp.SetTraceID(pcommon.TraceID{0xaa, byte(i), byte(i >> 8)})
			sp.SetSpanID(pcommon.SpanID{0xbb, byte(i), byte(i >> 8)})
			sp.SetName("chat shaped")
			sp.SetStartTimestamp(pcommon.Timestamp(s.start))
			sp.SetEndTimestamp(pcommon.Timestamp(s.end))
			sp.Attributes().PutInt("gen_ai.usage.input_tokens", int64(s.start))
			ev := sp.Events().AppendEmpty()
			ev.SetName("gen_ai.choice")
			ev.SetTimestamp(pcommon.Timestamp(s.event))
		}
		body = traceBody(tb, td, map[encoding]string{encProto: ctProto, encJSON: ctJSON}[enc])
	}
	if err != nil {
		tb.Fatal(err)
	}
	return appendDeepItem(body, enc, s.logs, depth, s.kvlist)
}

// appendDeepItem adds to an export request body one resource holding one
// span (or GenAI log record) whose attribute "deep" (or body) nests depth
// lists or maps.
func appendDeepItem(body []byte, enc encoding, logs bool, depth int, kvlist bool) []byte {
	const tid, sid = "0af7651916cd43dd8448eb211c80319c", "00000000000000d1"
	if enc == encJSON {
		item := `{"traceId":"` + tid + `","spanId":"` + sid + `","name":"deep","startTimeUnixNano":"1763812800000000000","attributes":[{"key":"deep","value":` + deepValueJSON(depth, kvlist) + `}]}`
		res := `{"scopeSpans":[{"spans":[` + item + `]}]}`
		if logs {
			item = `{"traceId":"` + tid + `","spanId":"` + sid + `","eventName":"gen_ai.choice","body":` + deepValueJSON(depth, kvlist) + `}`
			res = `{"scopeLogs":[{"logRecords":[` + item + `]}]}`
		}
		s := strings.TrimSpace(string(body))
		i := strings.LastIndex(s, "]")
		if i < 0 { // an empty request: {}
			key := "resourceSpans"
			if logs {
				key = "resourceLogs"
			}
			return []byte(`{"` + key + `":[` + res + `]}`)
		}
		return []byte(s[:i] + "," + res + s[i:])
	}
	tidb, _ := hex.DecodeString(tid)
	sidb, _ := hex.DecodeString(sid)
	var item []byte
	if logs {
		item = append(protoField(9, tidb), protoField(10, sidb)...)
		item = append(item, protoField(12, []byte("gen_ai.choice"))...)
		item = append(item, protoField(5, deepValueProto(depth, kvlist))...)
	} else {
		item = append(protoField(1, tidb), protoField(2, sidb)...)
		item = append(item, protoField(5, []byte("deep"))...)
		item = binary.LittleEndian.AppendUint64(append(item, 7<<3|1), 1_763_812_800_000_000_000) // start_time_unix_nano
		item = append(item, protoField(9, append(protoField(1, []byte("deep")), protoField(2, deepValueProto(depth, kvlist))...))...)
	}
	return append(body, protoField(1, protoField(2, protoField(2, item)))...)
}

// FuzzShapes builds requests from a few shape parameters (how many spans
// or log records, how deep one value nests, which times they carry, which
// encoding) so that the fuzzer explores the sizes, depths and integer
// edges random bytes hardly reach: the answer is 200, a value deeper than
// MaxValueDepth is rejected alone for its depth, and every stored time is
// sane.
func FuzzShapes(f *testing.F) {
	for _, s := range seedShapes {
		f.Add(uint16(s.count), uint16(s.depth), s.kvlist, s.logs, false, s.start, s.end, s.event)
		f.Add(uint16(s.count), uint16(s.depth), s.kvlist, s.logs, true, s.start, s.end, s.event)
	}
	fh := newFuzzHandler(f)
	f.Fuzz(func(t *testing.T, count, depth uint16, kvlist, logs, isJSON bool, start, end, event uint64) {
		fh.reset()
		s := shape{count: int(count) % (maxShapeCount + 1), depth: int(depth) % (maxShapeDepth + 1), kvlist: kvlist, logs: logs, start: start, end: end, event: event}
		enc, ct := encProto, ctProto
		if isJSON {
			enc, ct = encJSON, ctJSON
		}
		path := "/v1/traces"
		if logs {
			path = "/v1/logs"
		}
		rec := post(t, fh.m, path, ct, "", shapedRequest(t, enc, s))
		if rec.Code != http.StatusOK {
			t.Fatalf("%+v: status %d (%s), want 200", s, rec.Code, rec.Body.String())
		}
		if deep := s.depth > MaxValueDepth; deep != strings.Contains(rec.Body.String(), reasonTooDeep) {
			t.Fatalf("%+v: answer %q, want the deep item rejected for its depth: %v", s, rec.Body.String(), deep)
		}
		fh.checkStored(t)
		if !logs && s.depth <= MaxValueDepth && len(fh.w.all()) == 0 {
			t.Fatalf("%+v: nothing stored, want at least the deep span", s)
		}
	})
}
