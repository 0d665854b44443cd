package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// jsonMember is what a member of an OTLP/JSON object holds: a node, or a
// list of them. pdata accepts the camelCase and the snake_case names.
type jsonMember struct {
	n          node
	list       bool
	deprecated bool // deprecatedScopeSpans, deprecatedScopeLogs
}

// jsonKeys are the member names of a signal's request levels, camelCase
// then snake_case.
type jsonKeys struct {
	resources, scopes, deprecatedScopes, items [2]string
}

func jsonKeysOf(sig signal) jsonKeys {
	switch sig {
	case signalLogs:
		return jsonKeys{[2]string{"resourceLogs", "resource_logs"}, [2]string{"scopeLogs", "scope_logs"},
			[2]string{"deprecatedScopeLogs", "deprecated_scope_logs"}, [2]string{"logRecords", "log_records"}}
	case signalMetrics:
		return jsonKeys{[2]string{"resourceMetrics", "resource_metrics"}, [2]string{"scopeMetrics", "scope_metrics"},
			[2]string{"deprecatedScopeMetrics", "deprecated_scope_metrics"}, [2]string{"metrics", "metrics"}}
	}
	return jsonKeys{[2]string{"resourceSpans", "resource_spans"}, [2]string{"scopeSpans", "scope_spans"},
		[2]string{"deprecatedScopeSpans", "deprecated_scope_spans"}, [2]string{"spans", "spans"}}
}

func is(key string, names [2]string) bool { return key == names[0] || key == names[1] }

// jsonChild is what the member key of a parent object holds.
//
// long: one flat table, called for every member of a request: split per
// level it measured 5% more CPU on BenchmarkScan/JSON.
func jsonChild(sig signal, parent node, key string) jsonMember {
	names := jsonKeysOf(sig)
	switch parent {
	case nodeRequest:
		if is(key, names.resources) {
			return jsonMember{n: nodeResource, list: true}
		}
	case nodeResource:
		switch {
		case key == "resource":
			return jsonMember{n: nodeResourceMsg}
		case is(key, names.scopes):
			return jsonMember{n: nodeScope, list: true}
		case is(key, names.deprecatedScopes):
			return jsonMember{n: nodeScope, list: true, deprecated: true}
		}
	case nodeScope:
		switch {
		case key == "scope":
			return jsonMember{n: nodeScopeMsg}
		case is(key, names.items):
			return jsonMember{n: nodeItem, list: true}
		}
	case nodeItem:
		switch {
		case sig == signalMetrics:
			return jsonMetricChild(key)
		case key == "attributes":
			return jsonMember{n: nodeKeyValue, list: true}
		case sig == signalLogs && key == "body":
			return jsonMember{n: nodeAnyValue}
		case sig == signalTraces && key == "events":
			return jsonMember{n: nodeEvent, list: true}
		case sig == signalTraces && key == "links":
			return jsonMember{n: nodeLink, list: true}
		}
	case nodeEvent, nodeLink, nodeResourceMsg, nodeScopeMsg, nodeNumberPoint, nodeHistogramPoint, nodeExpHistogramPoint, nodeSummaryPoint:
		switch {
		case key == "attributes":
			return jsonMember{n: nodeKeyValue, list: true}
		case key == "exemplars" && parent >= nodeNumberPoint:
			return jsonMember{n: nodeExemplar, list: true}
		}
	case nodeExemplar:
		if key == "filteredAttributes" || key == "filtered_attributes" {
			return jsonMember{n: nodeKeyValue, list: true}
		}
	case nodeNumberData, nodeHistogramData, nodeExpHistogramData, nodeSummaryData:
		if key == "dataPoints" || key == "data_points" {
			return jsonMember{n: parent + (nodeNumberPoint - nodeNumberData), list: true}
		}
	case nodeKeyValue:
		if key == "value" {
			return jsonMember{n: nodeAnyValue}
		}
	case nodeAnyValue:
		switch key {
		case "arrayValue", "array_value":
			return jsonMember{n: nodeArray}
		case "kvlistValue", "kvlist_value":
			return jsonMember{n: nodeKVList}
		}
	case nodeArray:
		if key == "values" {
			return jsonMember{n: nodeAnyValue, list: true}
		}
	case nodeKVList:
		if key == "values" {
			return jsonMember{n: nodeKeyValue, list: true}
		}
	}
	return jsonMember{}
}

