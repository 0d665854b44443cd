package storetest

import (
	"slices"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// deleteWhere removes the spans of a project ("": of every project) that
// gone selects (given each span's derived columns) and returns how many it
// removed.
func (o *oracle) deleteWhere(project string, gone func(s model.Span, d oDerived) bool) int64 {
	der := map[string]map[store.SpanKey]oDerived{}
	var n int64
	order := o.order[:0]
	for _, k := range o.order {
		if der[k.ProjectID] == nil {
			der[k.ProjectID] = o.derive(k.ProjectID)
		}
		if (project == "" || k.ProjectID == project) && gone(o.spans[k], der[k.ProjectID][k]) {
			delete(o.spans, k)
			n++
			continue
		}
		order = append(order, k)
	}
	o.order = order
	return n
}

// testDelete checks store.Deleter: traces, conversations and a per-project
// cut deleted with every derived figure, search entry and annotation on
// what is gone, the rest re-derived; and data sent again after a delete
// stored again.
func testDelete(h *harness) {
	del, ok := h.s.(store.Deleter)
	if !ok {
		h.t.Skip("backend does not implement store.Deleter")
	}
	o := newOracle()
	convs := convData(h, o)
	long, mid := convs[0], convs[2]
	other := BuildConversation(ConversationSpec{ProjectID: projB, ConversationID: "conv-long", Start: T0, Turns: 2, CallsPerTurn: 2, Subagent: true})
	h.writeBoth(o, Flatten(other)...)
	// A trace shared by two conversations: its first span has
	// conversation_id conv-short, the other spans conv-shared.
	shared := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "conv-shared", Turn: 1, Start: T0.Add(2 * time.Hour), Prompt: "shared trace", Calls: 2})
	shared.Spans[0].ConversationID = "conv-short"
	h.writeBoth(o, shared.Spans...)

	annotate := func(ref, trace string) store.Annotation {
		h.t.Helper()
		a, err := h.s.UpsertAnnotation(h.ctx, store.Annotation{ProjectID: projA, Ref: ref, TraceID: trace, Kind: "note", Value: "n"})
		if err != nil {
			h.t.Fatalf("UpsertAnnotation(%s): %v", ref, err)
		}
		return a
	}
	midChat := mid[0].Spans[1]
	longChat := long[2].Spans[1]
	annotate(store.TurnRef(mid[0].TraceID), "")              // goes with the trace
	annotate(store.SpanRef(midChat.SpanID), midChat.TraceID) // goes with its span
	onMidConv := annotate(store.ConversationRef("conv-mid"), "")
	onLongConv := annotate(store.ConversationRef("conv-long"), "")
	onLongSpan := annotate(store.SpanRef(longChat.SpanID), "")
	onLongTurn := annotate(store.TurnRef(long[2].TraceID), "")
	onAgent := annotate("agent/claude-code", "")
	onShortConv := annotate(store.ConversationRef("conv-short"), "")
	remaining := func(want ...store.Annotation) {
		h.t.Helper()
		all, err := h.s.QueryAnnotations(h.ctx, store.AnnotationQuery{ProjectID: projA, Limit: store.MaxLimit})
		if err != nil {
			h.t.Fatal(err)
		}
		var got, wantIDs []string
		for _, a := range all {
			got = append(got, a.ID)
		}
		for _, a := range want {
			wantIDs = append(wantIDs, a.ID)
		}
		slices.Sort(got)
		slices.Sort(wantIDs)
		if !slices.Equal(got, wantIDs) {
			h.t.Errorf("annotations left: got %v, want %v", got, wantIDs)
		}
	}
	check := func(what string, got store.Deleted, err error, want store.Deleted) {
		h.t.Helper()
		if err != nil {
			h.t.Fatalf("Delete(%s): %v", what, err)
		}
		if got != want {
			h.t.Errorf("Delete(%s): got %+v, want %+v", what, got, want)
		}
		h.checkModel(o, projA, projB)
	}

	// A trace (and one that does not exist): its spans, its turn's and its
	// span's annotations; conv-mid keeps its other turn and its own note.
	n := o.deleteWhere(projA, func(s model.Span, _ oDerived) bool { return s.TraceID == mid[0].TraceID })
	got, err := del.Delete(h.ctx, store.Deletion{ProjectID: projA, TraceIDs: []string{mid[0].TraceID, TraceID("absent")}})
	check("a trace", got, err, store.Deleted{Spans: n, Traces: 1, Annotations: 2})
	remaining(onMidConv, onLongConv, onLongSpan, onLongTurn, onAgent, onShortConv)
	if hits := h.search(store.SearchQuery{ProjectID: projA, Query: `"` + mid[0].Added[0].Parts[0].Content + `"`}); len(hits) != 0 {
		h.t.Errorf("search for the deleted turn's prompt: got %d hits, want 0", len(hits))
	}

	// Conversations: conv-long's spans (in projA only) with every
	// annotation on it, its turns and its spans; the shared trace loses
	// its conv-shared spans and keeps conv-short's (re-derived).
	n = o.deleteWhere(projA, func(_ model.Span, d oDerived) bool { return d.conv == "conv-long" || d.conv == "conv-shared" })
	got, err = del.Delete(h.ctx, store.Deletion{ProjectID: projA, ConversationIDs: []string{"conv-long", "conv-shared", "no-such-conversation"}})
	check("conversations", got, err, store.Deleted{Spans: n, Traces: int64(len(long)), Annotations: 3})
	remaining(onMidConv, onAgent, onShortConv)
	if left := h.get(keysOf(shared.Spans)...); len(left) != 1 || left[0].SpanID != shared.Spans[0].SpanID {
		h.t.Errorf("the shared trace: got %d spans left, want its conv-short root", len(left))
	}

	// A per-project cut leaves the other project alone.
	cut := mid[1].Spans[2].StartedAt
	n = o.deleteWhere(projA, func(s model.Span, _ oDerived) bool { return s.StartedAt.Before(cut) })
	got, err = del.Delete(h.ctx, store.Deletion{ProjectID: projA, Before: cut})
	if err != nil || got.Spans != n || n == 0 {
		h.t.Errorf("Delete(before): got %+v, %v; want %d spans", got, err, n)
	}
	h.checkModel(o, projA, projB)

	// Nothing to delete, unknown project: no error.
	for _, d := range []store.Deletion{
		{ProjectID: projA, TraceIDs: []string{mid[0].TraceID}},
		{ProjectID: "nobody/none", ConversationIDs: []string{"conv-mid"}},
	} {
		if got, err := del.Delete(h.ctx, d); err != nil || got != (store.Deleted{}) {
			h.t.Errorf("Delete(%+v) of nothing: got %+v, %v; want nothing", d, got, err)
		}
	}
	for _, d := range []store.Deletion{
		{TraceIDs: []string{mid[1].TraceID}},
		{ProjectID: projA},
		{ProjectID: projA, TraceIDs: []string{mid[1].TraceID}, Before: cut},
	} {
		_, err := del.Delete(h.ctx, d)
		h.expectInvalid("Delete(bad selection)", err)
	}

	// Spans sent again are new data, stored and counted again.
	h.writeBoth(o, Flatten(long)...)
	h.checkModel(o, projA, projB)
	if !h.caps.NoReopen {
		h.reopen()
		h.checkModel(o, projA, projB)
	}
}
