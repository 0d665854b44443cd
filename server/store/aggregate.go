package store

import (
	"fmt"
	"strings"
)

// AggregateQuery groups the spans of a project that match Range and
// Filters (as in SpanQuery) by the values of GroupBy — filterable scalar
// columns (any of SpanFilterFields but finish_reasons) or attributes
// ("custom_attrs_string.<key>", ..., "resource_attrs.<key>") — and
// returns one SpanGroup per distinct key. An empty GroupBy makes one group
// of every matching span (none when no span matches).
//
// Sort is on the figures of SpanGroup (AggregateSortFields) or on a
// GroupBy field (a missing value sorts as the smallest); default count
// desc. Groups without a duration percentile sort after the others in
// either direction. Ties are broken by the key, field by field ascending,
// a missing value first.
type AggregateQuery struct {
	ProjectID string
	GroupBy   []string
	Filters   []Filter
	Range     TimeRange
	Sort      []Sort
	Limit     int
	Offset    int
}

// MaxGroupBy bounds AggregateQuery.GroupBy.
const MaxGroupBy = 5

// PercentileLevels are the duration percentiles of a SpanGroup, in order,
// and PercentileColumns the names both backends give them.
var (
	PercentileLevels  = [4]float64{0.5, 0.9, 0.95, 0.99}
	PercentileColumns = [4]string{"a_p50", "a_p90", "a_p95", "a_p99"}
)

// SpanGroup is one group of an aggregate.
//
// Key holds one value per GroupBy field, as the field's type: string,
// int64, float64, bool or time.Time, or nil where a span lacks it (an
// attribute absent, a token count not reported, a running span's
// ended_at). Count is the number of spans, InvocationCount of invoke_agent
// spans, ErrorCount of spans with status ERROR. The token figures add the
// spans' own counts (unreported counts as 0): unlike the rollups they do
// not apply the usage rule, which depends on a span's descendants, not on
// its group — group by operation_name, or filter on it, to count each
// model call once. The duration percentiles are over the group's ended
// spans (durations as the package doc defines them), exact: the value at
// index ⌊level × n⌋ (at most n − 1) of the n durations sorted — ClickHouse's
// quantileExact — and nil when no span of the group has ended.
type SpanGroup struct {
	Key                      []any `json:"key"`
	Count                    int64 `json:"count"`
	InvocationCount          int64 `json:"invocation_count"`
	ErrorCount               int64 `json:"error_count"`
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	ReasoningTokens          int64 `json:"reasoning_tokens"`
	TotalTokens              int64 `json:"total_tokens"`
	// CostUSD sums the spans' own cost_usd (whole nano-dollars), without
	// the usage rule, as the token figures.
	CostUSD       float64 `json:"cost_usd"`
	DurationP50Ms *int64  `json:"duration_p50_ms"`
	DurationP90Ms *int64  `json:"duration_p90_ms"`
	DurationP95Ms *int64  `json:"duration_p95_ms"`
	DurationP99Ms *int64  `json:"duration_p99_ms"`
}

// AggregateSortFields are the figures an AggregateQuery may sort on, each
// with the name both backends give its column.
var AggregateSortFields = map[string]string{
	"count": "a_count", "invocation_count": "a_inv", "error_count": "a_err",
	"input_tokens": "a_in", "output_tokens": "a_out", "cache_read_input_tokens": "a_cache_read",
	"cache_creation_input_tokens": "a_cache_creation", "reasoning_tokens": "a_reasoning", "total_tokens": "a_total",
	"cost_usd":        "a_cost",
	"duration_p50_ms": "a_p50", "duration_p90_ms": "a_p90", "duration_p95_ms": "a_p95", "duration_p99_ms": "a_p99",
}

// IsPercentileField reports a sort field whose value may be missing.
func IsPercentileField(f string) bool { return strings.HasPrefix(f, "duration_p") }

// GroupKind says how a group-by field's values are typed.
type GroupKind int

// Kinds of group-by values.
const (
	GroupString  GroupKind = iota // string (columns: never nil)
	GroupInt                      // int64 (nil for an unreported token count)
	GroupBool                     // bool
	GroupTime                     // time.Time (nil for a running span's ended_at)
	GroupFloat                    // float64
	GroupAttrStr                  // an attribute: string or nil
	GroupAttrInt
	GroupAttrFloat
	GroupAttrBool
)

