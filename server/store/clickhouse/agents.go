package clickhouse

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// rollupSums are the summed columns of agent_versions, in select order.
const rollupSums = "toInt64(sum(invocation_count)), toInt64(sum(span_count)), toInt64(sum(error_count)), " +
	"toInt64(sum(duration_ms)), min(first_seen_ns), max(last_seen_ns), toInt64(sum(input_tokens)), " +
	"toInt64(sum(output_tokens)), toInt64(sum(cache_read_input_tokens)), toInt64(sum(cache_creation_input_tokens)), " +
	"toInt64(sum(reasoning_tokens)), toInt64(sum(stale))"

// rollupRow is one scanned rollup group.
type rollupRow struct {
	key                                    string
	invocations, spans, errors, durationMs int64
	first, last                            int64
	usage                                  store.Usage
	stale                                  int64
	versions                               int64 // agents only
}

func (r *rollupRow) dest(withVersions bool) []any {
	d := []any{&r.key, &r.invocations, &r.spans, &r.errors, &r.durationMs, &r.first, &r.last,
		&r.usage.InputTokens, &r.usage.OutputTokens, &r.usage.CacheReadInputTokens,
		&r.usage.CacheCreationInputTokens, &r.usage.ReasoningTokens, &r.stale}
	if withVersions {
		d = append(d, &r.versions)
	}
	return d
}

// agentRowsSQL reads the agents of a project from the agent_versions
// rollup: its live version groups (some span left in them), summed by
// agent, with the number of versions. An agent whose first or last seen
// may be too wide has a stale version group among them (a span that left
// the agent, or moved its start, left its version group too).
func agentRowsSQL(l layout, project string) built {
	var p params
	return built{
		sql: "SELECT agent_name, toInt64(sum(v_inv)), toInt64(sum(v_spans)), toInt64(sum(v_err)), toInt64(sum(v_dur)), " +
			"min(v_first), max(v_last), toInt64(sum(v_in)), toInt64(sum(v_out)), toInt64(sum(v_cr)), toInt64(sum(v_cc)), " +
			"toInt64(sum(v_rs)), toInt64(sum(v_stale)), toInt64(count()) FROM (SELECT agent_name, agent_version, " +
			"sum(invocation_count) AS v_inv, sum(span_count) AS v_spans, sum(error_count) AS v_err, sum(duration_ms) AS v_dur, " +
			"min(first_seen_ns) AS v_first, max(last_seen_ns) AS v_last, sum(input_tokens) AS v_in, sum(output_tokens) AS v_out, " +
			"sum(cache_read_input_tokens) AS v_cr, sum(cache_creation_input_tokens) AS v_cc, sum(reasoning_tokens) AS v_rs, " +
			"sum(stale) AS v_stale FROM " + l.table("agent_versions") + " WHERE project_id = " + p.add("String", project) +
			" GROUP BY agent_name, agent_version HAVING v_spans > 0) GROUP BY agent_name",
		params: p.list,
	}
}

func versionRowsSQL(l layout, project, agent string) built {
	var p params
	return built{
		sql: "SELECT agent_version, " + rollupSums + " FROM " + l.table("agent_versions") + " WHERE project_id = " +
			p.add("String", project) + " AND agent_name = " + p.add("String", agent) +
			" GROUP BY agent_version HAVING sum(span_count) > 0",
		params: p.list,
	}
}

// agentCostsSQL sums the cost figures of agent_costs by agent, or by
// version of one agent.
func agentCostsSQL(l layout, project, agent string) built {
	var p params
	col, where := "agent_name", "project_id = "+p.add("String", project)
	if agent != "" {
		col, where = "agent_version", where+" AND agent_name = "+p.add("String", agent)
	}
	return built{
		sql: "SELECT " + col + ", toInt64(sum(cost_nanos)), toInt64(sum(unpriced)) FROM " + l.table("agent_costs") +
			" WHERE " + where + " GROUP BY " + col,
		params: p.list,
	}
}

