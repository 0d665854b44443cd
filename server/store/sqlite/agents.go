package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

var agentSortCols = map[string]string{
	"agent_name": "agent_name", "invocation_count": "invocation_count", "span_count": "span_count",
	"error_count": "error_count", "total_duration_ms": "total_duration_ms", "first_seen": "first_seen",
	"last_seen": "last_seen", "version_count": "version_count", "input_tokens": "input_tokens",
	"output_tokens": "output_tokens", "cache_read_input_tokens": "cache_read_tokens",
	"cache_creation_input_tokens": "cache_create_tokens", "reasoning_tokens": "reasoning_tokens",
	"cost_usd": "cost_nanos", "unpriced_count": "unpriced",
}

const agentAggCols = `SUM(invocation_count) AS invocation_count, SUM(span_count) AS span_count,
	SUM(error_count) AS error_count, SUM(duration_ms) AS total_duration_ms, MIN(first_seen) AS first_seen,
	MAX(last_seen) AS last_seen, COUNT(*) AS version_count, SUM(input_tokens) AS input_tokens,
	SUM(output_tokens) AS output_tokens, SUM(cache_read_tokens) AS cache_read_tokens,
	SUM(cache_create_tokens) AS cache_create_tokens, SUM(reasoning_tokens) AS reasoning_tokens,
	SUM(cost_nanos) AS cost_nanos, SUM(unpriced) AS unpriced`

// QueryAgents implements store.Reader.
func (s *Store) QueryAgents(ctx context.Context, q store.AgentQuery) ([]store.AgentSummary, int64, error) {
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, 0, err
	}
	having, args, err := agentRangeSQL(q.Range)
	if err != nil {
		return nil, 0, err
	}
	order, err := sortOrder(q.Sort, agentSortCols, "agents")
	if err != nil {
		return nil, 0, err
	}
	if len(order) == 0 {
		order = []string{"last_seen DESC"}
	}
	order = append(order, "agent_name ASC")
	scoreFilters, err := store.ParseScoreFilters(q.ScoreFilters)
	if err != nil {
		return nil, 0, err
	}
	proj, ok, err := s.projectID(ctx, q.ProjectID)
	if err != nil || !ok {
		return nil, 0, err
	}
	args[0] = proj
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: query agents: %w", err)
	}
	defer tx.Rollback()
	items, err := s.scoredItems(ctx, tx, proj, q.ProjectID)
	if err != nil {
		return nil, 0, err
	}
	_, byAgent := store.GroupScores(items)
	where := "proj = ?"
	if len(scoreFilters) > 0 {
		c, cargs := scoredCond("agent_name", scoreFilters, byAgent)
		where += " AND " + c
		args = append(append([]any{proj}, cargs...), args[1:]...)
	}
	grouped := "SELECT agent_name, " + agentAggCols + " FROM agent_versions WHERE " + where + " GROUP BY agent_name"
	if len(having) > 0 {
		grouped += " HAVING " + join(having)
	}
	var total int64
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM ("+grouped+")", args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: query agents: %w", err)
	}
	if int64(q.Offset) >= total {
		return nil, total, nil
	}
	rows, err := tx.QueryContext(ctx, "SELECT * FROM ("+grouped+") ORDER BY "+strings.Join(order, ", ")+" LIMIT ? OFFSET ?",
		append(args, limit, q.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: query agents: %w", err)
	}
	out, err := scanAgents(rows, byAgent)
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// agentRangeSQL is the HAVING conditions of an agent query's time range,
// and their arguments after a first one left for the project's id.
func agentRangeSQL(r store.TimeRange) (having []string, args []any, err error) {
	args = []any{nil}
	if !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To) {
		return nil, nil, invalid("time range from is not before to")
	}
	if !r.From.IsZero() {
		having = append(having, "MAX(last_seen) >= ?")
		args = append(args, store.ClampNanos(r.From))
	}
	if !r.To.IsZero() {
		having = append(having, "MIN(first_seen) < ?")
		args = append(args, store.ClampNanos(r.To))
	}
	return having, args, nil
}

// scanAgents reads the rows of QueryAgents' page and closes them.
func scanAgents(rows *sql.Rows, byAgent map[string]map[string]store.ScoreSummary) ([]store.AgentSummary, error) {
	defer rows.Close()
	var out []store.AgentSummary
	for rows.Next() {
		var a store.AgentSummary
		var first, last int64
		var u usageScan
		if err := rows.Scan(append([]any{&a.AgentName, &a.InvocationCount, &a.SpanCount, &a.ErrorCount, &a.TotalDurationMs,
			&first, &last, &a.VersionCount}, u.dest()...)...); err != nil {
			return nil, fmt.Errorf("sqlite: query agents: %w", err)
		}
		a.Usage = u.usage()
		a.Scores = byAgent[a.AgentName]
		a.FirstSeen, a.LastSeen = fromNanos(first), fromNanos(last)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: query agents: %w", err)
	}
	return out, nil
}

