package normalize

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/model"
)

// Vendor cases are hand-written payloads shaped like each producer's
// documented output (testdata/vendors/<vendor>/<case>.in.json), for the
// producers and cases the real-output corpus lacks. Each has a golden
// normalized form next to it (<case>.golden.json, rewritten by -update and
// reviewed by hand).

// specFile is the compact input format: one resource, one scope, spans
// with plain JSON attribute values (integral numbers become ints).
type specFile struct {
	Resource map[string]any `json:"resource"`
	Scope    struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"scope"`
	Spans []specSpan `json:"spans"`
	// Logs are log-record events addressed to spans by span_id.
	Logs []specEvent `json:"logs"`
}

type specSpan struct {
	Scope      string         `json:"scope"`    // default: the file's scope
	TraceID    string         `json:"trace_id"` // default: one trace for the file
	SpanID     string         `json:"span_id"`
	Parent     string         `json:"parent"`
	Name       string         `json:"name"`
	Kind       string         `json:"kind"`
	StartMs    int64          `json:"start_ms"` // offset from a fixed base time
	EndMs      int64          `json:"end_ms"`   // 0: still running
	Status     string         `json:"status"`
	StatusMsg  string         `json:"status_message"`
	Attributes map[string]any `json:"attributes"`
	Events     []specEvent    `json:"events"`
}

type specEvent struct {
	SpanID     string         `json:"span_id"`
	Name       string         `json:"name"`
	AtMs       int64          `json:"at_ms"`
	Attributes map[string]any `json:"attributes"`
	Body       any            `json:"body"`
}

var specBase = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

const specTrace = "0af7651916cd43dd8448eb211c80319c"

// fromJSON converts decoded JSON (with json.Number) into values
// pcommon.FromRaw accepts.
func fromJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = fromJSON(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromJSON(e)
		}
		return out
	}
	return v
}

func putAttrs(t testing.TB, m pcommon.Map, attrs map[string]any) {
	t.Helper()
	for k, v := range attrs {
		if err := m.PutEmpty(k).FromRaw(fromJSON(v)); err != nil {
			t.Fatalf("attribute %s: %v", k, err)
		}
	}
}

func mustID(t testing.TB, s string, n int) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != n {
		t.Fatalf("bad id %q (want %d hex bytes)", s, n)
	}
	return b
}

func loadSpec(t testing.TB, path string) (ptrace.ResourceSpans, map[SpanRef][]model.Event) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var f specFile
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	putAttrs(t, rs.Resource().Attributes(), f.Resource)
	scopes := map[string]ptrace.ScopeSpans{}
	scopeFor := func(name string) ptrace.ScopeSpans {
		if name == "" {
			name = f.Scope.Name
		}
		if ss, ok := scopes[name]; ok {
			return ss
		}
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName(name)
		if name == f.Scope.Name {
			ss.Scope().SetVersion(f.Scope.Version)
		}
		scopes[name] = ss
		return ss
	}
	traceOf := map[string]string{}
	for _, s := range f.Spans {
		sp := scopeFor(s.Scope).Spans().AppendEmpty()
		tid := s.TraceID
		if tid == "" {
			tid = specTrace
		}
		traceOf[s.SpanID] = tid
		sp.SetTraceID(pcommon.TraceID(mustID(t, tid, 16)))
		sp.SetSpanID(pcommon.SpanID(mustID(t, s.SpanID, 8)))
		if s.Parent != "" {
			sp.SetParentSpanID(pcommon.SpanID(mustID(t, s.Parent, 8)))
		}
		sp.SetName(s.Name)
		switch s.Kind {
		case "CLIENT":
			sp.SetKind(ptrace.SpanKindClient)
		case "SERVER":
			sp.SetKind(ptrace.SpanKindServer)
		default:
			sp.SetKind(ptrace.SpanKindInternal)
		}
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(specBase.Add(time.Duration(s.StartMs) * time.Millisecond)))
		if s.EndMs != 0 {
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(specBase.Add(time.Duration(s.EndMs) * time.Millisecond)))
		}
		switch s.Status {
		case "OK":
			sp.Status().SetCode(ptrace.StatusCodeOk)
		case "ERROR":
			sp.Status().SetCode(ptrace.StatusCodeError)
		}
		sp.Status().SetMessage(s.StatusMsg)
		putAttrs(t, sp.Attributes(), s.Attributes)
		for _, e := range s.Events {
			ev := sp.Events().AppendEmpty()
			ev.SetName(e.Name)
			ev.SetTimestamp(pcommon.NewTimestampFromTime(specBase.Add(time.Duration(e.AtMs) * time.Millisecond)))
			putAttrs(t, ev.Attributes(), e.Attributes)
		}
	}
	var extra map[SpanRef][]model.Event
	for _, l := range f.Logs {
		if extra == nil {
			extra = map[SpanRef][]model.Event{}
		}
		attrs := map[string]any{}
		for k, v := range l.Attributes {
			attrs[k] = fromJSON(v)
		}
		if l.Body != nil {
			attrs[EventBodyKey] = fromJSON(l.Body)
		}
		attrs[EventSourceKey] = EventSourceLog
		ref := SpanRef{TraceID: traceOf[l.SpanID], SpanID: l.SpanID}
		extra[ref] = append(extra[ref], model.Event{Name: l.Name, Time: specBase.Add(time.Duration(l.AtMs) * time.Millisecond), Attributes: attrs})
	}
	return rs, extra
}

func vendorCases(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "vendors", "*", "*.in.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no vendor cases under testdata/vendors")
	}
	return paths
}

func TestVendorGolden(t *testing.T) {
	for _, in := range vendorCases(t) {
		name := strings.TrimSuffix(strings.TrimPrefix(in, filepath.Join("testdata", "vendors")+string(filepath.Separator)), ".in.json")
		t.Run(name, func(t *testing.T) {
			rs, extra := loadSpec(t, in)
			spans, warns := Normalize(rs, Options{DefaultProject: testProject, ExtraEvents: extra, Prices: testPrices})
			for _, w := range warns {
				if w.Rejected {
					t.Errorf("rejected span: %v", w)
				}
			}
			n := 0
			for _, ss := range rs.ScopeSpans().All() {
				n += ss.Spans().Len()
			}
			if got := len(spans); got != n {
				t.Errorf("got %d rows, want %d", got, n)
			}
			got, err := json.MarshalIndent(goldenRows(spans), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := strings.TrimSuffix(in, ".in.json") + ".golden.json"
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden (run with -update to create): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("normalized rows differ from %s (run with -update and review the diff)", path)
			}
			// Every vendor case also survives the store round trip.
			for _, s := range spans {
				again, _, err := Renormalize(s, nil, Options{Prices: testPrices})
				if err != nil {
					t.Fatalf("Renormalize: %v", err)
				}
				if a, b := jsonOf(t, again), jsonOf(t, s); a != b {
					t.Errorf("span %s: renormalized row differs:\ngot:  %s\nwant: %s", s.SpanID, a, b)
				}
			}
		})
	}
}

func ptrStr(p *int64) string {
	if p == nil {
		return "nil"
	}
	return fmt.Sprint(*p)
}
