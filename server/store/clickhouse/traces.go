package clickhouse

import (
	"context"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// traceAggs are a trace's figures, summed over its rows of conv_traces
// (one per conversation the trace has spans in).
const traceAggs = "trace_id, min(first_ns) AS t_start, max(last_ns) AS t_last, toInt64(sum(span_count)) AS t_spans, " +
	"toInt64(sum(error_count)) AS t_errors, toInt64(sum(running_count)) AS t_running, " +
	"toInt64(sum(input_tokens)) AS t_in, toInt64(sum(output_tokens)) AS t_out, " +
	"toInt64(sum(cache_read_input_tokens)) AS t_cache_read, toInt64(sum(cache_creation_input_tokens)) AS t_cache_creation, " +
	"toInt64(sum(reasoning_tokens)) AS t_reasoning, toInt64(sum(cost_nanos)) AS t_cost, toInt64(sum(unpriced)) AS t_unpriced, " +
	"if(t_running = 0, intDiv(t_last - t_start, 1000000), toInt64(0)) AS t_duration"

// matchingSpansSQL selects cols of the project's spans that match every
// filter (a subquery for IN).
func matchingSpansSQL(l layout, cols, project string, filters []store.Filter, p *params) (string, error) {
	conds := []string{"project_id = " + project}
	for _, f := range filters {
		c, err := filterSQL(f, p)
		if err != nil {
			return "", err
		}
		conds = append(conds, c)
	}
	return "SELECT " + cols + " FROM " + l.table("spans") + " FINAL WHERE " + and(conds), nil
}

// tracesSQL builds the page and count queries of QueryTraces: one GROUP BY
// trace_id over conv_traces, restricted by the sets of traces the agent,
// conversation and span filters select.
func tracesSQL(l layout, q store.TraceQuery, limit int) (page, count built, err error) {
	if err := checkRange(q.Range); err != nil {
		return page, count, err
	}
	if err := store.CheckTraceQuery(q); err != nil {
		return page, count, err
	}
	var p params
	project := p.add("String", q.ProjectID)
	conds := []string{"project_id = " + project}
	if len(q.Filters) > 0 {
		matching, err := matchingSpansSQL(l, "trace_id", project, q.Filters, &p)
		if err != nil {
			return page, count, err
		}
		conds = append(conds, "trace_id IN ("+matching+")")
	}
	if q.AgentName != "" {
		conds = append(conds, "trace_id IN (SELECT trace_id FROM "+l.table("conv_traces")+" FINAL WHERE project_id = "+
			project+" AND has(agents, "+p.add("String", q.AgentName)+"))")
	}
	if q.ConversationID != "" {
		conds = append(conds, "trace_id IN (SELECT trace_id FROM "+l.table("conv_traces")+" FINAL WHERE project_id = "+
			project+" AND conv_key = "+p.add("String", q.ConversationID)+")")
	}
	var having []string
	if !q.Range.From.IsZero() {
		having = append(having, "t_start >= "+p.add("Int64", store.ClampNanos(q.Range.From)))
	}
	if !q.Range.To.IsZero() {
		having = append(having, "t_start < "+p.add("Int64", store.ClampNanos(q.Range.To)))
	}
	if c := store.TraceStatusHaving(q.Status); c != "" {
		having = append(having, c)
	}
	var order []string
	for _, so := range q.Sort {
		dir, err := direction(so.Direction)
		if err != nil {
			return page, count, err
		}
		order = append(order, store.TraceSortFields[so.Field]+" "+dir)
	}
	if len(order) == 0 {
		order = []string{"t_start DESC"}
	}
	order = append(order, "trace_id ASC")
	grouped := "SELECT " + traceAggs + " FROM " + l.table("conv_traces") + " FINAL WHERE " + and(conds) + " GROUP BY trace_id"
	if len(having) > 0 {
		grouped += " HAVING " + and(having)
	}
	count = built{sql: "SELECT toInt64(count()) FROM (" + grouped + ")", params: append([]driver.NamedValue(nil), p.list...)}
	lim := p.add("UInt64", uint64(limit))
	off := p.add("UInt64", uint64(q.Offset))
	page = built{sql: grouped + " ORDER BY " + strings.Join(order, ", ") + " LIMIT " + lim + " OFFSET " + off, params: p.list}
	return page, count, nil
}

// traceStatesSQL reads what picking the roots of the page's traces needs,
// from span_state.
func traceStatesSQL(l layout, project string, traces []string) built {
	var p params
	return built{
		sql: "SELECT trace_id, span_id, parent_span_id, started_at, ended_at, eff_agent, conv_key FROM " + l.table("span_state") +
			" FINAL WHERE project_id = " + p.add("String", project) + " AND trace_id IN " + p.add("Array(String)", traces),
		params: p.list,
	}
}

// rootNamesSQL reads the names of the roots from the spans table, bounded
// by their start times.
func rootNamesSQL(l layout, project string, refs []spanRef) built {
	var p params
	lo, hi := refs[0].started, refs[0].started
	traces, spans := map[string]bool{}, map[string]bool{}
	for _, r := range refs {
		lo, hi = min(lo, r.started), max(hi, r.started)
		traces[r.trace], spans[r.span] = true, true
	}
	return built{
		sql: "SELECT trace_id, span_id, span_name FROM " + l.table("spans") + " FINAL WHERE project_id = " + p.add("String", project) +
			" AND started_at >= fromUnixTimestamp64Nano(" + p.add("Int64", lo) + ", 'UTC')" +
			" AND started_at <= fromUnixTimestamp64Nano(" + p.add("Int64", hi) + ", 'UTC')" +
			" AND trace_id IN " + p.add("Array(String)", sortedKeys(traces)) + " AND span_id IN " + p.add("Array(String)", sortedKeys(spans)),
		params: p.list,
	}
}

// QueryTraces implements store.Reader.
func (s *Store) QueryTraces(ctx context.Context, q store.TraceQuery) ([]store.TraceSummary, int64, error) {
	defer s.reading(ctx)()
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, 0, err
	}
	page, count, err := tracesSQL(s.l, q, limit)
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.scanAll(ctx, "query traces", count.sql, count.params, func(r driver.Rows) error { return r.Scan(&total) }); err != nil {
		return nil, 0, err
	}
	if int64(q.Offset) >= total {
		return nil, total, nil
	}
	var out []store.TraceSummary
	idx := map[string]int{}
	err = s.scanAll(ctx, "query traces", page.sql, page.params, func(r driver.Rows) error {
		var t store.TraceSummary
		var start, last, cost int64
		if err := r.Scan(&t.TraceID, &start, &last, &t.SpanCount, &t.ErrorCount, &t.RunningCount, &t.InputTokens,
			&t.OutputTokens, &t.CacheReadInputTokens, &t.CacheCreationInputTokens, &t.ReasoningTokens, &cost, &t.UnpricedCount,
			&t.DurationMs); err != nil {
			return err
		}
		t.StartedAt, t.LastActivity = fromNanos(start), fromNanos(last)
		t.CostUSD = model.USD(cost)
		t.Status = store.TraceStatus(t.ErrorCount, t.RunningCount)
		idx[t.TraceID] = len(out)
		out = append(out, t)
		return nil
	})
	if err != nil || len(out) == 0 {
		return out, total, err
	}
	return out, total, s.traceRoots(ctx, q.ProjectID, out, idx)
}

