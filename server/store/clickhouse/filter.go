package clickhouse

import (
	"strings"

	"github.com/weavetrace/weave/server/store"
)

// durationExpr is a span's duration in whole milliseconds, 0 while it runs
// or when its end is before its start.
const durationExpr = "toInt64(if(ifNull(ended_at > started_at, 0), " +
	"intDiv(toUnixTimestamp64Nano(assumeNotNull(ended_at)) - toUnixTimestamp64Nano(started_at), 1000000), 0))"

// valueType describes how a filter value is converted and bound.
type valueType struct {
	chType string // ClickHouse type of the parameter
	conv   func(any) (any, error)
	text   bool // contains is allowed
}

var (
	vString = valueType{"String", store.StringFilterValue, true}
	vInt    = valueType{"Int64", store.IntFilterValue, false}
	vFloat  = valueType{"Float64", store.FloatFilterValue, false}
	vBool   = valueType{"Bool", store.BoolFilterValue, false}
	vNanos  = valueType{"Int64", store.TimeFilterValue, false}
	vCost   = valueType{"Int64", store.CostFilterValue, false} // dollars, compared in nano-dollars
)

var ops = map[string]string{"eq": "=", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}

// filterSQL translates one filter into a condition on the spans table.
func filterSQL(f store.Filter, p *params) (string, error) {
	op := strings.ToLower(f.Op)
	switch op {
	case "eq", "neq", "in", "contains", "gt", "gte", "lt", "lte", "exists", "not_exists":
	default:
		return "", invalid("filter on %q: unknown op %q", f.Field, f.Op)
	}
	if op == "exists" || op == "not_exists" {
		if f.Value != nil {
			return "", invalid("filter on %q: op %s takes no value", f.Field, op)
		}
	}
	if prefix, key, ok := strings.Cut(f.Field, "."); ok && (strings.HasPrefix(prefix, "custom_attrs_") || prefix == "resource_attrs") {
		if key == "" {
			return "", invalid("filter field %q needs a key after the dot", f.Field)
		}
		return attrSQL(prefix, key, op, f, p)
	}
	kind, ok := store.SpanFilterFields[f.Field]
	if !ok {
		if store.HeavyFields[f.Field] {
			return "", invalid("field %q is not filterable (use message search, or a key: %s.<key>)", f.Field, f.Field)
		}
		return "", invalid("unknown filter field %q", f.Field)
	}
	return columnSQL(f.Field, kind, op, f, p)
}

// columnSQL translates a filter with op on a column col of the given kind.
func columnSQL(col string, kind store.FieldKind, op string, f store.Filter, p *params) (string, error) {
	switch kind {
	case store.FieldString:
		return scalarSQL(col, op, f, vString, p, col+" != ''", col+" = ''")
	case store.FieldInt:
		return scalarSQL(col, op, f, vInt, p, col+" != 0", col+" = 0")
	case store.FieldNullInt:
		c, err := scalarSQL(col, op, f, vInt, p, col+" IS NOT NULL", col+" IS NULL")
		if err == nil && op == "neq" {
			c = "(" + col + " IS NULL OR " + c + ")"
		}
		return c, err
	case store.FieldNullCost:
		col = "cost_nanos"
		c, err := scalarSQL(col, op, f, vCost, p, col+" IS NOT NULL", col+" IS NULL")
		if err == nil && op == "neq" {
			c = "(" + col + " IS NULL OR " + c + ")"
		}
		return c, err
	case store.FieldDuration:
		if op == "exists" || op == "not_exists" {
			return "", invalid("filter on duration_ms: op %q not supported", op)
		}
		return scalarSQL(durationExpr, op, f, vInt, p, "", "")
	case store.FieldStarted:
		return timeSQL(col, op, f, p, "1", "0")
	case store.FieldEnded:
		c, err := timeSQL(col, op, f, p, col+" IS NOT NULL", col+" IS NULL")
		if err == nil && op == "neq" {
			c = "(" + col + " IS NULL OR " + c + ")"
		}
		return c, err
	case store.FieldBool:
		if op != "eq" && op != "neq" {
			return "", invalid("filter on %s: op %q not supported (eq, neq)", f.Field, op)
		}
		return scalarSQL(col, op, f, vBool, p, "", "")
	case store.FieldList:
		return listSQL(col, op, f, p)
	}
	return "", invalid("unknown filter field %q", f.Field)
}

// scalarSQL compares expr with the filter's value(s).
func scalarSQL(expr, op string, f store.Filter, vt valueType, p *params, exists, notExists string) (string, error) {
	switch op {
	case "exists":
		return exists, nil
	case "not_exists":
		return notExists, nil
	case "in":
		list, err := listOf(f, vt)
		if err != nil {
			return "", err
		}
		if len(list) == 0 {
			return "0", nil
		}
		return expr + " IN " + p.add("Array("+vt.chType+")", typedList(vt, list)), nil
	case "contains":
		if !vt.text {
			return "", invalid("filter on %q: op contains needs a text field", f.Field)
		}
		s, ok := f.Value.(string)
		if !ok {
			return "", invalid("filter on %q: contains takes a string", f.Field)
		}
		return "positionCaseInsensitiveUTF8(" + expr + ", " + p.add("String", s) + ") > 0", nil
	}
	v, err := vt.conv(f.Value)
	if err != nil {
		return "", invalid("filter on %q: %v", f.Field, err)
	}
	return expr + " " + ops[op] + " " + p.add(vt.chType, v), nil
}

