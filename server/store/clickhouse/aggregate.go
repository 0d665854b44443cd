package clickhouse

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// groupExpr is the value of a group-by field on the spans table, always
// Nullable (a missing attribute is NULL) so that every key scans alike.
func groupExpr(field string, p *params) (string, store.GroupKind, error) {
	kind, prefix, key, err := store.GroupField(field)
	if err != nil {
		return "", 0, err
	}
	if prefix != "" {
		col := prefix
		if prefix == "resource_attrs" {
			col = "resource_attrs_text"
		}
		k := p.add("String", key)
		return "if(mapContains(" + col + ", " + k + "), " + col + "[" + k + "], NULL)", kind, nil
	}
	switch {
	case field == "duration_ms":
		return "toNullable(" + durationExpr + ")", kind, nil
	case kind == store.GroupString:
		return "toNullable(toString(" + field + "))", kind, nil
	case field == "ended_at" || store.SpanFilterFields[field] == store.FieldNullInt:
		return field, kind, nil
	}
	return "toNullable(" + field + ")", kind, nil
}

// aggregateSQL builds the page and count queries of AggregateSpans: one
// GROUP BY over spans FINAL with the figures and the exact duration
// percentiles (quantilesExact: the value at index ⌊level·n⌋).
func aggregateSQL(l layout, q store.AggregateQuery, limit int) (page, count built, kinds []store.GroupKind, err error) {
	if err := checkRange(q.Range); err != nil {
		return page, count, nil, err
	}
	if err := store.CheckAggregateQuery(q); err != nil {
		return page, count, nil, err
	}
	var p params
	var sel, gcols []string
	kinds = make([]store.GroupKind, len(q.GroupBy))
	for i, f := range q.GroupBy {
		expr, kind, err := groupExpr(f, &p)
		if err != nil {
			return page, count, nil, err
		}
		g := "g" + strconv.Itoa(i)
		sel, gcols, kinds[i] = append(sel, expr+" AS "+g), append(gcols, g), kind
	}
	groupBy := gcols
	if len(groupBy) == 0 { // one group of everything (none without spans)
		sel, groupBy = append(sel, "0 AS g0"), []string{"g0"}
	}
	conds := []string{"project_id = " + p.add("String", q.ProjectID)}
	conds = append(conds, rangeConds("started_at", q.Range, &p)...)
	for _, f := range q.Filters {
		c, err := filterSQL(f, &p)
		if err != nil {
			return page, count, nil, err
		}
		conds = append(conds, c)
	}
	levels := make([]string, len(store.PercentileLevels))
	pcts := make([]string, len(store.PercentileLevels))
	for i, lv := range store.PercentileLevels {
		levels[i] = strconv.FormatFloat(lv, 'f', -1, 64)
		pcts[i] = "if(a_ended > 0, a_q[" + strconv.Itoa(i+1) + "], NULL) AS " + store.PercentileColumns[i]
	}
	inner := "SELECT " + strings.Join(append(sel,
		"toInt64(count()) AS a_count", "toInt64(countIf(operation_name = 'invoke_agent')) AS a_inv",
		"toInt64(countIf(status_code = 'ERROR')) AS a_err", "toInt64(sum(ifNull(input_tokens, 0))) AS a_in",
		"toInt64(sum(ifNull(output_tokens, 0))) AS a_out", "toInt64(sum(ifNull(cache_read_input_tokens, 0))) AS a_cache_read",
		"toInt64(sum(ifNull(cache_creation_input_tokens, 0))) AS a_cache_creation",
		"toInt64(sum(ifNull(reasoning_tokens, 0))) AS a_reasoning", "toInt64(sum(ifNull(total_tokens, 0))) AS a_total",
		"toInt64(sum(ifNull(cost_nanos, 0))) AS a_cost",
		"countIf(isNotNull(ended_at)) AS a_ended",
		"quantilesExactIf("+strings.Join(levels, ", ")+")("+durationExpr+", isNotNull(ended_at)) AS a_q"), ", ") +
		" FROM " + l.table("spans") + " FINAL WHERE " + and(conds) + " GROUP BY " + strings.Join(groupBy, ", ")

	order := store.AggregateOrder(q, gcols)
	count = built{sql: "SELECT toInt64(count()) FROM (" + inner + ")", params: append([]driver.NamedValue(nil), p.list...)}
	lim := p.add("UInt64", uint64(limit))
	off := p.add("UInt64", uint64(q.Offset))
	page = built{
		sql: "SELECT " + strings.Join(append(gcols, "a_count", "a_inv", "a_err", "a_in", "a_out", "a_cache_read", "a_cache_creation",
			"a_reasoning", "a_total", "a_cost", strings.Join(pcts, ", ")), ", ") + " FROM (" + inner + ") ORDER BY " + strings.Join(order, ", ") +
			" LIMIT " + lim + " OFFSET " + off,
		params: p.list,
	}
	return page, count, kinds, nil
}

