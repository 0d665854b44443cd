package storetest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// fieldValue is a span's value of a group-by field, typed as SpanGroup.Key
// holds it.
func fieldValue(s *model.Span, field string) any {
	if p, k, ok := strings.Cut(field, "."); ok {
		switch p {
		case "custom_attrs_string":
			if v, ok := s.CustomAttrsString[k]; ok {
				return v
			}
			return nil
		case "custom_attrs_int":
			if v, ok := s.CustomAttrsInt[k]; ok {
				return v
			}
			return nil
		case "custom_attrs_float":
			if v, ok := s.CustomAttrsFloat[k]; ok {
				return v
			}
			return nil
		case "custom_attrs_bool":
			if v, ok := s.CustomAttrsBool[k]; ok {
				return v
			}
			return nil
		case "resource_attrs":
			v, ok := s.ResourceAttrs[k]
			switch x := v.(type) {
			case nil:
				return nil
			case string:
				return x
			case bool:
				return map[bool]string{true: "1", false: "0"}[x]
			default:
				_ = ok
				b, _ := json.Marshal(x)
				return string(b)
			}
		}
	}
	switch field {
	case "duration_ms":
		return s.DurationMs()
	case "started_at":
		return s.StartedAt.UTC()
	case "ended_at":
		if s.IsRunning() {
			return nil
		}
		return s.EndedAt.UTC()
	}
	v := reflect.ValueOf(*s)
	t := v.Type()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != field {
			continue
		}
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Pointer:
			if f.IsNil() {
				return nil
			}
			return f.Elem().Int()
		case reflect.String:
			return f.String()
		case reflect.Int64, reflect.Int:
			return f.Int()
		case reflect.Bool:
			return f.Bool()
		}
	}
	panic("storetest: no group-by value for " + field)
}

// compareKey orders key values: nil first, then by value.
func compareKey(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch x := a.(type) {
	case bool:
		y := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case float64:
		y := b.(float64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return compareAny(a, b)
}

// aggregate is AggregateSpans without paging: every group, in order. match
// is the meaning of q.Filters on one span (nil: none).
func (o *oracle) aggregate(q store.AggregateQuery, match func(model.Span) bool) []store.SpanGroup {
	groups := map[string]*groupAcc{}
	var order []string
	for _, s := range o.project(q.ProjectID) {
		if match != nil && !match(s) {
			continue
		}
		if !q.Range.From.IsZero() && s.StartedAt.Before(q.Range.From) || !q.Range.To.IsZero() && !s.StartedAt.Before(q.Range.To) {
			continue
		}
		key := make([]any, len(q.GroupBy))
		for i, f := range q.GroupBy {
			key[i] = fieldValue(&s, f)
		}
		id := fmt.Sprintf("%#v", key)
		a := groups[id]
		if a == nil {
			a = &groupAcc{g: store.SpanGroup{Key: key}}
			groups[id] = a
			order = append(order, id)
		}
		a.add(&s)
	}
	out := make([]store.SpanGroup, 0, len(order))
	for _, id := range order {
		out = append(out, groups[id].group())
	}
	sortGroups(out, q)
	return out
}

// groupAcc is one group of the model's aggregate while its spans are
// added: the figures, and the durations of its finished spans.
type groupAcc struct {
	g    store.SpanGroup
	durs []int64
}

func (a *groupAcc) add(s *model.Span) {
	g := &a.g
	g.Count++
	if s.OperationName == model.OpInvokeAgent {
		g.InvocationCount++
	}
	if s.StatusCode == model.StatusError {
		g.ErrorCount++
	}
	v := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	g.InputTokens += v(s.InputTokens)
	g.OutputTokens += v(s.OutputTokens)
	g.CacheReadInputTokens += v(s.CacheReadInputTokens)
	g.CacheCreationInputTokens += v(s.CacheCreationInputTokens)
	g.ReasoningTokens += v(s.ReasoningTokens)
	g.TotalTokens += v(s.TotalTokens)
	if s.CostUSD != nil {
		g.CostUSD = addCost(g.CostUSD, *s.CostUSD)
	}
	if !s.IsRunning() {
		a.durs = append(a.durs, s.DurationMs())
	}
}

// group is the finished group, with its duration percentiles.
func (a *groupAcc) group() store.SpanGroup {
	if len(a.durs) > 0 {
		slices.Sort(a.durs)
		ps := make([]int64, len(store.PercentileLevels))
		for i, l := range store.PercentileLevels {
			ps[i] = store.Percentile(a.durs, l)
		}
		a.g.DurationP50Ms, a.g.DurationP90Ms, a.g.DurationP95Ms, a.g.DurationP99Ms = &ps[0], &ps[1], &ps[2], &ps[3]
	}
	return a.g
}

// groupFigure is the figure f of g (nil: a missing percentile or an
// unknown name).
func groupFigure(g *store.SpanGroup, f string) any {
	if f == "cost_usd" {
		return g.CostUSD
	}
	x := map[string]*int64{"count": &g.Count, "invocation_count": &g.InvocationCount, "error_count": &g.ErrorCount,
		"input_tokens": &g.InputTokens, "output_tokens": &g.OutputTokens, "cache_read_input_tokens": &g.CacheReadInputTokens,
		"cache_creation_input_tokens": &g.CacheCreationInputTokens, "reasoning_tokens": &g.ReasoningTokens,
		"total_tokens": &g.TotalTokens, "duration_p50_ms": g.DurationP50Ms, "duration_p90_ms": g.DurationP90Ms,
		"duration_p95_ms": g.DurationP95Ms, "duration_p99_ms": g.DurationP99Ms}
	if p := x[f]; p != nil {
		return *p
	}
	return nil
}

// sortGroups orders groups as the contract says: by the query's sorts
// (count descending without any), then by key.
func sortGroups(out []store.SpanGroup, q store.AggregateQuery) {
	sorts := q.Sort
	if len(sorts) == 0 {
		sorts = []store.Sort{{Field: "count", Direction: "desc"}}
	}
	idx := map[string]int{}
	for i, f := range q.GroupBy {
		idx[f] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := &out[i], &out[j]
		for _, so := range sorts {
			desc := so.Direction != "asc"
			var c int
			if k, ok := idx[so.Field]; ok {
				c = compareKey(a.Key[k], b.Key[k])
				if desc {
					c = -c
				}
			} else {
				x, y := groupFigure(a, so.Field), groupFigure(b, so.Field)
				switch {
				case x == nil && y == nil:
				case x == nil:
					c = 1 // missing sorts last either way
				case y == nil:
					c = -1
				default:
					c = compareAny(x, y)
					if desc {
						c = -c
					}
				}
			}
			if c != 0 {
				return c < 0
			}
		}
		for k := range a.Key {
			if c := compareKey(a.Key[k], b.Key[k]); c != 0 {
				return c < 0
			}
		}
		return false
	})
}
