// Package storetest is the conformance suite every store.Store backend
// runs: storetest.Run(t, factory, caps) checks each clause of the contract
// written in the store package's doc comments (durability, upsert,
// ordering, limits, filters, empty results, project isolation, rollups,
// search, annotations) against realistic Claude Code-like traces, and
// compares every derived figure with a brute-force model of the contract.
//
// Capabilities are opt-outs: a backend runs every check until it
// deliberately excuses itself from one, and the skip is printed.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// Factory prepares empty storage for one test and returns a function that
// opens a Store on it. The suite may call open several times, always after
// closing the previous Store; every open must see everything written
// before the close. The suite closes the stores it opens; the backend
// removes the storage with t.Cleanup.
type Factory func(t *testing.T) (open func() (store.Store, error))

// Capabilities lists the checks a backend opts out of. The zero value runs
// everything.
type Capabilities struct {
	// NoReopen skips the checks that close a store and open the same data
	// again (durability, reopen of parked events and annotations).
	NoReopen bool
	// CaseSensitiveSearch skips the checks that search matches ignore case
	// and diacritics.
	CaseSensitiveSearch bool
}

type suiteTest struct {
	name string
	fn   func(h *harness)
}

var tests = []suiteTest{
	{"RoundTrip", testRoundTrip},
	{"ChatReads", testChatReads},
	{"GetSpans", testGetSpans},
	{"InvalidSpans", testInvalidSpans},
	{"Durability", testDurability},
	{"UpsertNewestWins", testUpsertNewestWins},
	{"UpsertFinishedNotReplacedByRunning", testUpsertFinishedKept},
	{"UpsertSameBatchOrder", testUpsertSameBatch},
	{"RunningThenFinished", testRunningThenFinished},
	{"LiveArrival", testLiveArrival},
	{"NoDoubleCounting", testNoDoubleCounting},
	{"UsageRule", testUsageRule},
	{"Durations", testDurations},
	{"EffectiveAgentAndConversation", testEffective},
	{"RandomOrderMatchesModel", testRandomOrder},
	{"QuerySpansOrderAndPaging", testQueryOrder},
	{"QuerySpansFilters", testQueryFilters},
	{"QuerySpansTotals", testQuerySpansTotals},
	{"QuerySpansInvalid", testQueryInvalid},
	{"EmptyResults", testEmpty},
	{"ProjectIsolation", testIsolation},
	{"PendingEvents", testPending},
	{"Conversations", testConversations},
	{"ConversationQueryOptions", testConversationQuery},
	{"FirstPrompt", testFirstPrompt},
	{"ConversationPlaces", testConversationPlaces},
	{"Turns", testTurns},
	{"Traces", testTraces},
	{"Aggregates", testAggregates},
	{"Agents", testAgents},
	{"Metrics", testMetrics},
	{"Search", testSearch},
	{"SearchDedupAndFirstOccurrence", testSearchDedup},
	{"SearchOneHitPerOccurrence", testSearchOnePerOccurrence},
	{"SearchSyntaxIsLiteral", testSearchSyntax},
	{"SearchCaseAndDiacritics", testSearchCase},
	{"SearchSeesReturnedWrites", testSearchFresh},
	{"ConversationSearchPage", testConversationSearch},
	{"ActiveSpans", testActive},
	{"Annotations", testAnnotations},
	{"Scores", testScores},
	{"Stats", testStats},
	{"Concurrency", testConcurrency},
	{"ReadsSeeWholeBatches", testReadsSeeWholeBatches},
	{"Cancellation", testCancellation},
	{"DeleteBefore", testDeleteBefore},
	{"Delete", testDelete},
	{"Scan", testScan},
	{"MetricPoints", testMetricPoints},
}

// Run runs the suite, one subtest per contract area.
func Run(t *testing.T, factory Factory, caps Capabilities) {
	t.Helper()
	RunMatching(t, factory, caps, func(string) bool { return true })
}

