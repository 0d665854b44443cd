package store

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// Bounds of what every backend can store.
const (
	// MaxIDLen bounds project_id, trace_id and span_id (bytes).
	MaxIDLen = 256
)

var (
	// MinTime and MaxTime bound span and event times: the range of int64
	// nanoseconds since the Unix epoch (years 1678 to 2262).
	MinTime = time.Unix(0, math.MinInt64).Add(time.Second).UTC()
	MaxTime = time.Unix(0, math.MaxInt64).Add(-time.Second).UTC()
)

// ValidateSpan reports why a span cannot be stored, as an error wrapping
// ErrInvalid, or nil. WriteSpans applies it to every span of a batch before
// writing anything; ingest calls it first to drop only the bad spans.
//
// A span needs a project_id, trace_id and span_id (each at most MaxIDLen
// bytes), a started_at within [MinTime, MaxTime] and an ended_at that is
// zero or within that range. Token counts are not negative, custom float
// attributes are finite, model_parameters are JSON-encodable (no NaN or
// ±Inf), and the JSON-valued fields (raw_span, message part arguments and
// responses) hold valid JSON.
func ValidateSpan(s *model.Span) error {
	msg := idProblem(s)
	if msg == "" {
		msg = valueProblem(s)
	}
	if msg == "" {
		msg = payloadProblem(s)
	}
	if msg == "" {
		return nil
	}
	return fmt.Errorf("%w: span %q/%q/%q: %s", ErrInvalid, s.ProjectID, s.TraceID, s.SpanID, msg)
}

// idProblem is what is wrong with a span's ids and times, or "".
func idProblem(s *model.Span) string {
	switch {
	case s.ProjectID == "":
		return "empty project_id"
	case s.TraceID == "":
		return "empty trace_id"
	case s.SpanID == "":
		return "empty span_id"
	case len(s.ProjectID) > MaxIDLen, len(s.TraceID) > MaxIDLen, len(s.SpanID) > MaxIDLen, len(s.ParentSpanID) > MaxIDLen:
		return fmt.Sprintf("id longer than %d bytes", MaxIDLen)
	case s.StartedAt.IsZero():
		return "started_at is not set"
	case !inTimeRange(s.StartedAt):
		return fmt.Sprintf("started_at %s out of range", s.StartedAt.UTC().Format(time.RFC3339))
	case !s.EndedAt.IsZero() && !inTimeRange(s.EndedAt):
		return fmt.Sprintf("ended_at %s out of range", s.EndedAt.UTC().Format(time.RFC3339))
	}
	return ""
}

// valueProblem is what is wrong with a span's counts, custom floats and
// model parameters, or "".
func valueProblem(s *model.Span) string {
	for name, v := range map[string]*int64{ // counts and steps are never negative
		"input_tokens":                s.InputTokens,
		"output_tokens":               s.OutputTokens,
		"cache_read_input_tokens":     s.CacheReadInputTokens,
		"cache_creation_input_tokens": s.CacheCreationInputTokens,
		"reasoning_tokens":            s.ReasoningTokens,
		"total_tokens":                s.TotalTokens,
		"wb_run_step":                 s.WBRunStep,
	} {
		if v != nil && *v < 0 {
			return fmt.Sprintf("%s is negative (%d)", name, *v)
		}
	}
	if s.CompactionItemsBefore < 0 || s.CompactionItemsAfter < 0 {
		return "compaction item counts are negative"
	}
	for k, f := range s.CustomAttrsFloat {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Sprintf("custom_attrs_float.%s is not finite", k)
		}
	}
	if len(s.ModelParameters) > 0 {
		if _, err := json.Marshal(s.ModelParameters); err != nil {
			return fmt.Sprintf("model_parameters cannot be encoded as JSON: %v", err)
		}
	}
	return ""
}

// payloadProblem is what is wrong with a span's raw span, message parts
// and event times, or "".
func payloadProblem(s *model.Span) string {
	if len(s.RawSpan) > 0 && !validJSON(s.RawSpan) {
		return "raw_span is not valid JSON"
	}
	for _, list := range [][]model.Message{s.InputMessages, s.OutputMessages} {
		for i, m := range list {
			for j, p := range m.Parts {
				if len(p.Arguments) > 0 && !validJSON(p.Arguments) {
					return fmt.Sprintf("message %d part %d: arguments are not valid JSON", i, j)
				}
				if len(p.Response) > 0 && !validJSON(p.Response) {
					return fmt.Sprintf("message %d part %d: response is not valid JSON", i, j)
				}
			}
		}
	}
	for i, e := range s.Events {
		if !e.Time.IsZero() && !inTimeRange(e.Time) {
			return fmt.Sprintf("event %d time out of range", i)
		}
	}
	return ""
}

func inTimeRange(t time.Time) bool {
	return !t.Before(MinTime) && !t.After(MaxTime)
}
