package export

import (
	"bytes"

	"github.com/weavetrace/weave/semconv"
)

// A spool record is a JSON array of spans in spans.Span's form, each
// object starting {"trace_id":"<32 hex>","span_id":"<16 hex>",... and
// carrying its session in the attributes. A damaged record fails its CRC
// and is skipped whole, but most of its bytes are usually intact: enough
// to tell which spans it held and of which sessions, so they can be
// rebuilt (never to send them: a span that parses could still carry a
// flipped byte).

var (
	spanStart  = []byte(`{"trace_id":"`)
	spanIDKey  = []byte(`","span_id":"`)
	sessionKey = []byte(`"` + semconv.KeySessionID + `":"`)
)

// maxSessionID bounds a session id read from damaged bytes.
const maxSessionID = 256

// ScanDamaged returns the spans whose JSON is recognisable in b, the bytes
// of a damaged spool region, in order, each once. A field the damage
// reached is left empty; the session of each trace is the one most of its
// spans name (so a span whose session id lost a byte, or all of it, gets
// its trace's).
func ScanDamaged(b []byte) []SpanRef {
	var refs []SpanRef
	seen := map[SpanRef]bool{}
	for i := bytes.Index(b, spanStart); i >= 0; {
		obj := b[i:]
		next := bytes.Index(obj[len(spanStart):], spanStart)
		if next >= 0 {
			obj = obj[:len(spanStart)+next]
		}
		var r SpanRef
		rest := obj[len(spanStart):]
		if len(rest) >= 32 && isHex(rest[:32]) {
			r.TraceID = string(rest[:32])
			if after, ok := bytes.CutPrefix(rest[32:], spanIDKey); ok && len(after) >= 17 && isHex(after[:16]) && after[16] == '"' {
				r.SpanID = string(after[:16])
			}
		}
		if j := bytes.Index(obj, sessionKey); j >= 0 {
			v := obj[j+len(sessionKey):]
			if k := bytes.IndexByte(v, '"'); k > 0 && k <= maxSessionID && plain(v[:k]) {
				r.SessionID = string(v[:k])
			}
		}
		if r != (SpanRef{}) && !seen[r] {
			seen[r] = true
			refs = append(refs, r)
		}
		if next < 0 {
			break
		}
		i += len(spanStart) + next
	}
	// A trace is one turn of one session: its spans agree on the session,
	// unless the damage changed a byte of it in some of them. The most
	// common value wins (the first of equals).
	votes := map[string]map[string]int{}
	best := map[string]string{}
	for _, r := range refs {
		if r.TraceID == "" || r.SessionID == "" {
			continue
		}
		if votes[r.TraceID] == nil {
			votes[r.TraceID] = map[string]int{}
		}
		votes[r.TraceID][r.SessionID]++
		if b, ok := best[r.TraceID]; !ok || votes[r.TraceID][r.SessionID] > votes[r.TraceID][b] {
			best[r.TraceID] = r.SessionID
		}
	}
	out := refs[:0]
	seen = map[SpanRef]bool{}
	for _, r := range refs {
		if b := best[r.TraceID]; b != "" {
			r.SessionID = b
		}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// plain: printable ASCII without escapes, as Claude Code's session ids are.
func plain(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// spanKeys are the keys every span object has once and nothing else has
// (events have only name, time and attributes; attribute keys are dotted).
var spanKeys = [][]byte{[]byte(`"trace_id":"`), []byte(`"span_id":"`), []byte(`"parent_span_id":"`),
	[]byte(`"kind":"`), []byte(`"start_time":"`), []byte(`"end_time":`), []byte(`"status_code":"`), []byte(`"status_message":"`)}

// CountSpans counts the spans in spool record bytes without decoding them,
// intact or damaged: the most occurrences of any key each span has once,
// so flipped bytes that erase a span's id still leave it counted.
func CountSpans(b []byte) int {
	n := 0
	for _, k := range spanKeys {
		n = max(n, bytes.Count(b, k))
	}
	return n
}
