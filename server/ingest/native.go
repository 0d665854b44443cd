package ingest

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"hash/fnv"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/spanid"
)

// Claude Code's native telemetry (normalize.ClaudeCodeNativeSpans) and the
// transcript (weave-agentd) can trace the same session. They are stored
// once; the transcript wins every field it has (message content, system
// prompt, subagent tree, exact times), the native spans stand in until it
// arrives and keep what only they know (cost_usd) only when it never does:
//
//   - roots and tool spans share their ids in both sources: a native span
//     never replaces a stored transcript span, and a transcript span
//     replaces a native one as any newer copy does;
//   - a chat span is keyed by the API's message id in the transcript and
//     by its request id natively: a native chat span is dropped when the
//     turn already holds a transcript chat span with its request id, and a
//     transcript chat span takes the id of the native span with its
//     request id when there is one (its raw_span says so too), replacing
//     it.
//
// Within one server the look and the write are one step per turn
// (nativeLocks); two servers behind a load balancer receiving the two
// sources of one call at the same moment can still both store it.

// nativeLocks serializes, per trace (striped), the look-then-write of
// native spans and of transcript chat spans.
type nativeLocks struct {
	stripes [64]sync.Mutex
}

// lock takes the stripes of traces (in order, each once) and returns the
// function that releases them.
func (n *nativeLocks) lock(traces []string) func() {
	var idx []int
	for _, t := range traces {
		h := fnv.New32a()
		h.Write([]byte(t))
		idx = append(idx, int(h.Sum32()%uint32(len(n.stripes))))
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		n.stripes[i].Lock()
	}
	return func() {
		for _, i := range idx {
			n.stripes[i].Unlock()
		}
	}
}

// transcriptChatTraces lists the traces of the transcript chat spans of
// batch that carry a request id (the ones adoptNativeChatIDs looks at).
func transcriptChatTraces(batch []model.Span) []string {
	var out []string
	for i := range batch {
		s := &batch[i]
		if s.OperationName == model.OpChat && s.CustomAttrsString[semconv.KeyRequestID] != "" && !isNative(s) {
			out = append(out, s.TraceID)
		}
	}
	return out
}

// nativeRecords turns the native events of rl into spans and stores them;
// it returns how many records it used.
func (h *Handler) nativeRecords(ctx context.Context, rl plog.ResourceLogs) (int, *httpError) {
	td, used := normalize.ClaudeCodeNativeSpans(rl)
	if used == 0 {
		return 0, nil
	}
	out, _ := normalize.Normalize(td.ResourceSpans().At(0), h.normalizeOptions())
	var native []model.Span
	for i := range out {
		if store.ValidateSpan(&out[i]) == nil {
			native = append(native, out[i])
		}
	}
	if len(native) == 0 {
		return used, nil
	}
	keys := make([]store.SpanKey, len(native))
	traces := make([]string, len(native))
	for i := range native {
		keys[i] = keyOfSpan(&native[i])
		traces[i] = native[i].TraceID
	}
	unlock := h.native.lock(traces)
	defer unlock()
	stored, err := h.s.Writer.GetSpans(ctx, keys)
	if err != nil {
		return 0, h.storeError(ctx, "GetSpans", err)
	}
	byKey := map[store.SpanKey]model.Span{}
	for _, s := range stored {
		byKey[keyOfSpan(&s)] = s
	}
	transcriptRequests := map[store.SpanKey]map[string]bool{} // per trace (span id empty)
	var write []model.Span
	for _, n := range native {
		old, ok := byKey[keyOfSpan(&n)]
		switch {
		case ok && !isNative(&old):
			continue // the transcript's
		case ok && n.OperationName == model.OpInvokeAgent:
			n = mergeNativeRoot(old, n)
		}
		if n.OperationName == model.OpChat {
			tk := store.SpanKey{ProjectID: n.ProjectID, TraceID: n.TraceID}
			reqs, seen := transcriptRequests[tk]
			if !seen {
				reqs = h.transcriptRequestIDs(ctx, n.ProjectID, n.TraceID)
				transcriptRequests[tk] = reqs
			}
			if reqs[n.CustomAttrsString[semconv.KeyRequestID]] {
				continue
			}
		}
		write = append(write, n)
	}
	if len(write) == 0 {
		return used, nil
	}
	if err := h.s.Writer.WriteSpans(ctx, write); err != nil {
		return 0, h.storeError(ctx, "WriteSpans", err)
	}
	h.m.spansStored.Add(float64(len(write)))
	return used, nil
}

