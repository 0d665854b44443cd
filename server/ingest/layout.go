package ingest

import "encoding/binary"

// MaxValueDepth is how deeply an attribute value or a log body may nest
// arrays and maps (OTLP ArrayValue and KeyValueList): a scalar is depth 0,
// a list of scalars depth 1, a list of lists depth 2. A span or log record
// with a deeper value is rejected alone (partial success, reason
// value_too_deep); a deeper value in resource or scope attributes makes the
// whole request a 400. The bound is checked on the wire before anything is
// decoded, so a hostile value costs a scan, never the decoder's recursion.
const MaxValueDepth = 128

// MaxJSONDepth bounds how deeply an OTLP/JSON body may nest objects and
// arrays anywhere: what MaxValueDepth allows at its deepest (a map level
// is four JSON levels) with room to spare. Deeper nesting inside a span or
// log record rejects that item; elsewhere the request.
const MaxJSONDepth = 4*MaxValueDepth + 32

// A layout is where an export request's resources, scopes and items
// (spans or log records) lie in its body, found by a scan (scanProto,
// scanJSON) that also checks nesting depth. It lets a request be decoded,
// normalized and written a chunk of items at a time: each chunk is
// re-encoded as a request of its own from byte ranges of the body.
type layout struct {
	sig       signal
	enc       encoding
	body      []byte
	resources []resourceLayout
	// problems counts the items the scan rejected, by reason; firstProblem
	// describes the first of them.
	problems     map[string]int
	firstProblem string
}

// byteRange is [start, end) in the body.
type byteRange struct{ start, end int }

type resourceLayout struct {
	// head holds the fields (protobuf: tag and value; JSON: "key":value
	// members) other than the scope lists, in body order.
	head   []byteRange
	scopes []scopeLayout
	// current is set when the resource has a scope_spans / scope_logs list:
	// its deprecated lists are then ignored, as pdata does.
	current bool
}

type scopeLayout struct {
	head       []byteRange // fields other than the item list
	deprecated bool        // from deprecated_scope_spans / deprecated_scope_logs
	items      []itemLayout
}

// itemLayout is one span or log record: its encoded message (protobuf:
// the value without tag and length; JSON: the object).
type itemLayout struct {
	byteRange
	rejected bool
}

// Reasons the scan or the chunk decoder rejects an item for.
const (
	reasonTooDeep     = "value_too_deep"
	reasonUndecodable = "undecodable"
)

func (l *layout) reject(it *itemLayout, reason, detail string) {
	it.rejected = true
	if l.problems == nil {
		l.problems = map[string]int{}
	}
	l.problems[reason]++
	if l.firstProblem == "" {
		l.firstProblem = detail
	}
}

// problemCount is how many items the scan and the chunk decoder rejected.
func (l *layout) problemCount() int64 {
	var n int64
	for _, c := range l.problems {
		n += int64(c)
	}
	return n
}

// effectiveScopes are the scopes pdata would keep: the current lists, or
// the deprecated ones when there are none.
func (r *resourceLayout) effectiveScopes() []int {
	var out []int
	for i, s := range r.scopes {
		if s.deprecated != r.current {
			out = append(out, i)
		}
	}
	return out
}

// hasItems reports whether any effective scope of r has an item not
// rejected.
func (l *layout) hasItems(res int) bool {
	r := &l.resources[res]
	for _, s := range r.effectiveScopes() {
		for _, it := range r.scopes[s].items {
			if !it.rejected {
				return true
			}
		}
	}
	return false
}

// itemCount counts the items of the effective scopes, rejected or not.
func (l *layout) itemCount() int {
	n := 0
	for i := range l.resources {
		r := &l.resources[i]
		for _, s := range r.effectiveScopes() {
			n += len(r.scopes[s].items)
		}
	}
	return n
}

// piece is items [lo, hi) of one scope of one resource; scope -1 is the
// resource alone.
type piece struct{ res, scope, lo, hi int }

