package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// traceAggs are the per-trace figures, over the spans of the trace.
const traceAggs = `s.trace_id AS trace_id, MIN(s.started_at) AS t_start, MAX(MAX(s.started_at, s.ended_at)) AS t_last,
	COUNT(*) AS t_spans, SUM(s.status_code = 'ERROR') AS t_errors, SUM(s.ended_at = 0) AS t_running,
	SUM(CASE WHEN s.counted THEN COALESCE(s.input_tokens, 0) ELSE 0 END) AS t_in,
	SUM(CASE WHEN s.counted THEN COALESCE(s.output_tokens, 0) ELSE 0 END) AS t_out,
	SUM(CASE WHEN s.counted THEN COALESCE(s.cache_read_input_tokens, 0) ELSE 0 END) AS t_cache_read,
	SUM(CASE WHEN s.counted THEN COALESCE(s.cache_creation_input_tokens, 0) ELSE 0 END) AS t_cache_creation,
	SUM(CASE WHEN s.counted THEN COALESCE(s.reasoning_tokens, 0) ELSE 0 END) AS t_reasoning,
	SUM(CASE WHEN s.counted THEN COALESCE(s.cost_nanos, 0) ELSE 0 END) AS t_cost,
	SUM(s.counted AND s.cost_nanos IS NULL AND ` + hasTokensSQL + `) AS t_unpriced`

// hasTokensSQL is true for a span s that reported a token count.
const hasTokensSQL = `(s.input_tokens IS NOT NULL OR s.output_tokens IS NOT NULL OR s.cache_read_input_tokens IS NOT NULL
	OR s.cache_creation_input_tokens IS NOT NULL OR s.reasoning_tokens IS NOT NULL)`

// QueryTraces implements store.Reader: one GROUP BY trace over the
// project's spans (restricted by the filters' trace sets), then the roots
// of the page's traces.
func (s *Store) QueryTraces(ctx context.Context, q store.TraceQuery) ([]store.TraceSummary, int64, error) {
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, 0, err
	}
	if err := store.CheckTraceQuery(q); err != nil {
		return nil, 0, err
	}
	where := []string{"s.proj = ?"}
	args := []any{nil}
	var inner []string // conditions of the span-filter subquery
	var innerArgs []any
	if err := filtersSQL(q.Filters, &inner, &innerArgs); err != nil {
		return nil, 0, err
	}
	having, havingArgs, err := traceHaving(q)
	if err != nil {
		return nil, 0, err
	}
	order, err := sortOrder(q.Sort, store.TraceSortFields, "traces") // CheckTraceQuery accepted the fields
	if err != nil {
		return nil, 0, err
	}
	if len(order) == 0 {
		order = []string{"t_start DESC"}
	}
	order = append(order, "trace_id ASC")

	proj, ok, err := s.projectID(ctx, q.ProjectID)
	if err != nil || !ok {
		return nil, 0, err
	}
	args[0] = proj
	if len(inner) > 0 {
		where = append(where, "s.trace_id IN (SELECT s.trace_id FROM spans s WHERE s.proj = ? AND "+join(inner)+")")
		args = append(append(args, proj), innerArgs...)
	}
	if q.AgentName != "" {
		where = append(where, "s.trace_id IN (SELECT a.trace_id FROM spans a WHERE a.proj = ? AND a.eff_agent = ?)")
		args = append(args, proj, q.AgentName)
	}
	if q.ConversationID != "" {
		where = append(where, "s.trace_id IN (SELECT ct.trace_id FROM conv_traces ct JOIN conversations c ON c.id = ct.conv_id WHERE c.proj = ? AND c.conv_key = ?)")
		args = append(args, proj, q.ConversationID)
	}
	grouped := "SELECT " + traceAggs + " FROM spans s WHERE " + join(where) + " GROUP BY s.trace_id"
	if len(having) > 0 {
		grouped += " HAVING " + join(having)
	}
	args = append(args, havingArgs...)
	withDuration := "SELECT t.*, CASE WHEN t.t_running = 0 THEN (t.t_last - t.t_start) / 1000000 ELSE 0 END AS t_duration FROM (" + grouped + ") t"

	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: query traces: %w", err)
	}
	defer tx.Rollback()
	var total int64
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM ("+grouped+")", args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: query traces: %w", err)
	}
	if int64(q.Offset) >= total {
		return nil, total, nil
	}
	rows, err := tx.QueryContext(ctx, withDuration+" ORDER BY "+strings.Join(order, ", ")+" LIMIT ? OFFSET ?", append(args, limit, q.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: query traces: %w", err)
	}
	out, idx, err := scanTraces(rows)
	if err != nil {
		return nil, 0, err
	}
	return out, total, s.traceRoots(ctx, tx, proj, out, idx)
}

