package normalize

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// attrSet indexes one span's attributes by key and records which keys a
// mapping consumed, so that only the rest become custom attributes.
type attrSet struct {
	vals map[string]pcommon.Value
	keys []string // in wire order
	used map[string]bool
}

func newAttrSet(m pcommon.Map) *attrSet {
	a := &attrSet{
		vals: make(map[string]pcommon.Value, m.Len()),
		keys: make([]string, 0, m.Len()),
		used: make(map[string]bool, m.Len()),
	}
	for k, v := range m.All() {
		if _, dup := a.vals[k]; !dup {
			a.keys = append(a.keys, k)
		}
		a.vals[k] = v // the last duplicate wins, as in most SDKs
	}
	return a
}

// has reports whether key is present, without consuming it.
func (a *attrSet) has(key string) bool {
	_, ok := a.vals[key]
	return ok
}

// peek returns the value without consuming it.
func (a *attrSet) peek(key string) (pcommon.Value, bool) {
	v, ok := a.vals[key]
	return v, ok
}

// get returns the value and marks the key as consumed.
func (a *attrSet) get(key string) (pcommon.Value, bool) {
	v, ok := a.vals[key]
	if ok {
		a.used[key] = true
	}
	return v, ok
}

// use marks keys as consumed.
func (a *attrSet) use(keys ...string) {
	for _, k := range keys {
		if _, ok := a.vals[k]; ok {
			a.used[k] = true
		}
	}
}

// hasPrefix reports whether any key starts with p.
func (a *attrSet) hasPrefix(p string) bool {
	for _, k := range a.keys {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// str returns a string attribute (numbers and bools are formatted), marking
// it consumed. Empty strings count as absent.
func (a *attrSet) str(key string) string {
	v, ok := a.get(key)
	if !ok {
		return ""
	}
	return valueString(v)
}

// peekStr is str without consuming.
func (a *attrSet) peekStr(key string) string {
	v, ok := a.vals[key]
	if !ok {
		return ""
	}
	return valueString(v)
}

func valueString(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return strings.TrimSpace(v.Str())
	case pcommon.ValueTypeInt:
		return strconv.FormatInt(v.Int(), 10)
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return ""
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	case pcommon.ValueTypeBool:
		return strconv.FormatBool(v.Bool())
	}
	return ""
}

// integer returns an integer attribute, accepting an int, an integral
// double or a decimal string, and marks it consumed.
func (a *attrSet) integer(key string) (int64, bool) {
	v, ok := a.get(key)
	if !ok {
		return 0, false
	}
	return valueInt(v)
}

func valueInt(v pcommon.Value) (int64, bool) {
	switch v.Type() {
	case pcommon.ValueTypeInt:
		return v.Int(), true
	case pcommon.ValueTypeDouble:
		return floatInt(v.Double())
	case pcommon.ValueTypeStr:
		return stringInt(v.Str())
	}
	return 0, false
}

// valueFloat reads a number: an int, a double or a decimal string.
func valueFloat(v pcommon.Value) (float64, bool) {
	var f float64
	switch v.Type() {
	case pcommon.ValueTypeInt:
		f = float64(v.Int())
	case pcommon.ValueTypeDouble:
		f = v.Double()
	case pcommon.ValueTypeStr:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(v.Str()), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

// anyFloat reads a number out of a decoded JSON value.
func anyFloat(v any) (float64, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case int64:
		f = float64(x)
	case json.Number:
		var err error
		if f, err = x.Float64(); err != nil {
			return 0, false
		}
	case string:
		var err error
		if f, err = strconv.ParseFloat(strings.TrimSpace(x), 64); err != nil {
			return 0, false
		}
	default:
		return 0, false
	}
	return f, !math.IsNaN(f) && !math.IsInf(f, 0)
}

func floatInt(f float64) (int64, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func stringInt(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return floatInt(f)
	}
	return 0, false
}

// boolean returns a boolean attribute, accepting a bool, "true"/"false" or
// a number (non-zero is true), and marks it consumed.
func (a *attrSet) boolean(key string) (bool, bool) {
	v, ok := a.get(key)
	if !ok {
		return false, false
	}
	switch v.Type() {
	case pcommon.ValueTypeBool:
		return v.Bool(), true
	case pcommon.ValueTypeStr:
		b, err := strconv.ParseBool(strings.TrimSpace(v.Str()))
		return b, err == nil
	case pcommon.ValueTypeInt:
		return v.Int() != 0, true
	case pcommon.ValueTypeDouble:
		return v.Double() != 0, true
	}
	return false, false
}

// strs returns a string-list attribute: an array of strings, a string
// holding a JSON array of strings, or a single plain string.
func (a *attrSet) strs(key string) []string {
	v, ok := a.get(key)
	if !ok {
		return nil
	}
	return valueStrings(v)
}

func valueStrings(v pcommon.Value) []string {
	var out []string
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		for _, e := range v.Slice().All() {
			if s := valueString(e); s != "" {
				out = append(out, s)
			}
		}
	case pcommon.ValueTypeStr:
		s := strings.TrimSpace(v.Str())
		if strings.HasPrefix(s, "[") {
			var list []any
			if json.Unmarshal([]byte(s), &list) == nil {
				for _, e := range list {
					if str := anyString(e); str != "" {
						out = append(out, str)
					}
				}
				return out
			}
		}
		if s != "" {
			out = append(out, s)
		}
	default:
		if s := valueString(v); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// jsonish returns the attribute as a decoded JSON value: structured
// values are converted, strings holding a JSON object or array (or a JSON
// string literal) are decoded, other strings are returned as is. ok is
// false when the key is absent or empty.
func (a *attrSet) jsonish(key string) (any, bool) {
	v, ok := a.get(key)
	if !ok {
		return nil, false
	}
	return valueJSONish(v)
}

// peekJSON is jsonish without consuming the key.
func (a *attrSet) peekJSON(key string) (any, bool) {
	v, ok := a.vals[key]
	if !ok {
		return nil, false
	}
	return valueJSONish(v)
}

func valueJSONish(v pcommon.Value) (any, bool) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return decodeMaybeJSON(v.Str())
	case pcommon.ValueTypeEmpty:
		return nil, false
	}
	r := rawValue(v)
	return r, r != nil
}

// decodeMaybeJSON decodes s when it holds a JSON object, array or string
// literal; otherwise it returns s itself. Blank strings are absent.
func decodeMaybeJSON(s string) (any, bool) {
	t := strings.TrimSpace(s)
	if t == "" {
		return nil, false
	}
	switch t[0] {
	case '{', '[', '"':
		if out, err := decodeJSONAny(t); err == nil {
			if out == nil {
				return nil, false
			}
			return out, true
		}
	}
	return s, true
}

// rawValue converts an AnyValue into plain Go values (string, int64,
// float64, bool, []any, map[string]any). Bytes become base64 text;
// NaN and infinities, which JSON cannot carry, become nil.
func rawValue(v pcommon.Value) any {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return v.Str()
	case pcommon.ValueTypeInt:
		return v.Int()
	case pcommon.ValueTypeDouble:
		f := v.Double()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
		return f
	case pcommon.ValueTypeBool:
		return v.Bool()
	case pcommon.ValueTypeBytes:
		return base64.StdEncoding.EncodeToString(v.Bytes().AsRaw())
	case pcommon.ValueTypeMap:
		return rawMap(v.Map())
	case pcommon.ValueTypeSlice:
		s := v.Slice()
		out := make([]any, 0, s.Len())
		for _, e := range s.All() {
			out = append(out, rawValue(e))
		}
		return out
	}
	return nil
}