// jsonMetricChild is what a member of a Metric object holds.
func jsonMetricChild(key string) jsonMember {
	switch key {
	case "gauge", "sum":
		return jsonMember{n: nodeNumberData}
	case "histogram":
		return jsonMember{n: nodeHistogramData}
	case "exponentialHistogram", "exponential_histogram":
		return jsonMember{n: nodeExpHistogramData}
	case "summary":
		return jsonMember{n: nodeSummaryData}
	case "metadata":
		return jsonMember{n: nodeKeyValue, list: true}
	}
	return jsonMember{}
}

// jsonFrame is an object or array being scanned.
type jsonFrame struct {
	n          node // the object's node; for an array, its elements'
	array      bool
	deprecated bool // an array of deprecated scopes
	start      int
	count      int // members or elements so far
	depth      int // ArrayValue and KeyValueList levels down to here
	member     int // objects: where the current member's key starts
	head       bool
}

type jsonScan struct {
	sig   signal
	b     []byte
	pos   int
	l     *layout
	stack []jsonFrame
	item  int // index of the item's frame in stack, -1 outside items
}

// errJSONSyntax marks a body that is not JSON.
var errJSONSyntax = errors.New("invalid JSON")

// scanJSON walks an OTLP/JSON export request with an explicit stack, as
// scanProto does the protobuf form: it records the layout and checks that
// no value nests deeper than MaxValueDepth and nothing at all deeper than
// MaxJSONDepth. A too deep item is rejected alone (the rest of it is
// skipped by counting brackets); a syntax error anywhere, or too deep a
// value outside items, is an error for the request. What the scan does not
// enter (unknown members, scalars) pdata decodes and judges later.
func scanJSON(sig signal, body []byte) (*layout, error) {
	s := &jsonScan{sig: sig, b: body, l: &layout{sig: sig, enc: encJSON, body: body}, item: -1}
	s.pos = skipSpace(body, 0)
	if s.pos >= len(body) || body[s.pos] != '{' {
		return nil, fmt.Errorf("%w: the body is not a JSON object", errJSONSyntax)
	}
	if err := s.open(nodeRequest, false, false, 0); err != nil {
		return nil, err
	}
	for len(s.stack) > 0 {
		if err := s.step(); err != nil {
			return nil, err
		}
	}
	return s.l, nil
}

func (s *jsonScan) syntax(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", errJSONSyntax, s.pos, fmt.Sprintf(format, args...))
}

// step reads the next member or element of the innermost open container.
func (s *jsonScan) step() error {
	f := &s.stack[len(s.stack)-1]
	s.pos = skipSpace(s.b, s.pos)
	if s.pos >= len(s.b) {
		return s.syntax("unexpected end of body")
	}
	closing := byte('}')
	if f.array {
		closing = ']'
	}
	if s.b[s.pos] == closing {
		start := f.start
		s.pos++
		s.stack = s.stack[:len(s.stack)-1]
		if len(s.stack) == s.item {
			s.l.lastItem().end = s.pos
			s.item = -1
		}
		s.done(start, s.pos)
		return nil
	}
	if f.count > 0 {
		if s.b[s.pos] != ',' {
			return s.syntax("want %q or %q, got %q", ',', closing, s.b[s.pos])
		}
		s.pos = skipSpace(s.b, s.pos+1)
	}
	f.count++
	if f.array {
		return s.value(jsonMember{n: f.n, deprecated: f.deprecated}, f.depth)
	}
	f.member = s.pos
	key, err := s.key()
	if err != nil {
		return err
	}
	s.pos = skipSpace(s.b, s.pos)
	if s.pos >= len(s.b) || s.b[s.pos] != ':' {
		return s.syntax("want ':' after a member name")
	}
	s.pos = skipSpace(s.b, s.pos+1)
	m := jsonChild(s.sig, f.n, key)
	f.head = f.n == nodeResource && m.n != nodeScope || f.n == nodeScope && m.n != nodeItem
	return s.value(m, f.depth)
}