// AggregateSpans implements store.Reader.
func (s *Store) AggregateSpans(ctx context.Context, q store.AggregateQuery) ([]store.SpanGroup, int64, error) {
	defer s.reading(ctx)()
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, 0, err
	}
	page, count, kinds, err := aggregateSQL(s.l, q, limit)
	if err != nil {
		return nil, 0, err
	}
	var total int64
	if err := s.scanAll(ctx, "aggregate spans", count.sql, count.params, func(r driver.Rows) error { return r.Scan(&total) }); err != nil {
		return nil, 0, err
	}
	if int64(q.Offset) >= total {
		return nil, total, nil
	}
	var out []store.SpanGroup
	err = s.scanAll(ctx, "aggregate spans", page.sql, page.params, func(r driver.Rows) error {
		var g store.SpanGroup
		keys := make([]any, len(kinds))
		dest := make([]any, 0, len(kinds)+13)
		for i, k := range kinds {
			keys[i] = newKeyDest(k)
			dest = append(dest, keys[i])
		}
		var p [4]*int64
		var cost int64
		dest = append(dest, &g.Count, &g.InvocationCount, &g.ErrorCount, &g.InputTokens, &g.OutputTokens,
			&g.CacheReadInputTokens, &g.CacheCreationInputTokens, &g.ReasoningTokens, &g.TotalTokens, &cost, &p[0], &p[1], &p[2], &p[3])
		if err := r.Scan(dest...); err != nil {
			return err
		}
		g.Key = make([]any, len(kinds))
		for i := range kinds {
			g.Key[i] = keyValue(keys[i])
		}
		g.CostUSD = model.USD(cost)
		g.DurationP50Ms, g.DurationP90Ms, g.DurationP95Ms, g.DurationP99Ms = p[0], p[1], p[2], p[3]
		out = append(out, g)
		return nil
	})
	return out, total, err
}

// newKeyDest is the scan destination of a group key of kind k (every key
// expression is Nullable).
func newKeyDest(k store.GroupKind) any {
	switch k {
	case store.GroupInt, store.GroupAttrInt:
		return new(*int64)
	case store.GroupBool, store.GroupAttrBool:
		return new(*bool)
	case store.GroupTime:
		return new(*time.Time)
	case store.GroupFloat, store.GroupAttrFloat:
		return new(*float64)
	}
	return new(*string)
}

// keyValue dereferences a scanned key: its value, or nil for NULL.
func keyValue(d any) any {
	switch x := d.(type) {
	case **int64:
		if *x != nil {
			return **x
		}
	case **bool:
		if *x != nil {
			return **x
		}
	case **time.Time:
		if *x != nil {
			return (**x).UTC()
		}
	case **float64:
		if *x != nil {
			return **x
		}
	case **string:
		if *x != nil {
			return **x
		}
	}
	return nil
}
