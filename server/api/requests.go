package api

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/weavetrace/weave/server/store"
)

// Bounds on request values.
const (
	maxProjectIDLen  = store.MaxIDLen
	maxOffset        = 1_000_000
	maxFilters       = 50
	maxSorts         = 5
	maxInValues      = 1000
	maxTextLen       = 1000 // names, search queries, filter strings
	maxRefs          = 1000
	maxNoteLen       = 20_000
	maxConversations = 4096 // bytes of a conversation id
)

// projectPart is the part of every request naming its project.
type projectPart struct {
	ProjectID string `json:"project_id"`
}

func (p projectPart) project() string { return p.ProjectID }

// request is what every request body type implements.
type request interface {
	project() string
	// validate checks the fields (project_id is checked for everyone) and
	// fills derived values.
	validate() error
}

// validProjectID checks a project_id ("entity/project").
func validProjectID(id string) error {
	switch {
	case id == "":
		return invalid("project_id", "project_id is required (e.g. \"local/default\")")
	case id != strings.TrimSpace(id):
		return invalid("project_id", "project_id %q has surrounding spaces", truncate(id, 80))
	case len(id) > maxProjectIDLen:
		return invalid("project_id", "project_id is longer than %d bytes", maxProjectIDLen)
	case !utf8.ValidString(id) || strings.IndexFunc(id, isControl) >= 0:
		return invalid("project_id", "project_id must be valid UTF-8 without control characters")
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// pagePart is a limit/offset window.
type pagePart struct {
	Limit  int `json:"limit"`
	Offset int `json:"offset"`
}

// check validates the window; limit 0 means def.
func (p *pagePart) check(def int) error {
	switch {
	case p.Limit < 0:
		return invalid("limit", "limit must be ≥ 0, got %d", p.Limit)
	case p.Limit > store.MaxLimit:
		return invalid("limit", "limit must be ≤ %d, got %d", store.MaxLimit, p.Limit)
	case p.Offset < 0:
		return invalid("offset", "offset must be ≥ 0, got %d", p.Offset)
	case p.Offset > maxOffset:
		return invalid("offset", "offset must be ≤ %d, got %d; narrow the query instead", maxOffset, p.Offset)
	}
	if p.Limit == 0 {
		p.Limit = def
	}
	return nil
}

// rangePart bounds started_at (or activity) with RFC 3339 times.
type rangePart struct {
	From string `json:"from"`
	To   string `json:"to"`

	r store.TimeRange
}

func (p *rangePart) check() error {
	var err error
	if p.r.From, err = parseTime("from", p.From); err != nil {
		return err
	}
	if p.r.To, err = parseTime("to", p.To); err != nil {
		return err
	}
	if !p.r.From.IsZero() && !p.r.To.IsZero() && !p.r.From.Before(p.r.To) {
		return invalid("to", "to (%s) must be after from (%s)", p.To, p.From)
	}
	return nil
}

func parseTime(field, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, invalid(field, "%s must be an RFC 3339 time such as 2026-05-01T10:00:00Z, got %q", field, s)
	}
	if t.Before(store.MinTime) || t.After(store.MaxTime) {
		return time.Time{}, invalid(field, "%s is out of range", field)
	}
	return t.UTC(), nil
}

var hexRE = regexp.MustCompile(`^[0-9a-fA-F]+$`)

// checkHexID validates a trace id (32 hex digits) or span id (16) and
// returns it lowercased.
func checkHexID(field, id string, digits int) (string, error) {
	if id == "" {
		return "", invalid(field, "%s is required", field)
	}
	if len(id) != digits || !hexRE.MatchString(id) {
		return "", invalid(field, "%s must be %d hexadecimal digits, got %q", field, digits, truncate(id, 80))
	}
	return strings.ToLower(id), nil
}

func checkText(field, s string, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return invalid(field, "%s is required", field)
	case len(s) > maxTextLen:
		return invalid(field, "%s is longer than %d bytes", field, maxTextLen)
	case !utf8.ValidString(s):
		return invalid(field, "%s is not valid UTF-8", field)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Column sets: the spans' come from the store contract (which a test there
// keeps equal to model.Span's scalar columns), the summaries' from their
// types, so they cannot drift.
var (
	// spanFilterColumns are the columns a filter may name.
	spanFilterColumns = spanColumns(true)
	// spanSortColumns are the same without finish_reasons.
	spanSortColumns         = spanColumns(false)
	conversationSortColumns = scalarColumns(reflect.TypeFor[store.ConversationSummary](), nil, nil)
	agentSortColumns        = scalarColumns(reflect.TypeFor[store.AgentSummary](), nil, nil)
	traceSortColumns        = keysOf(store.TraceSortFields)
)

func keysOf[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func spanColumns(withList bool) map[string]bool {
	out := make(map[string]bool, len(store.SpanFilterFields))
	for f, k := range store.SpanFilterFields {
		if k != store.FieldList || withList {
			out[f] = true
		}
	}
	return out
}

// attrPrefixes are the map columns a filter can reach into by key.
var attrPrefixes = []string{
	"custom_attrs_string.", "custom_attrs_int.", "custom_attrs_float.", "custom_attrs_bool.", "resource_attrs.",
}

var filterOps = map[string]bool{
	"eq": true, "neq": true, "in": true, "contains": true, "gt": true, "gte": true,
	"lt": true, "lte": true, "exists": true, "not_exists": true,
}

// scalarColumns lists the JSON names of t's string, number, bool and time
// fields (embedded structs included), minus drop, plus add.
func scalarColumns(t reflect.Type, drop, add []string) map[string]bool {
	out := make(map[string]bool)
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch {
			case ft == reflect.TypeFor[time.Time]():
			case ft.Kind() == reflect.String, ft.Kind() == reflect.Bool,
				ft.Kind() >= reflect.Int && ft.Kind() <= reflect.Float64:
			default:
				continue
			}
			out[name] = true
		}
	}
	walk(t)
	for _, d := range drop {
		delete(out, d)
	}
	for _, a := range add {
		out[a] = true
	}
	return out
}

// checkFilters validates filters against the span columns.
func checkFilters(fs []store.Filter) error {
	if len(fs) > maxFilters {
		return invalid("filters", "at most %d filters, got %d", maxFilters, len(fs))
	}
	for i := range fs {
		f := &fs[i]
		at := func(name string) string { return fmt.Sprintf("filters[%d].%s", i, name) }
		if !validFilterField(f.Field) {
			return invalid(at("field"), "unknown filter field %q: use a span column (e.g. agent_name, operation_name, "+
				"status_code, input_tokens, duration_ms) or custom_attrs_string.<key> (also _int, _float, _bool) or resource_attrs.<key>",
				truncate(f.Field, 80))
		}
		if !filterOps[f.Op] {
			return invalid(at("op"), "unknown op %q: want one of eq, neq, in, contains, gt, gte, lt, lte, exists, not_exists", truncate(f.Op, 40))
		}
		switch f.Op {
		case "exists", "not_exists":
			if f.Value != nil {
				return invalid(at("value"), "op %s takes no value", f.Op)
			}
		case "in":
			list, ok := f.Value.([]any)
			if !ok || len(list) == 0 {
				return invalid(at("value"), "op in takes a non-empty array of values")
			}
			if len(list) > maxInValues {
				return invalid(at("value"), "op in takes at most %d values, got %d", maxInValues, len(list))
			}
			for j, v := range list {
				if err := checkScalar(fmt.Sprintf("filters[%d].value[%d]", i, j), v); err != nil {
					return err
				}
			}
		default:
			if f.Value == nil {
				return invalid(at("value"), "op %s needs a value", f.Op)
			}
			if err := checkScalar(at("value"), f.Value); err != nil {
				return err
			}
		}
		f.Value = plainNumbers(f.Value)
	}
	return nil
}

func validFilterField(field string) bool {
	if spanFilterColumns[field] {
		return true
	}
	for _, p := range attrPrefixes {
		if key, ok := strings.CutPrefix(field, p); ok {
			return key != "" && len(key) <= maxTextLen && utf8.ValidString(key)
		}
	}
	return false
}

func checkScalar(field string, v any) error {
	switch x := v.(type) {
	case string:
		if len(x) > maxTextLen || !utf8.ValidString(x) {
			return invalid(field, "value is longer than %d bytes or not valid UTF-8", maxTextLen)
		}
		return nil
	case bool:
		return nil
	case json.Number:
		if f, err := x.Float64(); err != nil || math.IsInf(f, 0) {
			return invalid(field, "number %s is out of range", truncate(x.String(), 40))
		}
		return nil
	}
	return invalid(field, "value must be a string, a number or true/false")
}

// plainNumbers turns json.Number values (the decoder keeps numbers exact)
// into int64 when integral, else float64, which every backend understands.
func plainNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plainNumbers(e)
		}
		return out
	}
	return v
}

