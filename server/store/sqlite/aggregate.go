package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// groupExpr is the SQL value of a group-by field on spans aliased s, with
// the arguments it takes.
func groupExpr(field string) (string, []any, store.GroupKind, error) {
	kind, prefix, key, err := store.GroupField(field)
	if err != nil {
		return "", nil, 0, err
	}
	attr := func(m string) string {
		return "(SELECT j.value FROM attrsets a, json_each(a.attrs, '$." + m + "') j WHERE a.id = s.attrs_id AND j.key = ?)"
	}
	switch prefix {
	case "custom_attrs_string":
		return attr("s"), []any{key}, kind, nil
	case "custom_attrs_int":
		return attr("i"), []any{key}, kind, nil
	case "custom_attrs_float":
		return attr("f"), []any{key}, kind, nil
	case "custom_attrs_bool":
		return attr("b"), []any{key}, kind, nil
	case "resource_attrs":
		return "(SELECT CAST(j.value AS TEXT) FROM resources r, json_each(r.attrs) j WHERE r.id = s.resource_id AND j.key = ?)", []any{key}, kind, nil
	}
	switch field {
	case "project_id":
		return "(SELECT p.project_id FROM projects p WHERE p.id = s.proj)", nil, kind, nil
	case "duration_ms":
		return durationExpr, nil, kind, nil
	case "ended_at":
		return "NULLIF(s.ended_at, 0)", nil, kind, nil
	}
	return "s." + field, nil, kind, nil
}

// AggregateSpans implements store.Reader: the matching spans with their
// group keys, grouped for the figures and ranked per group for the exact
// duration percentiles, in one statement.
func (s *Store) AggregateSpans(ctx context.Context, q store.AggregateQuery) ([]store.SpanGroup, int64, error) {
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, 0, err
	}
	if err := store.CheckAggregateQuery(q); err != nil {
		return nil, 0, err
	}
	sel, args, kinds, gcols, err := groupSelect(q.GroupBy)
	if err != nil {
		return nil, 0, err
	}
	where := []string{"s.proj = ?"}
	whereArgs := []any{nil}
	if err := rangeSQL("s.started_at", q.Range, &where, &whereArgs); err != nil {
		return nil, 0, err
	}
	if err := filtersSQL(q.Filters, &where, &whereArgs); err != nil {
		return nil, 0, err
	}
	keyCols := make([]string, len(gcols))
	for i, g := range gcols {
		keyCols[i] = "agg." + g
	}
	order := store.AggregateOrder(q, keyCols)
	proj, ok, err := s.projectID(ctx, q.ProjectID)
	if err != nil || !ok {
		return nil, 0, err
	}
	whereArgs[0] = proj
	args = append(args, whereArgs...)
	with := aggregateWith(sel, where, gcols)

	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: aggregate spans: %w", err)
	}
	defer tx.Rollback()
	var total int64
	if err := tx.QueryRowContext(ctx, with+"SELECT COUNT(*) FROM agg", args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: aggregate spans: %w", err)
	}
	if int64(q.Offset) >= total {
		return nil, total, nil
	}
	var on []string
	for _, g := range gcols {
		on = append(on, "agg."+g+" IS pct."+g)
	}
	rows, err := tx.QueryContext(ctx, with+"SELECT "+strings.Join(keyCols, ", ")+`, a_count, a_inv, a_err, a_in, a_out,
		a_cache_read, a_cache_creation, a_reasoning, a_total, a_cost, a_p50, a_p90, a_p95, a_p99
		FROM agg LEFT JOIN pct ON `+strings.Join(on, " AND ")+" ORDER BY "+strings.Join(order, ", ")+" LIMIT ? OFFSET ?",
		append(args, limit, q.Offset)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: aggregate spans: %w", err)
	}
	out, err := scanGroups(rows, q.GroupBy, kinds, len(gcols))
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// groupSelect is the group keys' select terms (g0, g1, … ; one constant
// g0 without group-by fields) with their arguments and kinds, and the key
// columns' names.
func groupSelect(groupBy []string) (sel []string, args []any, kinds []store.GroupKind, gcols []string, err error) {
	kinds = make([]store.GroupKind, len(groupBy))
	gcols = make([]string, 0, len(groupBy)+1)
	for i, f := range groupBy {
		expr, a, kind, err := groupExpr(f)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		g := "g" + strconv.Itoa(i)
		sel = append(sel, expr+" AS "+g)
		args = append(args, a...)
		kinds[i] = kind
		gcols = append(gcols, g)
	}
	if len(gcols) == 0 { // one group of everything
		sel, gcols = append(sel, "0 AS g0"), append(gcols, "g0")
	}
	return sel, args, kinds, gcols, nil
}

