package ingest

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// Bounds every store backend accepts (the storage contract's rules; a
// span outside them would fail the whole WriteSpans batch, so ingest drops
// it alone first).
const maxIDLen = 256

var (
	minTime = time.Unix(0, math.MinInt64).Add(time.Second).UTC()
	maxTime = time.Unix(0, math.MaxInt64).Add(-time.Second).UTC()
)

// validateSpan reports why a normalized span cannot be stored, or nil.
func validateSpan(s *model.Span) error {
	switch {
	case s.ProjectID == "" || s.TraceID == "" || s.SpanID == "":
		return fmt.Errorf("ingest: span %s/%s: missing key", s.TraceID, s.SpanID)
	case len(s.ProjectID) > maxIDLen || len(s.TraceID) > maxIDLen || len(s.SpanID) > maxIDLen || len(s.ParentSpanID) > maxIDLen:
		return fmt.Errorf("ingest: span %s/%s: an id or the project is longer than %d bytes", s.TraceID, s.SpanID, maxIDLen)
	case !inRange(s.StartedAt):
		return fmt.Errorf("ingest: span %s/%s: start time out of range", s.TraceID, s.SpanID)
	case !s.EndedAt.IsZero() && !inRange(s.EndedAt):
		return fmt.Errorf("ingest: span %s/%s: end time out of range", s.TraceID, s.SpanID)
	}
	for _, n := range []*int64{s.InputTokens, s.OutputTokens, s.CacheReadInputTokens, s.CacheCreationInputTokens, s.ReasoningTokens} {
		if n != nil && *n < 0 {
			return fmt.Errorf("ingest: span %s/%s: negative token count", s.TraceID, s.SpanID)
		}
	}
	if s.CompactionItemsBefore < 0 || s.CompactionItemsAfter < 0 {
		return fmt.Errorf("ingest: span %s/%s: negative compaction count", s.TraceID, s.SpanID)
	}
	for _, f := range s.CustomAttrsFloat {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("ingest: span %s/%s: non-finite custom float", s.TraceID, s.SpanID)
		}
	}
	if len(s.RawSpan) > 0 && !json.Valid(s.RawSpan) {
		return fmt.Errorf("ingest: span %s/%s: raw span is not JSON", s.TraceID, s.SpanID)
	}
	for _, list := range [][]model.Message{s.InputMessages, s.OutputMessages} {
		for _, m := range list {
			for _, p := range m.Parts {
				if (len(p.Arguments) > 0 && !json.Valid(p.Arguments)) || (len(p.Response) > 0 && !json.Valid(p.Response)) {
					return fmt.Errorf("ingest: span %s/%s: a message part is not JSON", s.TraceID, s.SpanID)
				}
			}
		}
	}
	for _, e := range s.Events {
		if !e.Time.IsZero() && !inRange(e.Time) {
			return fmt.Errorf("ingest: span %s/%s: event time out of range", s.TraceID, s.SpanID)
		}
	}
	return nil
}

func inRange(t time.Time) bool {
	return !t.IsZero() && !t.Before(minTime) && !t.After(maxTime)
}
