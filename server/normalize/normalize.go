package normalize

import (
	"encoding/hex"
	"fmt"
	"maps"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/pricing"
	"github.com/weavetrace/weave/server/store"
)

// Options configure Normalize.
type Options struct {
	// DefaultProject is the project of spans whose resource names none
	// (wandb.entity + wandb.project). Spans with neither are rejected.
	DefaultProject string
	// ExtraEvents are events that arrived apart from their span (OTLP log
	// records), by span. They are merged into the span's events (exact
	// duplicates dropped) and read like span events.
	ExtraEvents map[SpanRef][]model.Event
	// MaxCustomAttrs caps the custom attributes kept per span (0: 256).
	// weave.* keys are never dropped.
	MaxCustomAttrs int
	// MaxCustomValueBytes caps one custom string value (0: 8192); longer
	// values are cut and end with TruncationMarker.
	MaxCustomValueBytes int
	// Prices prices the calls whose producer reported no cost (nil: they
	// get none).
	Prices *pricing.Table
}

// SpanRef addresses one span of a trace (lowercase hex IDs).
type SpanRef struct {
	TraceID string
	SpanID  string
}

// Default caps.
const (
	DefaultMaxCustomAttrs      = 256
	DefaultMaxCustomValueBytes = 8192
	// TruncationMarker ends a custom string value that was cut.
	TruncationMarker = "…[truncated]"
)

// Warning is a problem met while normalizing. Code is a short snake_case
// reason (a bounded set, usable as a metric label); Rejected tells that
// the span was dropped (the others were kept, possibly with less data).
type Warning struct {
	TraceID  string `json:"trace_id,omitempty"`
	SpanID   string `json:"span_id,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message"`
	Rejected bool   `json:"rejected,omitempty"`
}

func (w Warning) String() string {
	return fmt.Sprintf("span %s/%s: %s: %s", w.TraceID, w.SpanID, w.Code, w.Message)
}

// Warning codes.
const (
	CodeInvalidTraceID   = "invalid_trace_id"
	CodeInvalidSpanID    = "invalid_span_id"
	CodeMissingStartTime = "missing_start_time"
	CodeNoProject        = "no_project"
	CodeBadValue         = "bad_value"
	CodeCustomTruncated  = "custom_attrs_truncated"
	// CodeTimeOutOfRange rejects a span whose start or end time is past
	// the latest time weave stores (store.MaxTime, 2262-04-11): OTLP's
	// uint64 nanoseconds go beyond int64, and such a time must not wrap
	// round to 1677–1970.
	CodeTimeOutOfRange = "time_out_of_range"
	// CodeEndBeforeStart: the span ends before it starts; it is kept as
	// ending when it started (duration 0), its raw span as sent.
	CodeEndBeforeStart = "end_before_start"
	// CodeEventTime: an event with no time (0) or one out of range is
	// placed at the span's start.
	CodeEventTime = "event_time"
)

// otlpTime converts an OTLP timestamp (uint64 nanoseconds since the Unix
// epoch). ok is false past store.MaxTime, which pcommon.Timestamp.AsTime
// would wrap into 1677–1970.
func otlpTime(ts pcommon.Timestamp) (time.Time, bool) {
	if uint64(ts) > uint64(store.MaxTime.UnixNano()) {
		return time.Time{}, false
	}
	return time.Unix(0, int64(ts)).UTC(), true
}

// storable reports whether t lies within the times weave stores.
func storable(t time.Time) bool {
	return !t.Before(store.MinTime) && !t.After(store.MaxTime)
}

// Normalize turns one ResourceSpans into canonical rows, one per span, in
// wire order. It is pure: it reads rs and opts and returns new values.
// A span that cannot be stored (no valid IDs, no start time, no project)
// is left out with a Rejected warning; nothing else in rs is affected.
func Normalize(rs ptrace.ResourceSpans, opts Options) ([]model.Span, []Warning) {
	res := rs.Resource().Attributes()
	resRaw := rawMap(res)
	project := projectID(res, opts.DefaultProject)
	var out []model.Span
	var warns []Warning
	for _, ss := range rs.ScopeSpans().All() {
		scope := ss.Scope()
		for _, sp := range ss.Spans().All() {
			s, w, ok := normalizeSpan(sp, scope, res, resRaw, project, &opts)
			warns = append(warns, w...)
			if ok {
				out = append(out, s)
			}
		}
	}
	return out, warns
}

