package storetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

func testNoDoubleCounting(h *harness) {
	o := newOracle()
	turns := BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "twice", Start: T0, Turns: 3,
		CallsPerTurn: 3, Subagent: true, FullHistory: true, SystemPrompt: SystemPrompt()})
	all := Flatten(turns)
	h.writeBoth(o, all...)
	h.checkModel(o, projA)
	before := h.agents(projA)
	// The same spans again: one batch, the batch twice over, reversed, one
	// span at a time, and in-progress copies of finished spans.
	h.writeBoth(o, all...)
	h.writeBoth(o, append(append([]model.Span(nil), all...), all...)...)
	rev := slices.Clone(all)
	slices.Reverse(rev)
	h.writeBoth(o, rev...)
	for _, s := range all {
		h.writeBoth(o, s)
		h.writeBoth(o, running(s))
	}
	h.checkModel(o, projA)
	if after := h.agents(projA); !reflect.DeepEqual(after, before) {
		h.t.Errorf("agents after re-writes:\ngot  %s\nwant %s", jsonOf(after), jsonOf(before))
	}
	var want int64
	for _, t := range turns {
		want += t.InputTokens
	}
	page := h.conversations(store.ConversationQuery{ProjectID: projA})
	if len(page.Conversations) != 1 || page.Conversations[0].InputTokens != want || page.Conversations[0].TurnCount != 3 {
		h.t.Errorf("conversation after re-writes: got %s, want input_tokens %d and 3 turns", jsonOf(page), want)
	}
}

// usageTrace is a trace whose agent spans report the sum of their
// children's usage, as some instrumentations do:
//
//	R invoke_agent orchestrator (100/10)
//	├─ A chat (60/6)
//	├─ S invoke_agent worker (40/4)
//	│  └─ B chat (40/4)
//	└─ T execute_tool (none)
func usageTrace(project, conv string, start time.Time) map[string]model.Span {
	traceID := TraceID("usage", project, conv)
	mk := func(id, parent, op, agent string, in, out int64, offset time.Duration) model.Span {
		s := model.Span{ProjectID: project, TraceID: traceID, SpanID: SpanID(traceID, id), SpanName: op + " " + id,
			SpanKind: model.KindInternal, StartedAt: start.Add(offset), EndedAt: start.Add(offset + time.Second),
			StatusCode: model.StatusOK, OperationName: op, AgentName: agent, ConversationID: conv}
		if parent != "" {
			s.ParentSpanID = SpanID(traceID, parent)
		}
		if in > 0 {
			s.InputTokens, s.OutputTokens = i64(in), i64(out)
		}
		return s
	}
	return map[string]model.Span{
		"R": mk("R", "", model.OpInvokeAgent, "orchestrator", 100, 10, 0),
		"A": mk("A", "R", model.OpChat, "", 60, 6, time.Millisecond),
		"S": mk("S", "R", model.OpInvokeAgent, "worker", 40, 4, 2*time.Millisecond),
		"B": mk("B", "S", model.OpChat, "", 40, 4, 3*time.Millisecond),
		"T": mk("T", "R", model.OpExecuteTool, "", 0, 0, 4*time.Millisecond),
	}
}

