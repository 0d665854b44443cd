package ingest

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// protoChild is the node a protobuf field of a parent node holds (the
// OTLP field numbers; ResourceSpans and ResourceLogs, ScopeSpans and
// ScopeLogs number their fields alike). Called for every field of a
// request, it looks the common field numbers up in tab, the request
// signal's protoTable.
func protoChild(sig signal, tab *protoTable, parent node, field uint64) node {
	if field < protoTableFields {
		return tab[parent][field]
	}
	return protoChildOf(sig, parent, field)
}

// protoTableFields bounds the field numbers a protoTable holds: every
// field the scan enters but deprecated_scope_* (1000) is below.
const protoTableFields = 16

// protoTable is protoChildOf of one signal for field numbers below
// protoTableFields.
type protoTable [nodeExemplar + 1][protoTableFields]node

var protoTables = map[signal]*protoTable{
	signalTraces:  newProtoTable(signalTraces),
	signalLogs:    newProtoTable(signalLogs),
	signalMetrics: newProtoTable(signalMetrics),
}

func newProtoTable(sig signal) *protoTable {
	t := new(protoTable)
	for parent := range t {
		for field := range t[parent] {
			t[parent][field] = protoChildOf(sig, node(parent), uint64(field))
		}
	}
	return t
}

// protoChildOf is protoChild by the tables per level.
func protoChildOf(sig signal, parent node, field uint64) node {
	switch parent {
	case nodeRequest, nodeResource, nodeScope, nodeResourceMsg, nodeScopeMsg:
		return protoEnvelopeChild(parent, field)
	case nodeItem:
		return protoItemChild(sig, field)
	case nodeNumberData, nodeHistogramData, nodeExpHistogramData, nodeSummaryData,
		nodeNumberPoint, nodeSummaryPoint, nodeExemplar, nodeHistogramPoint, nodeExpHistogramPoint:
		return protoPointChild(parent, field)
	}
	return protoValueChild(parent, field)
}

// protoEnvelopeChild is the node a field of the request, a resource or a
// scope level holds.
func protoEnvelopeChild(parent node, field uint64) node {
	switch parent {
	case nodeRequest:
		if field == 1 {
			return nodeResource
		}
	case nodeResource:
		switch field {
		case 1:
			return nodeResourceMsg
		case 2, 1000: // scope_*, deprecated_scope_*
			return nodeScope
		}
	case nodeScope:
		switch field {
		case 1:
			return nodeScopeMsg
		case 2:
			return nodeItem
		}
	case nodeResourceMsg:
		if field == 1 {
			return nodeKeyValue
		}
	case nodeScopeMsg:
		if field == 3 {
			return nodeKeyValue
		}
	}
	return nodeOther
}

// protoItemChild is the node a field of a span, log record or metric
// holds.
func protoItemChild(sig signal, field uint64) node {
	switch sig {
	case signalLogs:
		switch field {
		case 5: // body
			return nodeAnyValue
		case 6:
			return nodeKeyValue
		}
		return nodeOther
	case signalMetrics:
		return metricChild(field)
	}
	switch field {
	case 9:
		return nodeKeyValue
	case 11:
		return nodeEvent
	case 13:
		return nodeLink
	}
	return nodeOther
}

// protoValueChild is the node a field of an attribute, a value or a span
// event or link holds.
func protoValueChild(parent node, field uint64) node {
	switch parent {
	case nodeEvent:
		if field == 3 {
			return nodeKeyValue
		}
	case nodeLink:
		if field == 4 {
			return nodeKeyValue
		}
	case nodeKeyValue:
		if field == 2 {
			return nodeAnyValue
		}
	case nodeAnyValue:
		switch field {
		case 5:
			return nodeArray
		case 6:
			return nodeKVList
		}
	case nodeArray:
		if field == 1 {
			return nodeAnyValue
		}
	case nodeKVList:
		if field == 1 {
			return nodeKeyValue
		}
	}
	return nodeOther
}

// protoPointChild is the node a field of a metric's data, data point or
// exemplar holds.
func protoPointChild(parent node, field uint64) node {
	switch parent {
	case nodeNumberData, nodeHistogramData, nodeExpHistogramData, nodeSummaryData:
		if field == 1 { // data_points
			return parent + (nodeNumberPoint - nodeNumberData)
		}
	case nodeNumberPoint, nodeSummaryPoint, nodeExemplar:
		switch {
		case field == 7: // attributes, filtered_attributes
			return nodeKeyValue
		case field == 5 && parent == nodeNumberPoint:
			return nodeExemplar
		}
	case nodeHistogramPoint:
		switch field {
		case 9:
			return nodeKeyValue
		case 8:
			return nodeExemplar
		}
	case nodeExpHistogramPoint:
		switch field {
		case 1:
			return nodeKeyValue
		case 11:
			return nodeExemplar
		}
	}
	return nodeOther
}

