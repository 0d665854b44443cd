package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// checkAggregate compares AggregateSpans (all groups) with the model.
func (h *harness) checkAggregate(o *oracle, q store.AggregateQuery, match func(model.Span) bool) {
	h.t.Helper()
	want := o.aggregate(q, match)
	q.Limit = store.MaxLimit
	got, total, err := h.s.AggregateSpans(h.ctx, q)
	if err != nil {
		h.t.Fatalf("AggregateSpans(%+v): %v", q, err)
	}
	if total != int64(len(want)) || len(got) != len(want) {
		h.t.Errorf("AggregateSpans(%+v): got %d groups (total %d), want %d:\ngot  %s\nwant %s", q, len(got), total, len(want), jsonOf(got), jsonOf(want))
		return
	}
	for i := range got {
		if len(got[i].Key) == 0 {
			got[i].Key = []any{}
		}
		if len(want[i].Key) == 0 {
			want[i].Key = []any{}
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			h.t.Errorf("AggregateSpans(%+v) group %d:\ngot  %s %#v\nwant %s %#v", q, i, jsonOf(got[i]), got[i].Key, jsonOf(want[i]), want[i].Key)
		}
	}
}

// testAggregates checks AggregateSpans against the model: every kind of
// group-by field (columns of each type, attributes of each map, values
// missing on some spans), several fields at once, none, filters and range,
// every sort, paging and invalid queries.
func testAggregates(h *harness) {
	o := newOracle()
	all := filterData(h)
	o.write(all)
	all[8].ResourceAttrs = map[string]any{"service.name": "claude-code", "host.cores": int64(8), "debug": true}
	h.writeBoth(o, all[8])
	other := BuildConversation(ConversationSpec{ProjectID: projB, ConversationID: "agg-b", Start: T0, Turns: 1, CallsPerTurn: 2})
	h.writeBoth(o, Flatten(other)...)

	q := func(groupBy ...string) store.AggregateQuery {
		return store.AggregateQuery{ProjectID: projA, GroupBy: groupBy}
	}
	for _, tc := range []struct {
		name  string
		q     store.AggregateQuery
		match func(model.Span) bool
	}{
		{"no group-by", q(), nil},
		{"agent_name", q("agent_name"), nil},
		{"operation_name", q("operation_name"), nil},
		{"agent and operation", q("agent_name", "operation_name"), nil},
		{"request_model (empty for some)", q("request_model"), nil},
		{"status_code and is_turn", q("status_code", "is_turn"), nil},
		{"input_tokens (null for some)", q("input_tokens"), nil},
		{"ended_at (null while running)", q("ended_at"), nil},
		{"started_at", q("started_at"), nil},
		{"duration_ms", q("duration_ms"), nil},
		{"wb_run_id and step", q("wb_run_id", "wb_run_step"), nil},
		{"string attribute", q("custom_attrs_string.weave.claude_code.cwd"), nil},
		{"int attribute", q("custom_attrs_int.weave.claude_code.turn.number"), nil},
		{"float attribute", q("custom_attrs_float.temperature"), nil},
		{"bool attribute", q("custom_attrs_bool.retry"), nil},
		{"resource attribute", q("resource_attrs.service.name"), nil},
		{"resource attribute, number", q("resource_attrs.host.cores"), nil},
		{"resource attribute, bool", q("resource_attrs.debug"), nil},
		{"filters and range", store.AggregateQuery{ProjectID: projA, GroupBy: []string{"tool_name"},
			Filters: []store.Filter{{Field: "operation_name", Op: "eq", Value: "execute_tool"}},
			Range:   store.TimeRange{From: all[3].StartedAt}},
			func(s model.Span) bool { return s.OperationName == model.OpExecuteTool }},
		{"other project", store.AggregateQuery{ProjectID: projB, GroupBy: []string{"operation_name"}}, nil},
	} {
		h.t.Run(tc.name, func(t *testing.T) {
			(&harness{t: t, caps: h.caps, s: h.s, ctx: h.ctx}).checkAggregate(o, tc.q, tc.match)
		})
	}
	for f := range store.AggregateSortFields {
		for _, dir := range []string{"asc", "desc"} {
			h.checkAggregate(o, store.AggregateQuery{ProjectID: projA, GroupBy: []string{"operation_name", "agent_name"},
				Sort: []store.Sort{{Field: f, Direction: dir}}}, nil)
		}
	}
	h.checkAggregate(o, store.AggregateQuery{ProjectID: projA, GroupBy: []string{"request_model", "custom_attrs_int.weave.claude_code.turn.number"},
		Sort: []store.Sort{{Field: "custom_attrs_int.weave.claude_code.turn.number", Direction: "desc"}, {Field: "request_model", Direction: "asc"}}}, nil)

	checkAggregateModel(h, o)
	checkAggregatePages(h, o)
	checkAggregateRefusals(h)
}

