package ccload

import (
	"testing"
	"time"
)

func TestReplicasAreNewConversationsOfTheSameShape(t *testing.T) {
	l, err := FromRepo("acme/bench")
	if err != nil {
		t.Fatal(err)
	}
	if l.Sessions() < 40 || l.SpansPerRound() < 300 {
		t.Fatalf("%d sessions, %d spans: want every capture's golden spans", l.Sessions(), l.SpansPerRound())
	}
	type shape struct {
		spans, roots, linked int
		refs, refsLinked     int // chat input references, and those naming a span of the session
		convs                map[string]bool
		traces               map[string]bool
		first                time.Time
	}
	round := func() shape {
		sh := shape{convs: map[string]bool{}, traces: map[string]bool{}}
		for range l.Sessions() {
			ss := l.NextSpans()
			ids := map[string]bool{}
			for _, s := range ss {
				ids[s.TraceID+s.SpanID] = true
			}
			for _, s := range ss {
				sh.spans++
				if s.ParentSpanID == "" {
					sh.roots++
				} else if ids[s.TraceID+s.ParentSpanID] {
					sh.linked++
				}
				if ref := s.CustomAttrsString["weave.input.previous_span_id"]; ref != "" {
					sh.refs++
					if ids[s.CustomAttrsString["weave.input.previous_trace_id"]+ref] {
						sh.refsLinked++
					}
				}
				if s.ConversationID != "" {
					sh.convs[s.ConversationID] = true
				}
				sh.traces[s.TraceID] = true
				if sh.first.IsZero() || s.StartedAt.Before(sh.first) {
					sh.first = s.StartedAt
				}
				if s.ProjectID != "acme/bench" || len(s.RawSpan) == 0 {
					t.Fatalf("span %s/%s: project %q, raw span %d bytes", s.TraceID, s.SpanID, s.ProjectID, len(s.RawSpan))
				}
			}
		}
		return sh
	}
	r0, r1 := round(), round()
	if r0.spans != l.SpansPerRound() || r1.spans != r0.spans || r1.roots != r0.roots || r1.linked != r0.linked {
		t.Errorf("replica shape differs: %+v vs %+v (want %d spans)", r0, r1, l.SpansPerRound())
	}
	for i, r := range []shape{r0, r1} {
		if r.refs == 0 || r.refsLinked != r.refs {
			t.Errorf("replica %d: %d of %d chat input references name a span of their session", i, r.refsLinked, r.refs)
		}
	}
	if r0.linked+r0.roots != r0.spans {
		t.Errorf("replica 0: %d spans, %d roots, %d with their parent in the session", r0.spans, r0.roots, r0.linked)
	}
	for c := range r1.convs {
		if r0.convs[c] {
			t.Errorf("conversation %s in both replicas", c)
		}
	}
	for tr := range r1.traces {
		if r0.traces[tr] {
			t.Errorf("trace %s in both replicas", tr)
		}
	}
	if len(r1.convs) != len(r0.convs) {
		t.Errorf("conversations per replica: %d then %d", len(r0.convs), len(r1.convs))
	}
	if d := r1.first.Sub(r0.first); d != l.Gap {
		t.Errorf("replica 1 starts %s after replica 0, want %s", d, l.Gap)
	}
	if body, n := l.Next(); len(body) == 0 || n == 0 {
		t.Errorf("Next: %d bytes, %d spans", len(body), n)
	}
}