// RunMatching runs the suite's areas whose names match: for a backend's
// variant that only some areas exercise (e.g. another search plan).
func RunMatching(t *testing.T, factory Factory, caps Capabilities, match func(name string) bool) {
	t.Helper()
	for _, tc := range tests {
		if !match(tc.name) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			h := &harness{t: t, caps: caps, open: factory(t), ctx: context.Background()}
			h.reopen()
			t.Cleanup(func() {
				if h.s != nil {
					if err := h.s.Close(); err != nil {
						t.Errorf("Close: got %v, want nil", err)
					}
					h.s = nil
				}
			})
			tc.fn(h)
		})
	}
}

type harness struct {
	t    *testing.T
	caps Capabilities
	open func() (store.Store, error)
	s    store.Store
	ctx  context.Context
}

// reopen closes the current store (if any) and opens the storage again.
func (h *harness) reopen() {
	h.t.Helper()
	if h.s != nil {
		if err := h.s.Close(); err != nil {
			h.t.Fatalf("Close: got %v, want nil", err)
		}
		h.s = nil
	}
	s, err := h.open()
	if err != nil {
		h.t.Fatalf("open: %v", err)
	}
	h.s = s
}

func (h *harness) skipIf(optOut bool, name string) {
	h.t.Helper()
	if optOut {
		h.t.Skipf("backend opts out: Capabilities.%s", name)
	}
}

func (h *harness) write(spans ...model.Span) {
	h.t.Helper()
	if err := h.s.WriteSpans(h.ctx, spans); err != nil {
		h.t.Fatalf("WriteSpans(%d spans): %v", len(spans), err)
	}
}

// writeBoth writes to the store and the model.
func (h *harness) writeBoth(o *oracle, spans ...model.Span) {
	h.t.Helper()
	h.write(spans...)
	o.write(spans)
}

// writeShuffled writes spans to the store and the model in random order,
// in batches of 1 to maxBatch.
func (h *harness) writeShuffled(o *oracle, r *rand.Rand, spans []model.Span, maxBatch int) {
	h.t.Helper()
	spans = slices.Clone(spans)
	r.Shuffle(len(spans), func(i, j int) { spans[i], spans[j] = spans[j], spans[i] })
	for len(spans) > 0 {
		n := min(len(spans), 1+r.IntN(maxBatch))
		h.writeBoth(o, spans[:n]...)
		spans = spans[n:]
	}
}

func (h *harness) get(keys ...store.SpanKey) []model.Span {
	h.t.Helper()
	got, err := h.s.GetSpans(h.ctx, keys)
	if err != nil {
		h.t.Fatalf("GetSpans: %v", err)
	}
	return got
}

func (h *harness) trace(project, traceID string) []model.Span {
	h.t.Helper()
	got, err := h.s.TraceSpans(h.ctx, project, traceID)
	if err != nil {
		h.t.Fatalf("TraceSpans: %v", err)
	}
	return got
}

func (h *harness) agents(project string) []store.AgentSummary {
	h.t.Helper()
	got, total, err := h.s.QueryAgents(h.ctx, store.AgentQuery{ProjectID: project, Limit: store.MaxLimit})
	if err != nil {
		h.t.Fatalf("QueryAgents: %v", err)
	}
	if total != int64(len(got)) {
		h.t.Errorf("QueryAgents total: got %d, want %d", total, len(got))
	}
	return got
}

func (h *harness) conversations(q store.ConversationQuery) store.ConversationPage {
	h.t.Helper()
	if q.Limit == 0 {
		q.Limit = store.MaxLimit
	}
	got, err := h.s.QueryConversations(h.ctx, q)
	if err != nil {
		h.t.Fatalf("QueryConversations: %v", err)
	}
	return got
}

func (h *harness) search(q store.SearchQuery) []store.SearchHit {
	h.t.Helper()
	got, err := h.s.SearchMessages(h.ctx, q)
	if err != nil {
		h.t.Fatalf("SearchMessages(%q): %v", q.Query, err)
	}
	return got
}

// expectInvalid checks that err wraps store.ErrInvalid.
func (h *harness) expectInvalid(what string, err error) {
	h.t.Helper()
	if !errors.Is(err, store.ErrInvalid) {
		h.t.Errorf("%s: got error %v, want one wrapping store.ErrInvalid", what, err)
	}
}