// extremesSQL recomputes first/last seen of the groups whose rollup rows
// may be too wide (a span left them): by agent, or by version of agent.
func extremesSQL(l layout, project, agent string, keys []string) built {
	var p params
	conds := []string{"project_id = " + p.add("String", project)}
	col := "eff_agent"
	if agent != "" {
		conds = append(conds, "eff_agent = "+p.add("String", agent))
		col = "eff_version"
	}
	conds = append(conds, col+" IN "+p.add("Array(String)", keys))
	return built{
		sql: "SELECT " + col + ", toUnixTimestamp64Nano(min(started_at)), toUnixTimestamp64Nano(max(started_at)) FROM " +
			l.table("span_state") + " FINAL WHERE " + and(conds) + " GROUP BY " + col,
		params: p.list,
	}
}

// rollup reads a rollup and corrects the first/last seen of stale groups.
func (s *Store) rollup(ctx context.Context, what string, b built, project, agent string) ([]*rollupRow, error) {
	var out []*rollupRow
	var stale []string
	err := s.scanAll(ctx, what, b.sql, b.params, func(r driver.Rows) error {
		x := &rollupRow{}
		if err := r.Scan(x.dest(agent == "")...); err != nil {
			return err
		}
		if x.stale > 0 {
			stale = append(stale, x.key)
		}
		out = append(out, x)
		return nil
	})
	if err != nil {
		return out, err
	}
	byKey := make(map[string]*rollupRow, len(out))
	for _, x := range out {
		byKey[x.key] = x
	}
	c := agentCostsSQL(s.l, project, agent)
	err = s.scanAll(ctx, what, c.sql, c.params, func(r driver.Rows) error {
		var k string
		var cost, unpriced int64
		if err := r.Scan(&k, &cost, &unpriced); err != nil {
			return err
		}
		if x := byKey[k]; x != nil {
			x.usage.CostUSD, x.usage.UnpricedCount = model.USD(cost), unpriced
		}
		return nil
	})
	if err != nil || len(stale) == 0 {
		return out, err
	}
	slices.Sort(stale)
	fix := map[string][2]int64{}
	e := extremesSQL(s.l, project, agent, stale)
	err = s.scanAll(ctx, what, e.sql, e.params, func(r driver.Rows) error {
		var k string
		var lo, hi int64
		if err := r.Scan(&k, &lo, &hi); err != nil {
			return err
		}
		fix[k] = [2]int64{lo, hi}
		return nil
	})
	for _, x := range out {
		if f, ok := fix[x.key]; ok {
			x.first, x.last = f[0], f[1]
		}
	}
	return out, err
}

var agentSort = map[string]func(a, b *store.AgentSummary) int{
	"agent_name":              func(a, b *store.AgentSummary) int { return strings.Compare(a.AgentName, b.AgentName) },
	"invocation_count":        func(a, b *store.AgentSummary) int { return cmp.Compare(a.InvocationCount, b.InvocationCount) },
	"span_count":              func(a, b *store.AgentSummary) int { return cmp.Compare(a.SpanCount, b.SpanCount) },
	"error_count":             func(a, b *store.AgentSummary) int { return cmp.Compare(a.ErrorCount, b.ErrorCount) },
	"total_duration_ms":       func(a, b *store.AgentSummary) int { return cmp.Compare(a.TotalDurationMs, b.TotalDurationMs) },
	"first_seen":              func(a, b *store.AgentSummary) int { return a.FirstSeen.Compare(b.FirstSeen) },
	"last_seen":               func(a, b *store.AgentSummary) int { return a.LastSeen.Compare(b.LastSeen) },
	"version_count":           func(a, b *store.AgentSummary) int { return cmp.Compare(a.VersionCount, b.VersionCount) },
	"input_tokens":            func(a, b *store.AgentSummary) int { return cmp.Compare(a.InputTokens, b.InputTokens) },
	"output_tokens":           func(a, b *store.AgentSummary) int { return cmp.Compare(a.OutputTokens, b.OutputTokens) },
	"cache_read_input_tokens": func(a, b *store.AgentSummary) int { return cmp.Compare(a.CacheReadInputTokens, b.CacheReadInputTokens) },
	"cache_creation_input_tokens": func(a, b *store.AgentSummary) int {
		return cmp.Compare(a.CacheCreationInputTokens, b.CacheCreationInputTokens)
	},
	"reasoning_tokens": func(a, b *store.AgentSummary) int { return cmp.Compare(a.ReasoningTokens, b.ReasoningTokens) },
	"cost_usd":         func(a, b *store.AgentSummary) int { return cmp.Compare(a.CostUSD, b.CostUSD) },
	"unpriced_count":   func(a, b *store.AgentSummary) int { return cmp.Compare(a.UnpricedCount, b.UnpricedCount) },
}