// traceHaving is the HAVING conditions of a trace query's range and
// status on the per-trace figures, with their arguments.
func traceHaving(q store.TraceQuery) ([]string, []any, error) {
	var having []string
	var args []any
	if err := rangeSQL("t_start", q.Range, &having, &args); err != nil {
		return nil, nil, err
	}
	if c := store.TraceStatusHaving(q.Status); c != "" {
		having = append(having, c)
	}
	return having, args, nil
}

// scanTraces reads the page of QueryTraces and closes rows; idx is the
// index of each trace in the page.
func scanTraces(rows *sql.Rows) (out []store.TraceSummary, idx map[string]int, err error) {
	idx = map[string]int{}
	for rows.Next() {
		var t store.TraceSummary
		var start, last, cost int64
		if err := rows.Scan(&t.TraceID, &start, &last, &t.SpanCount, &t.ErrorCount, &t.RunningCount, &t.InputTokens,
			&t.OutputTokens, &t.CacheReadInputTokens, &t.CacheCreationInputTokens, &t.ReasoningTokens, &cost, &t.UnpricedCount,
			&t.DurationMs); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("sqlite: query traces: %w", err)
		}
		t.StartedAt, t.LastActivity = fromNanos(start), fromNanos(last)
		t.CostUSD = model.USD(cost)
		t.Status = store.TraceStatus(t.ErrorCount, t.RunningCount)
		idx[t.TraceID] = len(out)
		out = append(out, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, nil, fmt.Errorf("sqlite: query traces: %w", err)
	}
	return out, idx, nil
}

// traceRoots fills the root columns of the page's traces from their
// parentless spans (store.PrimaryRoot picks one).
func (s *Store) traceRoots(ctx context.Context, tx queryer, proj int64, out []store.TraceSummary, idx map[string]int) error {
	ids := make([]any, 0, len(idx)+1)
	ids = append(ids, proj)
	for id := range idx {
		ids = append(ids, id)
	}
	rows, err := tx.QueryContext(ctx, `SELECT s.trace_id, s.span_id, s.parent_span_id, s.span_name, s.started_at, s.ended_at,
		s.eff_agent, c.conv_key FROM spans s JOIN conversations c ON c.id = s.conv_id
		WHERE s.proj = ? AND s.trace_id IN (`+placeholders(len(idx))+`) AND (s.parent_span_id = '' OR s.parent_span_id = s.span_id
		OR NOT EXISTS (SELECT 1 FROM spans p WHERE p.proj = s.proj AND p.trace_id = s.trace_id AND p.span_id = s.parent_span_id))`, ids...)
	if err != nil {
		return fmt.Errorf("sqlite: query traces: %w", err)
	}
	type cand struct {
		node              store.RootNode
		name, agent, conv string
	}
	byTrace := map[string][]cand{}
	for rows.Next() {
		var trace string
		var c cand
		var ended int64
		if err := rows.Scan(&trace, &c.node.SpanID, &c.node.ParentID, &c.name, &c.node.Started, &ended, &c.agent, &c.conv); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: query traces: %w", err)
		}
		c.node.Ended, c.node.Running = ended, ended == 0
		c.node.ParentID = "" // a root, whatever its dangling link
		byTrace[trace] = append(byTrace[trace], c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite: query traces: %w", err)
	}
	for trace, cs := range byTrace {
		nodes := make([]store.RootNode, len(cs))
		for i, c := range cs {
			nodes[i] = c.node
		}
		if r := store.PrimaryRoot(nodes); r >= 0 {
			t := &out[idx[trace]]
			t.RootSpanID, t.RootSpanName, t.AgentName, t.ConversationID = cs[r].node.SpanID, cs[r].name, cs[r].agent, cs[r].conv
		}
	}
	return nil
}
