package storetest

import (
	"errors"
	"slices"
	"sort"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// testScan checks store.SpanScanner: every span of the project in the
// range, with details, in (started_at, span_id, trace_id) order over
// several batches (ties on the start included), and fn's error returned.
func testScan(h *harness) {
	sc, ok := h.s.(store.SpanScanner)
	if !ok {
		h.t.Skip("backend does not implement store.SpanScanner")
	}
	o := newOracle()
	var all []model.Span
	for i := 0; i < 3; i++ {
		turns := BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "scan-" + string(rune('a'+i)),
			Start: T0.Add(time.Duration(i) * time.Hour), Turns: 24, CallsPerTurn: 3, Subagent: true})
		all = append(all, Flatten(turns)...)
	}
	// Spans sharing one start, across a batch boundary.
	tie := BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "scan-tie", Start: T0.Add(5 * time.Hour), Turns: 8, CallsPerTurn: 3})
	for _, s := range Flatten(tie) {
		s.StartedAt = T0.Add(5 * time.Hour)
		all = append(all, s)
	}
	if len(all) <= store.ScanBatch {
		h.t.Fatalf("test data: %d spans, want more than one batch of %d", len(all), store.ScanBatch)
	}
	h.writeBoth(o, all...)
	h.writeBoth(o, Flatten(BuildConversation(ConversationSpec{ProjectID: projB, ConversationID: "elsewhere", Start: T0, Turns: 1, CallsPerTurn: 1}))...)
	order := func(spans []model.Span) {
		sort.Slice(spans, func(i, j int) bool {
			a, b := spans[i], spans[j]
			if !a.StartedAt.Equal(b.StartedAt) {
				return a.StartedAt.Before(b.StartedAt)
			}
			if a.SpanID != b.SpanID {
				return a.SpanID < b.SpanID
			}
			return a.TraceID < b.TraceID
		})
	}
	for _, r := range []store.TimeRange{{}, {From: T0.Add(30 * time.Minute), To: T0.Add(5*time.Hour + time.Nanosecond)}} {
		var want []model.Span
		for _, s := range o.project(projA) {
			if (r.From.IsZero() || !s.StartedAt.Before(r.From)) && (r.To.IsZero() || s.StartedAt.Before(r.To)) {
				want = append(want, s)
			}
		}
		order(want)
		var got []model.Span
		batches := 0
		err := sc.ScanSpans(h.ctx, store.ScanQuery{ProjectID: projA, Range: r}, func(b []model.Span) error {
			if len(b) == 0 || len(b) > store.ScanBatch {
				h.t.Errorf("ScanSpans: a batch of %d spans, want 1 to %d", len(b), store.ScanBatch)
			}
			batches++
			got = append(got, b...)
			return nil
		})
		if err != nil {
			h.t.Fatalf("ScanSpans(%v): %v", r, err)
		}
		if batches < 2 && len(want) > store.ScanBatch {
			h.t.Errorf("ScanSpans: %d batches for %d spans", batches, len(want))
		}
		var gotKeys, wantKeys []string
		for _, s := range got {
			gotKeys = append(gotKeys, s.SpanID+s.TraceID)
		}
		for _, s := range want {
			wantKeys = append(wantKeys, s.SpanID+s.TraceID)
		}
		if !slices.Equal(gotKeys, wantKeys) {
			h.t.Errorf("ScanSpans(%v): %d spans, want %d in (started_at, span_id, trace_id) order", r, len(gotKeys), len(wantKeys))
		}
		sortSpans(got)
		sortSpans(want)
		h.equalSpans("ScanSpans", got, want)
	}
	stop := errors.New("enough")
	calls := 0
	err := sc.ScanSpans(h.ctx, store.ScanQuery{ProjectID: projA}, func([]model.Span) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		h.t.Errorf("ScanSpans with fn failing: got %v after %d calls, want fn's error after 1", err, calls)
	}
	if err := sc.ScanSpans(h.ctx, store.ScanQuery{ProjectID: "nobody/none"}, func([]model.Span) error { return stop }); err != nil {
		h.t.Errorf("ScanSpans of an empty project: got %v, want no call and nil", err)
	}
}
