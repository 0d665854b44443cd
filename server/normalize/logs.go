package normalize

import (
	"encoding/hex"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/weavetrace/weave/server/model"
)

// EventSourceKey marks an event built from an OTLP log record (value
// EventSourceLog), so that a later copy of its span can carry it over:
// the raw span holds only the span's own events.
const (
	EventSourceKey = "weave.event.source"
	EventSourceLog = "otlp_log"
)

// LogEvent is a log record addressed to one span of one project.
type LogEvent struct {
	ProjectID string
	Ref       SpanRef
	Event     model.Event
}

// Reasons a log record is not attached to a span.
const (
	SkipNoSpan    = "no_span_context"
	SkipNotGenAI  = "not_genai_event"
	SkipNoProject = "no_project"
)

// EventsFromLogs converts the GenAI event records of rl (event name from
// the record's event_name field, else its event.name attribute, starting
// with "gen_ai.") that carry a trace and span id into span events. The
// event keeps the record's attributes (without event.name), its body under
// EventBodyKey when there is one, and EventSourceKey. Other records are
// skipped and counted by reason.
func EventsFromLogs(rl plog.ResourceLogs, defaultProject string) ([]LogEvent, map[string]int) {
	project := ProjectID(rl.Resource().Attributes(), defaultProject)
	var out []LogEvent
	skipped := map[string]int{}
	for _, sl := range rl.ScopeLogs().All() {
		if IsClaudeCodeNative(sl.Scope()) {
			continue // ClaudeCodeNativeSpans' records
		}
		for _, lr := range sl.LogRecords().All() {
			name := lr.EventName()
			if name == "" {
				if v, ok := lr.Attributes().Get("event.name"); ok {
					name = v.AsString()
				}
			}
			name = strings.TrimSpace(name)
			tid, sid := lr.TraceID(), lr.SpanID()
			switch {
			case !strings.HasPrefix(name, "gen_ai."):
				skipped[SkipNotGenAI]++
				continue
			case tid.IsEmpty() || sid.IsEmpty():
				skipped[SkipNoSpan]++
				continue
			case project == "":
				skipped[SkipNoProject]++
				continue
			}
			// The record's time, else when it was observed; neither (or
			// one past what weave stores) leaves it unset, and the span's
			// start stands in when it is attached.
			ts := lr.Timestamp()
			if ts == 0 {
				ts = lr.ObservedTimestamp()
			}
			at, ok := otlpTime(ts)
			if !ok || ts == 0 {
				at = time.Time{}
			}
			attrs := make(map[string]any, lr.Attributes().Len()+2)
			for k, v := range lr.Attributes().All() {
				if k == "event.name" {
					continue
				}
				if r := rawValue(v); r != nil {
					attrs[k] = r
				}
			}
			if body := lr.Body(); !isEmptyValue(body) {
				attrs[EventBodyKey] = rawValue(body)
			}
			attrs[EventSourceKey] = EventSourceLog
			out = append(out, LogEvent{
				ProjectID: project,
				Ref:       SpanRef{TraceID: hex.EncodeToString(tid[:]), SpanID: hex.EncodeToString(sid[:])},
				Event:     model.Event{Name: name, Time: at, Attributes: attrs},
			})
		}
	}
	return out, skipped
}

// isEmptyValue reports an absent body: empty, or an empty map / list /
// string (OTLP/JSON writes an unset body as {}).
func isEmptyValue(v pcommon.Value) bool {
	switch v.Type() {
	case pcommon.ValueTypeEmpty:
		return true
	case pcommon.ValueTypeMap:
		return v.Map().Len() == 0
	case pcommon.ValueTypeSlice:
		return v.Slice().Len() == 0
	case pcommon.ValueTypeStr:
		return v.Str() == ""
	}
	return false
}

// LogDerived returns the events of s that were attached from log records.
func LogDerived(events []model.Event) []model.Event {
	var out []model.Event
	for _, e := range events {
		if e.Attributes[EventSourceKey] == EventSourceLog {
			out = append(out, e)
		}
	}
	return out
}