// metricChild is the node a field of a Metric holds: its data (gauge and
// sum hold number points) and its metadata attributes.
func metricChild(field uint64) node {
	switch field {
	case 5, 7: // gauge, sum
		return nodeNumberData
	case 9:
		return nodeHistogramData
	case 10:
		return nodeExpHistogramData
	case 11:
		return nodeSummaryData
	case 12: // metadata
		return nodeKeyValue
	}
	return nodeOther
}

// protoFrame is a message being scanned.
type protoFrame struct {
	n     node
	end   int
	depth int // ArrayValue and KeyValueList levels down to this message
}

var errTruncated = errors.New("message truncated")

// scanProto walks an ExportTraceServiceRequest or ExportLogsServiceRequest
// in protobuf wire format without decoding or allocating per value: it
// records the layout and checks that no value nests deeper than
// MaxValueDepth. It keeps an explicit stack (at most a few frames beyond
// MaxValueDepth), skips unknown fields as pdata does (groups included), and
// stops descending into an item as soon as it is rejected, so a body nested
// a million levels deep costs a few microseconds.
//
// A malformed or too deep item (span, log record) is rejected alone:
// protobuf gives its length, so the scan resumes after it. Anything wrong
// outside items is an error for the whole request.
func scanProto(sig signal, body []byte) (*layout, error) {
	l := &layout{sig: sig, enc: encProto, body: body}
	stack := make([]protoFrame, 1, 32)
	stack[0] = protoFrame{n: nodeRequest, end: len(body)}
	tab := protoTables[sig]
	item := -1 // index of the item's frame in stack, -1 outside items
	pos := 0
	// fail rejects the current item, or the request outside items.
	fail := func(reason, msg string) error {
		if item < 0 {
			return errors.New(msg)
		}
		it := l.lastItem()
		l.reject(it, reason, itemName(sig)+" "+protoItemID(sig, body[it.start:it.end])+": "+msg)
		pos = stack[item].end
		stack = stack[:item]
		item = -1
		return nil
	}
	for len(stack) > 0 {
		top := stack[len(stack)-1]
		if pos >= top.end {
			stack = stack[:len(stack)-1]
			if len(stack) == item {
				item = -1
			}
			continue
		}
		tagStart := pos
		tag, p, err := consumeVarint(body, pos, top.end)
		if err != nil {
			if err := fail(reasonUndecodable, fmt.Sprintf("bad field tag at byte %d: %v", pos, err)); err != nil {
				return nil, err
			}
			continue
		}
		field, wire := tag>>3, tag&7
		if field == 0 {
			if err := fail(reasonUndecodable, fmt.Sprintf("field number 0 at byte %d", tagStart)); err != nil {
				return nil, err
			}
			continue
		}
		child := protoChild(sig, tab, top.n, field)
		if child == nodeOther {
			end, err := skipProtoField(body, p, top.end, wire)
			if err != nil {
				if err := fail(reasonUndecodable, fmt.Sprintf("field %d at byte %d: %v", field, tagStart, err)); err != nil {
					return nil, err
				}
				continue
			}
			l.noteHead(top.n, byteRange{tagStart, end})
			pos = end
			continue
		}
		if wire != 2 {
			if err := fail(reasonUndecodable, fmt.Sprintf("field %d at byte %d: wire type %d, want 2 (length-delimited)", field, tagStart, wire)); err != nil {
				return nil, err
			}
			continue
		}
		n, p, err := consumeLength(body, p, top.end)
		if err != nil {
			if err := fail(reasonUndecodable, fmt.Sprintf("field %d at byte %d: %v", field, tagStart, err)); err != nil {
				return nil, err
			}
			continue
		}
		start, end := p, p+int(n)
		depth := top.depth
		if child.nests() {
			depth++
		}
		if depth > MaxValueDepth {
			if err := fail(reasonTooDeep, protoTooDeep(stack, item >= 0)); err != nil {
				return nil, err
			}
			continue
		}
		switch child {
		case nodeResource:
			l.resources = append(l.resources, resourceLayout{})
		case nodeScope:
			r := &l.resources[len(l.resources)-1]
			r.scopes = append(r.scopes, scopeLayout{deprecated: field != 2})
			r.current = r.current || field == 2
		case nodeItem:
			s := l.lastScope()
			s.items = append(s.items, itemLayout{byteRange: byteRange{start, end}})
			item = len(stack)
		default:
			l.noteHead(top.n, byteRange{tagStart, end})
		}
		stack = append(stack, protoFrame{n: child, end: end, depth: depth})
		pos = start
	}
	return l, nil
}

