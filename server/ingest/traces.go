package ingest

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/store"
)

// Rejection reasons of ingest's own (normalize's warning codes are the
// others).
const (
	reasonInvalid = "invalid_span"
)

func (enc encoding) name() string {
	if enc == encJSON {
		return "JSON"
	}
	return "protobuf"
}

func (h *Handler) traces(r *http.Request, enc encoding, body []byte) (result, *httpError) {
	l, herr := h.prepare(r, signalTraces, enc, body)
	if herr != nil {
		return result{}, herr
	}
	h.m.spansReceived.Add(float64(l.itemCount()))
	ctx := r.Context()
	b := &traceBatch{reasons: map[string]int{}, firstRejected: map[string]normalize.Warning{}}
	for _, pieces := range l.chunks(h.chunkItems, h.chunkBytes) {
		td := decodeChunk(l, pieces, func(data []byte) (ptrace.Traces, error) {
			req := ptraceotlp.NewExportRequest()
			return req.Traces(), unmarshal(req, enc, data)
		})
		if herr := h.tracesChunk(ctx, td, b); herr != nil {
			return result{}, herr
		}
	}
	for reason, n := range l.problems {
		b.reasons[reason] += n
		h.m.spansRejected.With(reason).Add(float64(n))
	}
	rejected, msg := summarize("spans", b.reasons)
	if l.firstProblem != "" {
		msg += "; " + l.firstProblem
	}
	for _, code := range slices.Sorted(maps.Keys(b.firstRejected)) {
		w := b.firstRejected[code]
		msg += fmt.Sprintf("; %s: span %s/%s: %s", code, w.TraceID, w.SpanID, w.Message)
	}
	if b.firstInvalid != nil {
		msg += "; first invalid span: " + b.firstInvalid.Error()
	}
	return result{rejected: rejected, message: msg}, nil
}

// traceBatch accumulates what the chunks of one trace request rejected.
type traceBatch struct {
	reasons       map[string]int
	firstRejected map[string]normalize.Warning // by code, the first span normalization refused, named in the answer
	firstInvalid  error                        // the first span store.ValidateSpan refused, named in the answer
}

// tracesChunk normalizes and writes the spans of one chunk of a request.
func (h *Handler) tracesChunk(ctx context.Context, td ptrace.Traces, b *traceBatch) *httpError {
	keys := incomingKeys(td, h.cfg.DefaultProject)
	extra, taken, herr := h.eventsFor(ctx, keys)
	if herr != nil {
		return herr
	}
	reasons := map[string]int{}
	var spans []model.Span
	opts := h.cfg.Normalize
	opts.DefaultProject = h.cfg.DefaultProject
	for _, rs := range td.ResourceSpans().All() {
		// Claude Code's beta spans (claude_code.interaction, llm_request,
		// tool…) describe the calls its log events describe, under ids
		// no other source shares: the turns are built from the events
		// (nativeRecords), these are not stored.
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool { return ss.Scope().Name() == normalize.ClaudeCodeTracingScope })
		opts.ExtraEvents = extra[normalize.ProjectID(rs.Resource().Attributes(), h.cfg.DefaultProject)]
		out, warns := normalize.Normalize(rs, opts)
		for _, w := range warns {
			if w.Rejected {
				reasons[w.Code]++
				if _, ok := b.firstRejected[w.Code]; !ok {
					b.firstRejected[w.Code] = w
				}
			} else {
				h.m.spanWarnings.With(w.Code).Inc()
			}
		}
		for i := range out {
			// The store refuses a whole batch for one span outside its
			// bounds: drop such spans here, alone.
			if err := store.ValidateSpan(&out[i]); err != nil {
				reasons[reasonInvalid]++
				if b.firstInvalid == nil {
					b.firstInvalid = err
				}
				continue
			}
			spans = append(spans, out[i])
		}
	}
	for reason, n := range reasons {
		b.reasons[reason] += n
		h.m.spansRejected.With(reason).Add(float64(n))
	}
	if len(spans) == 0 {
		return nil
	}
	// The look for native chat spans and the write are one step for the
	// turns they touch (nativeLocks), or a native copy written in between
	// would stay beside the transcript's.
	unlock := h.native.lock(transcriptChatTraces(spans))
	defer unlock()
	if err := h.adoptNativeChatIDs(ctx, spans); err != nil {
		h.restorePending(ctx, taken)
		return h.storeError(ctx, "GetSpans", err)
	}
	h.resolveInputs(ctx, spans)
	if err := h.s.Writer.WriteSpans(ctx, spans); err != nil {
		h.restorePending(ctx, taken)
		h.m.spansRejected.With("store_error").Add(float64(len(spans)))
		return h.storeError(ctx, "WriteSpans", err)
	}
	h.m.spansStored.Add(float64(len(spans)))
	h.noteAttached(spans)
	// Log records parked while this batch was being written would wait
	// for the span's next copy: take them now.
	h.applyLateEvents(ctx, spans)
	return nil
}

// incomingKeys lists the keys of the spans in td that have usable IDs.
func incomingKeys(td ptrace.Traces, def string) []store.SpanKey {
	var keys []store.SpanKey
	for _, rs := range td.ResourceSpans().All() {
		project := normalize.ProjectID(rs.Resource().Attributes(), def)
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				tid, sid := sp.TraceID(), sp.SpanID()
				if tid.IsEmpty() || sid.IsEmpty() || project == "" {
					continue
				}
				keys = append(keys, store.SpanKey{ProjectID: project, TraceID: hex.EncodeToString(tid[:]), SpanID: hex.EncodeToString(sid[:])})
			}
		}
	}
	return keys
}

