package storetest

import (
	"fmt"
	"reflect"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// testChatReads checks that TraceChatSpans and ConversationChatSpans return
// exactly what TraceSpans and ConversationSpans return, span for span, less
// the fields store.ChatSpan leaves out: a span with every field set (each
// omitted field must come back zero, each kept one whole), the turns of a
// conversation, a time range, and nothing for what is not stored.
func testChatReads(h *harness) {
	full := fullSpan(projA)
	if reflect.DeepEqual(store.ChatSpan(full), full) {
		h.t.Fatal("fullSpan sets none of the fields ChatSpan leaves out: the test would prove nothing")
	}
	turns := BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "conv-chat", Start: T0, Turns: 3,
		CallsPerTurn: 3, Subagent: true, SystemPrompt: SystemPrompt(), FullHistory: true})
	h.write(append(Flatten(turns), full)...)

	for _, trace := range []string{full.TraceID, turns[0].TraceID, turns[2].TraceID} {
		got, err := h.s.TraceChatSpans(h.ctx, projA, trace)
		if err != nil {
			h.t.Fatalf("TraceChatSpans: %v", err)
		}
		h.equalSpans(fmt.Sprintf("TraceChatSpans(%s)", trace), got, chatSpans(h.trace(projA, trace)))
	}
	h.equalSpans("TraceChatSpans(full) against the written span", h.chatTrace(projA, full.TraceID), []model.Span{store.ChatSpan(full)})

	for _, q := range []struct {
		conv string
		r    store.TimeRange
	}{
		{"conv-chat", store.TimeRange{}},
		{"conv-chat", store.TimeRange{From: turns[1].Spans[0].StartedAt, To: turns[2].Spans[0].StartedAt}},
		{full.ConversationID, store.TimeRange{}},
	} {
		want, err := h.s.ConversationSpans(h.ctx, projA, q.conv, q.r)
		if err != nil {
			h.t.Fatalf("ConversationSpans: %v", err)
		}
		if len(want) == 0 {
			h.t.Fatalf("ConversationSpans(%s, %v) is empty: the test would prove nothing", q.conv, q.r)
		}
		got, err := h.s.ConversationChatSpans(h.ctx, projA, q.conv, q.r)
		if err != nil {
			h.t.Fatalf("ConversationChatSpans: %v", err)
		}
		h.equalSpans(fmt.Sprintf("ConversationChatSpans(%s, %v)", q.conv, q.r), got, chatSpans(want))
	}

	if got := h.chatTrace(projB, full.TraceID); len(got) != 0 {
		h.t.Errorf("TraceChatSpans in another project: got %d spans, want none", len(got))
	}
	if got := h.chatTrace(projA, TraceID("never written")); len(got) != 0 {
		h.t.Errorf("TraceChatSpans of a trace never written: got %d spans, want none", len(got))
	}
	got, err := h.s.ConversationChatSpans(h.ctx, projA, "no such conversation", store.TimeRange{})
	if err != nil || len(got) != 0 {
		h.t.Errorf("ConversationChatSpans of a conversation never written: got %d spans, %v, want none", len(got), err)
	}
}

func (h *harness) chatTrace(project, traceID string) []model.Span {
	h.t.Helper()
	got, err := h.s.TraceChatSpans(h.ctx, project, traceID)
	if err != nil {
		h.t.Fatalf("TraceChatSpans: %v", err)
	}
	return got
}

// chatSpans is spans as the chat reads return them.
func chatSpans(spans []model.Span) []model.Span {
	out := make([]model.Span, len(spans))
	for i, s := range spans {
		out[i] = store.ChatSpan(s)
	}
	return out
}