func testUsageRule(h *harness) {
	o := newOracle()
	orders := []struct {
		name    string
		batches [][]string
	}{
		{"parents first", [][]string{{"R"}, {"A"}, {"S"}, {"B"}, {"T"}}},
		{"children first", [][]string{{"B"}, {"T"}, {"A"}, {"S"}, {"R"}}},
		{"one batch", [][]string{{"R", "A", "S", "B", "T"}}},
		{"one batch reversed", [][]string{{"T", "B", "S", "A", "R"}}},
		{"grandchild before its parent", [][]string{{"R", "B"}, {"A", "T"}, {"S"}}},
		{"leaves last", [][]string{{"R", "S", "T"}, {"B", "A"}}},
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 6; i++ {
		ids := []string{"R", "A", "S", "B", "T"}
		r.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
		var batches [][]string
		for len(ids) > 0 {
			n := 1 + r.IntN(len(ids))
			batches = append(batches, ids[:n])
			ids = ids[n:]
		}
		orders = append(orders, struct {
			name    string
			batches [][]string
		}{fmt.Sprint("shuffle ", i), batches})
	}
	for i, ord := range orders {
		conv := fmt.Sprint("usage-", i)
		tr := usageTrace(projA, conv, T0.Add(time.Duration(i)*time.Minute))
		for _, b := range ord.batches {
			var batch []model.Span
			for _, id := range b {
				batch = append(batch, tr[id])
			}
			h.writeBoth(o, batch...)
		}
		page := h.conversations(store.ConversationQuery{ProjectID: projA})
		found := false
		for _, c := range page.Conversations {
			if c.ConversationID == conv {
				found = true
				if c.InputTokens != 100 || c.OutputTokens != 10 {
					h.t.Errorf("%s: conversation usage got %d/%d, want 100/10 (leaves only)", ord.name, c.InputTokens, c.OutputTokens)
				}
			}
		}
		if !found {
			h.t.Errorf("%s: conversation %s missing", ord.name, conv)
		}
	}
	n := int64(len(orders))
	for _, a := range h.agents(projA) {
		want := map[string][2]int64{"orchestrator": {60 * n, 6 * n}, "worker": {40 * n, 4 * n}}[a.AgentName]
		if a.InputTokens != want[0] || a.OutputTokens != want[1] {
			h.t.Errorf("agent %s usage: got %d/%d, want %d/%d", a.AgentName, a.InputTokens, a.OutputTokens, want[0], want[1])
		}
	}
	h.checkModel(o, projA)

	// Re-written spans change what counts.
	tr := usageTrace(projA, "usage-0", T0)
	steps := []struct {
		name    string
		span    string
		in, out int64 // conversation totals after the step
	}{
		{"A without usage", "A", 40, 4},
		{"B without usage", "B", 40, 4},   // S now counts
		{"S without usage", "S", 100, 10}, // only R reports: it counts
	}
	for _, st := range steps {
		s := tr[st.span]
		s.InputTokens, s.OutputTokens = nil, nil
		h.writeBoth(o, s)
		for _, c := range h.conversations(store.ConversationQuery{ProjectID: projA}).Conversations {
			if c.ConversationID == "usage-0" && (c.InputTokens != st.in || c.OutputTokens != st.out) {
				h.t.Errorf("after %s: conversation usage got %d/%d, want %d/%d", st.name, c.InputTokens, c.OutputTokens, st.in, st.out)
			}
		}
		h.checkModel(o, projA)
	}
}

func testDurations(h *harness) {
	o := newOracle()
	base := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	mk := func(id string, start time.Time, end time.Time) model.Span {
		return model.Span{ProjectID: projA, TraceID: TraceID("dur", id), SpanID: SpanID("dur", id), SpanName: "invoke_agent timer",
			StartedAt: start, EndedAt: end, StatusCode: model.StatusOK, OperationName: model.OpInvokeAgent, AgentName: "timer"}
	}
	ok := mk("ok", base, base.Add(2500*time.Millisecond))
	run := mk("running", base.Add(time.Second), time.Time{})
	backwards := mk("backwards", base.Add(2*time.Second), base.Add(time.Second))
	child := model.Span{ProjectID: projA, TraceID: ok.TraceID, SpanID: SpanID("dur", "chat"), ParentSpanID: ok.SpanID,
		StartedAt: base, EndedAt: base.Add(time.Hour), OperationName: model.OpChat}
	h.writeBoth(o, ok, run, backwards, child)
	agents := h.agents(projA)
	if len(agents) != 1 || agents[0].TotalDurationMs != 2500 || agents[0].InvocationCount != 3 || agents[0].SpanCount != 4 {
		h.t.Errorf("timer agent: got %s, want total_duration_ms 2500, 3 invocations, 4 spans", jsonOf(agents))
	}
	buckets, err := h.s.AgentMetrics(h.ctx, store.MetricsQuery{ProjectID: projA, Bucket: time.Hour})
	if err != nil {
		h.t.Fatalf("AgentMetrics: %v", err)
	}
	if len(buckets) != 1 || buckets[0].AvgDurationMs != 1250 || !buckets[0].Start.Equal(base) {
		h.t.Errorf("timer metrics: got %s, want one bucket at %s with avg_duration_ms 1250 (2500 and 0 over two ended invocations)", jsonOf(buckets), base)
	}
	h.checkModel(o, projA)
}

func testEffective(h *harness) {
	o := newOracle()
	start := T0
	mk := func(trace, id, parent, agent, version, conv, thread string, off int) model.Span {
		s := model.Span{ProjectID: projA, TraceID: TraceID(trace), SpanID: SpanID(trace, id), SpanName: id,
			StartedAt: start.Add(time.Duration(off) * time.Second), EndedAt: start.Add(time.Duration(off+1) * time.Second),
			AgentName: agent, AgentVersion: version, ConversationID: conv, ThreadID: thread, OperationName: model.OpChat,
			InputTokens: i64(10)}
		if agent != "" {
			s.OperationName = model.OpInvokeAgent
			s.InputTokens = nil
		}
		if parent != "" {
			s.ParentSpanID = SpanID(trace, parent)
		}
		return s
	}
	// T1: the child X arrives before its parent R.
	x := mk("T1", "X", "R", "", "", "", "", 1)
	h.writeBoth(o, x)
	page := h.conversations(store.ConversationQuery{ProjectID: projA})
	if len(page.Conversations) != 1 || page.Conversations[0].ConversationID != "trace:"+TraceID("T1") || len(page.Conversations[0].AgentNames) != 0 {
		h.t.Errorf("orphan child alone: got %s, want one conversation trace:<T1> without agents", jsonOf(page))
	}
	if agents := h.agents(projA); len(agents) != 0 {
		h.t.Errorf("orphan child alone: got agents %s, want none", jsonOf(agents))
	}
	h.writeBoth(o,
		mk("T1", "R", "", "outer", "1", "C", "", 0),
		mk("T1", "S", "R", "inner", "", "", "", 2),
		mk("T1", "G", "S", "", "", "", "", 3),
		mk("T1", "O", "missing-parent", "", "", "", "", 4),
		mk("T2", "root", "", "", "", "", "th-1", 10),
		mk("T2", "kid", "root", "", "", "", "", 11),
		mk("T3", "lonely", "", "", "", "", "", 20),
		mk("T4", "root", "", "", "", "", "", 30),
		mk("T4", "kid", "root", "", "", "C4", "", 31),
		// a parent cycle must not hang anything
		mk("T5", "p", "q", "", "", "", "", 40),
		mk("T5", "q", "p", "looper", "", "", "", 41),
	)
	want := map[string][]string{ // conversation → sorted agents
		"C":                      {"inner", "outer"},
		"th-1":                   nil,
		"trace:" + TraceID("T3"): nil,
		"C4":                     nil,
		"trace:" + TraceID("T5"): {"looper"},
	}
	page = h.conversations(store.ConversationQuery{ProjectID: projA})
	got := map[string][]string{}
	for _, c := range page.Conversations {
		got[c.ConversationID] = c.AgentNames
		if len(c.AgentNames) == 0 {
			got[c.ConversationID] = nil
		}
	}
	if !reflect.DeepEqual(got, want) {
		h.t.Errorf("conversations and their agents:\ngot  %s\nwant %s", jsonOf(got), jsonOf(want))
	}
	var outer, inner store.AgentSummary
	for _, a := range h.agents(projA) {
		switch a.AgentName {
		case "outer":
			outer = a
		case "inner":
			inner = a
		}
	}
	// outer: R, X (its child) → 2 spans, X's 10 tokens; inner: S, G → G's 10 tokens.
	if outer.SpanCount != 2 || outer.InputTokens != 10 || inner.SpanCount != 2 || inner.InputTokens != 10 {
		h.t.Errorf("effective agents: got outer %s inner %s, want 2 spans and 10 input tokens each", jsonOf(outer), jsonOf(inner))
	}
	h.checkModel(o, projA)
	// ConversationSpans accepts the derived ids.
	spans, err := h.s.ConversationSpans(h.ctx, projA, "trace:"+TraceID("T3"), store.TimeRange{})
	if err != nil || len(spans) != 1 || spans[0].SpanID != SpanID("T3", "lonely") {
		h.t.Errorf("ConversationSpans(trace:<T3>): got %v, %v, want the lonely span", spanIDs(spans), err)
	}
	spans, err = h.s.ConversationSpans(h.ctx, projA, "C", store.TimeRange{})
	if err != nil || len(spans) != 5 {
		h.t.Errorf("ConversationSpans(C): got %v, %v, want R, X, S, G, O", spanIDs(spans), err)
	}
}

// testRandomOrder writes several conversations in shuffled batches with
// duplicates and stale in-progress copies, and compares everything with
// the model.
func testRandomOrder(h *harness) {
	o := newOracle()
	for seed := uint64(1); seed <= 4; seed++ {
		project := fmt.Sprint("random/", seed)
		r := rand.New(rand.NewPCG(seed, 99))
		var all []model.Span
		for c := 0; c < 3; c++ {
			turns := BuildConversation(ConversationSpec{ProjectID: project, ConversationID: fmt.Sprint("rc-", c),
				Start: T0.Add(time.Duration(c) * 7 * time.Minute), Turns: 2 + r.IntN(3), CallsPerTurn: 1 + r.IntN(4),
				Subagent: c != 1, FullHistory: c == 0, Rand: r, SystemPrompt: SystemPrompt()})
			all = append(all, Flatten(turns)...)
		}
		// A thread-only turn and a turn with no grouping at all.
		for i, thread := range []string{"thread-x", ""} {
			t := BuildTurn(TurnSpec{ProjectID: project, Turn: 50 + i, Start: T0.Add(time.Duration(i) * time.Hour), Prompt: fmt.Sprint("loose ", i), Calls: 2, Rand: r})
			for j := range t.Spans {
				t.Spans[j].ThreadID = thread
				t.Spans[j].IsTurn = r.IntN(3) == 0 // turn spans, nested ones, or none (turn rule)
			}
			all = append(all, t.Spans...)
		}
		var stream []model.Span
		for _, s := range all {
			stream = append(stream, s)
			switch r.IntN(5) {
			case 0:
				stream = append(stream, s) // duplicate
			case 1:
				stream = append(stream, running(s)) // stale in-progress copy
			}
		}
		h.writeShuffled(o, r, stream, 40)
		h.checkModel(o, project)
		// Every finished span is stored finished.
		got := h.get(keysOf(all)...)
		if len(got) != len(all) {
			h.t.Errorf("seed %d: got %d spans, want %d", seed, len(got), len(all))
		}
		for _, s := range got {
			if w := o.spans[keyOf(&s)]; s.IsRunning() != w.IsRunning() {
				h.t.Errorf("seed %d: span %s running=%v, want %v", seed, s.SpanID, s.IsRunning(), w.IsRunning())
			}
		}
	}
}

// filterData is the dataset of the QuerySpans tests.
func filterData(h *harness) []model.Span {
	turns := BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "q", Start: T0, Turns: 3, CallsPerTurn: 3, Subagent: true})
	all := append(Flatten(turns), fullSpan(projA))
	all[1].IsTurn = true
	all[2].StatusCode = model.StatusError
	all[2].CustomAttrsBool = map[string]bool{"retry": true}
	all[3].CustomAttrsFloat = map[string]float64{"temperature": 0.25}
	for i := range all[:6] { // spans of a W&B run, at steps 0..5
		all[i].WBRunID, all[i].WBRunStep = "run-7", i64(int64(i))
	}
	all[7].DisplayName = "User Message"
	all[4] = running(all[4])
	// Two spans starting at the same instant, to exercise tie-breaks.
	all[5].StartedAt = all[6].StartedAt
	h.write(all...)
	return all
}