// value starts reading a value that holds m, at s.pos.
func (s *jsonScan) value(m jsonMember, depth int) error {
	if s.pos >= len(s.b) {
		return s.syntax("unexpected end of body")
	}
	structural := m.list && (m.n == nodeResource || m.n == nodeScope || m.n == nodeItem)
	switch c := s.b[s.pos]; c {
	case '{':
		if structural {
			return s.syntax("a list of %ss is an object, want an array", m.n.noun())
		}
		n := m.n
		if m.list {
			n = nodeOther // pdata will refuse it; nothing to look into
		}
		return s.open(n, false, m.deprecated, depth)
	case '[':
		n := nodeOther
		if m.list {
			n = m.n
		}
		return s.open(n, true, m.deprecated, depth)
	}
	start := s.pos
	end, err := s.scalar()
	if err != nil {
		return err
	}
	s.pos = end
	parent := &s.stack[len(s.stack)-1]
	switch {
	case parent.array && parent.n == nodeItem:
		sc := s.l.lastScope()
		sc.items = append(sc.items, itemLayout{byteRange: byteRange{start, end}})
	case structural && !bytes.Equal(s.b[start:end], []byte("null")),
		parent.array && (parent.n == nodeResource || parent.n == nodeScope) && !bytes.Equal(s.b[start:end], []byte("null")):
		return s.syntax("a %s is %s, want an object", m.n.noun(), s.b[start:end])
	}
	s.done(start, end)
	return nil
}

func (n node) noun() string {
	switch n {
	case nodeResource:
		return "resource"
	case nodeScope:
		return "scope"
	}
	return "item"
}

// open enters an object or array at s.pos.
func (s *jsonScan) open(n node, array, deprecated bool, depth int) error {
	if !array && n.nests() {
		depth++
	}
	if len(s.stack) >= MaxJSONDepth || depth > MaxValueDepth {
		return s.tooDeep(depth > MaxValueDepth)
	}
	if !array {
		switch n {
		case nodeResource:
			s.l.resources = append(s.l.resources, resourceLayout{})
		case nodeScope:
			r := &s.l.resources[len(s.l.resources)-1]
			r.scopes = append(r.scopes, scopeLayout{deprecated: deprecated})
			r.current = r.current || !deprecated
		case nodeItem:
			sc := s.l.lastScope()
			sc.items = append(sc.items, itemLayout{byteRange: byteRange{s.pos, -1}})
			s.item = len(s.stack)
		}
	}
	s.stack = append(s.stack, jsonFrame{n: n, array: array, deprecated: deprecated, start: s.pos, depth: depth})
	s.pos++
	return nil
}

// done records a finished value in its parent: a resource's or scope's
// head member.
func (s *jsonScan) done(start, end int) {
	if len(s.stack) == 0 {
		return
	}
	if p := &s.stack[len(s.stack)-1]; !p.array && p.head {
		s.l.noteHead(p.n, byteRange{p.member, end})
	}
}

// tooDeep rejects the item being read, skipping the rest of it, or fails
// the request outside items.
func (s *jsonScan) tooDeep(value bool) error {
	if s.item < 0 {
		where := "request"
		for i := len(s.stack) - 1; i >= 0 && where == "request"; i-- {
			where = s.stack[i].n.where()
		}
		if value {
			return fmt.Errorf("a %s attribute value nests arrays or maps deeper than %d levels", where, MaxValueDepth)
		}
		return fmt.Errorf("the JSON body nests deeper than %d levels", MaxJSONDepth)
	}
	end, err := skipNested(s.b, s.pos, len(s.stack)-s.item)
	if err != nil {
		s.pos = len(s.b)
		return s.syntax("unexpected end of body")
	}
	it := s.l.lastItem()
	it.end = end
	msg := fmt.Sprintf("a value nests arrays or maps deeper than %d levels", MaxValueDepth)
	if !value {
		msg = fmt.Sprintf("it nests JSON deeper than %d levels", MaxJSONDepth)
	}
	s.l.reject(it, reasonTooDeep, itemName(s.sig)+" "+jsonItemID(s.sig, s.b[it.start:it.end])+": "+msg)
	s.pos = end
	s.stack = s.stack[:s.item]
	s.item = -1
	s.done(it.start, end)
	return nil
}

