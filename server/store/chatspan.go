package store

import "github.com/weavetrace/weave/server/model"

// ChatSpan is s with only the fields the chat reads return
// (Reader.TraceChatSpans, Reader.ConversationChatSpans): every field the
// chat views (package chatview) read. It leaves out what they never show:
// the raw span (most of a stored span's bytes), the resource attributes,
// the model parameters, the float and boolean custom attributes, the span
// kind, response id, thread id, display name, W&B run and step, the total
// and per-lifetime cache-write token counts, and the cost source. A chat
// read skips reading them, which is what makes it cheaper than the full
// read.
func ChatSpan(s model.Span) model.Span {
	s.SpanKind = ""
	s.ResponseID = ""
	s.ModelParameters = nil
	s.TotalTokens = nil
	s.CacheCreation5mInputTokens = nil
	s.CacheCreation1hInputTokens = nil
	s.CostSource = ""
	s.ThreadID = ""
	s.DisplayName = ""
	s.WBRunID = ""
	s.WBRunStep = nil
	s.CustomAttrsFloat = nil
	s.CustomAttrsBool = nil
	s.ResourceAttrs = nil
	s.RawSpan = nil
	return s
}

// ChatSpans applies ChatSpan to every span of spans, in place, and
// returns spans.
func ChatSpans(spans []model.Span) []model.Span {
	for i := range spans {
		spans[i] = ChatSpan(spans[i])
	}
	return spans
}