// traceRoots fills the root columns of the page's traces.
func (s *Store) traceRoots(ctx context.Context, project string, out []store.TraceSummary, idx map[string]int) error {
	type cand struct {
		node        store.RootNode
		agent, conv string
	}
	byTrace := map[string][]cand{}
	b := traceStatesSQL(s.l, project, sortedKeys(idx))
	err := s.scanAll(ctx, "query traces", b.sql, b.params, func(r driver.Rows) error {
		var trace string
		var c cand
		var started time.Time
		var ended *time.Time
		if err := r.Scan(&trace, &c.node.SpanID, &c.node.ParentID, &started, &ended, &c.agent, &c.conv); err != nil {
			return err
		}
		c.node.Started = started.UnixNano()
		if ended != nil {
			c.node.Ended = ended.UnixNano()
		} else {
			c.node.Running = true
		}
		byTrace[trace] = append(byTrace[trace], c)
		return nil
	})
	if err != nil {
		return err
	}
	var refs []spanRef
	roots := map[[2]string]int{} // (trace, span) → index in out
	for trace, cs := range byTrace {
		nodes := make([]store.RootNode, len(cs))
		for i, c := range cs {
			nodes[i] = c.node
		}
		r := store.PrimaryRoot(nodes)
		if r < 0 {
			continue
		}
		t := &out[idx[trace]]
		t.RootSpanID, t.AgentName, t.ConversationID = cs[r].node.SpanID, cs[r].agent, cs[r].conv
		refs = append(refs, spanRef{trace: trace, span: cs[r].node.SpanID, started: cs[r].node.Started})
		roots[[2]string{trace, cs[r].node.SpanID}] = idx[trace]
	}
	if len(refs) == 0 {
		return nil
	}
	b = rootNamesSQL(s.l, project, refs)
	return s.scanAll(ctx, "query traces", b.sql, b.params, func(r driver.Rows) error {
		var trace, span, name string
		if err := r.Scan(&trace, &span, &name); err != nil {
			return err
		}
		if i, ok := roots[[2]string{trace, span}]; ok {
			out[i].RootSpanName = name
		}
		return nil
	})
}