// projectID routes by the resource's wandb.entity / wandb.project.
func projectID(res pcommon.Map, def string) string {
	var ent, proj string
	if v, ok := res.Get(semconv.ResourceWandbEntity); ok {
		ent = strings.TrimSpace(v.AsString())
	}
	if v, ok := res.Get(semconv.ResourceWandbProject); ok {
		proj = strings.TrimSpace(v.AsString())
	}
	switch {
	case ent != "" && proj != "" && !strings.Contains(proj, "/"):
		return ent + "/" + proj
	case proj != "":
		return proj
	}
	return def
}

// spanCtx carries one span through the mappings.
type spanCtx struct {
	sp     ptrace.Span
	scope  pcommon.InstrumentationScope
	res    pcommon.Map
	a      *attrSet
	events []model.Event
	out    *model.Span
	warns  []Warning

	isTurnSet bool
	// agentNameFallback is the agent name to use when no mapping set one
	// (finish applies it).
	agentNameFallback string
	// inputsDisjoint records that the producer reported input tokens
	// without the cached ones (see tokens.go).
	inputsDisjoint bool
	// inputsInclusive records that the producer is known to follow the
	// conventions' inclusive rule; it wins over the heuristics.
	inputsInclusive bool
}

func (c *spanCtx) warn(code, format string, args ...any) {
	c.warns = append(c.warns, Warning{
		TraceID: c.out.TraceID, SpanID: c.out.SpanID, Code: code, Message: fmt.Sprintf(format, args...),
	})
}

func normalizeSpan(sp ptrace.Span, scope pcommon.InstrumentationScope, res pcommon.Map, resRaw map[string]any, project string, opts *Options) (model.Span, []Warning, bool) {
	s := model.Span{
		ProjectID: project,
		SpanName:  sp.Name(),
	}
	tid, sid := sp.TraceID(), sp.SpanID()
	if !tid.IsEmpty() {
		s.TraceID = hex.EncodeToString(tid[:])
	}
	if !sid.IsEmpty() {
		s.SpanID = hex.EncodeToString(sid[:])
	}
	reject := func(code, msg string) (model.Span, []Warning, bool) {
		return model.Span{}, []Warning{{TraceID: s.TraceID, SpanID: s.SpanID, Code: code, Message: msg, Rejected: true}}, false
	}
	start, startOK := otlpTime(sp.StartTimestamp())
	end, endOK := otlpTime(sp.EndTimestamp())
	switch {
	case tid.IsEmpty():
		return reject(CodeInvalidTraceID, "trace id is missing or all zero")
	case sid.IsEmpty():
		return reject(CodeInvalidSpanID, "span id is missing or all zero")
	case sp.StartTimestamp() == 0:
		return reject(CodeMissingStartTime, "span has no start time")
	case !startOK:
		return reject(CodeTimeOutOfRange, fmt.Sprintf("startTimeUnixNano %d is after %s, the latest time weave stores", uint64(sp.StartTimestamp()), store.MaxTime.Format(time.RFC3339)))
	case !endOK:
		return reject(CodeTimeOutOfRange, fmt.Sprintf("endTimeUnixNano %d is after %s, the latest time weave stores", uint64(sp.EndTimestamp()), store.MaxTime.Format(time.RFC3339)))
	case project == "":
		return reject(CodeNoProject, "no wandb.entity/wandb.project resource attributes and no default project")
	}
	if p := sp.ParentSpanID(); !p.IsEmpty() {
		s.ParentSpanID = hex.EncodeToString(p[:])
	}
	s.StartedAt = start
	if sp.EndTimestamp() != 0 {
		s.EndedAt = end
	}
	s.SpanKind = spanKind(sp.Kind())
	s.StatusCode, s.StatusMessage = statusOf(sp.Status())
	s.ResourceAttrs = maps.Clone(resRaw)

	c := &spanCtx{sp: sp, scope: scope, res: res, a: newAttrSet(sp.Attributes()), out: &s}
	var untimed int
	c.events, untimed = spanEvents(sp, s.StartedAt, opts.ExtraEvents[SpanRef{TraceID: s.TraceID, SpanID: s.SpanID}])
	s.Events = c.events
	if untimed > 0 {
		c.warn(CodeEventTime, "%d events without a usable time (0 or after %s) placed at the span's start", untimed, store.MaxTime.Format(time.RFC3339))
	}

	for _, m := range mappings {
		if m.detect != nil && !m.detect(c) {
			continue
		}
		applyRenames(c, m.renames)
		if m.extract != nil {
			m.extract(c)
		}
	}
	finish(c)
	if !s.EndedAt.IsZero() && s.EndedAt.Before(s.StartedAt) {
		c.warn(CodeEndBeforeStart, "ends at %s, before its start %s: kept as ending when it started", s.EndedAt.Format(time.RFC3339Nano), s.StartedAt.Format(time.RFC3339Nano))
		s.EndedAt = s.StartedAt
	}
	finishCost(c, opts.Prices)
	c.customAttrs(opts)
	s.RawSpan = rawSpanJSON(sp)
	return s, c.warns, true
}