// timeSQL compares a DateTime64 column with RFC 3339 times.
func timeSQL(col, op string, f store.Filter, p *params, exists, notExists string) (string, error) {
	switch op {
	case "exists":
		return exists, nil
	case "not_exists":
		return notExists, nil
	case "contains":
		return "", invalid("filter on %q: op contains needs a text field", f.Field)
	case "in":
		list, err := listOf(f, vNanos)
		if err != nil {
			return "", err
		}
		if len(list) == 0 {
			return "0", nil
		}
		return "toUnixTimestamp64Nano(" + col + ") IN " + p.add("Array(Int64)", typedList(vNanos, list)), nil
	}
	v, err := store.TimeFilterValue(f.Value)
	if err != nil {
		return "", invalid("filter on %q: %v", f.Field, err)
	}
	return col + " " + ops[op] + " fromUnixTimestamp64Nano(" + p.add("Int64", v) + ", 'UTC')", nil
}

func listSQL(col, op string, f store.Filter, p *params) (string, error) {
	switch op {
	case "exists":
		return "notEmpty(" + col + ")", nil
	case "not_exists":
		return "empty(" + col + ")", nil
	case "eq", "neq":
		s, err := store.StringFilterValue(f.Value)
		if err != nil {
			return "", invalid("filter on %q: %v", f.Field, err)
		}
		c := "has(" + col + ", " + p.add("String", s) + ")"
		if op == "neq" {
			c = "NOT " + c
		}
		return c, nil
	case "contains":
		s, ok := f.Value.(string)
		if !ok {
			return "", invalid("filter on %q: contains takes a string", f.Field)
		}
		return "arrayExists(x -> positionCaseInsensitiveUTF8(x, " + p.add("String", s) + ") > 0, " + col + ")", nil
	case "in":
		list, err := listOf(f, vString)
		if err != nil {
			return "", err
		}
		if len(list) == 0 {
			return "0", nil
		}
		return "hasAny(" + col + ", " + p.add("Array(String)", typedList(vString, list)) + ")", nil
	}
	return "", invalid("filter on %q: op %q not supported (eq, neq, in, contains, exists, not_exists)", f.Field, op)
}

// attrSQL filters on one key of a typed attribute map. A condition on the
// value requires the key to be present, except neq, which also matches
// spans without it.
func attrSQL(prefix, key, op string, f store.Filter, p *params) (string, error) {
	var vt valueType
	col := prefix
	switch prefix {
	case "custom_attrs_string":
		vt = vString
	case "custom_attrs_int":
		vt = vInt
	case "custom_attrs_float":
		vt = vFloat
	case "custom_attrs_bool":
		vt = vBool
		if op != "eq" && op != "neq" && op != "exists" && op != "not_exists" {
			return "", invalid("filter on %q: op %q not supported for booleans", f.Field, op)
		}
	case "resource_attrs":
		vt, col = vString, "resource_attrs_text"
	default:
		return "", invalid("unknown filter field %q", f.Field)
	}
	k := p.add("String", key)
	has := "mapContains(" + col + ", " + k + ")"
	c, err := scalarSQL(col+"["+k+"]", op, f, vt, p, has, "NOT "+has)
	if err != nil {
		return "", err
	}
	switch op {
	case "exists", "not_exists":
		return c, nil
	case "neq":
		return "(NOT " + has + " OR " + c + ")", nil
	}
	return "(" + has + " AND " + c + ")", nil
}

func listOf(f store.Filter, vt valueType) ([]any, error) {
	var list []any
	switch x := f.Value.(type) {
	case []any:
		list = x
	case []string:
		for _, s := range x {
			list = append(list, s)
		}
	default:
		return nil, invalid("filter on %q: op in takes a list", f.Field)
	}
	out := make([]any, len(list))
	for i, v := range list {
		c, err := vt.conv(v)
		if err != nil {
			return nil, invalid("filter on %q: %v", f.Field, err)
		}
		out[i] = c
	}
	return out, nil
}

// typedList turns converted values into the slice type the driver formats
// as an Array parameter.
func typedList(vt valueType, list []any) any {
	switch vt.chType {
	case "String":
		out := make([]string, len(list))
		for i, v := range list {
			out[i] = v.(string)
		}
		return out
	case "Int64":
		out := make([]int64, len(list))
		for i, v := range list {
			out[i] = v.(int64)
		}
		return out
	case "Float64":
		out := make([]float64, len(list))
		for i, v := range list {
			out[i] = v.(float64)
		}
		return out
	case "Bool":
		out := make([]bool, len(list))
		for i, v := range list {
			out[i] = v.(bool)
		}
		return out
	}
	panic("clickhouse: typedList: unknown type " + vt.chType)
}

// sortExpr is the ORDER BY expression of a sortable span field.
func sortExpr(field, dir string) (string, bool) {
	kind, ok := store.SpanFilterFields[field]
	if !ok || kind == store.FieldList {
		return "", false
	}
	switch kind {
	case store.FieldDuration:
		return durationExpr + " " + dir, true
	case store.FieldNullInt:
		return field + " " + dir + " NULLS LAST", true // unreported usage last either way
	case store.FieldNullCost:
		return "cost_nanos " + dir + " NULLS LAST", true
	case store.FieldEnded:
		if dir == "ASC" {
			return field + " ASC NULLS FIRST", true // running spans first, as an end of 0
		}
		return field + " DESC NULLS LAST", true
	}
	return field + " " + dir, true
}
