package spans

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/weavetrace/weave/spanid"
)

// Span is one span as weave-agentd builds it: chosen (deterministic) IDs,
// back-dated times, and an end time that is zero while the span is still
// running (an in-progress copy exported at start). It is the unit the daemon
// exports and `weave-agentd import --dry-run --json` prints.
type Span struct {
	TraceID       spanid.TraceID
	SpanID        spanid.SpanID
	ParentSpanID  spanid.SpanID // zero for a root
	Name          string
	Kind          Kind
	Start         time.Time
	End           time.Time // zero: still running
	StatusCode    Status
	StatusMessage string
	// Attributes hold string, int64, float64, bool or []string values.
	Attributes map[string]any
	Events     []Event
}

// Event is a span event.
type Event struct {
	Name       string
	Time       time.Time
	Attributes map[string]any
}

// Kind is the span kind.
type Kind string

// Span kinds used by weave.
const (
	KindInternal Kind = "INTERNAL"
	KindClient   Kind = "CLIENT"
)

// Status is the span status code.
type Status string

// Status codes.
const (
	StatusUnset Status = "UNSET"
	StatusOK    Status = "OK"
	StatusError Status = "ERROR"
)

// IsRunning reports whether the span has no end time yet.
func (s *Span) IsRunning() bool { return s.End.IsZero() }

// SetAttr sets an attribute, allocating the map if needed. Empty strings and
// nil values are not stored: an absent attribute and an empty one mean the
// same thing to every consumer, and leaving them out keeps spans small.
func (s *Span) SetAttr(key string, v any) {
	switch x := v.(type) {
	case nil:
		return
	case string:
		if x == "" {
			return
		}
	case int:
		v = int64(x)
	case []string:
		if len(x) == 0 {
			return
		}
	}
	if s.Attributes == nil {
		s.Attributes = make(map[string]any)
	}
	s.Attributes[key] = v
}

// Attr returns an attribute value, or nil.
func (s *Span) Attr(key string) any { return s.Attributes[key] }

// StringAttr returns a string attribute, or "".
func (s *Span) StringAttr(key string) string {
	v, _ := s.Attributes[key].(string)
	return v
}

// IntAttr returns an int64 attribute, or 0.
func (s *Span) IntAttr(key string) int64 {
	v, _ := s.Attributes[key].(int64)
	return v
}

// jsonSpan is the JSON line form of a span (import --dry-run --json).
type jsonSpan struct {
	TraceID       string         `json:"trace_id"`
	SpanID        string         `json:"span_id"`
	ParentSpanID  string         `json:"parent_span_id"`
	Name          string         `json:"name"`
	Kind          Kind           `json:"kind"`
	StartTime     string         `json:"start_time"`
	EndTime       *string        `json:"end_time"`
	StatusCode    Status         `json:"status_code"`
	StatusMessage string         `json:"status_message"`
	Attributes    map[string]any `json:"attributes"`
	Events        []jsonEvent    `json:"events"`
}

type jsonEvent struct {
	Name       string         `json:"name"`
	Time       string         `json:"time"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// TimeFormat is RFC 3339 in UTC with all nine fractional digits.
const TimeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime renders t as RFC 3339 UTC with nanoseconds.
func FormatTime(t time.Time) string { return t.UTC().Format(TimeFormat) }

// MarshalJSON renders the span as one JSON object: ids in lowercase hex,
// times in RFC 3339 with nanoseconds, end_time null while running,
// parent_span_id "" for a root, attribute values as typed JSON.
func (s Span) MarshalJSON() ([]byte, error) {
	j := jsonSpan{
		TraceID:       s.TraceID.String(),
		SpanID:        s.SpanID.String(),
		Name:          s.Name,
		Kind:          s.Kind,
		StartTime:     FormatTime(s.Start),
		StatusCode:    s.StatusCode,
		StatusMessage: s.StatusMessage,
		Attributes:    s.Attributes,
		Events:        make([]jsonEvent, 0, len(s.Events)),
	}
	if !s.ParentSpanID.IsZero() {
		j.ParentSpanID = s.ParentSpanID.String()
	}
	if !s.End.IsZero() {
		e := FormatTime(s.End)
		j.EndTime = &e
	}
	if j.StatusCode == "" {
		j.StatusCode = StatusUnset
	}
	if j.Attributes == nil {
		j.Attributes = map[string]any{}
	}
	for _, e := range s.Events {
		j.Events = append(j.Events, jsonEvent{Name: e.Name, Time: FormatTime(e.Time), Attributes: e.Attributes})
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes. Integer attribute values
// come back as int64 and arrays as []string, so a round trip is lossless for
// the value types weave emits.
func (s *Span) UnmarshalJSON(b []byte) error {
	var j struct {
		jsonSpan
		Attributes map[string]json.RawMessage `json:"attributes"`
		Events     []struct {
			Name       string                     `json:"name"`
			Time       string                     `json:"time"`
			Attributes map[string]json.RawMessage `json:"attributes"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var out Span
	var err error
	if out.TraceID, err = spanid.ParseTraceID(j.TraceID); err != nil {
		return err
	}
	if out.SpanID, err = spanid.ParseSpanID(j.SpanID); err != nil {
		return err
	}
	if j.ParentSpanID != "" {
		if out.ParentSpanID, err = spanid.ParseSpanID(j.ParentSpanID); err != nil {
			return err
		}
	}
	out.Name, out.Kind, out.StatusCode, out.StatusMessage = j.Name, j.Kind, j.StatusCode, j.StatusMessage
	if out.Start, err = time.Parse(time.RFC3339Nano, j.StartTime); err != nil {
		return fmt.Errorf("spans: start_time: %w", err)
	}
	if j.EndTime != nil {
		if out.End, err = time.Parse(time.RFC3339Nano, *j.EndTime); err != nil {
			return fmt.Errorf("spans: end_time: %w", err)
		}
	}
	if out.Attributes, err = decodeAttrs(j.Attributes); err != nil {
		return err
	}
	for _, e := range j.Events {
		ev := Event{Name: e.Name}
		if ev.Time, err = time.Parse(time.RFC3339Nano, e.Time); err != nil {
			return fmt.Errorf("spans: event time: %w", err)
		}
		if ev.Attributes, err = decodeAttrs(e.Attributes); err != nil {
			return err
		}
		out.Events = append(out.Events, ev)
	}
	*s = out
	return nil
}

func decodeAttrs(raw map[string]json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(raw))
	for k, r := range raw {
		var v any
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("spans: attribute %q: %w", k, err)
		}
		switch x := v.(type) {
		case json.Number:
			if i, err := x.Int64(); err == nil {
				out[k] = i
			} else if f, err := x.Float64(); err == nil {
				out[k] = f
			}
		case []any:
			ss := make([]string, 0, len(x))
			for _, e := range x {
				if str, ok := e.(string); ok {
					ss = append(ss, str)
				}
			}
			out[k] = ss
		default:
			out[k] = v
		}
	}
	return out, nil
}

// SortedKeys returns the attribute keys in order, for deterministic output.
func SortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