// GroupField parses a group-by field: its kind, and for an attribute its
// map column prefix and key.
func GroupField(f string) (kind GroupKind, prefix, key string, err error) {
	if p, k, ok := strings.Cut(f, "."); ok {
		kinds := map[string]GroupKind{"custom_attrs_string": GroupAttrStr, "custom_attrs_int": GroupAttrInt,
			"custom_attrs_float": GroupAttrFloat, "custom_attrs_bool": GroupAttrBool, "resource_attrs": GroupAttrStr}
		if kd, known := kinds[p]; known {
			if k == "" {
				return 0, "", "", fmt.Errorf("%w: group by %q needs a key after the dot", ErrInvalid, f)
			}
			return kd, p, k, nil
		}
	}
	switch SpanFilterFields[f] {
	case FieldString:
		if _, ok := SpanFilterFields[f]; !ok {
			return 0, "", "", fmt.Errorf("%w: cannot group by %q: not a span column or attribute", ErrInvalid, f)
		}
		return GroupString, "", "", nil
	case FieldInt, FieldNullInt, FieldDuration:
		return GroupInt, "", "", nil
	case FieldBool:
		return GroupBool, "", "", nil
	case FieldStarted, FieldEnded:
		return GroupTime, "", "", nil
	case FieldNullCost:
		return 0, "", "", fmt.Errorf("%w: cannot group by %q (a figure: each group sums it)", ErrInvalid, f)
	}
	return 0, "", "", fmt.Errorf("%w: cannot group by %q (a list)", ErrInvalid, f)
}

// CheckAggregateQuery reports what both backends refuse in an
// AggregateQuery before building SQL: bad group-by fields (unknown,
// repeated, more than MaxGroupBy), sorts on anything but a figure or a
// group-by field, bad directions. Filters are checked by each backend's
// filter builder.
func CheckAggregateQuery(q AggregateQuery) error {
	if len(q.GroupBy) > MaxGroupBy {
		return fmt.Errorf("%w: at most %d group-by fields, got %d", ErrInvalid, MaxGroupBy, len(q.GroupBy))
	}
	seen := map[string]bool{}
	for _, f := range q.GroupBy {
		if seen[f] {
			return fmt.Errorf("%w: group by %q twice", ErrInvalid, f)
		}
		seen[f] = true
		if _, _, _, err := GroupField(f); err != nil {
			return err
		}
	}
	for _, so := range q.Sort {
		if _, ok := AggregateSortFields[so.Field]; !ok && !seen[so.Field] {
			return fmt.Errorf("%w: cannot sort groups on %q (a figure or a group-by field)", ErrInvalid, so.Field)
		}
		switch strings.ToLower(so.Direction) {
		case "", "asc", "desc":
		default:
			return fmt.Errorf("%w: unknown sort direction %q (asc, desc)", ErrInvalid, so.Direction)
		}
	}
	return nil
}

// AggregateOrder is the ORDER BY terms of an AggregateQuery that passed
// CheckAggregateQuery, given the columns of its group keys (keyCols[i] of
// GroupBy[i]; one constant column without group-by fields): its sorts on
// figures (AggregateSortFields; a missing percentile last either way) or
// group-by fields (a missing value the smallest), count descending without
// any, then every key column ascending.
func AggregateOrder(q AggregateQuery, keyCols []string) []string {
	var order []string
	for _, so := range q.Sort {
		dir := "DESC"
		if strings.EqualFold(so.Direction, "asc") {
			dir = "ASC"
		}
		if col, ok := AggregateSortFields[so.Field]; ok {
			if IsPercentileField(so.Field) {
				dir += " NULLS LAST"
			}
			order = append(order, col+" "+dir)
			continue
		}
		for i, f := range q.GroupBy {
			if f == so.Field {
				nulls := " NULLS FIRST"
				if dir == "DESC" {
					nulls = " NULLS LAST"
				}
				order = append(order, keyCols[i]+" "+dir+nulls)
			}
		}
	}
	if len(order) == 0 {
		order = []string{"a_count DESC"}
	}
	for _, c := range keyCols {
		order = append(order, c+" ASC NULLS FIRST")
	}
	return order
}

// Percentile is the exact percentile of sorted values as SpanGroup
// defines it.
func Percentile(sorted []int64, level float64) int64 {
	n := len(sorted)
	i := int(level * float64(n))
	if level >= 1 || i >= n {
		i = n - 1
	}
	return sorted[i]
}