// Normalize returns s in the form every backend must return it in: times
// in UTC, empty slices and maps as nil, untyped map values as JSON decodes
// them with UseNumber, JSON fields compacted.
func Normalize(s model.Span) model.Span {
	s.StartedAt = s.StartedAt.UTC()
	if !s.EndedAt.IsZero() {
		s.EndedAt = s.EndedAt.UTC()
	} else {
		s.EndedAt = time.Time{}
	}
	if len(s.FinishReasons) == 0 {
		s.FinishReasons = nil
	}
	s.InputMessages = normMessages(s.InputMessages)
	s.OutputMessages = normMessages(s.OutputMessages)
	if len(s.SystemInstructions) == 0 {
		s.SystemInstructions = nil
	}
	if len(s.CustomAttrsString) == 0 {
		s.CustomAttrsString = nil
	}
	if len(s.CustomAttrsInt) == 0 {
		s.CustomAttrsInt = nil
	}
	if len(s.CustomAttrsFloat) == 0 {
		s.CustomAttrsFloat = nil
	}
	if len(s.CustomAttrsBool) == 0 {
		s.CustomAttrsBool = nil
	}
	s.ResourceAttrs = normAnyMap(s.ResourceAttrs)
	s.ModelParameters = normAnyMap(s.ModelParameters)
	if len(s.Events) == 0 {
		s.Events = nil
	} else {
		evs := make([]model.Event, len(s.Events))
		for i, e := range s.Events {
			e.Time = e.Time.UTC()
			e.Attributes = normAnyMap(e.Attributes)
			evs[i] = e
		}
		s.Events = evs
	}
	s.RawSpan = compactJSON(s.RawSpan)
	return s
}

func normMessages(ms []model.Message) []model.Message {
	if len(ms) == 0 {
		return nil
	}
	out := make([]model.Message, len(ms))
	for i, m := range ms {
		if len(m.Parts) == 0 {
			m.Parts = nil
		} else {
			parts := make([]model.Part, len(m.Parts))
			for j, p := range m.Parts {
				p.Arguments = compactJSON(p.Arguments)
				p.Response = compactJSON(p.Response)
				parts[j] = p
			}
			m.Parts = parts
		}
		out[i] = m
	}
	return out
}

func compactJSON(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b
	}
	return buf.Bytes()
}

func normAnyMap(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return m
	}
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return m
	}
	return out
}

// NormalizeAny is Normalize for an untyped value (annotation values).
func NormalizeAny(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return v
	}
	return out
}

func sortSpans(s []model.Span) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].ProjectID != s[j].ProjectID {
			return s[i].ProjectID < s[j].ProjectID
		}
		if s[i].TraceID != s[j].TraceID {
			return s[i].TraceID < s[j].TraceID
		}
		return s[i].SpanID < s[j].SpanID
	})
}

func jsonOf(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return string(b)
}

// equalSpans compares span lists after normalization, in order.
func (h *harness) equalSpans(what string, got, want []model.Span) {
	h.t.Helper()
	if len(got) != len(want) {
		h.t.Errorf("%s: got %d spans %v, want %d %v", what, len(got), spanIDs(got), len(want), spanIDs(want))
		return
	}
	for i := range got {
		g, w := Normalize(got[i]), Normalize(want[i])
		if !reflect.DeepEqual(g, w) {
			h.t.Errorf("%s: span %d (%s):\ngot  %s\nwant %s", what, i, w.SpanID, jsonOf(g), jsonOf(w))
			return
		}
	}
}

func spanIDs(s []model.Span) []string {
	out := make([]string, len(s))
	for i := range s {
		out[i] = s[i].SpanID
	}
	return out
}

func keysOf(spans []model.Span) []store.SpanKey {
	out := make([]store.SpanKey, len(spans))
	for i := range spans {
		out[i] = keyOf(&spans[i])
	}
	return out
}

// light strips the heavy columns, as reads without details return spans.
func light(s model.Span) model.Span {
	s.InputMessages, s.OutputMessages, s.SystemInstructions = nil, nil, nil
	s.ToolCallArguments, s.ToolCallResult = "", ""
	s.Events, s.RawSpan = nil, nil
	return s
}
