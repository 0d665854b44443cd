package storetest

import (
	"sort"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// traces computes every trace summary of a project, unfiltered.
func (o *oracle) traces(project string) map[string]*store.TraceSummary {
	der := o.derive(project)
	byTrace := map[string][]model.Span{}
	for _, s := range o.project(project) {
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
	}
	out := map[string]*store.TraceSummary{}
	for id, spans := range byTrace {
		t := &store.TraceSummary{TraceID: id, StartedAt: spans[0].StartedAt.UTC(), LastActivity: spans[0].StartedAt.UTC()}
		nodes := make([]store.RootNode, len(spans))
		for i := range spans {
			s := &spans[i]
			nodes[i] = store.RootNode{SpanID: s.SpanID, ParentID: s.ParentSpanID, Started: s.StartedAt.UnixNano(),
				Ended: s.EndedAt.UnixNano(), Running: s.IsRunning()}
			t.SpanCount++
			if s.StatusCode == model.StatusError {
				t.ErrorCount++
			}
			if s.IsRunning() {
				t.RunningCount++
			}
			if s.StartedAt.Before(t.StartedAt) {
				t.StartedAt = s.StartedAt.UTC()
			}
			last := s.StartedAt
			if s.EndedAt.After(last) {
				last = s.EndedAt
			}
			if last.After(t.LastActivity) {
				t.LastActivity = last.UTC()
			}
			if der[keyOf(s)].counted {
				addUsage(&t.Usage, usageOf(s))
			}
		}
		if r := store.PrimaryRoot(nodes); r >= 0 {
			rs := &spans[r]
			d := der[keyOf(rs)]
			t.RootSpanID, t.RootSpanName, t.AgentName, t.ConversationID = rs.SpanID, rs.SpanName, d.agent, d.conv
		}
		if t.RunningCount == 0 {
			t.DurationMs = t.LastActivity.Sub(t.StartedAt).Milliseconds()
		}
		t.Status = store.TraceStatus(t.ErrorCount, t.RunningCount)
		out[id] = t
	}
	return out
}

// queryTraces is QueryTraces without paging: every match, in order. match
// is the meaning of q.Filters as a predicate on one span (nil: none).
func (o *oracle) queryTraces(q store.TraceQuery, match func(model.Span) bool) []store.TraceSummary {
	der := o.derive(q.ProjectID)
	all := o.traces(q.ProjectID)
	agentIn, convIn, filterIn := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, s := range o.project(q.ProjectID) {
		d := der[keyOf(&s)]
		if q.AgentName != "" && d.agent == q.AgentName {
			agentIn[s.TraceID] = true
		}
		if q.ConversationID != "" && d.conv == q.ConversationID {
			convIn[s.TraceID] = true
		}
		if match == nil || match(s) {
			filterIn[s.TraceID] = true
		}
	}
	var out []store.TraceSummary
	for id, t := range all {
		switch {
		case q.AgentName != "" && !agentIn[id],
			q.ConversationID != "" && !convIn[id],
			!filterIn[id],
			q.Status != "" && t.Status != q.Status,
			!q.Range.From.IsZero() && t.StartedAt.Before(q.Range.From),
			!q.Range.To.IsZero() && !t.StartedAt.Before(q.Range.To):
			continue
		}
		out = append(out, *t)
	}
	sortTraces(out, q.Sort)
	return out
}

// sortTraces orders traces by sorts (started_at descending without any),
// then trace_id.
func sortTraces(out []store.TraceSummary, sorts []store.Sort) {
	if len(sorts) == 0 {
		sorts = []store.Sort{{Field: "started_at", Direction: "desc"}}
	}
	sort.Slice(out, func(i, j int) bool {
		for _, so := range sorts {
			c := compareAny(traceField(&out[i], so.Field), traceField(&out[j], so.Field))
			if so.Direction != "asc" {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return out[i].TraceID < out[j].TraceID
	})
}

// traceField is the sortable field f of t (nil for an unknown one).
func traceField(t *store.TraceSummary, f string) any {
	switch f {
	case "trace_id":
		return t.TraceID
	case "started_at":
		return t.StartedAt
	case "last_activity":
		return t.LastActivity
	case "duration_ms":
		return t.DurationMs
	case "span_count":
		return t.SpanCount
	case "error_count":
		return t.ErrorCount
	case "running_count":
		return t.RunningCount
	case "input_tokens":
		return t.InputTokens
	case "output_tokens":
		return t.OutputTokens
	case "cache_read_input_tokens":
		return t.CacheReadInputTokens
	case "cache_creation_input_tokens":
		return t.CacheCreationInputTokens
	case "reasoning_tokens":
		return t.ReasoningTokens
	case "cost_usd":
		return t.CostUSD
	case "unpriced_count":
		return t.UnpricedCount
	}
	return nil
}

func compareAny(a, b any) int {
	switch x := a.(type) {
	case string:
		y := b.(string)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	case int64:
		y := b.(int64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	case float64:
		y := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
	case time.Time:
		return x.Compare(b.(time.Time))
	}
	return 0
}