// checkSorts validates sort keys against a column set.
// checkScoreFilters checks filters on score summaries (score.<name>, see
// store.ParseScoreFilters).
func checkScoreFilters(fs []store.Filter) error {
	if len(fs) > maxFilters {
		return invalid("filters", "at most %d filters, got %d", maxFilters, len(fs))
	}
	for i := range fs {
		if _, err := store.ParseScoreFilters(fs[i : i+1]); err != nil {
			return invalid(fmt.Sprintf("filters[%d]", i), "%s", strings.TrimPrefix(err.Error(), store.ErrInvalid.Error()+": "))
		}
	}
	return nil
}

func checkSorts(ss []store.Sort, columns map[string]bool) error {
	if len(ss) > maxSorts {
		return invalid("sort", "at most %d sort keys, got %d", maxSorts, len(ss))
	}
	for i := range ss {
		s := &ss[i]
		if !columns[s.Field] {
			return invalid(fmt.Sprintf("sort[%d].field", i), "cannot sort by %q; sortable fields: %s",
				truncate(s.Field, 80), strings.Join(sortedKeys(columns), ", "))
		}
		s.Direction = strings.ToLower(s.Direction)
		switch s.Direction {
		case "":
			s.Direction = "desc"
		case "asc", "desc":
		default:
			return invalid(fmt.Sprintf("sort[%d].direction", i), "direction must be asc or desc, got %q", truncate(s.Direction, 40))
		}
	}
	return nil
}