// AgentVersions implements store.Reader.
func (s *Store) AgentVersions(ctx context.Context, projectID, agentName string) ([]store.AgentVersionSummary, error) {
	if err := checks.Project(projectID); err != nil {
		return nil, err
	}
	proj, ok, err := s.projectID(ctx, projectID)
	if err != nil || !ok {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT agent_version, invocation_count, span_count, error_count, duration_ms,
		first_seen, last_seen, input_tokens, output_tokens, cache_read_tokens, cache_create_tokens, reasoning_tokens,
		cost_nanos, unpriced FROM agent_versions WHERE proj = ? AND agent_name = ? ORDER BY last_seen DESC, agent_version`, proj, agentName)
	if err != nil {
		return nil, fmt.Errorf("sqlite: agent versions: %w", err)
	}
	defer rows.Close()
	var out []store.AgentVersionSummary
	for rows.Next() {
		v := store.AgentVersionSummary{AgentName: agentName}
		var first, last int64
		var u usageScan
		if err := rows.Scan(append([]any{&v.AgentVersion, &v.InvocationCount, &v.SpanCount, &v.ErrorCount, &v.TotalDurationMs,
			&first, &last}, u.dest()...)...); err != nil {
			return nil, fmt.Errorf("sqlite: agent versions: %w", err)
		}
		v.Usage = u.usage()
		v.FirstSeen, v.LastSeen = fromNanos(first), fromNanos(last)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: agent versions: %w", err)
	}
	return out, nil
}

// AgentMetrics implements store.Reader.
func (s *Store) AgentMetrics(ctx context.Context, q store.MetricsQuery) ([]store.MetricBucket, error) {
	if err := checks.Project(q.ProjectID); err != nil {
		return nil, err
	}
	if q.Bucket < 0 || q.Bucket%time.Second != 0 {
		return nil, invalid("bucket %s is not a positive whole number of seconds", q.Bucket)
	}
	if !q.Range.From.IsZero() && !q.Range.To.IsZero() && !q.Range.From.Before(q.Range.To) {
		return nil, invalid("time range from is not before to")
	}
	proj, ok, err := s.projectID(ctx, q.ProjectID)
	if err != nil || !ok {
		return nil, err
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: agent metrics: %w", err)
	}
	defer tx.Rollback()

	// The extent: the range, with open ends closed by the data.
	from, to := int64(0), int64(0)
	if q.Range.From.IsZero() || q.Range.To.IsZero() {
		var lo, hi sql.NullInt64
		aq := "SELECT MIN(minute), MAX(minute) FROM agent_minutes WHERE proj = ?"
		aargs := []any{proj}
		if q.AgentName != "" {
			aq += " AND agent_name = ?"
			aargs = append(aargs, q.AgentName)
		}
		if err := tx.QueryRowContext(ctx, aq, aargs...).Scan(&lo, &hi); err != nil {
			return nil, fmt.Errorf("sqlite: agent metrics: %w", err)
		}
		if !lo.Valid {
			return nil, nil
		}
		from, to = lo.Int64*minuteNanos, (hi.Int64+1)*minuteNanos
	}
	from, to, w, ok, err := store.MetricsWindow(q, from, to)
	if err != nil || !ok {
		return nil, err
	}
	switch {
	case w%hourNanos == 0:
		return s.metricsFromBuckets(ctx, tx, "agent_hours", "hour", hourNanos, proj, q, from, to, w)
	case w%minuteNanos == 0:
		return s.metricsFromBuckets(ctx, tx, "agent_minutes", "minute", minuteNanos, proj, q, from, to, w)
	}
	return s.metricsFromSpans(ctx, tx, proj, q, from, to, w)
}

// metricsFromBuckets sums a per-minute or per-hour rollup (unit: the
// nanoseconds of one row) into buckets of w, a multiple of unit.
func (s *Store) metricsFromBuckets(ctx context.Context, tx *sql.Tx, table, col string, unit, proj int64, q store.MetricsQuery, from, to, w int64) ([]store.MetricBucket, error) {
	wm := w / unit // bucket width in rows
	where := "proj = ? AND " + col + " >= ? AND " + col + " < ?"
	args := []any{wm, wm, wm, proj, store.FloorDiv(from, unit), store.FloorDiv(to, unit)}
	if q.AgentName != "" {
		where += " AND agent_name = ?"
		args = append(args, q.AgentName)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+col+` - (((`+col+` % ?) + ?) % ?) AS b, agent_name,
		SUM(invocation_count), SUM(error_count), SUM(span_count), SUM(duration_ms), SUM(ended_invocations),
		SUM(input_tokens), SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_create_tokens), SUM(reasoning_tokens),
		SUM(cost_nanos), SUM(unpriced) FROM `+table+` WHERE `+where+` GROUP BY b, agent_name ORDER BY b, agent_name`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: agent metrics: %w", err)
	}
	defer rows.Close()
	var out []store.MetricBucket
	for rows.Next() {
		var b store.MetricBucket
		var start, dur, ended int64
		var u usageScan
		if err := rows.Scan(append([]any{&start, &b.AgentName, &b.InvocationCount, &b.ErrorCount, &b.SpanCount, &dur, &ended},
			u.dest()...)...); err != nil {
			return nil, fmt.Errorf("sqlite: agent metrics: %w", err)
		}
		b.Usage = u.usage()
		b.Start = fromNanos(start * unit)
		if ended > 0 {
			b.AvgDurationMs = float64(dur) / float64(ended)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: agent metrics: %w", err)
	}
	return out, nil
}

// metricsFromSpans aggregates in Go for widths that are not whole minutes.
func (s *Store) metricsFromSpans(ctx context.Context, tx *sql.Tx, proj int64, q store.MetricsQuery, from, to, w int64) ([]store.MetricBucket, error) {
	where := "s.proj = ? AND s.started_at >= ? AND s.started_at < ? AND s.eff_agent != ''"
	args := []any{proj, from, to}
	if q.AgentName != "" {
		where += " AND s.eff_agent = ?"
		args = append(args, q.AgentName)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+traceStateCols+` FROM spans s JOIN conversations c ON c.id = s.conv_id WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: agent metrics: %w", err)
	}
	defer rows.Close()
	type key struct {
		start int64
		agent string
	}
	acc := make(map[key]*sums)
	var keys []key
	for rows.Next() {
		r, err := scanState(rows, proj, "")
		if err != nil {
			return nil, fmt.Errorf("sqlite: agent metrics: %w", err)
		}
		k := key{store.FloorDiv(r.started, w) * w, r.d.EffAgent}
		a := acc[k]
		if a == nil {
			a = &sums{}
			acc[k] = a
			keys = append(keys, k)
		}
		sm := spanSums(r)
		a.add(&sm, 1)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: agent metrics: %w", err)
	}
	out := make([]store.MetricBucket, 0, len(keys))
	for _, k := range keys {
		a := acc[k]
		b := store.MetricBucket{Start: fromNanos(k.start), AgentName: k.agent, InvocationCount: a.invocations,
			ErrorCount: a.errors, SpanCount: a.spans}
		b.Usage = usageScan{a.tok}.usage()
		if a.endedInv > 0 {
			b.AvgDurationMs = float64(a.durMs) / float64(a.endedInv)
		}
		out = append(out, b)
	}
	sortBuckets(out)
	return out, nil
}