// aggregateWith is the WITH clause of an aggregate query: base (the
// matching spans with their keys), agg (the figures per group), ranked and
// pct (the exact duration percentiles per group).
func aggregateWith(sel, where, gcols []string) string {
	gl := strings.Join(gcols, ", ")
	pcts := make([]string, len(store.PercentileLevels))
	for i, l := range store.PercentileLevels {
		lv := strconv.FormatFloat(l, 'f', -1, 64)
		pcts[i] = "MAX(CASE WHEN rn = MIN(n - 1, CAST(" + lv + " * n AS INTEGER)) + 1 THEN dur END) AS " + store.PercentileColumns[i]
	}
	return "WITH base AS (SELECT " + strings.Join(sel, ", ") + `, s.operation_name AS op, s.status_code AS st,
		s.input_tokens AS tin, s.output_tokens AS tout, s.cache_read_input_tokens AS tcr, s.cache_creation_input_tokens AS tcc,
		s.reasoning_tokens AS treas, s.total_tokens AS ttot, s.cost_nanos AS tcost, CASE WHEN s.ended_at != 0 THEN ` + durationExpr + ` END AS dur
		FROM spans s WHERE ` + join(where) + `),
	agg AS (SELECT ` + gl + `, COUNT(*) AS a_count, SUM(op = 'invoke_agent') AS a_inv, SUM(st = 'ERROR') AS a_err,
		COALESCE(SUM(tin), 0) AS a_in, COALESCE(SUM(tout), 0) AS a_out, COALESCE(SUM(tcr), 0) AS a_cache_read,
		COALESCE(SUM(tcc), 0) AS a_cache_creation, COALESCE(SUM(treas), 0) AS a_reasoning, COALESCE(SUM(ttot), 0) AS a_total,
		COALESCE(SUM(tcost), 0) AS a_cost
		FROM base GROUP BY ` + gl + `),
	ranked AS (SELECT ` + gl + `, dur, ROW_NUMBER() OVER (PARTITION BY ` + gl + ` ORDER BY dur) AS rn,
		COUNT(*) OVER (PARTITION BY ` + gl + `) AS n FROM base WHERE dur IS NOT NULL),
	pct AS (SELECT ` + gl + `, ` + strings.Join(pcts, ", ") + ` FROM ranked GROUP BY ` + gl + `) `
}

// scanGroups reads the groups of an aggregate page (ngcols key columns,
// then the figures) and closes rows.
func scanGroups(rows *sql.Rows, groupBy []string, kinds []store.GroupKind, ngcols int) ([]store.SpanGroup, error) {
	defer rows.Close()
	var out []store.SpanGroup
	for rows.Next() {
		var g store.SpanGroup
		raw := make([]any, ngcols)
		var p [4]*int64
		var cost int64
		dest := make([]any, 0, len(raw)+14)
		for i := range raw {
			dest = append(dest, &raw[i])
		}
		dest = append(dest, &g.Count, &g.InvocationCount, &g.ErrorCount, &g.InputTokens, &g.OutputTokens,
			&g.CacheReadInputTokens, &g.CacheCreationInputTokens, &g.ReasoningTokens, &g.TotalTokens, &cost, &p[0], &p[1], &p[2], &p[3])
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("sqlite: aggregate spans: %w", err)
		}
		g.Key = make([]any, len(groupBy))
		for i := range groupBy {
			var err error
			if g.Key[i], err = groupValue(kinds[i], raw[i]); err != nil {
				return nil, fmt.Errorf("sqlite: aggregate spans: group by %s: %w", groupBy[i], err)
			}
		}
		g.CostUSD = model.USD(cost)
		g.DurationP50Ms, g.DurationP90Ms, g.DurationP95Ms, g.DurationP99Ms = p[0], p[1], p[2], p[3]
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: aggregate spans: %w", err)
	}
	return out, nil
}

// groupValue types a scanned group key as store.SpanGroup.Key holds it.
func groupValue(kind store.GroupKind, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok {
		v = string(b)
	}
	num := func() (int64, bool) {
		switch x := v.(type) {
		case int64:
			return x, true
		case float64:
			return int64(x), x == float64(int64(x))
		}
		return 0, false
	}
	switch kind {
	case store.GroupString, store.GroupAttrStr:
		if s, ok := v.(string); ok {
			return s, nil
		}
	case store.GroupInt, store.GroupAttrInt:
		if n, ok := num(); ok {
			return n, nil
		}
	case store.GroupBool, store.GroupAttrBool:
		if n, ok := num(); ok {
			return n != 0, nil
		}
	case store.GroupTime:
		if n, ok := num(); ok {
			return fromNanos(n), nil
		}
	case store.GroupFloat, store.GroupAttrFloat:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	}
	return nil, fmt.Errorf("unexpected value %#v", v)
}