func defaultOrder(spans []model.Span) []model.Span {
	out := slices.Clone(spans)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.After(b.StartedAt)
		}
		if a.SpanID != b.SpanID {
			return a.SpanID < b.SpanID
		}
		return a.TraceID < b.TraceID
	})
	return out
}

func lightAll(spans []model.Span) []model.Span {
	out := make([]model.Span, len(spans))
	for i := range spans {
		out[i] = light(spans[i])
	}
	return out
}

func testQueryOrder(h *harness) {
	all := filterData(h)
	want := defaultOrder(all)
	got, total, err := h.s.QuerySpans(h.ctx, store.SpanQuery{ProjectID: projA, Limit: store.MaxLimit})
	if err != nil {
		h.t.Fatalf("QuerySpans: %v", err)
	}
	if total != int64(len(all)) {
		h.t.Errorf("QuerySpans total: got %d, want %d", total, len(all))
	}
	h.equalSpans("QuerySpans default order (without details)", got, lightAll(want))
	got, _, err = h.s.QuerySpans(h.ctx, store.SpanQuery{ProjectID: projA, Limit: store.MaxLimit, IncludeDetails: true})
	if err != nil {
		h.t.Fatalf("QuerySpans: %v", err)
	}
	h.equalSpans("QuerySpans with details", got, want)
	// Pages concatenate to the whole list; the total ignores paging.
	var paged []model.Span
	for off := 0; off < len(all)+7; off += 7 {
		page, total, err := h.s.QuerySpans(h.ctx, store.SpanQuery{ProjectID: projA, Limit: 7, Offset: off})
		if err != nil {
			h.t.Fatalf("QuerySpans page: %v", err)
		}
		if total != int64(len(all)) {
			h.t.Errorf("QuerySpans page total: got %d, want %d", total, len(all))
		}
		paged = append(paged, page...)
	}
	h.equalSpans("QuerySpans pages", paged, lightAll(want))
	// Default limit.
	many := BuildConversation(ConversationSpec{ProjectID: projB, ConversationID: "many", Start: T0, Turns: 12, CallsPerTurn: 5})
	h.write(Flatten(many)...)
	got, total, err = h.s.QuerySpans(h.ctx, store.SpanQuery{ProjectID: projB})
	if err != nil || len(got) != store.DefaultLimit || total != int64(len(Flatten(many))) {
		h.t.Errorf("QuerySpans default limit: got %d spans (total %d, err %v), want %d of %d", len(got), total, err, store.DefaultLimit, len(Flatten(many)))
	}

	sorts := []struct {
		name string
		sort []store.Sort
		less func(a, b model.Span) int
	}{
		{"started_at asc", []store.Sort{{Field: "started_at", Direction: "asc"}}, func(a, b model.Span) int { return a.StartedAt.Compare(b.StartedAt) }},
		{"input_tokens desc (nulls last)", []store.Sort{{Field: "input_tokens", Direction: "desc"}}, func(a, b model.Span) int {
			return cmpNullLast(a.InputTokens, b.InputTokens, true)
		}},
		{"input_tokens asc (nulls last)", []store.Sort{{Field: "input_tokens", Direction: "ASC"}}, func(a, b model.Span) int {
			return cmpNullLast(a.InputTokens, b.InputTokens, false)
		}},
		{"operation_name asc then duration_ms desc", []store.Sort{{Field: "operation_name", Direction: "asc"}, {Field: "duration_ms"}}, func(a, b model.Span) int {
			if c := strings.Compare(a.OperationName, b.OperationName); c != 0 {
				return c
			}
			return int(b.DurationMs() - a.DurationMs())
		}},
	}
	for _, tc := range sorts {
		want := slices.Clone(all)
		slices.SortStableFunc(want, func(a, b model.Span) int {
			if c := tc.less(a, b); c != 0 {
				return c
			}
			if c := strings.Compare(a.SpanID, b.SpanID); c != 0 {
				return c
			}
			return strings.Compare(a.TraceID, b.TraceID)
		})
		got, _, err := h.s.QuerySpans(h.ctx, store.SpanQuery{ProjectID: projA, Sort: tc.sort, Limit: store.MaxLimit})
		if err != nil {
			h.t.Fatalf("QuerySpans(%s): %v", tc.name, err)
		}
		h.equalSpans("QuerySpans sort "+tc.name, got, lightAll(want))
	}
}

