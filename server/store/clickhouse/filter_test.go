package clickhouse

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/weavetrace/weave/server/store"
)

// FuzzFilterSQL feeds API-shaped filters (untrusted input) to the filter
// translation: it never panics, a rejected filter wraps store.ErrInvalid,
// and an accepted one binds every value as a parameter (no value text in
// the SQL) with placeholders and parameters matching one to one.
func FuzzFilterSQL(f *testing.F) {
	seeds := []struct{ field, op, value string }{
		{"operation_name", "eq", `"chat"`},
		{"operation_name", "in", `["chat","execute_tool"]`},
		{"span_name", "contains", `"INVOKE_agent"`},
		{"input_tokens", "gt", `15000`},
		{"input_tokens", "lte", `1.5`},
		{"output_tokens", "neq", `0`},
		{"output_tokens", "not_exists", ``},
		{"started_at", "gte", `"2026-05-04T09:30:00.123456789Z"`},
		{"ended_at", "lt", `"yesterday"`},
		{"ended_at", "in", `["2026-05-04T09:30:00Z"]`},
		{"is_turn", "eq", `true`},
		{"is_turn", "gt", `true`},
		{"finish_reasons", "in", `["stop","tool_use"]`},
		{"finish_reasons", "contains", `"STO"`},
		{"custom_attrs_string.weave.claude_code.cwd", "neq", `"/home/x'); DROP TABLE spans; --"`},
		{`custom_attrs_string.quote"key`, "exists", ``},
		{"custom_attrs_int.turn", "gte", `2`},
		{"custom_attrs_float.t", "lt", `0.5`},
		{"custom_attrs_bool.retry", "eq", `false`},
		{"custom_attrs_bool.retry", "gt", `false`},
		{"resource_attrs.service.name", "eq", `"vision-svc"`},
		{"custom_attrs_date.x", "exists", ``},
		{"custom_attrs_string.", "exists", ``},
		{"input_messages", "contains", `"x"`},
		{"duration_ms", "gt", `2000`},
		{"duration_ms", "exists", ``},
		{"compaction_items_before", "in", `[]`},
		{"span_name", "like", `"x"`},
		{"colour", "eq", `"red"`},
	}
	for _, s := range seeds {
		f.Add(s.field, s.op, s.value)
	}
	f.Fuzz(func(t *testing.T, field, op, value string) {
		flt := store.Filter{Field: field, Op: op}
		if value != "" {
			dec := json.NewDecoder(bytes.NewReader([]byte(value)))
			dec.UseNumber()
			if err := dec.Decode(&flt.Value); err != nil {
				return
			}
		}
		var p params
		cond, err := filterSQL(flt, &p)
		if err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("filterSQL(%+v): error %v does not wrap store.ErrInvalid", flt, err)
			}
			return
		}
		if err := checkParams(cond, p.list); err != nil {
			t.Fatalf("filterSQL(%+v) = %q: %v", flt, cond, err)
		}
		for _, s := range userStrings(flt) {
			if len(s) >= 2 && strings.Contains(cond, s) && !isIdentifierLike(s) {
				t.Fatalf("filterSQL(%+v) = %q: user text %q is in the SQL", flt, cond, s)
			}
		}
	})
}

// userStrings lists the strings of a filter that come from the caller.
func userStrings(f store.Filter) []string {
	out := []string{}
	if _, key, ok := strings.Cut(f.Field, "."); ok {
		out = append(out, key)
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			out = append(out, x)
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(f.Value)
	return out
}

// isIdentifierLike reports words that may appear in the SQL as column or
// function names (e.g. a value "ended_at").
func isIdentifierLike(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == ' ' || r == '.' || r == '(' || r == ')' || r == ',' || r == '\'' || r == '>' || r == '=' || r == '<' || r == '!') {
			return false
		}
	}
	return true
}

func TestFilterSQL(t *testing.T) {
	tests := []struct {
		name string
		f    store.Filter
		want string
	}{
		{"string eq", store.Filter{Field: "operation_name", Op: "eq", Value: "chat"}, "operation_name = {p0:String}"},
		{"string exists", store.Filter{Field: "tool_name", Op: "exists"}, "tool_name != ''"},
		{"tokens neq keeps unreported", store.Filter{Field: "output_tokens", Op: "neq", Value: 0}, "(output_tokens IS NULL OR output_tokens != {p0:Int64})"},
		{"ended neq keeps running", store.Filter{Field: "ended_at", Op: "neq", Value: "2026-01-01T00:00:00Z"},
			"(ended_at IS NULL OR ended_at != fromUnixTimestamp64Nano({p0:Int64}, 'UTC'))"},
		{"in empty", store.Filter{Field: "tool_name", Op: "in", Value: []any{}}, "0"},
		{"attribute eq needs the key", store.Filter{Field: "custom_attrs_int.n", Op: "eq", Value: 2},
			"(mapContains(custom_attrs_int, {p0:String}) AND custom_attrs_int[{p0:String}] = {p1:Int64})"},
		{"attribute neq matches absent keys", store.Filter{Field: "custom_attrs_string.k", Op: "neq", Value: "v"},
			"(NOT mapContains(custom_attrs_string, {p0:String}) OR custom_attrs_string[{p0:String}] != {p1:String})"},
		{"resource attribute as text", store.Filter{Field: "resource_attrs.host.cores", Op: "eq", Value: "8"},
			"(mapContains(resource_attrs_text, {p0:String}) AND resource_attrs_text[{p0:String}] = {p1:String})"},
		{"list contains", store.Filter{Field: "finish_reasons", Op: "contains", Value: "Stop"},
			"arrayExists(x -> positionCaseInsensitiveUTF8(x, {p0:String}) > 0, finish_reasons)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p params
			got, err := filterSQL(tc.f, &p)
			if err != nil || got != tc.want {
				t.Errorf("filterSQL(%+v): got %q, %v; want %q", tc.f, got, err, tc.want)
			}
		})
	}
}
