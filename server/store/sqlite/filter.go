package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

const durationExpr = "(CASE WHEN s.ended_at > s.started_at THEN (s.ended_at - s.started_at) / 1000000 ELSE 0 END)"

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: sqlite: %s", store.ErrInvalid, fmt.Sprintf(format, args...))
}

// cond is one SQL condition with its arguments.
type cond struct {
	sql  string
	args []any
}

// filterSQL translates one filter into a condition on spans aliased s.
func filterSQL(f store.Filter) (cond, error) {
	op := strings.ToLower(f.Op)
	switch op {
	case "eq", "neq", "in", "contains", "gt", "gte", "lt", "lte", "exists", "not_exists":
	default:
		return cond{}, invalid("filter on %q: unknown op %q", f.Field, f.Op)
	}
	if prefix, key, ok := strings.Cut(f.Field, "."); ok && (strings.HasPrefix(prefix, "custom_attrs_") || prefix == "resource_attrs") {
		if key == "" {
			return cond{}, invalid("filter field %q needs a key after the dot", f.Field)
		}
		return attrSQL(prefix, key, op, f)
	}
	kind, ok := store.SpanFilterFields[f.Field]
	if !ok {
		if store.HeavyFields[f.Field] {
			return cond{}, invalid("field %q is not filterable (use message search or a key: %s.<key>)", f.Field, f.Field)
		}
		return cond{}, invalid("unknown filter field %q", f.Field)
	}
	col := "s." + f.Field
	if f.Field == "project_id" {
		col = "(SELECT p.project_id FROM projects p WHERE p.id = s.proj)"
	}
	return columnSQL(col, kind, op, f)
}

// columnSQL translates a filter with op on a column col of the given kind.
func columnSQL(col string, kind store.FieldKind, op string, f store.Filter) (cond, error) {
	switch kind {
	case store.FieldString:
		return scalarSQL(col, op, f, store.StringFilterValue, true, col+" != ''", col+" = ''")
	case store.FieldInt:
		return scalarSQL(col, op, f, store.IntFilterValue, false, col+" != 0", col+" = 0")
	case store.FieldNullInt:
		c, err := scalarSQL(col, op, f, store.IntFilterValue, false, col+" IS NOT NULL", col+" IS NULL")
		if err == nil && op == "neq" {
			c.sql = "(" + col + " IS NULL OR " + c.sql + ")"
		}
		return c, err
	case store.FieldNullCost:
		col = "s.cost_nanos"
		c, err := scalarSQL(col, op, f, store.CostFilterValue, false, col+" IS NOT NULL", col+" IS NULL")
		if err == nil && op == "neq" {
			c.sql = "(" + col + " IS NULL OR " + c.sql + ")"
		}
		return c, err
	case store.FieldDuration:
		if op == "exists" || op == "not_exists" {
			return cond{}, invalid("filter on duration_ms: op %q not supported", op)
		}
		return scalarSQL(durationExpr, op, f, store.IntFilterValue, false, "", "")
	case store.FieldStarted:
		return scalarSQL(col, op, f, store.TimeFilterValue, false, "1", "0")
	case store.FieldEnded:
		c, err := scalarSQL(col, op, f, store.TimeFilterValue, false, col+" != 0", col+" = 0")
		if err == nil && op != "exists" && op != "not_exists" && op != "neq" {
			c.sql = "(" + col + " != 0 AND " + c.sql + ")"
		}
		return c, err
	case store.FieldBool:
		switch op {
		case "eq", "neq":
		default:
			return cond{}, invalid("filter on %s: op %q not supported (eq, neq)", f.Field, op)
		}
		return scalarSQL(col, op, f, toBoolInt, false, "", "")
	case store.FieldList:
		return listSQL(col, op, f)
	}
	return cond{}, invalid("unknown filter field %q", f.Field)
}

// filtersSQL appends the conditions of fs (on spans aliased s) to where,
// their arguments to args.
func filtersSQL(fs []store.Filter, where *[]string, args *[]any) error {
	for _, f := range fs {
		c, err := filterSQL(f)
		if err != nil {
			return err
		}
		*where = append(*where, c.sql)
		*args = append(*args, c.args...)
	}
	return nil
}