// scoredCond is the condition keeping the items (by key column col) whose
// scores pass fs (store.ScoreKeys).
func scoredCond(col string, fs []store.ScoreFilter, scored map[string]map[string]store.ScoreSummary) (string, []any) {
	keys, in := store.ScoreKeys(fs, scored)
	args := make([]any, len(keys))
	for i, k := range keys {
		args[i] = k
	}
	switch {
	case len(keys) == 0 && in:
		return "0", nil
	case len(keys) == 0:
		return "1", nil
	case in:
		return col + " IN (" + placeholders(len(keys)) + ")", args
	}
	return col + " NOT IN (" + placeholders(len(keys)) + ")", args
}

// usageScan receives the usage columns of a rollup (sumCols order from
// input_tokens on).
type usageScan struct{ tok [nUsage]int64 }

func (u *usageScan) dest() []any { return usageDest(&u.tok) }

func (u usageScan) usage() store.Usage {
	return store.Usage{InputTokens: u.tok[0], OutputTokens: u.tok[1], CacheReadInputTokens: u.tok[2],
		CacheCreationInputTokens: u.tok[3], ReasoningTokens: u.tok[4], CostUSD: model.USD(u.tok[iCost]),
		UnpricedCount: u.tok[iUnpriced]}
}

func sortBuckets(b []store.MetricBucket) {
	slices.SortFunc(b, func(x, y store.MetricBucket) int {
		if c := x.Start.Compare(y.Start); c != 0 {
			return c
		}
		return strings.Compare(x.AgentName, y.AgentName)
	})
}
