package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/pricing"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

// built is a conversation of storetest's fixtures: spans written straight
// to a store, without the raw OTLP of spans that arrived over the wire.
func built(t *testing.T) []model.Span {
	t.Helper()
	spans := storetest.Flatten(storetest.BuildConversation(storetest.ConversationSpec{
		ProjectID: "p/x", ConversationID: "c1", Start: storetest.T0, Turns: 3, CallsPerTurn: 2, Subagent: true, SystemPrompt: "be brief",
	}))
	for i := range spans {
		if len(spans[i].RawSpan) > 0 {
			t.Fatalf("fixture span %s has a raw span", spans[i].SpanID)
		}
	}
	return spans
}

// reingest decodes OTLP/JSON lines and normalizes them as weave-server does.
func reingest(t *testing.T, line []byte) []model.Span {
	t.Helper()
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalJSON(line); err != nil {
		t.Fatalf("OTLP/JSON does not decode: %v", err)
	}
	var out []model.Span
	for _, rs := range req.Traces().ResourceSpans().All() {
		spans, warnings := normalize.Normalize(rs, normalize.Options{DefaultProject: "p/x", Prices: pricing.Default()})
		if len(warnings) > 0 {
			t.Errorf("warnings: %v", warnings)
		}
		out = append(out, spans...)
	}
	return out
}

// TestOTLPRebuiltSpans: a span stored without its raw OTLP is rebuilt from
// its columns, and normalizing that gives back the same row, bar the raw
// span (the rebuilt OTLP now), the cost (the fixtures' costs are made up;
// a rebuilt span is priced again, a reported cost kept) and the finish
// reasons (the fixtures' Anthropic ones become the conventions', as on
// every span that arrived over OTLP; input messages keep none). Rebuilding a normalized row gives
// it back exactly.
func TestOTLPRebuiltSpans(t *testing.T) {
	fixture := built(t)
	reported := slices.IndexFunc(fixture, func(s model.Span) bool { return s.OperationName == model.OpChat && s.InputTokens != nil })
	half := 0.5
	fixture[reported].CostUSD, fixture[reported].CostSource = &half, model.CostReported
	once := roundTrip(t, fixture)
	if c := once[reported]; c.CostUSD == nil || *c.CostUSD != 0.5 || c.CostSource != model.CostReported {
		t.Errorf("a reported cost rebuilt as %v %q, want 0.5 reported", c.CostUSD, c.CostSource)
	}
	twice := roundTrip(t, once)
	canonical := map[string]string{"end_turn": "stop", "tool_use": "tool_call"}
	loose := func(s model.Span) model.Span {
		s.CostUSD, s.CostSource = nil, ""
		s.FinishReasons = slices.Clone(s.FinishReasons)
		for j, r := range s.FinishReasons {
			if c, ok := canonical[r]; ok {
				s.FinishReasons[j] = c
			}
		}
		s.OutputMessages = slices.Clone(s.OutputMessages)
		for j, m := range s.OutputMessages {
			if c, ok := canonical[m.FinishReason]; ok {
				s.OutputMessages[j].FinishReason = c
			}
		}
		// Input messages carry no finish reason once normalized.
		s.InputMessages = slices.Clone(s.InputMessages)
		for j := range s.InputMessages {
			s.InputMessages[j].FinishReason = ""
		}
		return s
	}
	for i := range fixture {
		sameRow(t, "rebuilt from a fixture", loose(fixture[i]), loose(once[i]))
		sameRow(t, "rebuilt from a normalized row", once[i], twice[i])
	}
}

// roundTrip rebuilds spans as OTLP/JSON and normalizes it back, in the
// same order, raw spans dropped.
func roundTrip(t *testing.T, spans []model.Span) []model.Span {
	t.Helper()
	line, err := OTLPRequest(spans)
	if err != nil {
		t.Fatal(err)
	}
	back := reingest(t, line)
	if len(back) != len(spans) {
		t.Fatalf("%d spans back, want %d", len(back), len(spans))
	}
	key := func(s model.Span) string { return s.TraceID + s.SpanID }
	index := map[string]model.Span{}
	for _, s := range back {
		s.RawSpan = nil
		index[key(s)] = s
	}
	out := make([]model.Span, len(spans))
	for i, s := range spans {
		out[i] = index[key(s)]
	}
	return out
}