func rawMap(m pcommon.Map) map[string]any {
	out := make(map[string]any, m.Len())
	for k, v := range m.All() {
		if r := rawValue(v); r != nil {
			out[k] = r
		}
	}
	return out
}

// anyString renders a decoded JSON scalar as text ("" for nil, objects and
// arrays are JSON-encoded).
func anyString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	case json.Number:
		return x.String()
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// anyInt reads an integer out of a decoded JSON value.
func anyInt(v any) (int64, bool) {
	switch x := v.(type) {
	case float64:
		return floatInt(x)
	case int64:
		return x, true
	case string:
		return stringInt(x)
	case json.Number:
		return stringInt(x.String())
	}
	return 0, false
}

// mapGet walks nested maps along path.
func mapGet(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// mapStr returns the string at path ("" if absent or not a scalar).
func mapStr(v any, path ...string) string {
	switch x := mapGet(v, path...).(type) {
	case string:
		return strings.TrimSpace(x)
	case float64, int64, bool:
		return anyString(x)
	}
	return ""
}

// lazyJSON decodes an attribute on first use. The key counts as consumed
// from the start.
type lazyJSON struct {
	a       *attrSet
	key     string
	decoded bool
	v       any
}

func (c *spanCtx) lazy(key string) *lazyJSON {
	c.a.use(key)
	return &lazyJSON{a: c.a, key: key}
}

func (l *lazyJSON) get() any {
	if !l.decoded {
		l.decoded = true
		l.v, _ = l.a.peekJSON(l.key)
	}
	return l.v
}

// responseMeta is what a provider response object says about itself.
type responseMeta struct {
	ID         string          `json:"id"`
	Object     string          `json:"object"`
	Type       string          `json:"type"`
	Model      string          `json:"model"`
	StopReason string          `json:"stop_reason"`
	Status     string          `json:"status"`
	Choices    json.RawMessage `json:"choices"`
	Output     json.RawMessage `json:"output"`
}

func (m responseMeta) isResponse() bool {
	if m.ID == "" {
		return false
	}
	switch m.Object {
	case "chat.completion", "response", "text_completion", "chat.completion.chunk":
		return true
	}
	return m.Type == "message" || len(m.Choices) > 0 || len(m.Output) > 0
}

// meta reads the response-object fields without decoding the whole value
// (a cheap scan when the value was not needed otherwise).
func (l *lazyJSON) meta() responseMeta {
	var m responseMeta
	if l.decoded {
		obj := asMap(l.v)
		if obj == nil {
			return m
		}
		m.ID, m.Object, m.Type, m.Model, m.StopReason = mapStr(obj, "id"), mapStr(obj, "object"), mapStr(obj, "type"), mapStr(obj, "model"), mapStr(obj, "stop_reason")
		m.Status = mapStr(obj, "status")
		if obj["choices"] != nil {
			m.Choices = json.RawMessage("1")
		}
		if obj["output"] != nil {
			m.Output, _ = json.Marshal(obj["output"])
		}
		return m
	}
	v, ok := l.a.peek(l.key)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return m
	}
	s := strings.TrimSpace(v.Str())
	if !strings.HasPrefix(s, "{") {
		return m
	}
	_ = json.Unmarshal([]byte(s), &m) // a non-object just leaves m empty
	return m
}

// finishReason derives a finish reason from a Responses API object.
func (m responseMeta) finishReason() string {
	if m.Object != "response" {
		return ""
	}
	var items []any
	_ = json.Unmarshal(m.Output, &items)
	return responsesFinishReason(map[string]any{"status": m.Status}, items)
}
