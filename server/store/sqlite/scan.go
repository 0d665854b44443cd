package sqlite

import (
	"context"
	"fmt"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

var _ store.SpanScanner = (*Store)(nil)

// ScanSpans implements store.SpanScanner: keyset pages of store.ScanBatch
// spans over (started_at, span_id, trace_id), each in its own read
// transaction (a long one would hold back the WAL's checkpoints).
func (s *Store) ScanSpans(ctx context.Context, q store.ScanQuery, fn func([]model.Span) error) error {
	if err := checks.Project(q.ProjectID); err != nil {
		return err
	}
	where := []string{"s.proj = ?"}
	args := []any{nil}
	if err := rangeSQL("s.started_at", q.Range, &where, &args); err != nil {
		return err
	}
	proj, ok, err := s.projectID(ctx, q.ProjectID)
	if err != nil || !ok {
		return err
	}
	args[0] = proj
	var last struct {
		started     int64
		span, trace string
		has         bool
	}
	for {
		cond, cargs := join(where), args
		if last.has {
			cond += " AND (s.started_at, s.span_id, s.trace_id) > (?, ?, ?)"
			cargs = append(append([]any(nil), args...), last.started, last.span, last.trace)
		}
		batch, err := s.querySpans(ctx, s.r, true, selectSpans(true)+"WHERE "+cond+
			" ORDER BY s.started_at, s.span_id, s.trace_id LIMIT ?", append(cargs, store.ScanBatch)...)
		if err != nil {
			return fmt.Errorf("sqlite: scan spans: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		end := batch[len(batch)-1]
		last.started, last.span, last.trace, last.has = end.StartedAt.UnixNano(), end.SpanID, end.TraceID, true
		if err := fn(batch); err != nil {
			return err
		}
		if len(batch) < store.ScanBatch {
			return nil
		}
	}
}