func spanKind(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindInternal:
		return model.KindInternal
	case ptrace.SpanKindServer:
		return model.KindServer
	case ptrace.SpanKindClient:
		return model.KindClient
	case ptrace.SpanKindProducer:
		return model.KindProducer
	case ptrace.SpanKindConsumer:
		return model.KindConsumer
	}
	return model.KindUnspecified
}

func statusOf(st ptrace.Status) (string, string) {
	switch st.Code() {
	case ptrace.StatusCodeOk:
		return model.StatusOK, st.Message()
	case ptrace.StatusCodeError:
		return model.StatusError, st.Message()
	}
	return model.StatusUnset, st.Message()
}

// spanEvents converts the span's events and appends the extra ones,
// dropping exact duplicates (a retried log export) and keeping the extra
// events in time order after the span's own. An event without a usable
// time (0, out of range, or a log record that had none) takes the span's
// start; untimed counts those.
func spanEvents(sp ptrace.Span, start time.Time, extra []model.Event) (out []model.Event, untimed int) {
	evs := sp.Events()
	if evs.Len() == 0 && len(extra) == 0 {
		return nil, 0
	}
	out = make([]model.Event, 0, evs.Len()+len(extra))
	for _, e := range evs.All() {
		t, ok := otlpTime(e.Timestamp())
		if !ok || e.Timestamp() == 0 {
			t = start
			untimed++
		}
		ev := model.Event{Name: e.Name(), Time: t}
		if e.Attributes().Len() > 0 {
			ev.Attributes = rawMap(e.Attributes())
		}
		out = append(out, ev)
	}
	if len(extra) == 0 {
		return out, untimed
	}
	seen := make(map[string]bool, len(out)+len(extra))
	for _, e := range out {
		seen[eventKey(e)] = true
	}
	more := make([]model.Event, 0, len(extra))
	for _, e := range extra {
		k := eventKey(e)
		if seen[k] {
			continue
		}
		seen[k] = true
		e.Time = e.Time.UTC()
		if !storable(e.Time) || e.Time.Equal(time.Unix(0, 0)) {
			e.Time = start
			untimed++
		}
		more = append(more, e)
	}
	sort.SliceStable(more, func(i, j int) bool { return more[i].Time.Before(more[j].Time) })
	return append(out, more...), untimed
}

func eventKey(e model.Event) string {
	return e.Name + "\x00" + e.Time.UTC().Format(time.RFC3339Nano) + "\x00" + marshalJSON(e.Attributes)
}