// key reads a member name.
func (s *jsonScan) key() (string, error) {
	if s.pos >= len(s.b) || s.b[s.pos] != '"' {
		return "", s.syntax("want a member name")
	}
	end, escaped, err := skipString(s.b, s.pos)
	if err != nil {
		return "", s.syntax("%v", err)
	}
	raw := s.b[s.pos:end]
	s.pos = end
	if !escaped {
		return string(raw[1 : len(raw)-1]), nil
	}
	var k string
	if err := json.Unmarshal(raw, &k); err != nil {
		return "", s.syntax("bad member name: %v", err)
	}
	return k, nil
}

// scalar returns the end of the string, number or literal at s.pos.
func (s *jsonScan) scalar() (int, error) {
	if s.b[s.pos] == '"' {
		end, _, err := skipString(s.b, s.pos)
		if err != nil {
			return 0, s.syntax("%v", err)
		}
		return end, nil
	}
	end := s.pos
	for end < len(s.b) && isScalarByte(s.b[end]) {
		end++
	}
	if end == s.pos {
		return 0, s.syntax("unexpected %q", s.b[s.pos])
	}
	return end, nil
}

func isScalarByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '+' || c == '-'
}

func skipSpace(b []byte, pos int) int {
	for pos < len(b) {
		switch b[pos] {
		case ' ', '\t', '\n', '\r':
			pos++
		default:
			return pos
		}
	}
	return pos
}

// skipString returns the end of the string starting at pos (a '"') and
// whether it holds escapes.
func skipString(b []byte, pos int) (int, bool, error) {
	escaped := false
	for i := pos + 1; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i + 1, escaped, nil
		case '\\':
			escaped = true
			i++
		}
	}
	return 0, false, errors.New("unterminated string")
}

// skipNested returns the position after the depth containers open at pos
// close, counting brackets outside strings.
func skipNested(b []byte, pos, depth int) (int, error) {
	for ; pos < len(b); pos++ {
		switch b[pos] {
		case '"':
			end, _, err := skipString(b, pos)
			if err != nil {
				return 0, err
			}
			pos = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return pos + 1, nil
			}
		}
	}
	return 0, errors.New("unexpected end of body")
}

// jsonItemID names a span or log record by the traceId and spanId members
// of its object, a metric by its name, for messages.
func jsonItemID(sig signal, obj []byte) string {
	var tid, sid string
	pos := skipSpace(obj, 0)
	if pos >= len(obj) || obj[pos] != '{' {
		return "/"
	}
	pos++
	for pos < len(obj) && (tid == "" || sid == "") {
		pos = skipSpace(obj, pos)
		if pos >= len(obj) || obj[pos] != '"' {
			break
		}
		end, _, err := skipString(obj, pos)
		if err != nil {
			break
		}
		key := string(obj[pos+1 : end-1])
		pos = skipSpace(obj, end)
		if pos >= len(obj) || obj[pos] != ':' {
			break
		}
		pos = skipSpace(obj, pos+1)
		if pos >= len(obj) {
			break
		}
		vstart := pos
		switch obj[pos] {
		case '{', '[':
			pos, err = skipNested(obj, pos, 0)
		case '"':
			pos, _, err = skipString(obj, pos)
		default:
			for pos < len(obj) && isScalarByte(obj[pos]) {
				pos++
			}
		}
		if err != nil {
			break
		}
		if pos-vstart >= 2 && obj[vstart] == '"' {
			v := string(obj[vstart+1 : pos-1])
			switch key {
			case "traceId", "trace_id":
				tid = v
			case "spanId", "span_id":
				sid = v
			case "name":
				if sig == signalMetrics {
					return strconv.Quote(clip(v))
				}
			}
		}
		pos = skipSpace(obj, pos)
		if pos >= len(obj) || obj[pos] != ',' {
			break
		}
		pos++
	}
	return clip(tid) + "/" + clip(sid)
}
