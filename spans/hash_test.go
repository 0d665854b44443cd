package spans

import (
	"testing"
	"time"

	"github.com/weavetrace/weave/spanid"
)

// TestSpanHash: every exported part of a span changes its hash; equal spans
// (attributes in any map order) hash equally.
func TestSpanHash(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	base := func() Span {
		return Span{TraceID: spanid.TraceID{1}, SpanID: spanid.SpanID{2}, ParentSpanID: spanid.SpanID{3}, Name: "chat m", Kind: KindClient,
			Start: t0, End: t0.Add(time.Second), StatusCode: StatusUnset,
			Attributes: map[string]any{"a": "x", "n": int64(3), "f": 1.5, "b": true, "l": []string{"p", "q"}},
			Events:     []Event{{Name: "e", Time: t0, Attributes: map[string]any{"k": "v"}}}}
	}
	b := base()
	want := b.Hash()
	for i := 0; i < 20; i++ { // map order must not matter
		c := base()
		if c.Hash() != want {
			t.Fatal("equal spans hash differently")
		}
	}
	changes := map[string]func(*Span){
		"trace":          func(s *Span) { s.TraceID[15] = 9 },
		"span":           func(s *Span) { s.SpanID[7] = 9 },
		"parent":         func(s *Span) { s.ParentSpanID = spanid.SpanID{} },
		"name":           func(s *Span) { s.Name = "chat n" },
		"kind":           func(s *Span) { s.Kind = KindInternal },
		"start":          func(s *Span) { s.Start = s.Start.Add(time.Nanosecond) },
		"end_running":    func(s *Span) { s.End = time.Time{} },
		"status":         func(s *Span) { s.StatusCode = StatusError },
		"status_message": func(s *Span) { s.StatusMessage = "boom" },
		"attr_value":     func(s *Span) { s.Attributes["a"] = "y" },
		"attr_type":      func(s *Span) { s.Attributes["n"] = "3" },
		"attr_added":     func(s *Span) { s.Attributes["z"] = "" },
		"attr_removed":   func(s *Span) { delete(s.Attributes, "b") },
		"float":          func(s *Span) { s.Attributes["f"] = 1.25 },
		"bool":           func(s *Span) { s.Attributes["b"] = false },
		"list":           func(s *Span) { s.Attributes["l"] = []string{"pq"} },
		"key_boundary":   func(s *Span) { delete(s.Attributes, "a"); s.Attributes["ax"] = "" },
		"event_added":    func(s *Span) { s.Events = append(s.Events, Event{Name: "e2", Time: t0}) },
		"event_time":     func(s *Span) { s.Events[0].Time = t0.Add(time.Millisecond) },
		"event_attr":     func(s *Span) { s.Events[0].Attributes["k"] = "w" },
	}
	for name, change := range changes {
		s := base()
		change(&s)
		if s.Hash() == want {
			t.Errorf("%s: hash unchanged", name)
		}
	}
}