// chunks splits the accepted items into groups of at most maxItems items
// and about maxBytes encoded bytes (an item larger than that is a group of
// its own), in body order.
func (l *layout) chunks(maxItems, maxBytes int) [][]piece {
	var out [][]piece
	var cur []piece
	n, size := 0, 0
	for ri := range l.resources {
		r := &l.resources[ri]
		for _, si := range r.effectiveScopes() {
			items := r.scopes[si].items
			lo, k := 0, 0 // the current piece starts at lo and holds k items
			for i, it := range items {
				if it.rejected {
					continue
				}
				sz := it.end - it.start
				if n > 0 && (n >= maxItems || size+sz > maxBytes) {
					if k > 0 {
						cur = append(cur, piece{ri, si, lo, i})
					}
					out = append(out, cur)
					cur, n, size, lo, k = nil, 0, 0, i, 0
				}
				n++
				k++
				size += sz
			}
			if k > 0 {
				cur = append(cur, piece{ri, si, lo, len(items)})
			}
		}
	}
	if n > 0 {
		out = append(out, cur)
	}
	return out
}

// Field names of the request levels, per signal.
func (l *layout) names() (resources, scopes, items string) {
	switch l.sig {
	case signalLogs:
		return "resourceLogs", "scopeLogs", "logRecords"
	case signalMetrics:
		return "resourceMetrics", "scopeMetrics", "metrics"
	}
	return "resourceSpans", "scopeSpans", "spans"
}

// encode renders pieces (in body order) as one export request in the
// layout's encoding, leaving out rejected items. Consecutive pieces of one
// resource share its ResourceSpans / ResourceLogs.
func (l *layout) encode(pieces []piece) []byte {
	if l.enc == encJSON {
		return l.encodeJSON(pieces)
	}
	return l.encodeProto(pieces)
}

// groups calls f for each run of pieces of the same resource.
func groups(pieces []piece, f func(res int, run []piece)) {
	for i := 0; i < len(pieces); {
		j := i + 1
		for j < len(pieces) && pieces[j].res == pieces[i].res {
			j++
		}
		f(pieces[i].res, pieces[i:j])
		i = j
	}
}

const (
	tagField1Len = 1<<3 | 2 // ExportRequest.resource_*
	tagField2Len = 2<<3 | 2 // Resource*.scope_*, Scope*.items
)

func rangesLen(rs []byteRange) int {
	n := 0
	for _, r := range rs {
		n += r.end - r.start
	}
	return n
}

func lenField(n int) int { return 1 + uvarintLen(uint64(n)) + n }

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (l *layout) scopeProtoLen(p piece) int {
	s := &l.resources[p.res].scopes[p.scope]
	n := rangesLen(s.head)
	for _, it := range s.items[p.lo:p.hi] {
		if !it.rejected {
			n += lenField(it.end - it.start)
		}
	}
	return n
}

func (l *layout) encodeProto(pieces []piece) []byte {
	// Sizes first: protobuf writes each message's length before it.
	total := 0
	groups(pieces, func(res int, run []piece) {
		total += lenField(l.resourceProtoLen(res, run))
	})
	b := make([]byte, 0, total)
	groups(pieces, func(res int, run []piece) {
		r := &l.resources[res]
		b = append(b, tagField1Len)
		b = binary.AppendUvarint(b, uint64(l.resourceProtoLen(res, run)))
		b = l.appendRanges(b, r.head)
		for _, p := range run {
			if p.scope < 0 {
				continue
			}
			s := &r.scopes[p.scope]
			b = append(b, tagField2Len)
			b = binary.AppendUvarint(b, uint64(l.scopeProtoLen(p)))
			b = l.appendRanges(b, s.head)
			for _, it := range s.items[p.lo:p.hi] {
				if it.rejected {
					continue
				}
				b = append(b, tagField2Len)
				b = binary.AppendUvarint(b, uint64(it.end-it.start))
				b = append(b, l.body[it.start:it.end]...)
			}
		}
	})
	return b
}