func cmpNullLast(a, b *int64, desc bool) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	case *a == *b:
		return 0
	case (*a < *b) != desc:
		return -1
	}
	return 1
}

func testQueryFilters(h *harness) {
	all := filterData(h)
	for _, tc := range append(columnFilterCases(all), attrFilterCases()...) {
		var want []model.Span
		for _, s := range defaultOrder(all) {
			if tc.match(s) {
				want = append(want, light(s))
			}
		}
		got, total, err := h.s.QuerySpans(h.ctx, store.SpanQuery{ProjectID: projA, Filters: tc.filters, Range: tc.r, Limit: store.MaxLimit})
		if err != nil {
			h.t.Errorf("QuerySpans(%s): %v", tc.name, err)
			continue
		}
		if total != int64(len(want)) {
			h.t.Errorf("QuerySpans(%s) total: got %d, want %d", tc.name, total, len(want))
		}
		h.equalSpans("QuerySpans("+tc.name+")", got, want)
	}
}

// filterCase is a span query with filters and a range, and the spans it
// should match.
type filterCase struct {
	name    string
	filters []store.Filter
	r       store.TimeRange
	match   func(s model.Span) bool
}

// columnFilterCases are filters on the canonical columns of the
// filterData spans all, and a range.
func columnFilterCases(all []model.Span) []filterCase {
	turnStart := all[0].StartedAt
	return []filterCase{
		{"eq", []store.Filter{{Field: "operation_name", Op: "eq", Value: "execute_tool"}}, store.TimeRange{}, func(s model.Span) bool { return s.OperationName == "execute_tool" }},
		{"neq", []store.Filter{{Field: "operation_name", Op: "neq", Value: "chat"}}, store.TimeRange{}, func(s model.Span) bool { return s.OperationName != "chat" }},
		{"in", []store.Filter{{Field: "tool_name", Op: "in", Value: []any{"Read", "Bash"}}}, store.TimeRange{}, func(s model.Span) bool { return s.ToolName == "Read" || s.ToolName == "Bash" }},
		{"in empty list", []store.Filter{{Field: "tool_name", Op: "in", Value: []any{}}}, store.TimeRange{}, func(model.Span) bool { return false }},
		{"contains, case-insensitive", []store.Filter{{Field: "span_name", Op: "contains", Value: "INVOKE_agent"}}, store.TimeRange{}, func(s model.Span) bool { return strings.Contains(s.SpanName, "invoke_agent") }},
		{"contains unicode", []store.Filter{{Field: "compaction_summary", Op: "contains", Value: "EARLIER"}}, store.TimeRange{}, func(s model.Span) bool { return strings.Contains(strings.ToLower(s.CompactionSummary), "earlier") }},
		{"gt on tokens", []store.Filter{{Field: "input_tokens", Op: "gt", Value: 15000}}, store.TimeRange{}, func(s model.Span) bool { return s.InputTokens != nil && *s.InputTokens > 15000 }},
		{"lte on tokens (json number)", []store.Filter{{Field: "input_tokens", Op: "lte", Value: json.Number("15000")}}, store.TimeRange{}, func(s model.Span) bool { return s.InputTokens != nil && *s.InputTokens <= 15000 }},
		{"tokens exist", []store.Filter{{Field: "output_tokens", Op: "exists"}}, store.TimeRange{}, func(s model.Span) bool { return s.OutputTokens != nil }},
		{"tokens not reported", []store.Filter{{Field: "output_tokens", Op: "not_exists"}}, store.TimeRange{}, func(s model.Span) bool { return s.OutputTokens == nil }},
		{"tokens neq includes unreported", []store.Filter{{Field: "output_tokens", Op: "neq", Value: 0}}, store.TimeRange{}, func(s model.Span) bool { return s.OutputTokens == nil || *s.OutputTokens != 0 }},
		{"started_at gte (RFC 3339)", []store.Filter{{Field: "started_at", Op: "gte", Value: all[10].StartedAt.Format(time.RFC3339Nano)}}, store.TimeRange{}, func(s model.Span) bool { return !s.StartedAt.Before(all[10].StartedAt) }},
		{"started_at lt (time.Time)", []store.Filter{{Field: "started_at", Op: "lt", Value: all[10].StartedAt}}, store.TimeRange{}, func(s model.Span) bool { return s.StartedAt.Before(all[10].StartedAt) }},
		{"ended (exists)", []store.Filter{{Field: "ended_at", Op: "exists"}}, store.TimeRange{}, func(s model.Span) bool { return !s.IsRunning() }},
		{"running (not_exists)", []store.Filter{{Field: "ended_at", Op: "not_exists"}}, store.TimeRange{}, func(s model.Span) bool { return s.IsRunning() }},
		{"ended_at lt excludes running", []store.Filter{{Field: "ended_at", Op: "lt", Value: T0.Add(24 * time.Hour)}}, store.TimeRange{}, func(s model.Span) bool { return !s.IsRunning() }},
		{"is_turn", []store.Filter{{Field: "is_turn", Op: "eq", Value: true}}, store.TimeRange{}, func(s model.Span) bool { return s.IsTurn }},
		{"wb_run_id", []store.Filter{{Field: "wb_run_id", Op: "eq", Value: "run-7"}}, store.TimeRange{}, func(s model.Span) bool { return s.WBRunID == "run-7" }},
		{"wb_run_step range", []store.Filter{{Field: "wb_run_step", Op: "gte", Value: 2}, {Field: "wb_run_step", Op: "lt", Value: 5}}, store.TimeRange{},
			func(s model.Span) bool { return s.WBRunStep != nil && *s.WBRunStep >= 2 && *s.WBRunStep < 5 }},
		{"display_name", []store.Filter{{Field: "display_name", Op: "contains", Value: "user"}}, store.TimeRange{}, func(s model.Span) bool { return s.DisplayName == "User Message" }},
		{"total_tokens gt", []store.Filter{{Field: "total_tokens", Op: "gt", Value: 15000}}, store.TimeRange{}, func(s model.Span) bool { return s.TotalTokens != nil && *s.TotalTokens > 15000 }},
		{"status error", []store.Filter{{Field: "status_code", Op: "eq", Value: "ERROR"}}, store.TimeRange{}, func(s model.Span) bool { return s.StatusCode == "ERROR" }},
		{"finish_reasons eq", []store.Filter{{Field: "finish_reasons", Op: "eq", Value: "tool_use"}}, store.TimeRange{}, func(s model.Span) bool { return slices.Contains(s.FinishReasons, "tool_use") }},
		{"finish_reasons in", []store.Filter{{Field: "finish_reasons", Op: "in", Value: []any{"stop", "tool_use"}}}, store.TimeRange{}, func(s model.Span) bool {
			return slices.Contains(s.FinishReasons, "tool_use") || slices.Contains(s.FinishReasons, "stop")
		}},
		{"duration_ms gt", []store.Filter{{Field: "duration_ms", Op: "gt", Value: 2000}}, store.TimeRange{}, func(s model.Span) bool { return s.DurationMs() > 2000 }},
		{"cost_usd gte (dollars)", []store.Filter{{Field: "cost_usd", Op: "gte", Value: 0.05}}, store.TimeRange{}, func(s model.Span) bool { return s.CostUSD != nil && *s.CostUSD >= 0.05 }},
		{"cost_usd lt (json number)", []store.Filter{{Field: "cost_usd", Op: "lt", Value: json.Number("0.05")}}, store.TimeRange{}, func(s model.Span) bool { return s.CostUSD != nil && *s.CostUSD < 0.05 }},
		{"cost_usd exists", []store.Filter{{Field: "cost_usd", Op: "exists"}}, store.TimeRange{}, func(s model.Span) bool { return s.CostUSD != nil }},
		{"unpriced calls", []store.Filter{{Field: "cost_usd", Op: "not_exists"}, {Field: "input_tokens", Op: "exists"}}, store.TimeRange{}, func(s model.Span) bool {
			return s.CostUSD == nil && s.InputTokens != nil
		}},
		{"cost_source", []store.Filter{{Field: "cost_source", Op: "eq", Value: "price_table"}}, store.TimeRange{}, func(s model.Span) bool { return s.CostSource == "price_table" }},
		{"1-hour cache writes", []store.Filter{{Field: "cache_creation_1h_input_tokens", Op: "gt", Value: 500}}, store.TimeRange{}, func(s model.Span) bool {
			return s.CacheCreation1hInputTokens != nil && *s.CacheCreation1hInputTokens > 500
		}},
		{"two filters", []store.Filter{{Field: "operation_name", Op: "eq", Value: "chat"}, {Field: "request_model", Op: "eq", Value: "claude-haiku-4-5"}}, store.TimeRange{}, func(s model.Span) bool {
			return s.OperationName == "chat" && s.RequestModel == "claude-haiku-4-5"
		}},
		{"range", nil, store.TimeRange{From: turnStart.Add(time.Second), To: all[12].StartedAt}, func(s model.Span) bool {
			return !s.StartedAt.Before(turnStart.Add(time.Second)) && s.StartedAt.Before(all[12].StartedAt)
		}},
	}
}

