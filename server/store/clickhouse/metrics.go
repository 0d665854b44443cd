package clickhouse

import (
	"context"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// extentSQL finds the first and last minute with activity (of one agent,
// or of all): the first and last day from the daily rollup, then the
// minutes of those two days only from the per-minute one (a project's
// minutes grow with its history; its days are 1,440 times fewer). A day
// counts spans exactly when one of its minutes does: both rollups sum the
// same signs of the same state rows.
func extentSQL(l layout, project, agent string) built {
	var p params
	conds := []string{"project_id = " + p.add("String", project)}
	if agent != "" {
		conds = append(conds, "agent_name = "+p.add("String", agent))
	}
	days := "(SELECT (min(day), max(day)) FROM (SELECT day FROM " + l.table("agent_versions") + " WHERE " + and(conds) +
		" GROUP BY agent_name, day HAVING sum(span_count) > 0))"
	edge := func(i string) string {
		return "(minute >= tupleElement(days, " + i + ") * 1440 AND minute < (tupleElement(days, " + i + ") + 1) * 1440)"
	}
	return built{
		sql: "WITH " + days + " AS days SELECT toInt64(count()), min(minute), max(minute) FROM (SELECT minute FROM " + l.table("agent_minutes") +
			" WHERE " + and(append(conds, "("+edge("1")+" OR "+edge("2")+")")) + " GROUP BY agent_name, minute HAVING sum(span_count) > 0)",
		params: p.list,
	}
}

// metricRollup is a pair of agent rollups AgentMetrics buckets: the
// activity and the cost, by col (whole units of unit nanoseconds since
// the epoch), summed by agent.
type metricRollup struct {
	activity, costs, col string
	unit                 int64
}

var (
	byMinute = metricRollup{"agent_minutes", "agent_minute_costs", "minute", minuteNanos}
	// byDay sums a day in one row where byMinute reads up to 1,440:
	// buckets of whole days (what AutoBucket gives past a few days of
	// history) read it.
	byDay = metricRollup{"agent_versions", "agent_costs", "day", dayNanos}
)

// rollupFor is the rollup that buckets of w nanoseconds read, if any.
func rollupFor(w int64) (metricRollup, bool) {
	switch {
	case w%dayNanos == 0:
		return byDay, true
	case w%minuteNanos == 0:
		return byMinute, true
	}
	return metricRollup{}, false
}

// buckets is what the rollup is bucketed by: the bucket expression (w a
// whole number of units, [from, to) whole buckets in nanoseconds) and the
// conditions on project, window and agent.
func (m metricRollup) buckets(p *params, project, agent string, from, to, w int64) (bucket string, conds []string) {
	wm := p.add("Int64", w/m.unit)
	conds = []string{
		"project_id = " + p.add("String", project),
		m.col + " >= " + p.add("Int64", from/m.unit),
		m.col + " < " + p.add("Int64", to/m.unit),
	}
	if agent != "" {
		conds = append(conds, "agent_name = "+p.add("String", agent))
	}
	return "(intDiv(" + m.col + ", " + wm + ") - (modulo(" + m.col + ", " + wm + ") < 0)) * " + wm + " AS bucket", conds
}

// activitySQL buckets the activity rollup.
func (m metricRollup) activitySQL(l layout, project, agent string, from, to, w int64) built {
	var p params
	bucket, conds := m.buckets(&p, project, agent, from, to, w)
	return built{
		sql: "SELECT " + bucket + ", agent_name, " +
			"toInt64(sum(invocation_count)), toInt64(sum(error_count)), toInt64(sum(span_count)), " +
			"toInt64(sum(duration_ms)), toInt64(sum(ended_invocations)), toInt64(sum(input_tokens)), " +
			"toInt64(sum(output_tokens)), toInt64(sum(cache_read_input_tokens)), " +
			"toInt64(sum(cache_creation_input_tokens)), toInt64(sum(reasoning_tokens)) FROM " + l.table(m.activity) +
			" WHERE " + and(conds) + " GROUP BY bucket, agent_name HAVING sum(span_count) > 0 ORDER BY bucket, agent_name",
		params: p.list,
	}
}

// costsSQL buckets the cost rollup as activitySQL buckets the activity
// (the daily rollups are per version: both sum the versions).
func (m metricRollup) costsSQL(l layout, project, agent string, from, to, w int64) built {
	var p params
	bucket, conds := m.buckets(&p, project, agent, from, to, w)
	return built{
		sql: "SELECT " + bucket + ", agent_name, toInt64(sum(cost_nanos)), toInt64(sum(unpriced)) FROM " +
			l.table(m.costs) + " WHERE " + and(conds) + " GROUP BY bucket, agent_name",
		params: p.list,
	}
}

// metricsFromStateSQL buckets span_state directly, for widths that are
// not whole minutes; w and [from, to) in nanoseconds.
func metricsFromStateSQL(l layout, project, agent string, from, to, w int64) built {
	var p params
	wp := p.add("Int64", w)
	conds := []string{
		"project_id = " + p.add("String", project),
		"started_at >= fromUnixTimestamp64Nano(" + p.add("Int64", from) + ", 'UTC')",
		"started_at < fromUnixTimestamp64Nano(" + p.add("Int64", to) + ", 'UTC')",
		"eff_agent != ''",
	}
	if agent != "" {
		conds = append(conds, "eff_agent = "+p.add("String", agent))
	}
	ns := "toUnixTimestamp64Nano(started_at)"
	return built{
		sql: "SELECT (intDiv(" + ns + ", " + wp + ") - (modulo(" + ns + ", " + wp + ") < 0)) * " + wp + " AS bucket, eff_agent, " +
			"toInt64(countIf(operation_name = 'invoke_agent')), toInt64(countIf(status_code = 'ERROR')), toInt64(count()), " +
			"toInt64(sumIf(" + durationExpr + ", operation_name = 'invoke_agent')), " +
			"toInt64(countIf(operation_name = 'invoke_agent' AND ended_at IS NOT NULL)), " +
			"toInt64(sumIf(ifNull(input_tokens, 0), counted = 1)), toInt64(sumIf(ifNull(output_tokens, 0), counted = 1)), " +
			"toInt64(sumIf(ifNull(cache_read_input_tokens, 0), counted = 1)), " +
			"toInt64(sumIf(ifNull(cache_creation_input_tokens, 0), counted = 1)), " +
			"toInt64(sumIf(ifNull(reasoning_tokens, 0), counted = 1)), toInt64(sumIf(ifNull(cost_nanos, 0), counted = 1)), " +
			"toInt64(countIf(counted = 1 AND isNull(cost_nanos) AND " + hasTokensSQL + ")) FROM " + l.table("span_state") +
			" FINAL WHERE " + and(conds) + " GROUP BY bucket, eff_agent ORDER BY bucket, eff_agent",
		params: p.list,
	}
}

// AgentMetrics implements store.Reader.
func (s *Store) AgentMetrics(ctx context.Context, q store.MetricsQuery) ([]store.MetricBucket, error) {
	defer s.reading(ctx)()
	if err := checks.Project(q.ProjectID); err != nil {
		return nil, err
	}
	if q.Bucket < 0 || q.Bucket%time.Second != 0 {
		return nil, invalid("bucket %s is not a positive whole number of seconds", q.Bucket)
	}
	if err := checkRange(q.Range); err != nil {
		return nil, err
	}
	// The extent: the range, with open ends closed by the data.
	var from, to int64
	if q.Range.From.IsZero() || q.Range.To.IsZero() {
		var n, lo, hi int64
		e := extentSQL(s.l, q.ProjectID, q.AgentName)
		if err := s.scanAll(ctx, "agent metrics", e.sql, e.params, func(r driver.Rows) error { return r.Scan(&n, &lo, &hi) }); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		from, to = lo*minuteNanos, (hi+1)*minuteNanos
	}
	from, to, w, ok, err := store.MetricsWindow(q, from, to)
	if err != nil || !ok {
		return nil, err
	}
	b := metricsFromStateSQL(s.l, q.ProjectID, q.AgentName, from, to, w)
	unit := int64(1)
	rollup, rolled := rollupFor(w)
	if rolled {
		b = rollup.activitySQL(s.l, q.ProjectID, q.AgentName, from, to, w)
		unit = rollup.unit
	}
	var out []store.MetricBucket
	err = s.scanAll(ctx, "agent metrics", b.sql, b.params, func(r driver.Rows) error {
		var m store.MetricBucket
		var start, dur, ended, cost int64
		dest := []any{&start, &m.AgentName, &m.InvocationCount, &m.ErrorCount, &m.SpanCount, &dur, &ended,
			&m.InputTokens, &m.OutputTokens, &m.CacheReadInputTokens, &m.CacheCreationInputTokens, &m.ReasoningTokens}
		if !rolled {
			dest = append(dest, &cost, &m.UnpricedCount)
		}
		if err := r.Scan(dest...); err != nil {
			return err
		}
		m.Start = fromNanos(start * unit)
		m.CostUSD = model.USD(cost)
		if ended > 0 {
			m.AvgDurationMs = float64(dur) / float64(ended)
		}
		out = append(out, m)
		return nil
	})
	if err != nil || !rolled || len(out) == 0 {
		return out, err
	}
	type key struct {
		start int64
		agent string
	}
	idx := make(map[key]int, len(out))
	for i, m := range out {
		idx[key{m.Start.UnixNano(), m.AgentName}] = i
	}
	c := rollup.costsSQL(s.l, q.ProjectID, q.AgentName, from, to, w)
	err = s.scanAll(ctx, "agent metrics", c.sql, c.params, func(r driver.Rows) error {
		var start, cost, unpriced int64
		var agent string
		if err := r.Scan(&start, &agent, &cost, &unpriced); err != nil {
			return err
		}
		if i, ok := idx[key{start * unit, agent}]; ok {
			out[i].CostUSD, out[i].UnpricedCount = model.USD(cost), unpriced
		}
		return nil
	})
	return out, err
}

// hasTokensSQL is true for a row that reported a token count.
const hasTokensSQL = "(isNotNull(input_tokens) OR isNotNull(output_tokens) OR isNotNull(cache_read_input_tokens) OR " +
	"isNotNull(cache_creation_input_tokens) OR isNotNull(reasoning_tokens))"
