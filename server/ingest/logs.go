package ingest

import (
	"net/http"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/store"
)

func (h *Handler) logs(r *http.Request, enc encoding, body []byte) (result, *httpError) {
	l, herr := h.prepare(r, signalLogs, enc, body)
	if herr != nil {
		return result{}, herr
	}
	h.m.logsReceived.Add(float64(l.itemCount()))
	skipped := map[string]int{}
	for _, pieces := range l.chunks(h.chunkItems, h.chunkBytes) {
		ld := decodeChunk(l, pieces, func(data []byte) (plog.Logs, error) {
			req := plogotlp.NewExportRequest()
			return req.Logs(), unmarshal(req, enc, data)
		})
		if herr := h.logsChunk(r, ld, skipped); herr != nil {
			return result{}, herr
		}
	}
	for reason, n := range l.problems {
		skipped[reason] += n
		h.m.logsRejected.With(reason).Add(float64(n))
	}
	rejected, msg := summarize("log records", skipped)
	if rejected > l.problemCount() {
		msg += " (only GenAI event records addressed to a span are kept)"
	}
	if l.firstProblem != "" {
		msg += "; " + l.firstProblem
	}
	return result{rejected: rejected, message: msg}, nil
}

// logsChunk attaches the GenAI event records of one chunk of a request to
// their spans, or parks them; skipped counts the records not kept.
func (h *Handler) logsChunk(r *http.Request, ld plog.Logs, skipped map[string]int) *httpError {
	ctx := r.Context()
	var keys []store.SpanKey
	byKey := map[store.SpanKey][]model.Event{}
	for _, rl := range ld.ResourceLogs().All() {
		if _, herr := h.nativeRecords(r.Context(), rl); herr != nil {
			return herr
		}
		evs, sk := normalize.EventsFromLogs(rl, h.cfg.DefaultProject)
		for reason, n := range sk {
			skipped[reason] += n
			h.m.logsRejected.With(reason).Add(float64(n))
		}
		for _, e := range evs {
			k := store.SpanKey{ProjectID: e.ProjectID, TraceID: e.Ref.TraceID, SpanID: e.Ref.SpanID}
			if _, seen := byKey[k]; !seen {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], e.Event)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	stored, err := h.s.Writer.GetSpans(ctx, keys)
	if err != nil {
		return h.storeError(ctx, "GetSpans", err)
	}
	found := map[store.SpanKey]bool{}
	var updated []model.Span
	var attachedRecords int
	for _, s := range stored {
		k := store.SpanKey{ProjectID: s.ProjectID, TraceID: s.TraceID, SpanID: s.SpanID}
		evs, ok := byKey[k]
		if !ok || found[k] {
			continue
		}
		found[k] = true
		n, _, err := normalize.Renormalize(s, evs, h.normalizeOptions())
		if err != nil {
			// A stored span without its raw form cannot take events;
			// park them rather than lose them.
			found[k] = false
			continue
		}
		updated = append(updated, n)
		attachedRecords += len(evs)
	}
	var park []store.KeyedEvents
	parked := 0
	for _, k := range keys {
		if !found[k] {
			park = append(park, store.KeyedEvents{Key: k, Events: byKey[k]})
			parked += len(byKey[k])
		}
	}
	if len(park) > 0 {
		if err := h.s.Writer.WritePendingEvents(ctx, park); err != nil {
			return h.storeError(ctx, "WritePendingEvents", err)
		}
		h.m.logsParked.Add(float64(parked))
	}
	if len(updated) > 0 {
		if err := h.s.Writer.WriteSpans(ctx, updated); err != nil {
			return h.storeError(ctx, "WriteSpans", err)
		}
		h.m.spansStored.Add(float64(len(updated)))
		h.m.logsAttached.Add(float64(attachedRecords))
		h.noteAttached(updated)
	}
	if len(park) > 0 {
		h.attachParkedToNewSpans(r, park)
	}
	return nil
}

// attachParkedToNewSpans looks again for the spans whose events were just
// parked: a span written in the meantime took no parked events, so take
// them for it now.
func (h *Handler) attachParkedToNewSpans(r *http.Request, park []store.KeyedEvents) {
	ctx := r.Context()
	keys := make([]store.SpanKey, len(park))
	for i, p := range park {
		keys[i] = p.Key
	}
	stored, err := h.s.Writer.GetSpans(ctx, keys)
	if err != nil {
		h.log.Warn("ingest store call failed", "op", "GetSpans", "err", err)
		return
	}
	if len(stored) > 0 {
		h.applyLateEvents(ctx, stored)
	}
}