// eventsFor gathers the extra events of incoming spans: parked log records
// (taken from the store) and the log-derived events of stored copies of
// spans known to have some. It returns them by project and span, and the
// taken ones so that they can be put back if the write fails.
func (h *Handler) eventsFor(ctx context.Context, keys []store.SpanKey) (map[string]map[normalize.SpanRef][]model.Event, []store.KeyedEvents, *httpError) {
	if len(keys) == 0 {
		return nil, nil, nil
	}
	out := map[string]map[normalize.SpanRef][]model.Event{}
	add := func(k store.SpanKey, evs []model.Event) {
		byRef := out[k.ProjectID]
		if byRef == nil {
			byRef = map[normalize.SpanRef][]model.Event{}
			out[k.ProjectID] = byRef
		}
		ref := normalize.SpanRef{TraceID: k.TraceID, SpanID: k.SpanID}
		byRef[ref] = append(byRef[ref], evs...)
	}
	var known []store.SpanKey
	for _, k := range keys {
		if h.attached.has(k) {
			known = append(known, k)
		}
	}
	if len(known) > 0 {
		stored, err := h.s.Writer.GetSpans(ctx, known)
		if err != nil {
			return nil, nil, h.storeError(ctx, "GetSpans", err)
		}
		for _, s := range stored {
			if evs := normalize.LogDerived(s.Events); len(evs) > 0 {
				add(store.SpanKey{ProjectID: s.ProjectID, TraceID: s.TraceID, SpanID: s.SpanID}, evs)
			}
		}
	}
	pending, err := h.s.Writer.TakePendingEvents(ctx, keys)
	if err != nil {
		return nil, nil, h.storeError(ctx, "TakePendingEvents", err)
	}
	var taken []store.KeyedEvents
	for _, k := range keys {
		if evs := pending[k]; len(evs) > 0 {
			add(k, evs)
			taken = append(taken, store.KeyedEvents{Key: k, Events: evs})
			delete(pending, k) // a key listed twice takes its events once
		}
	}
	return out, taken, nil
}

// restoreTimeout bounds putting back the parked events of a batch that
// was not written. It runs without the request's cancellation (which may
// be why the write failed: a shutdown cut the request off), so it needs a
// bound of its own, below the shutdown's serve.DefaultCutoffWait.
var restoreTimeout = 10 * time.Second

// restorePending parks again events taken for a batch that was not
// written, so that the next copy of the span still gets them.
func (h *Handler) restorePending(ctx context.Context, taken []store.KeyedEvents) {
	if len(taken) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restoreTimeout)
	defer cancel()
	if err := h.s.Writer.WritePendingEvents(ctx, taken); err != nil {
		h.log.Error("ingest lost parked log events", "spans", len(taken), "err", err)
		return
	}
}

// noteAttached remembers the spans that carry log-derived events.
func (h *Handler) noteAttached(spans []model.Span) {
	for i := range spans {
		for _, e := range spans[i].Events {
			if e.Attributes[normalize.EventSourceKey] == normalize.EventSourceLog {
				h.attached.add(store.SpanKey{ProjectID: spans[i].ProjectID, TraceID: spans[i].TraceID, SpanID: spans[i].SpanID})
				break
			}
		}
	}
}

// applyLateEvents takes events parked for spans that were just written
// and writes those spans again with them. Failures are logged: the events
// stay parked (or are put back) for the span's next copy.
func (h *Handler) applyLateEvents(ctx context.Context, written []model.Span) {
	keys := make([]store.SpanKey, len(written))
	byKey := make(map[store.SpanKey]*model.Span, len(written))
	for i := range written {
		k := store.SpanKey{ProjectID: written[i].ProjectID, TraceID: written[i].TraceID, SpanID: written[i].SpanID}
		keys[i] = k
		byKey[k] = &written[i]
	}
	late, err := h.s.Writer.TakePendingEvents(ctx, keys)
	if err != nil {
		h.log.Warn("ingest store call failed", "op", "TakePendingEvents", "err", err)
		return
	}
	if len(late) == 0 {
		return
	}
	var again []model.Span
	var taken []store.KeyedEvents
	for k, evs := range late {
		s := byKey[k]
		if s == nil {
			continue
		}
		taken = append(taken, store.KeyedEvents{Key: k, Events: evs})
		n, _, err := normalize.Renormalize(*s, evs, h.normalizeOptions())
		if err != nil {
			continue
		}
		again = append(again, n)
	}
	if len(again) == 0 {
		h.restorePending(ctx, taken)
		return
	}
	if err := h.s.Writer.WriteSpans(ctx, again); err != nil {
		h.log.Warn("ingest store call failed", "op", "WriteSpans", "err", err)
		h.restorePending(ctx, taken)
		return
	}
	h.m.spansStored.Add(float64(len(again)))
	h.noteAttached(again)
}

func (h *Handler) normalizeOptions() normalize.Options {
	o := h.cfg.Normalize
	o.DefaultProject = h.cfg.DefaultProject
	o.ExtraEvents = nil
	return o
}