// attrFilterCases are filters on attribute keys.
func attrFilterCases() []filterCase {
	return []filterCase{
		{"string attr eq", []store.Filter{{Field: "custom_attrs_string.weave.claude_code.cwd", Op: "eq", Value: "/home/dev/project"}}, store.TimeRange{}, func(s model.Span) bool {
			return s.CustomAttrsString["weave.claude_code.cwd"] == "/home/dev/project"
		}},
		{"string attr with a quote in the key", []store.Filter{{Field: `custom_attrs_string.quote"key`, Op: "exists"}}, store.TimeRange{}, func(s model.Span) bool {
			_, ok := s.CustomAttrsString[`quote"key`]
			return ok
		}},
		{"string attr contains", []store.Filter{{Field: "custom_attrs_string.weave.claude_code.display_name", Op: "contains", Value: "read:"}}, store.TimeRange{}, func(s model.Span) bool {
			return strings.Contains(strings.ToLower(s.CustomAttrsString["weave.claude_code.display_name"]), "read:")
		}},
		{"string attr neq includes absent", []store.Filter{{Field: "custom_attrs_string.weave.claude_code.cwd", Op: "neq", Value: "/home/dev/project"}}, store.TimeRange{}, func(s model.Span) bool {
			return s.CustomAttrsString["weave.claude_code.cwd"] != "/home/dev/project"
		}},
		{"int attr gte", []store.Filter{{Field: "custom_attrs_int.weave.claude_code.turn.number", Op: "gte", Value: 2}}, store.TimeRange{}, func(s model.Span) bool {
			v, ok := s.CustomAttrsInt["weave.claude_code.turn.number"]
			return ok && v >= 2
		}},
		{"float attr lt", []store.Filter{{Field: "custom_attrs_float.temperature", Op: "lt", Value: 0.5}}, store.TimeRange{}, func(s model.Span) bool {
			v, ok := s.CustomAttrsFloat["temperature"]
			return ok && v < 0.5
		}},
		{"bool attr", []store.Filter{{Field: "custom_attrs_bool.retry", Op: "eq", Value: true}}, store.TimeRange{}, func(s model.Span) bool { return s.CustomAttrsBool["retry"] }},
		{"bool attr false", []store.Filter{{Field: "custom_attrs_bool.cached", Op: "eq", Value: false}}, store.TimeRange{}, func(s model.Span) bool {
			v, ok := s.CustomAttrsBool["cached"]
			return ok && !v
		}},
		{"attr absent", []store.Filter{{Field: "custom_attrs_int.weave.claude_code.turn.number", Op: "not_exists"}}, store.TimeRange{}, func(s model.Span) bool {
			_, ok := s.CustomAttrsInt["weave.claude_code.turn.number"]
			return !ok
		}},
		{"resource attr (dotted key)", []store.Filter{{Field: "resource_attrs.service.name", Op: "eq", Value: "vision-svc"}}, store.TimeRange{}, func(s model.Span) bool {
			return s.ResourceAttrs["service.name"] == "vision-svc"
		}},
		{"resource attr number as text", []store.Filter{{Field: "resource_attrs.host.cores", Op: "eq", Value: "8"}}, store.TimeRange{}, func(s model.Span) bool {
			return s.ResourceAttrs["host.cores"] != nil
		}},
	}
}

