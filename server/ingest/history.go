package ingest

import (
	"context"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// A chat span may carry only the messages its request added since an
// earlier call, naming that call's span (weave-agentd's default: linear on
// the wire). The handler resolves the reference before the span is
// stored: the input becomes the earlier span's stored input, its output,
// then the span's own messages, and weave.input.new_messages_from says
// where the span's own begin. Bodies are stored once by digest and input
// histories as shared pages, so storage stays linear too, and every read
// (API, UI, search, other exporters of the store) sees the whole input.
//
// The earlier span is looked for among the spans before it in the same
// chunk, then in the store. One that is not stored yet, or is itself
// unresolved, leaves the reference in place (the span keeps its own
// messages, without weave.input.new_messages_from); a later copy of the
// span resolves it. A span referring to itself is left alone (each copy
// would grow it).
const (
	keyInputPrevTrace = "weave.input.previous_trace_id"
	keyInputPrevSpan  = "weave.input.previous_span_id"
	keyInputNewFrom   = "weave.input.new_messages_from"
)

// inputRef is the span a chat span's input refers to, if any.
func inputRef(s *model.Span) (store.SpanKey, bool) {
	tr, sp := s.CustomAttrsString[keyInputPrevTrace], s.CustomAttrsString[keyInputPrevSpan]
	if tr == "" || sp == "" {
		return store.SpanKey{}, false
	}
	return store.SpanKey{ProjectID: s.ProjectID, TraceID: tr, SpanID: sp}, true
}

// resolved reports whether s carries its whole input.
func resolved(s *model.Span) bool {
	if _, ok := inputRef(s); !ok {
		return true
	}
	_, ok := s.CustomAttrsInt[keyInputNewFrom]
	return ok
}

// resolveInputs resolves the input references of spans, in order.
func (h *Handler) resolveInputs(ctx context.Context, spans []model.Span) {
	// The store is asked for the referred spans that do not come earlier
	// in the chunk.
	var missing []store.SpanKey
	before := make(map[store.SpanKey]bool, len(spans))
	asked := map[store.SpanKey]bool{}
	for i := range spans {
		if k, ok := inputRef(&spans[i]); ok && !before[k] && !asked[k] {
			asked[k] = true
			missing = append(missing, k)
		}
		before[keyOfSpan(&spans[i])] = true
	}
	earlier := make(map[store.SpanKey]*model.Span, len(spans)+len(missing))
	if len(missing) > 0 {
		stored, err := h.s.Writer.GetSpans(ctx, missing)
		if err != nil {
			h.log.Warn("ingest store call failed", "op", "GetSpans", "err", err)
		}
		for i := range stored {
			earlier[keyOfSpan(&stored[i])] = &stored[i]
		}
	}
	for i := range spans {
		s := &spans[i]
		if k, ok := inputRef(s); ok && !resolved(s) && k != keyOfSpan(s) {
			if p := earlier[k]; p != nil && resolved(p) {
				full := make([]model.Message, 0, len(p.InputMessages)+len(p.OutputMessages)+len(s.InputMessages))
				full = append(full, p.InputMessages...)
				for _, m := range p.OutputMessages {
					m.FinishReason = "" // a message of the input, no longer an answer
					full = append(full, m)
				}
				if s.CustomAttrsInt == nil {
					s.CustomAttrsInt = map[string]int64{}
				}
				s.CustomAttrsInt[keyInputNewFrom] = int64(len(full))
				s.InputMessages = append(full, s.InputMessages...)
			}
		}
		earlier[keyOfSpan(s)] = s
	}
}