func (l *layout) resourceProtoLen(res int, run []piece) int {
	n := rangesLen(l.resources[res].head)
	for _, p := range run {
		if p.scope >= 0 {
			n += lenField(l.scopeProtoLen(p))
		}
	}
	return n
}

func (l *layout) appendRanges(b []byte, rs []byteRange) []byte {
	for _, r := range rs {
		b = append(b, l.body[r.start:r.end]...)
	}
	return b
}

// appendMembers appends JSON members separated by commas.
func (l *layout) appendMembers(b []byte, rs []byteRange) []byte {
	for i, r := range rs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l.body[r.start:r.end]...)
	}
	return b
}

func (l *layout) encodeJSON(pieces []piece) []byte {
	resKey, scopeKey, itemKey := l.names()
	b := make([]byte, 0, 64)
	b = append(b, `{"`+resKey+`":[`...)
	nres := 0
	groups(pieces, func(res int, run []piece) {
		r := &l.resources[res]
		b = l.appendListObject(b, nres, r.head, scopeKey)
		nres++
		nscopes := 0
		for _, p := range run {
			if p.scope < 0 {
				continue
			}
			s := &r.scopes[p.scope]
			b = l.appendListObject(b, nscopes, s.head, itemKey)
			nscopes++
			nitems := 0
			for _, it := range s.items[p.lo:p.hi] {
				if it.rejected {
					continue
				}
				if nitems > 0 {
					b = append(b, ',')
				}
				nitems++
				b = append(b, l.body[it.start:it.end]...)
			}
			b = append(b, "]}"...)
		}
		b = append(b, "]}"...)
	})
	return append(b, "]}"...)
}

// appendListObject opens the i-th object of a list: its head members,
// then its list named key, left open.
func (l *layout) appendListObject(b []byte, i int, head []byteRange, key string) []byte {
	if i > 0 {
		b = append(b, ',')
	}
	b = append(b, '{')
	b = l.appendMembers(b, head)
	if len(head) > 0 {
		b = append(b, ',')
	}
	b = append(b, '"')
	b = append(b, key...)
	return append(b, `":[`...)
}

// scanRequest finds the layout of an export request and checks its
// nesting depth.
func scanRequest(sig signal, enc encoding, body []byte) (*layout, error) {
	if enc == encJSON {
		return scanJSON(sig, body)
	}
	return scanProto(sig, body)
}

// node is what a protobuf field or JSON member holds, as far as the scan
// cares: the levels of the request and every message that can hold an
// AnyValue. Everything else is nodeOther and skipped.
type node uint8

const (
	nodeOther       node = iota
	nodeRequest          // ExportTraceServiceRequest, ExportLogsServiceRequest
	nodeResource         // ResourceSpans, ResourceLogs
	nodeScope            // ScopeSpans, ScopeLogs
	nodeItem             // Span, LogRecord
	nodeEvent            // Span.Event
	nodeLink             // Span.Link
	nodeResourceMsg      // Resource
	nodeScopeMsg         // InstrumentationScope
	nodeKeyValue
	nodeAnyValue
	nodeArray  // ArrayValue
	nodeKVList // KeyValueList

	// Metrics: a Metric's data and their points, in the same order (a
	// point's node is its data's plus nodeNumberPoint - nodeNumberData).
	nodeNumberData        // Gauge, Sum
	nodeHistogramData     // Histogram
	nodeExpHistogramData  // ExponentialHistogram
	nodeSummaryData       // Summary
	nodeNumberPoint       // NumberDataPoint
	nodeHistogramPoint    // HistogramDataPoint
	nodeExpHistogramPoint // ExponentialHistogramDataPoint
	nodeSummaryPoint      // SummaryDataPoint
	nodeExemplar          // Exemplar
)

func (n node) nests() bool { return n == nodeArray || n == nodeKVList }

// where names the part of a request a node lies in, for error messages.
func (n node) where() string {
	switch n {
	case nodeResource, nodeResourceMsg:
		return "resource"
	case nodeScope, nodeScopeMsg:
		return "scope"
	}
	return "request"
}
