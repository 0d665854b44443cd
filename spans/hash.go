package spans

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"math"
	"slices"
	"time"
)

// hashSeed is fixed per process: hashes are compared within one process
// only (the live daemon's "already exported" check).
var hashSeed = maphash.MakeSeed()

// Hash is a digest of everything the span would export: ids, name, kind,
// times, status, attributes and events. Equal spans hash equally; the
// daemon uses it to send a span again only when it changed. It costs a
// small fraction of encoding the span.
func (s *Span) Hash() uint64 {
	var h maphash.Hash
	h.SetSeed(hashSeed)
	h.Write(s.TraceID[:])
	h.Write(s.SpanID[:])
	h.Write(s.ParentSpanID[:])
	str(&h, s.Name)
	str(&h, string(s.Kind))
	tm(&h, s.Start)
	tm(&h, s.End)
	str(&h, string(s.StatusCode))
	str(&h, s.StatusMessage)
	attrs(&h, s.Attributes)
	num(&h, uint64(len(s.Events)))
	for i := range s.Events {
		e := &s.Events[i]
		str(&h, e.Name)
		tm(&h, e.Time)
		attrs(&h, e.Attributes)
	}
	return h.Sum64()
}

func num(h *maphash.Hash, v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	h.Write(b[:])
}

// str writes s with its length, so that field boundaries count.
func str(h *maphash.Hash, s string) {
	num(h, uint64(len(s)))
	h.WriteString(s)
}

func tm(h *maphash.Hash, t time.Time) {
	if t.IsZero() {
		num(h, 0)
		return
	}
	num(h, 1)
	num(h, uint64(t.UnixNano()))
}

func attrs(h *maphash.Hash, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	num(h, uint64(len(keys)))
	for _, k := range keys {
		str(h, k)
		switch v := m[k].(type) {
		case string:
			h.WriteByte('s')
			str(h, v)
		case int64:
			h.WriteByte('i')
			num(h, uint64(v))
		case int:
			h.WriteByte('i')
			num(h, uint64(v))
		case float64:
			h.WriteByte('f')
			num(h, math.Float64bits(v))
		case bool:
			h.WriteByte('b')
			if v {
				h.WriteByte(1)
			} else {
				h.WriteByte(0)
			}
		case []string:
			h.WriteByte('l')
			num(h, uint64(len(v)))
			for _, x := range v {
				str(h, x)
			}
		default: // not set by this package; hash its JSON
			h.WriteByte('j')
			b, err := json.Marshal(v)
			if err != nil {
				b = fmt.Appendf(nil, "%#v", v)
			}
			str(h, string(b))
		}
	}
}
