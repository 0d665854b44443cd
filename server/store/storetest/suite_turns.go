package storetest

import (
	"math/rand/v2"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// threadSpan is one span of the thread fixtures: its trace and parent are
// named, is_turn is set or not.
type threadSpan struct {
	trace, id, parent string
	turn              bool
	at                time.Duration
}

// threadSpans builds the spans of one W&B thread (wandb.thread_id on every
// span, as seed 004's examples set it).
func threadSpans(project, thread string, start time.Time, defs []threadSpan) []model.Span {
	var out []model.Span
	for _, d := range defs {
		traceID := TraceID("thread", project, thread, d.trace)
		s := model.Span{ProjectID: project, TraceID: traceID, SpanID: SpanID(traceID, d.id), SpanName: d.id,
			SpanKind: model.KindInternal, StartedAt: start.Add(d.at), EndedAt: start.Add(d.at + 50*time.Millisecond),
			StatusCode: model.StatusOK, ThreadID: thread, IsTurn: d.turn}
		if d.parent != "" {
			s.ParentSpanID = SpanID(traceID, d.parent)
		}
		out = append(out, s)
	}
	return out
}

// testTurns checks the turn rule (store package doc) on the shapes of
// seed 004's four thread examples and on the cases around them: nested
// is_turn spans, several turn spans in one trace, a parent cycle of turn
// spans, and a conversation that never sets is_turn.
func testTurns(h *harness) {
	o := newOracle()
	ms := time.Millisecond
	cases := []struct {
		thread          string
		spans           []threadSpan
		turns, bgTraces int64
	}{
		// Example 1: one turn with a nested span.
		{"thread_example_1", []threadSpan{{"t1", "process_user_message", "", true, 0}, {"t1", "generate_response", "process_user_message", false, ms}}, 1, 0},
		// Example 2: two traces, each one turn; the nested spans leave
		// is_turn unset or false.
		{"thread_conversation_123", []threadSpan{
			{"t1", "process_message_turn1", "", true, 0}, {"t1", "analyze_query", "process_message_turn1", false, ms},
			{"t2", "process_message_turn2", "", true, time.Second}, {"t2", "comparison_analysis", "process_message_turn2", false, time.Second + ms}}, 2, 0},
		// Example 3: one turn, nested two levels deep.
		{"thread_complex_456", []threadSpan{
			{"t1", "handle_complex_request", "", true, 0}, {"t1", "code_analysis", "handle_complex_request", false, ms},
			{"t1", "syntax_check", "code_analysis", false, 2 * ms}, {"t1", "performance_check", "code_analysis", false, 3 * ms},
			{"t1", "generate_suggestions", "handle_complex_request", false, 4 * ms}}, 1, 0},
		// Example 4: a background operation (is_turn false) and a turn in
		// the same thread: one turn, one background trace.
		{"thread_background_789", []threadSpan{{"bg", "background_indexing", "", false, 0}, {"t1", "user_query", "", true, time.Second}}, 1, 1},
		// A turn span under a session root that is not a turn, and a
		// nested is_turn span that does not start another turn.
		{"thread_nested", []threadSpan{
			{"t1", "session", "", false, 0}, {"t1", "turn", "session", true, ms}, {"t1", "inner", "turn", true, 2 * ms}}, 1, 0},
		// One long trace with three turn spans under a session root.
		{"thread_one_trace", []threadSpan{
			{"t1", "session", "", false, 0}, {"t1", "turn-a", "session", true, ms}, {"t1", "turn-b", "session", true, 2 * ms},
			{"t1", "turn-c", "session", true, 3 * ms}, {"t1", "tool", "turn-c", false, 4 * ms}}, 3, 0},
		// Two is_turn spans that are each other's parent: each has an
		// is_turn ancestor, so neither is a turn span and the trace counts
		// as one turn (no turn spans at all in the conversation).
		{"thread_cycle", []threadSpan{{"t1", "a", "b", true, 0}, {"t1", "b", "a", true, ms}}, 1, 0},
		// A thread that never sets is_turn: one turn per trace.
		{"thread_plain", []threadSpan{{"t1", "a", "", false, 0}, {"t2", "b", "", false, time.Second}}, 2, 0},
	}
	var all []model.Span
	for i, c := range cases {
		all = append(all, threadSpans(projA, c.thread, T0.Add(time.Duration(i)*time.Minute), c.spans)...)
	}
	// Shuffled, in small batches, children before parents included.
	h.writeShuffled(o, rand.New(rand.NewPCG(4, 7)), all, 4)
	h.checkModel(o, projA)
	page := h.conversations(store.ConversationQuery{ProjectID: projA})
	got := map[string]store.ConversationSummary{}
	for _, c := range page.Conversations {
		got[c.ConversationID] = c
	}
	for _, c := range cases {
		g := got[c.thread]
		if g.TurnCount != c.turns || g.BackgroundCount != c.bgTraces {
			h.t.Errorf("conversation %s: got %d turns, %d background, want %d, %d", c.thread, g.TurnCount, g.BackgroundCount, c.turns, c.bgTraces)
		}
	}

	// A span that stops being a turn (sent again with is_turn false) takes
	// its turn away; the background trace becomes a turn when marked.
	ex4 := threadSpans(projA, "thread_background_789", T0.Add(3*time.Minute), cases[3].spans)
	ex4[0].IsTurn, ex4[1].IsTurn = true, false
	h.writeBoth(o, ex4...)
	h.checkModel(o, projA)
	// Sorting by the new column works like any other.
	sorted := h.conversations(store.ConversationQuery{ProjectID: projA, Sort: []store.Sort{{Field: "background_count", Direction: "desc"}}})
	for i := 1; i < len(sorted.Conversations); i++ {
		if a, b := sorted.Conversations[i-1], sorted.Conversations[i]; a.BackgroundCount < b.BackgroundCount {
			h.t.Errorf("sort by background_count desc: %q (%d) before %q (%d)", a.ConversationID, a.BackgroundCount, b.ConversationID, b.BackgroundCount)
		}
	}
	// Deleting the turn spans' traces leaves the conversation's other
	// figures right (DeleteBefore re-derives).
	if p, ok := h.s.(store.Pruner); ok {
		cut := T0.Add(2 * time.Minute)
		n, err := p.DeleteBefore(h.ctx, cut)
		if err != nil {
			h.t.Fatalf("DeleteBefore: %v", err)
		}
		if want := o.deleteBefore(cut); n != want {
			h.t.Errorf("DeleteBefore: got %d, want %d", n, want)
		}
		h.checkModel(o, projA)
	}
}