func keyOfSpan(s *model.Span) store.SpanKey {
	return store.SpanKey{ProjectID: s.ProjectID, TraceID: s.TraceID, SpanID: s.SpanID}
}

func isNative(s *model.Span) bool {
	return s.CustomAttrsString[normalize.KeyNativeTelemetry] == "native"
}

// mergeNativeRoot joins two native copies of a turn's root, each built
// from the events of one export: the earliest start, the latest end, the
// prompt of whichever saw it.
func mergeNativeRoot(old, n model.Span) model.Span {
	if old.StartedAt.Before(n.StartedAt) {
		n.StartedAt = old.StartedAt
	}
	if old.EndedAt.After(n.EndedAt) {
		n.EndedAt = old.EndedAt
	}
	if len(n.InputMessages) == 0 {
		n.InputMessages = old.InputMessages
	}
	return n
}

// transcriptRequestIDs lists the request ids of the transcript chat spans
// of a trace (none when the store cannot list a trace's spans).
func (h *Handler) transcriptRequestIDs(ctx context.Context, project, trace string) map[string]bool {
	r, ok := h.s.Writer.(interface {
		TraceSpans(ctx context.Context, projectID, traceID string) ([]model.Span, error)
	})
	if !ok {
		return nil
	}
	ss, err := r.TraceSpans(ctx, project, trace)
	if err != nil {
		h.log.Warn("ingest store call failed", "op", "TraceSpans", "err", err)
		return nil
	}
	out := map[string]bool{}
	for i := range ss {
		if rid := ss[i].CustomAttrsString[semconv.KeyRequestID]; rid != "" && ss[i].OperationName == model.OpChat && !isNative(&ss[i]) {
			out[rid] = true
		}
	}
	return out
}

// adoptNativeChatIDs gives each transcript chat span of batch the id of
// the native chat span of its request, when one is stored, so that it
// replaces it.
func (h *Handler) adoptNativeChatIDs(ctx context.Context, batch []model.Span) error {
	var keys []store.SpanKey
	var idx []int
	for i := range batch {
		s := &batch[i]
		rid := s.CustomAttrsString[semconv.KeyRequestID]
		if s.OperationName != model.OpChat || rid == "" || isNative(s) {
			continue
		}
		tid, err := spanid.ParseTraceID(s.TraceID)
		if err != nil {
			continue
		}
		keys = append(keys, store.SpanKey{ProjectID: s.ProjectID, TraceID: s.TraceID, SpanID: normalize.NativeChatSpanID(tid, rid).String()})
		idx = append(idx, i)
	}
	if len(keys) == 0 {
		return nil
	}
	stored, err := h.s.Writer.GetSpans(ctx, keys)
	if err != nil {
		return err
	}
	have := map[store.SpanKey]bool{}
	for i := range stored {
		if isNative(&stored[i]) {
			have[keyOfSpan(&stored[i])] = true
		}
	}
	for j, k := range keys {
		if have[k] && k.SpanID != batch[idx[j]].SpanID {
			setSpanID(&batch[idx[j]], k.SpanID)
		}
	}
	return nil
}

// setSpanID changes a span's id, in its raw_span too (which a later
// renormalization reads).
func setSpanID(s *model.Span, id string) {
	s.SpanID = id
	if len(s.RawSpan) == 0 {
		return
	}
	var raw map[string]json.RawMessage
	if json.Unmarshal(s.RawSpan, &raw) != nil {
		return
	}
	b, _ := json.Marshal(id)
	if _, err := hex.DecodeString(id); err == nil {
		raw["spanId"] = b
		if nb, err := json.Marshal(raw); err == nil {
			s.RawSpan = nb
		}
	}
}