func testQueryInvalid(h *harness) {
	filterData(h)
	cases := []struct {
		name string
		q    store.SpanQuery
	}{
		{"unknown field", store.SpanQuery{Filters: []store.Filter{{Field: "colour", Op: "eq", Value: "red"}}}},
		{"unknown op", store.SpanQuery{Filters: []store.Filter{{Field: "span_name", Op: "like", Value: "x"}}}},
		{"heavy field", store.SpanQuery{Filters: []store.Filter{{Field: "input_messages", Op: "contains", Value: "x"}}}},
		{"map without key", store.SpanQuery{Filters: []store.Filter{{Field: "custom_attrs_string.", Op: "exists"}}}},
		{"unknown map", store.SpanQuery{Filters: []store.Filter{{Field: "custom_attrs_date.x", Op: "exists"}}}},
		{"contains on a number", store.SpanQuery{Filters: []store.Filter{{Field: "input_tokens", Op: "contains", Value: "1"}}}},
		{"string for a number", store.SpanQuery{Filters: []store.Filter{{Field: "input_tokens", Op: "gt", Value: "ten"}}}},
		{"fraction for an integer", store.SpanQuery{Filters: []store.Filter{{Field: "input_tokens", Op: "gt", Value: 1.5}}}},
		{"text for a cost", store.SpanQuery{Filters: []store.Filter{{Field: "cost_usd", Op: "gt", Value: "cheap"}}}},
		{"contains on a cost", store.SpanQuery{Filters: []store.Filter{{Field: "cost_usd", Op: "contains", Value: "1"}}}},
		{"number for a string", store.SpanQuery{Filters: []store.Filter{{Field: "span_name", Op: "eq", Value: 3}}}},
		{"bad time", store.SpanQuery{Filters: []store.Filter{{Field: "started_at", Op: "gt", Value: "yesterday"}}}},
		{"in without a list", store.SpanQuery{Filters: []store.Filter{{Field: "span_name", Op: "in", Value: "x"}}}},
		{"exists with a value", store.SpanQuery{Filters: []store.Filter{{Field: "span_name", Op: "exists", Value: "x"}}}},
		{"gt on a bool", store.SpanQuery{Filters: []store.Filter{{Field: "is_turn", Op: "gt", Value: true}}}},
		{"gt on finish_reasons", store.SpanQuery{Filters: []store.Filter{{Field: "finish_reasons", Op: "gt", Value: "a"}}}},
		{"sort on unknown field", store.SpanQuery{Sort: []store.Sort{{Field: "colour"}}}},
		{"sort on a map", store.SpanQuery{Sort: []store.Sort{{Field: "custom_attrs_string"}}}},
		{"bad direction", store.SpanQuery{Sort: []store.Sort{{Field: "started_at", Direction: "up"}}}},
		{"negative limit", store.SpanQuery{Limit: -1}},
		{"negative offset", store.SpanQuery{Offset: -1}},
		{"inverted range", store.SpanQuery{Range: store.TimeRange{From: T0, To: T0.Add(-time.Second)}}},
	}
	for _, tc := range cases {
		tc.q.ProjectID = projA
		_, _, err := h.s.QuerySpans(h.ctx, tc.q)
		h.expectInvalid("QuerySpans("+tc.name+")", err)
	}
}

// testDeleteBefore checks store.Pruner, for backends that implement it.
func testDeleteBefore(h *harness) {
	if _, ok := h.s.(store.Pruner); !ok {
		h.t.Skip("backend does not implement store.Pruner")
	}
	prune := func(t time.Time) int64 {
		h.t.Helper()
		n, err := h.s.(store.Pruner).DeleteBefore(h.ctx, t)
		if err != nil {
			h.t.Fatalf("DeleteBefore: %v", err)
		}
		return n
	}
	o := newOracle()
	var convs [][]Turn
	for i := 0; i < 3; i++ {
		turns := BuildConversation(ConversationSpec{ProjectID: []string{projA, projB}[i%2], ConversationID: fmt.Sprint("old-", i),
			Start: T0.Add(time.Duration(i) * time.Minute), Turns: 5, CallsPerTurn: 3, Subagent: true, FullHistory: true, SystemPrompt: SystemPrompt()})
		h.writeBoth(o, Flatten(turns)...)
		convs = append(convs, turns)
	}
	// The usage trace exercises re-derivation: the cut deletes R, A and S
	// and keeps B (whose parent S goes: it becomes a root and its usage
	// still counts) and T. The cut also falls inside the conversations.
	ut := usageTrace(projA, "usage-cut", T0.Add(5*time.Minute))
	for _, id := range []string{"R", "A", "S", "B", "T"} {
		h.writeBoth(o, ut[id])
	}
	cut := ut["B"].StartedAt
	before := o.conversations(projA)
	want := o.deleteBefore(cut)
	partial := 0
	for id, c := range o.conversations(projA) {
		if b := before[id]; b != nil && b.TurnCount > c.TurnCount {
			partial++
		}
	}
	if partial == 0 {
		h.t.Fatal("test data: the cut falls inside no conversation")
	}
	if want == 0 {
		h.t.Fatal("test data: nothing before the cut")
	}
	if got := prune(cut); got != want {
		h.t.Errorf("DeleteBefore: got %d spans deleted, want %d", got, want)
	}
	h.checkModel(o, projA, projB)
	for _, c := range convs {
		for _, s := range h.get(keysOf(Flatten(c))...) {
			if s.StartedAt.Before(cut) {
				h.t.Errorf("span %s started %s before the cut is still stored", s.SpanID, s.StartedAt)
			}
		}
	}
	if got := prune(cut); got != 0 {
		h.t.Errorf("DeleteBefore again: got %d, want 0", got)
	}
	// The store keeps working: re-sending deleted spans stores them again,
	// and everything still matches after a reopen.
	h.writeBoth(o, Flatten(convs[0])...)
	h.checkModel(o, projA, projB)
	if !h.caps.NoReopen {
		h.reopen()
		h.checkModel(o, projA, projB)
	}
	if got := prune(store.MaxTime); got != int64(len(o.spans)) {
		h.t.Errorf("DeleteBefore(everything): got %d, want %d", got, len(o.spans))
	}
	o.deleteBefore(store.MaxTime)
	h.checkModel(o, projA, projB)
	if hits := h.search(store.SearchQuery{ProjectID: projA, Query: "file"}); len(hits) != 0 {
		h.t.Errorf("search after deleting everything: got %d hits, want 0", len(hits))
	}
}

// testQuerySpansTotals checks the spans page's total over ranges of whole
// and partial days, unfiltered and filtered on operation and status (the
// fields the ClickHouse store counts whole days of from a rollup), after
// spans changed status, moved to another day and were deleted; and the
// agent metrics of spans days apart.
func testQuerySpansTotals(h *harness) {
	o, cur := newOracle(), map[string]model.Span{}
	put := func(spans ...model.Span) {
		h.t.Helper()
		h.writeBoth(o, spans...)
		for _, s := range spans {
			cur[s.TraceID+"/"+s.SpanID] = s
		}
	}
	var turns []Turn
	for d := -2; d <= 2; d++ {
		for i, at := range []time.Duration{0, 12 * time.Hour} { // 09:30 and 21:30
			turn := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: fmt.Sprintf("day%d", d), Turn: i + 1,
				Start: T0.Add(time.Duration(d)*24*time.Hour + at), Calls: 3})
			turn.Spans[1].StatusCode = model.StatusError
			put(turn.Spans...)
			turns = append(turns, turn)
		}
	}
	// A chat span fails when sent again; a root moves back to the day
	// before (the daemon back-dates a turn's root).
	failed := turns[4].Spans[3]
	failed.StatusCode = model.StatusError
	moved := *turns[6].Root
	moved.StartedAt = moved.StartedAt.Add(-20 * time.Hour)
	put(failed, moved)
	day := T0.Truncate(24 * time.Hour)
	ranges := []store.TimeRange{
		{},
		{From: T0.Add(-36 * time.Hour), To: T0.Add(30 * time.Hour)},
		{To: T0},
		{From: T0.Add(-12 * time.Hour)},
		{From: T0, To: T0.Add(time.Hour)},
		{From: day.Add(-24 * time.Hour), To: day.Add(48 * time.Hour)},
		{From: day.Add(-24 * time.Hour), To: day.Add(time.Nanosecond)},
	}
	chat, failing := store.Filter{Field: "operation_name", Op: "eq", Value: model.OpChat}, store.Filter{Field: "status_code", Op: "eq", Value: model.StatusError}
	filters := []struct {
		name    string
		filters []store.Filter
		match   func(model.Span) bool
	}{
		{"none", nil, func(model.Span) bool { return true }},
		{"chat", []store.Filter{chat}, func(s model.Span) bool { return s.OperationName == model.OpChat }},
		{"errors", []store.Filter{failing}, func(s model.Span) bool { return s.StatusCode == model.StatusError }},
		{"chat errors", []store.Filter{chat, failing}, func(s model.Span) bool {
			return s.OperationName == model.OpChat && s.StatusCode == model.StatusError
		}},
		{"not OK, chat or tool", []store.Filter{{Field: "status_code", Op: "neq", Value: model.StatusOK},
			{Field: "operation_name", Op: "in", Value: []any{model.OpChat, model.OpExecuteTool}}}, func(s model.Span) bool {
			return s.StatusCode != model.StatusOK && (s.OperationName == model.OpChat || s.OperationName == model.OpExecuteTool)
		}},
		{"errors and a tool name", []store.Filter{failing, {Field: "tool_name", Op: "exists"}}, func(s model.Span) bool {
			return s.StatusCode == model.StatusError && s.ToolName != ""
		}},
	}
	check := func(when string) {
		h.t.Helper()
		for _, r := range ranges {
			for _, f := range filters {
				want := 0
				for _, s := range cur {
					if f.match(s) && !s.StartedAt.Before(r.From) && (r.To.IsZero() || s.StartedAt.Before(r.To)) {
						want++
					}
				}
				spans, total, err := h.s.QuerySpans(h.ctx, store.SpanQuery{ProjectID: projA, Filters: f.filters, Range: r, Limit: store.MaxLimit})
				if err != nil {
					h.t.Fatalf("QuerySpans(%s, %v–%v): %v", f.name, r.From, r.To, err)
				}
				if total != int64(want) || len(spans) != want {
					h.t.Errorf("QuerySpans(%s, %v–%v) %s: got %d spans (total %d), want %d", f.name, r.From, r.To, when, len(spans), total, want)
				}
			}
		}
		// Small pages, newest first, concatenate to the whole list.
		for _, f := range filters {
			var want []model.Span
			for _, s := range cur {
				if f.match(s) {
					want = append(want, s)
				}
			}
			want = defaultOrder(want)
			var paged []model.Span
			for off := 0; off < len(want)+3; off += 3 {
				page, _, err := h.s.QuerySpans(h.ctx, store.SpanQuery{ProjectID: projA, Filters: f.filters, Limit: 3, Offset: off})
				if err != nil {
					h.t.Fatalf("QuerySpans(%s) page: %v", f.name, err)
				}
				paged = append(paged, page...)
			}
			h.equalSpans(fmt.Sprintf("QuerySpans(%s) pages of 3 %s", f.name, when), paged, lightAll(want))
		}
	}
	check("after the re-writes")
	// Metrics over the whole range: its first and last minutes are days
	// apart.
	h.checkMetrics(o, projA, time.Hour)
	h.checkMetrics(o, projA, 24*time.Hour)
	del, ok := h.s.(store.Deleter)
	if !ok {
		return
	}
	gone := turns[2].Root.TraceID
	if _, err := del.Delete(h.ctx, store.Deletion{ProjectID: projA, TraceIDs: []string{gone}}); err != nil {
		h.t.Fatalf("Delete: %v", err)
	}
	for k, s := range cur {
		if s.TraceID == gone {
			delete(cur, k)
		}
	}
	check("after a trace was deleted")
}