// protoTooDeep says that a value nests too deep, and where when it is not
// in an item.
func protoTooDeep(stack []protoFrame, inItem bool) string {
	if inItem {
		return fmt.Sprintf("a value nests arrays or maps deeper than %d levels", MaxValueDepth)
	}
	where := "request"
	for i := len(stack) - 1; i >= 0 && where == "request"; i-- {
		where = stack[i].n.where()
	}
	return fmt.Sprintf("a %s attribute value nests arrays or maps deeper than %d levels", where, MaxValueDepth)
}

// noteHead records a field of a resource or scope that is not its list of
// scopes or items.
func (l *layout) noteHead(parent node, r byteRange) {
	switch parent {
	case nodeResource:
		res := &l.resources[len(l.resources)-1]
		res.head = append(res.head, r)
	case nodeScope:
		s := l.lastScope()
		s.head = append(s.head, r)
	}
}

func (l *layout) lastScope() *scopeLayout {
	r := &l.resources[len(l.resources)-1]
	return &r.scopes[len(r.scopes)-1]
}

func (l *layout) lastItem() *itemLayout {
	s := l.lastScope()
	return &s.items[len(s.items)-1]
}

func itemName(sig signal) string {
	switch sig {
	case signalLogs:
		return "log record"
	case signalMetrics:
		return "metric"
	}
	return "span"
}

// consumeVarint reads a varint at pos, before end.
func consumeVarint(b []byte, pos, end int) (uint64, int, error) {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if pos >= end {
			return 0, 0, errTruncated
		}
		c := b[pos]
		pos++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v, pos, nil
		}
	}
	return 0, 0, errors.New("varint overflows 64 bits")
}

// consumeLength reads the length of a length-delimited field at pos and
// checks that the field ends by end.
func consumeLength(b []byte, pos, end int) (uint64, int, error) {
	n, p, err := consumeVarint(b, pos, end)
	if err == nil && n > uint64(end-p) {
		err = errTruncated
	}
	return n, p, err
}

// skipProtoField skips a field's value of the given wire type at pos,
// before end; a group is skipped with a counter, not recursion.
func skipProtoField(b []byte, pos, end int, wire uint64) (int, error) {
	groups := 0
	for {
		var err error
		switch wire {
		case 0:
			_, pos, err = consumeVarint(b, pos, end)
		case 1:
			if end-pos < 8 {
				return 0, errTruncated
			}
			pos += 8
		case 2:
			var n uint64
			n, pos, err = consumeVarint(b, pos, end)
			if err == nil && n > uint64(end-pos) {
				err = errTruncated
			}
			if err == nil {
				pos += int(n)
			}
		case 3:
			groups++
		case 4:
			if groups == 0 {
				return 0, errors.New("end of a group that was not started")
			}
			groups--
		case 5:
			if end-pos < 4 {
				return 0, errTruncated
			}
			pos += 4
		default:
			return 0, fmt.Errorf("invalid wire type %d", wire)
		}
		if err != nil {
			return 0, err
		}
		if groups == 0 {
			return pos, nil
		}
		var tag uint64
		tag, pos, err = consumeVarint(b, pos, end)
		if err != nil {
			return 0, err
		}
		wire = tag & 7
	}
}

// protoItemID names a span or log record by its trace and span ids
// (fields 1 and 2 of a Span, 9 and 10 of a LogRecord), a metric by its
// name (field 1), for messages.
func protoItemID(sig signal, b []byte) string {
	tidField, sidField := uint64(1), uint64(2)
	switch sig {
	case signalLogs:
		tidField, sidField = 9, 10
	case signalMetrics:
		tidField, sidField = 1, 0
	}
	var tid, sid []byte
	pos := 0
	for pos < len(b) && (tid == nil || sid == nil && sidField != 0) {
		tag, p, err := consumeVarint(b, pos, len(b))
		if err != nil {
			break
		}
		if tag&7 != 2 {
			if pos, err = skipProtoField(b, p, len(b), tag&7); err != nil {
				break
			}
			continue
		}
		n, p, err := consumeVarint(b, p, len(b))
		if err != nil || n > uint64(len(b)-p) {
			break
		}
		v := b[p : p+int(n)]
		switch {
		case tag>>3 == tidField && tid == nil:
			tid = v
		case tag>>3 == sidField && sid == nil:
			sid = v
		}
		pos = p + int(n)
	}
	if sig == signalMetrics {
		return strconv.Quote(clip(strings.ToValidUTF8(string(tid), "?")))
	}
	return clip(hex.EncodeToString(tid)) + "/" + clip(hex.EncodeToString(sid))
}

// clip shortens an id taken from a rejected item for a message.
func clip(s string) string {
	const maxID = 64
	if len(s) > maxID {
		return s[:maxID] + "…"
	}
	return s
}