// QueryAgents implements store.Reader. Agents are few: the rollup rows of
// the project are read whole, corrected, then filtered, sorted and paged.
func (s *Store) QueryAgents(ctx context.Context, q store.AgentQuery) ([]store.AgentSummary, int64, error) {
	defer s.reading(ctx)()
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, 0, err
	}
	if err := checkRange(q.Range); err != nil {
		return nil, 0, err
	}
	type key struct {
		less func(a, b *store.AgentSummary) int
		desc bool
	}
	var keys []key
	for _, so := range q.Sort {
		f, ok := agentSort[so.Field]
		if !ok {
			return nil, 0, invalid("cannot sort agents on %q", so.Field)
		}
		dir, err := direction(so.Direction)
		if err != nil {
			return nil, 0, err
		}
		keys = append(keys, key{f, dir == "DESC"})
	}
	if len(keys) == 0 {
		keys = []key{{agentSort["last_seen"], true}}
	}
	keys = append(keys, key{agentSort["agent_name"], false})

	fs, err := store.ParseScoreFilters(q.ScoreFilters)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.rollup(ctx, "query agents", agentRowsSQL(s.l, q.ProjectID), q.ProjectID, "")
	if err != nil {
		return nil, 0, err
	}
	items, err := s.scoredItems(ctx, q.ProjectID)
	if err != nil {
		return nil, 0, err
	}
	_, byAgent := store.GroupScores(items)
	keep := scoreSet(fs, byAgent)
	var all []store.AgentSummary
	for _, x := range rows {
		a := store.AgentSummary{AgentName: x.key, InvocationCount: x.invocations, SpanCount: x.spans,
			ErrorCount: x.errors, TotalDurationMs: x.durationMs, FirstSeen: fromNanos(x.first),
			LastSeen: fromNanos(x.last), VersionCount: x.versions, Usage: x.usage, Scores: byAgent[x.key]}
		if keep != nil && !keep.keeps(a.AgentName) {
			continue
		}
		if !q.Range.From.IsZero() && a.LastSeen.Before(q.Range.From) {
			continue
		}
		if !q.Range.To.IsZero() && !a.FirstSeen.Before(q.Range.To) {
			continue
		}
		all = append(all, a)
	}
	slices.SortFunc(all, func(a, b store.AgentSummary) int {
		for _, k := range keys {
			c := k.less(&a, &b)
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	total := int64(len(all))
	if q.Offset >= len(all) {
		return nil, total, nil
	}
	all = all[q.Offset:]
	if len(all) > limit {
		all = all[:limit]
	}
	return all, total, nil
}

// AgentVersions implements store.Reader.
func (s *Store) AgentVersions(ctx context.Context, projectID, agentName string) ([]store.AgentVersionSummary, error) {
	defer s.reading(ctx)()
	if err := checks.Project(projectID); err != nil {
		return nil, err
	}
	rows, err := s.rollup(ctx, "agent versions", versionRowsSQL(s.l, projectID, agentName), projectID, agentName)
	if err != nil {
		return nil, err
	}
	out := make([]store.AgentVersionSummary, 0, len(rows))
	for _, x := range rows {
		out = append(out, store.AgentVersionSummary{AgentName: agentName, AgentVersion: x.key,
			InvocationCount: x.invocations, SpanCount: x.spans, ErrorCount: x.errors, TotalDurationMs: x.durationMs,
			FirstSeen: fromNanos(x.first), LastSeen: fromNanos(x.last), Usage: x.usage})
	}
	slices.SortFunc(out, func(a, b store.AgentVersionSummary) int {
		if c := b.LastSeen.Compare(a.LastSeen); c != 0 {
			return c
		}
		return strings.Compare(a.AgentVersion, b.AgentVersion)
	})
	return out, nil
}