func sameRow(t *testing.T, what string, want, got model.Span) {
	t.Helper()
	want.RawSpan, got.RawSpan = nil, nil
	wj, _ := json.Marshal(want)
	gj, _ := json.Marshal(got)
	if !bytes.Equal(wj, gj) {
		t.Errorf("span %s %s differs:\n%s", want.SpanID, what, diffAt(string(wj), string(gj)))
	}
}

func diffAt(want, got string) string {
	i := 0
	for i < len(want) && i < len(got) && want[i] == got[i] {
		i++
	}
	from := max(0, i-150)
	return fmt.Sprintf("at byte %d:\n  want …%.300s\n  got  …%.300s", i, want[from:], got[from:])
}

// fakeSource serves spans by trace and conversation, and (when scan is
// set) a whole project.
type fakeSource struct {
	spans []model.Span
	scan  bool
	err   error
}

func (f *fakeSource) TraceSpans(_ context.Context, project, trace string) ([]model.Span, error) {
	var out []model.Span
	for _, s := range f.spans {
		if s.ProjectID == project && s.TraceID == trace {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, store.ErrNotFound
	}
	return out, f.err
}

func (f *fakeSource) ConversationSpans(_ context.Context, project, conv string, _ store.TimeRange) ([]model.Span, error) {
	var out []model.Span
	for _, s := range f.spans {
		if s.ProjectID == project && s.ConversationID == conv {
			out = append(out, s)
		}
	}
	return out, f.err
}

func (f *fakeSource) QueryConversations(_ context.Context, q store.ConversationQuery) (store.ConversationPage, error) {
	var ids []string
	for _, s := range f.spans {
		if s.ProjectID == q.ProjectID && s.ConversationID != "" && !slices.Contains(ids, s.ConversationID) {
			ids = append(ids, s.ConversationID)
		}
	}
	var page store.ConversationPage
	for _, id := range ids[min(q.Offset, len(ids)):min(q.Offset+q.Limit, len(ids))] {
		page.Conversations = append(page.Conversations, store.ConversationSummary{ConversationID: id})
	}
	return page, f.err
}

type scanningSource struct{ *fakeSource }

func (f scanningSource) ScanSpans(_ context.Context, q store.ScanQuery, fn func([]model.Span) error) error {
	for _, s := range f.spans {
		if s.ProjectID == q.ProjectID {
			if err := fn([]model.Span{s}); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestSpansSelection(t *testing.T) {
	spans := built(t)
	other := spans[0]
	other.ProjectID, other.ConversationID = "p/other", "c2"
	src := &fakeSource{spans: append(slices.Clone(spans), other)}
	count := func(src Source, sel Selection) (int, error) {
		n := 0
		err := Spans(context.Background(), src, sel, func(b []model.Span) error {
			if len(b) > store.ScanBatch {
				t.Errorf("batch of %d", len(b))
			}
			n += len(b)
			return nil
		})
		return n, err
	}
	if n, err := count(src, Selection{ProjectID: "p/x", ConversationIDs: []string{"c1", "missing"}}); err != nil || n != len(spans) {
		t.Errorf("conversation: %d spans, %v; want %d", n, err, len(spans))
	}
	if n, err := count(src, Selection{ProjectID: "p/x", TraceIDs: []string{spans[0].TraceID, strings.Repeat("f", 32)}}); err != nil || n == 0 || n == len(spans) {
		t.Errorf("trace: %d spans, %v; want the first turn's", n, err)
	}
	if n, err := count(src, Selection{ProjectID: "p/x", ConversationIDs: []string{"c2"}}); err != nil || n != 0 {
		t.Errorf("another project's conversation: %d spans, %v; want none", n, err)
	}
	if _, err := count(src, Selection{ProjectID: "p/x"}); !errors.Is(err, ErrNoScan) {
		t.Errorf("project from a store that cannot scan: %v, want ErrNoScan", err)
	}
	if n, err := count(scanningSource{src}, Selection{ProjectID: "p/x"}); err != nil || n != len(spans) {
		t.Errorf("project: %d spans, %v; want %d", n, err, len(spans))
	}
	src.err = errors.New("boom")
	if _, err := count(src, Selection{ProjectID: "p/x", ConversationIDs: []string{"c1"}}); err == nil {
		t.Error("store error: got nil")
	}
}

func TestWriterFormats(t *testing.T) {
	spans := built(t)
	src := scanningSource{&fakeSource{spans: spans}}
	for _, tt := range []struct {
		format string
		lines  int
		items  int64
	}{
		{FormatJSONL, len(spans), int64(len(spans))},
		{FormatOTLP, len(spans), int64(len(spans))}, // one line per batch: the fake scans one span at a time
		{FormatATIF, 1, 1},
	} {
		var out bytes.Buffer
		x, err := NewWriter(&out, tt.format)
		if err != nil {
			t.Fatal(err)
		}
		progress := 0
		x.Progress = func(int64, int64) { progress++ }
		if err := x.Run(context.Background(), src, Selection{ProjectID: "p/x"}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Count(out.String(), "\n"); got != tt.lines || x.Lines != int64(tt.lines) || x.Items != tt.items || progress == 0 {
			t.Errorf("%s: %d lines (%d counted, %d items, %d progress calls), want %d lines of %d items", tt.format, got, x.Lines, x.Items, progress, tt.lines, tt.items)
		}
		for line := range strings.Lines(out.String()) {
			if !json.Valid([]byte(line)) {
				t.Errorf("%s: line is not JSON: %.100s", tt.format, line)
			}
		}
		if tt.format == FormatATIF {
			if err := ValidateATIF(bytes.TrimSpace(out.Bytes())); err != nil {
				t.Errorf("atif: %v", err)
			}
		}
	}
	if _, err := NewWriter(nil, "csv"); err == nil {
		t.Error("NewWriter(csv): got nil error")
	}
	if err := Trajectories(context.Background(), src, Selection{ProjectID: "p/x", TraceIDs: []string{"a"}}, nil); err == nil {
		t.Error("ATIF of traces: got nil error")
	}
}

// TestOTLPRequestsSplit: requests stay under the size asked (a span larger
// than it alone in its request) and carry every span once, in order.
func TestOTLPRequestsSplit(t *testing.T) {
	spans := built(t)
	line, err := OTLPRequest(spans)
	if err != nil {
		t.Fatal(err)
	}
	limit := len(line) / 5
	spans[3].ToolCallResult = strings.Repeat("x", limit+10) // larger than a request
	lines, err := OTLPRequests(spans, limit)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) < 5 {
		t.Fatalf("%d requests, want at least 5 under %d bytes", len(lines), limit)
	}
	var got []string
	for _, l := range lines {
		back := reingest(t, l)
		if len(l) > limit && len(back) != 1 {
			t.Errorf("a request of %d bytes (limit %d) holds %d spans, want one span alone", len(l), limit, len(back))
		}
		for _, s := range back {
			got = append(got, s.SpanID)
		}
	}
	var want []string
	for _, s := range spans {
		want = append(want, s.SpanID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("spans across the requests: %d, want the %d given, in order", len(got), len(want))
	}
}

// TestJSONLRowsAreTheReadAPIs: a JSONL line is the span row exactly as
// json.Marshal (the read API) writes it.
func TestJSONLRowsAreTheReadAPIs(t *testing.T) {
	spans := built(t)
	spans[0].ToolCallResult = "<b>&</b> \u2028"
	var out bytes.Buffer
	x, _ := NewWriter(&out, FormatJSONL)
	if err := x.Write(spans); err != nil {
		t.Fatal(err)
	}
	x.Flush()
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	for i := range spans {
		want, _ := json.Marshal(spans[i])
		if lines[i] != string(want) {
			t.Fatalf("line %d differs from json.Marshal:\n%s", i, diffAt(string(want), lines[i]))
		}
	}
}

func BenchmarkJSONL(b *testing.B) {
	spans := storetest.Flatten(storetest.BuildConversation(storetest.ConversationSpec{ProjectID: "p/x", ConversationID: "c1", Start: storetest.T0, Turns: 20, CallsPerTurn: 3, FullHistory: true}))
	var n int64
	for b.Loop() {
		var out countingWriter
		x, _ := NewWriter(&out, FormatJSONL)
		x.Write(spans)
		x.Flush()
		n = out.n
	}
	b.ReportMetric(float64(len(spans)), "spans/op")
	b.SetBytes(n)
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }
