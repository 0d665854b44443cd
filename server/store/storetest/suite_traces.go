package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// traceData writes conversations and odd traces (an orphan whose root is
// missing, a parent cycle, a running turn, a failed one, two roots) to
// projA and one conversation to projB, in shuffled batches.
func traceData(h *harness, o *oracle) {
	var all []model.Span
	for i, spec := range []ConversationSpec{
		{ConversationID: "tr-long", Turns: 3, CallsPerTurn: 3, Subagent: true},
		{ConversationID: "tr-short", Turns: 2, CallsPerTurn: 1},
	} {
		spec.ProjectID = projA
		spec.Start = T0.Add(time.Duration(i) * 10 * time.Minute)
		all = append(all, Flatten(BuildConversation(spec))...)
	}
	failed := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "tr-failed", Turn: 1, Start: T0.Add(time.Hour), Prompt: "fail", Calls: 2})
	failed.Spans[1].StatusCode = model.StatusError
	run := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "tr-run", Turn: 1, Start: T0.Add(2 * time.Hour), Prompt: "run", Calls: 2})
	run.Spans[0] = running(run.Spans[0])
	orphan := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "tr-orphan", Turn: 1, Start: T0.Add(3 * time.Hour), Prompt: "orphan", Calls: 2, Subagent: true})
	all = append(append(append(all, failed.Spans...), run.Spans...), orphan.Spans[1:]...) // root never arrives
	mk := func(trace, id, parent string, at time.Duration, end time.Duration) model.Span {
		s := model.Span{ProjectID: projA, TraceID: TraceID("odd", trace), SpanID: SpanID("odd", trace, id), SpanName: id,
			StartedAt: T0.Add(4*time.Hour + at), EndedAt: T0.Add(4*time.Hour + end), StatusCode: model.StatusOK, OperationName: model.OpChat}
		if parent != "" {
			s.ParentSpanID = SpanID("odd", trace, parent)
		}
		return s
	}
	all = append(all,
		mk("cycle", "a", "b", 0, time.Second), mk("cycle", "b", "a", time.Millisecond, 2*time.Second),
		mk("two-roots", "first", "", 0, 3*time.Second), mk("two-roots", "second", "", time.Second, 5*time.Second),
		mk("two-roots", "child", "first", 10*time.Millisecond, 20*time.Millisecond))
	h.writeShuffled(o, rand.New(rand.NewPCG(3, 5)), all, 30)
	other := BuildConversation(ConversationSpec{ProjectID: projB, ConversationID: "tr-b", Start: T0, Turns: 2, CallsPerTurn: 2})
	h.writeBoth(o, Flatten(other)...)
}

// testTraces checks QueryTraces against the model: roots (also where the
// root is missing, on a cycle, or one of two), statuses, figures, every
// filter, sorts, paging and invalid queries.
func testTraces(h *harness) {
	o := newOracle()
	traceData(h, o)
	h.checkModel(o, projA, projB)
	q := func(mod func(*store.TraceQuery)) store.TraceQuery {
		x := store.TraceQuery{ProjectID: projA}
		mod(&x)
		return x
	}
	for _, tc := range []struct {
		name  string
		q     store.TraceQuery
		match func(model.Span) bool
	}{
		{"agent", q(func(x *store.TraceQuery) { x.AgentName = "Explore" }), nil},
		{"conversation", q(func(x *store.TraceQuery) { x.ConversationID = "tr-short" }), nil},
		{"status error", q(func(x *store.TraceQuery) { x.Status = store.TraceError }), nil},
		{"status running", q(func(x *store.TraceQuery) { x.Status = store.TraceRunning }), nil},
		{"status ok", q(func(x *store.TraceQuery) { x.Status = store.TraceOK }), nil},
		{"range on start", q(func(x *store.TraceQuery) {
			x.Range = store.TimeRange{From: T0.Add(5 * time.Minute), To: T0.Add(3 * time.Hour)}
		}), nil},
		{"span filter", q(func(x *store.TraceQuery) {
			x.Filters = []store.Filter{{Field: "operation_name", Op: "eq", Value: "execute_tool"}}
		}), func(s model.Span) bool { return s.OperationName == model.OpExecuteTool }},
		{"two span filters on one span", q(func(x *store.TraceQuery) {
			x.Filters = []store.Filter{{Field: "operation_name", Op: "eq", Value: "chat"}, {Field: "status_code", Op: "eq", Value: "ERROR"}}
		}), func(s model.Span) bool { return s.OperationName == model.OpChat && s.StatusCode == model.StatusError }},
		{"attribute filter", q(func(x *store.TraceQuery) {
			x.Filters = []store.Filter{{Field: "custom_attrs_int.weave.claude_code.turn.number", Op: "gte", Value: 2}}
		}), func(s model.Span) bool {
			v, ok := s.CustomAttrsInt["weave.claude_code.turn.number"]
			return ok && v >= 2
		}},
		{"everything", q(func(x *store.TraceQuery) {
			x.AgentName, x.ConversationID, x.Status = "claude-code", "tr-long", store.TraceOK
			x.Filters = []store.Filter{{Field: "input_tokens", Op: "gt", Value: 1}}
		}), func(s model.Span) bool { return s.InputTokens != nil && *s.InputTokens > 1 }},
	} {
		h.t.Run(tc.name, func(t *testing.T) { (&harness{t: t, caps: h.caps, s: h.s, ctx: h.ctx}).checkTraces(o, tc.q, tc.match) })
	}
	for f := range store.TraceSortFields {
		for _, dir := range []string{"asc", "desc"} {
			h.checkTraces(o, store.TraceQuery{ProjectID: projA, Sort: []store.Sort{{Field: f, Direction: dir}}}, nil)
		}
	}
	h.checkTraces(o, store.TraceQuery{ProjectID: projA, Sort: []store.Sort{{Field: "span_count", Direction: "desc"}, {Field: "started_at", Direction: "asc"}}}, nil)

	// Paging: windows of the full list, with the total.
	full := o.queryTraces(store.TraceQuery{ProjectID: projA}, nil)
	for _, w := range [][2]int{{3, 0}, {3, 3}, {5, 9}, {2, len(full) - 1}, {4, len(full) + 2}} {
		got, total, err := h.s.QueryTraces(h.ctx, store.TraceQuery{ProjectID: projA, Limit: w[0], Offset: w[1]})
		if err != nil || total != int64(len(full)) {
			h.t.Errorf("QueryTraces(limit %d offset %d): total %d, %v; want %d", w[0], w[1], total, err, len(full))
			continue
		}
		var want []string
		for i := w[1]; i < min(len(full), w[1]+w[0]); i++ {
			want = append(want, full[i].TraceID)
		}
		var ids []string
		for _, t := range got {
			ids = append(ids, t.TraceID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			h.t.Errorf("QueryTraces(limit %d offset %d): got %v, want %v", w[0], w[1], ids, want)
		}
	}
	// The model's own view of the odd traces, so that a shared mistake in
	// the model and a backend does not pass unseen.
	byID := map[string]store.TraceSummary{}
	for _, t := range full {
		byID[t.TraceID] = t
	}
	if t := byID[TraceID("odd", "two-roots")]; t.RootSpanName != "second" || t.DurationMs != 5000 || t.SpanCount != 3 {
		h.t.Errorf("two roots: got %+v, want the one that ended last (second), 5 s, 3 spans", t)
	}
	if t := byID[TraceID("odd", "cycle")]; t.RootSpanID != "" || t.SpanCount != 2 {
		h.t.Errorf("parent cycle: got %+v, want no root, 2 spans", t)
	}

	for _, bad := range []store.TraceQuery{
		{ProjectID: projA, Status: "failed"},
		{ProjectID: projA, Sort: []store.Sort{{Field: "root_span_name"}}},
		{ProjectID: projA, Sort: []store.Sort{{Field: "started_at", Direction: "up"}}},
		{ProjectID: projA, Filters: []store.Filter{{Field: "input_messages", Op: "exists"}}},
		{ProjectID: projA, Limit: -1},
		{ProjectID: projA, Offset: -1},
		{},
	} {
		_, _, err := h.s.QueryTraces(h.ctx, bad)
		if !errors.Is(err, store.ErrInvalid) {
			h.t.Errorf("QueryTraces(%+v): got %v, want ErrInvalid", bad, err)
		}
	}
	got, total, err := h.s.QueryTraces(h.ctx, store.TraceQuery{ProjectID: "nobody/here"})
	if err != nil || total != 0 || len(got) != 0 {
		h.t.Errorf("QueryTraces(unknown project): got %d (total %d), %v; want none", len(got), total, err)
	}
}
