package normalize

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/internal/jsonstr"
)

// rawSpanJSON encodes one span in OTLP/JSON (an element of
// scopeSpans[].spans: hex IDs, int64 as strings, enums as numbers), the
// form model.Span.RawSpan keeps and Renormalize reads back.
func rawSpanJSON(sp ptrace.Span) json.RawMessage {
	b := make([]byte, 0, 512)
	b = append(b, `{"traceId":`...)
	tid := sp.TraceID()
	b = appendHexID(b, tid[:])
	b = append(b, `,"spanId":`...)
	sid := sp.SpanID()
	b = appendHexID(b, sid[:])
	if ts := sp.TraceState().AsRaw(); ts != "" {
		b = append(b, `,"traceState":`...)
		b = jsonstr.Append(b, ts)
	}
	if p := sp.ParentSpanID(); !p.IsEmpty() {
		b = append(b, `,"parentSpanId":`...)
		b = appendHexID(b, p[:])
	}
	b = appendCount(b, `,"flags":`, uint64(sp.Flags()))
	b = append(b, `,"name":`...)
	b = jsonstr.Append(b, sp.Name())
	b = append(b, `,"kind":`...)
	b = strconv.AppendInt(b, int64(sp.Kind()), 10)
	b = append(b, `,"startTimeUnixNano":"`...)
	b = strconv.AppendUint(b, uint64(sp.StartTimestamp()), 10)
	b = append(b, `","endTimeUnixNano":"`...)
	b = strconv.AppendUint(b, uint64(sp.EndTimestamp()), 10)
	b = append(b, '"')
	b = appendAttributes(b, sp.Attributes(), sp.DroppedAttributesCount())
	b = appendEventsJSON(b, sp.Events())
	b = appendCount(b, `,"droppedEventsCount":`, uint64(sp.DroppedEventsCount()))
	b = appendLinksJSON(b, sp.Links())
	b = appendCount(b, `,"droppedLinksCount":`, uint64(sp.DroppedLinksCount()))
	b = appendStatusJSON(b, sp.Status())
	return append(b, '}')
}

// appendCount appends the member key (with its leading comma) and n,
// unless n is 0.
func appendCount(b []byte, key string, n uint64) []byte {
	if n == 0 {
		return b
	}
	b = append(b, key...)
	return strconv.AppendUint(b, n, 10)
}

// appendAttributes appends the attributes and droppedAttributesCount
// members of a span, event or link, each when not empty.
func appendAttributes(b []byte, attrs pcommon.Map, dropped uint32) []byte {
	if attrs.Len() > 0 {
		b = append(b, `,"attributes":`...)
		b = appendKVList(b, attrs)
	}
	return appendCount(b, `,"droppedAttributesCount":`, uint64(dropped))
}

// appendEventsJSON appends a span's events member. Events marked as
// log-derived (weave's export carries the events that arrived as OTLP log
// records inside their span) are kept out: they are the span's log events
// again, not part of the span as sent.
func appendEventsJSON(b []byte, evs ptrace.SpanEventSlice) []byte {
	if evs.Len() <= countLogEvents(evs) {
		return b
	}
	b = append(b, `,"events":[`...)
	first := true
	for _, e := range evs.All() {
		if isLogEvent(e) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"timeUnixNano":"`...)
		b = strconv.AppendUint(b, uint64(e.Timestamp()), 10)
		b = append(b, `","name":`...)
		b = jsonstr.Append(b, e.Name())
		b = appendAttributes(b, e.Attributes(), e.DroppedAttributesCount())
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendLinksJSON appends a span's links member, when it has links.
func appendLinksJSON(b []byte, links ptrace.SpanLinkSlice) []byte {
	if links.Len() == 0 {
		return b
	}
	b = append(b, `,"links":[`...)
	for i, l := range links.All() {
		if i > 0 {
			b = append(b, ',')
		}
		lt, ls := l.TraceID(), l.SpanID()
		b = append(b, `{"traceId":`...)
		b = appendHexID(b, lt[:])
		b = append(b, `,"spanId":`...)
		b = appendHexID(b, ls[:])
		if ts := l.TraceState().AsRaw(); ts != "" {
			b = append(b, `,"traceState":`...)
			b = jsonstr.Append(b, ts)
		}
		b = appendAttributes(b, l.Attributes(), l.DroppedAttributesCount())
		b = appendCount(b, `,"flags":`, uint64(l.Flags()))
		b = append(b, '}')
	}
	return append(b, ']')
}

// appendStatusJSON appends a span's status member (always there, maybe
// empty).
func appendStatusJSON(b []byte, st ptrace.Status) []byte {
	b = append(b, `,"status":{`...)
	comma := false
	if m := st.Message(); m != "" {
		b = append(b, `"message":`...)
		b = jsonstr.Append(b, m)
		comma = true
	}
	if code := st.Code(); code != 0 {
		if comma {
			b = append(b, ',')
		}
		b = append(b, `"code":`...)
		b = strconv.AppendInt(b, int64(code), 10)
	}
	return append(b, '}')
}

func appendHexID(b, id []byte) []byte {
	b = append(b, '"')
	b = hex.AppendEncode(b, id)
	return append(b, '"')
}

func appendKVList(b []byte, m pcommon.Map) []byte {
	b = append(b, '[')
	i := 0
	for k, v := range m.All() {
		if i > 0 {
			b = append(b, ',')
		}
		i++
		b = append(b, `{"key":`...)
		b = jsonstr.Append(b, k)
		b = append(b, `,"value":`...)
		b = appendAnyValue(b, v)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendAnyValue(b []byte, v pcommon.Value) []byte {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		b = append(b, `{"stringValue":`...)
		b = jsonstr.Append(b, v.Str())
	case pcommon.ValueTypeBool:
		b = append(b, `{"boolValue":`...)
		b = strconv.AppendBool(b, v.Bool())
	case pcommon.ValueTypeInt:
		b = append(b, `{"intValue":"`...)
		b = strconv.AppendInt(b, v.Int(), 10)
		b = append(b, '"')
	case pcommon.ValueTypeDouble:
		b = append(b, `{"doubleValue":`...)
		f := v.Double()
		switch {
		case math.IsNaN(f):
			b = append(b, `"NaN"`...)
		case math.IsInf(f, 1):
			b = append(b, `"Infinity"`...)
		case math.IsInf(f, -1):
			b = append(b, `"-Infinity"`...)
		default:
			b = strconv.AppendFloat(b, f, 'g', -1, 64)
		}
	case pcommon.ValueTypeBytes:
		b = append(b, `{"bytesValue":"`...)
		b = base64.StdEncoding.AppendEncode(b, v.Bytes().AsRaw())
		b = append(b, '"')
	case pcommon.ValueTypeSlice:
		b = append(b, `{"arrayValue":{"values":[`...)
		for i, e := range v.Slice().All() {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendAnyValue(b, e)
		}
		b = append(b, "]}"...)
	case pcommon.ValueTypeMap:
		b = append(b, `{"kvlistValue":{"values":`...)
		b = appendKVList(b, v.Map())
		b = append(b, '}')
	default:
		return append(b, "{}"...)
	}
	return append(b, '}')
}

// isLogEvent reports a span event marked as built from an OTLP log record
// (EventSourceKey).
func isLogEvent(e ptrace.SpanEvent) bool {
	v, ok := e.Attributes().Get(EventSourceKey)
	return ok && v.AsString() == EventSourceLog
}

func countLogEvents(evs ptrace.SpanEventSlice) int {
	n := 0
	for _, e := range evs.All() {
		if isLogEvent(e) {
			n++
		}
	}
	return n
}