// checkAggregateModel checks the model's figures for one group, so that a
// mistake shared by the model and a backend does not pass unseen:
// durations of 4 ended chat spans, percentiles at index ⌊level·n⌋.
func checkAggregateModel(h *harness, o *oracle) {
	durs := []int64{}
	var chats []model.Span
	for _, s := range o.project(projA) {
		if s.OperationName == model.OpChat && s.AgentName == "" {
			chats = append(chats, s)
			if !s.IsRunning() {
				durs = append(durs, s.DurationMs())
			}
		}
	}
	groups := o.aggregate(store.AggregateQuery{ProjectID: projA, GroupBy: []string{"operation_name", "agent_name"}}, nil)
	for _, g := range groups {
		if g.Key[0] == model.OpChat && g.Key[1] == "" && (g.Count != int64(len(chats)) || g.DurationP50Ms == nil) {
			h.t.Errorf("model: chat group %+v, want %d spans with percentiles", g, len(chats))
		}
	}
	if p := store.Percentile([]int64{1, 2, 3, 4}, 0.5); p != 3 {
		h.t.Errorf("Percentile([1 2 3 4], 0.5) = %d, want 3 (index ⌊0.5·4⌋)", p)
	}
	if p := store.Percentile([]int64{10, 20, 30}, 0.99); p != 30 {
		h.t.Errorf("Percentile([10 20 30], 0.99) = %d, want 30", p)
	}

}

// checkAggregatePages pages through the groups by operation and agent.
func checkAggregatePages(h *harness, o *oracle) {
	full := o.aggregate(store.AggregateQuery{ProjectID: projA, GroupBy: []string{"operation_name", "agent_name"}}, nil)
	for _, w := range [][2]int{{2, 0}, {2, 2}, {3, len(full) - 1}, {2, len(full) + 1}} {
		got, total, err := h.s.AggregateSpans(h.ctx, store.AggregateQuery{ProjectID: projA, GroupBy: []string{"operation_name", "agent_name"}, Limit: w[0], Offset: w[1]})
		if err != nil || total != int64(len(full)) {
			h.t.Errorf("AggregateSpans(limit %d offset %d): total %d, %v; want %d", w[0], w[1], total, err, len(full))
			continue
		}
		var want, ids []string
		for i := w[1]; i < min(len(full), w[1]+w[0]); i++ {
			want = append(want, fmt.Sprint(full[i].Key))
		}
		for _, g := range got {
			ids = append(ids, fmt.Sprint(g.Key))
		}
		if fmt.Sprint(ids) != fmt.Sprint(want) {
			h.t.Errorf("AggregateSpans(limit %d offset %d): got %v, want %v", w[0], w[1], ids, want)
		}
	}
}

// checkAggregateRefusals: bad queries are refused, an unknown project and
// a range without spans give nothing.
func checkAggregateRefusals(h *harness) {
	q := func(groupBy ...string) store.AggregateQuery {
		return store.AggregateQuery{ProjectID: projA, GroupBy: groupBy}
	}
	for _, bad := range []store.AggregateQuery{
		q("finish_reasons"), q("input_messages"), q("nope"), q("custom_attrs_string."), q("agent_name", "agent_name"),
		q("a", "b", "c", "d", "e", "f"),
		{ProjectID: projA, GroupBy: []string{"agent_name"}, Sort: []store.Sort{{Field: "span_name"}}},
		{ProjectID: projA, Sort: []store.Sort{{Field: "count", Direction: "up"}}},
		{ProjectID: projA, Filters: []store.Filter{{Field: "raw_span", Op: "exists"}}},
		{ProjectID: projA, Limit: -1},
		{},
	} {
		if _, _, err := h.s.AggregateSpans(h.ctx, bad); !errors.Is(err, store.ErrInvalid) {
			h.t.Errorf("AggregateSpans(%+v): got %v, want ErrInvalid", bad, err)
		}
	}
	got, total, err := h.s.AggregateSpans(h.ctx, store.AggregateQuery{ProjectID: "nobody/here", GroupBy: []string{"agent_name"}})
	if err != nil || total != 0 || len(got) != 0 {
		h.t.Errorf("AggregateSpans(unknown project): got %d (total %d), %v; want none", len(got), total, err)
	}
	got, total, err = h.s.AggregateSpans(h.ctx, store.AggregateQuery{ProjectID: projA, Range: store.TimeRange{From: T0.Add(100 * time.Hour)}})
	if err != nil || total != 0 || len(got) != 0 {
		h.t.Errorf("AggregateSpans(no group-by, nothing matches): got %+v (total %d), %v; want no group", got, total, err)
	}
}