// scalarSQL builds a comparison on expr. conv converts a filter value to
// the column's SQL value.
func scalarSQL(expr, op string, f store.Filter, conv func(any) (any, error), isText bool, exists, notExists string) (cond, error) {
	one := func() (any, error) {
		v, err := conv(f.Value)
		if err != nil {
			return nil, invalid("filter on %q: %v", f.Field, err)
		}
		return v, nil
	}
	switch op {
	case "exists", "not_exists":
		if f.Value != nil {
			return cond{}, invalid("filter on %q: op %s takes no value", f.Field, op)
		}
		if op == "exists" {
			return cond{sql: exists}, nil
		}
		return cond{sql: notExists}, nil
	case "in":
		list, ok := f.Value.([]any)
		if !ok {
			if ss, isSS := f.Value.([]string); isSS {
				for _, s := range ss {
					list = append(list, s)
				}
				ok = true
			}
		}
		if !ok {
			return cond{}, invalid("filter on %q: op in takes a list", f.Field)
		}
		if len(list) == 0 {
			return cond{sql: "0"}, nil
		}
		args := make([]any, len(list))
		for i, x := range list {
			v, err := conv(x)
			if err != nil {
				return cond{}, invalid("filter on %q: %v", f.Field, err)
			}
			args[i] = v
		}
		return cond{sql: expr + " IN (" + placeholders(len(args)) + ")", args: args}, nil
	case "contains":
		if !isText {
			return cond{}, invalid("filter on %q: op contains needs a text field", f.Field)
		}
		s, ok := f.Value.(string)
		if !ok {
			return cond{}, invalid("filter on %q: contains takes a string", f.Field)
		}
		return cond{sql: "instr(weave_lower(" + expr + "), ?) > 0", args: []any{strings.ToLower(s)}}, nil
	}
	v, err := one()
	if err != nil {
		return cond{}, err
	}
	sqlOp := map[string]string{"eq": "=", "neq": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
	return cond{sql: expr + " " + sqlOp + " ?", args: []any{v}}, nil
}

func listSQL(col, op string, f store.Filter) (cond, error) {
	each := "SELECT 1 FROM json_each(" + col + ") j WHERE "
	switch op {
	case "exists":
		return cond{sql: col + " IS NOT NULL"}, nil
	case "not_exists":
		return cond{sql: col + " IS NULL"}, nil
	case "eq", "neq":
		s, err := store.StringFilterValue(f.Value)
		if err != nil {
			return cond{}, invalid("filter on %q: %v", f.Field, err)
		}
		c := "EXISTS (" + each + "j.value = ?)"
		if op == "neq" {
			c = "NOT " + c
		}
		return cond{sql: c, args: []any{s}}, nil
	case "contains":
		s, ok := f.Value.(string)
		if !ok {
			return cond{}, invalid("filter on %q: contains takes a string", f.Field)
		}
		return cond{sql: "EXISTS (" + each + "instr(weave_lower(j.value), ?) > 0)", args: []any{strings.ToLower(s)}}, nil
	case "in":
		c, err := scalarSQL("j.value", "in", f, store.StringFilterValue, true, "", "")
		if err != nil {
			return cond{}, err
		}
		return cond{sql: "EXISTS (" + each + c.sql + ")", args: c.args}, nil
	}
	return cond{}, invalid("filter on %q: op %q not supported (eq, neq, in, contains, exists, not_exists)", f.Field, op)
}

func attrSQL(prefix, key, op string, f store.Filter) (cond, error) {
	var expr string
	var conv func(any) (any, error)
	isText := false
	attr := func(m string) string {
		return "(SELECT j.value FROM attrsets a, json_each(a.attrs, '$." + m + "') j WHERE a.id = s.attrs_id AND j.key = ?)"
	}
	switch prefix {
	case "custom_attrs_string":
		expr, conv, isText = attr("s"), store.StringFilterValue, true
	case "custom_attrs_int":
		expr, conv = attr("i"), store.IntFilterValue
	case "custom_attrs_float":
		expr, conv = attr("f"), store.FloatFilterValue
	case "custom_attrs_bool":
		expr, conv = attr("b"), toBoolInt
		if op != "eq" && op != "neq" && op != "exists" && op != "not_exists" {
			return cond{}, invalid("filter on %q: op %q not supported for booleans", f.Field, op)
		}
	case "resource_attrs":
		expr, conv, isText = "(SELECT CAST(j.value AS TEXT) FROM resources r, json_each(r.attrs) j WHERE r.id = s.resource_id AND j.key = ?)", store.StringFilterValue, true
	default:
		return cond{}, invalid("unknown filter field %q", f.Field)
	}
	c, err := scalarSQL(expr, op, f, conv, isText, expr+" IS NOT NULL", expr+" IS NULL")
	if err != nil {
		return cond{}, err
	}
	// Every occurrence of expr takes the key as its first argument.
	n := strings.Count(c.sql, expr)
	args := make([]any, 0, n+len(c.args))
	for i := 0; i < n; i++ {
		args = append(args, key)
	}
	c.args = append(args, c.args...)
	if op == "neq" {
		c.sql = "COALESCE(" + c.sql + ", 1)"
	}
	return c, nil
}

// toBoolInt reads a boolean as the 1 or 0 SQLite stores.
func toBoolInt(v any) (any, error) {
	b, err := store.BoolFilterValue(v)
	if err != nil {
		return nil, err
	}
	if b.(bool) {
		return int64(1), nil
	}
	return int64(0), nil
}

// sortable are the columns QuerySpans sorts on.
func sortExpr(field string) (string, bool) {
	kind, ok := store.SpanFilterFields[field]
	if !ok || kind == store.FieldList {
		return "", false
	}
	switch kind {
	case store.FieldDuration:
		return durationExpr, true
	case store.FieldNullCost:
		return "s.cost_nanos", true
	}
	return "s." + field, true
}

// sortOrder is the ORDER BY terms of sorts on the columns cols maps the
// sortable fields of what to.
func sortOrder(sorts []store.Sort, cols map[string]string, what string) ([]string, error) {
	var order []string
	for _, so := range sorts {
		col, ok := cols[so.Field]
		if !ok {
			return nil, invalid("cannot sort %s on %q", what, so.Field)
		}
		dir, err := direction(so.Direction)
		if err != nil {
			return nil, err
		}
		order = append(order, col+" "+dir)
	}
	return order, nil
}

func direction(d string) (string, error) {
	switch strings.ToLower(d) {
	case "", "desc":
		return "DESC", nil
	case "asc":
		return "ASC", nil
	}
	return "", invalid("unknown sort direction %q (asc, desc)", d)
}

// QuerySpans implements store.Reader.
func (s *Store) QuerySpans(ctx context.Context, q store.SpanQuery) ([]model.Span, int64, error) {
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return nil, 0, err
	}
	where := []string{"s.proj = ?"}
	args := []any{nil}
	if err := rangeSQL("s.started_at", q.Range, &where, &args); err != nil {
		return nil, 0, err
	}
	if err := filtersSQL(q.Filters, &where, &args); err != nil {
		return nil, 0, err
	}
	var order []string
	for _, so := range q.Sort {
		expr, ok := sortExpr(so.Field)
		if !ok {
			return nil, 0, invalid("cannot sort on %q", so.Field)
		}
		dir, err := direction(so.Direction)
		if err != nil {
			return nil, 0, err
		}
		if k := store.SpanFilterFields[so.Field]; k == store.FieldNullInt || k == store.FieldNullCost {
			dir += " NULLS LAST" // unreported usage sorts last either way
		}
		order = append(order, expr+" "+dir)
	}
	if len(order) == 0 {
		order = []string{"s.started_at DESC"}
	}
	order = append(order, "s.span_id ASC", "s.trace_id ASC")

	proj, ok, err := s.projectID(ctx, q.ProjectID)
	if err != nil || !ok {
		return nil, 0, err
	}
	args[0] = proj
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: query spans: %w", err)
	}
	defer tx.Rollback()
	cond := join(where)
	var total int64
	countQ := "SELECT COUNT(*) FROM spans s WHERE " + cond
	if len(where) == 1 { // the whole project: its maintained count
		countQ = "SELECT span_count FROM projects WHERE id = ?"
	}
	if err := tx.QueryRowContext(ctx, countQ, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: query spans: %w", err)
	}
	if int64(q.Offset) >= total {
		return nil, total, nil
	}
	out, err := s.querySpans(ctx, tx, q.IncludeDetails, selectSpans(q.IncludeDetails)+"WHERE "+cond+" ORDER BY "+strings.Join(order, ", ")+" LIMIT ? OFFSET ?",
		append(args, limit, q.Offset)...)
	return out, total, err
}
