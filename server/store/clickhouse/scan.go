package clickhouse

import (
	"context"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

var _ store.SpanScanner = (*Store)(nil)

// scanSQL is one keyset page of ScanSpans: the spans after (started,
// span, trace) in the table's own order.
func scanSQL(l layout, q store.ScanQuery, after *spanRef) built {
	var p params
	conds := append([]string{"project_id = " + p.add("String", q.ProjectID)}, rangeConds("started_at", q.Range, &p)...)
	if after != nil {
		// The tuple comparison alone is not used by the primary key (every
		// page would read every granule); the plain started_at bound is, and
		// lets a page skip what earlier pages read.
		started := "fromUnixTimestamp64Nano(" + p.add("Int64", after.started) + ", 'UTC')"
		conds = append(conds, "started_at >= "+started,
			"(started_at, span_id, trace_id) > ("+started+", "+p.add("String", after.span)+", "+p.add("String", after.trace)+")")
	}
	return built{
		sql: "SELECT " + selectList(true) + " FROM " + l.table("spans") + " FINAL WHERE " + and(conds) +
			" ORDER BY started_at, span_id, trace_id LIMIT " + p.add("UInt64", uint64(store.ScanBatch)),
		params: p.list,
	}
}

// ScanSpans implements store.SpanScanner: keyset pages of store.ScanBatch
// spans in the spans table's sort order.
func (s *Store) ScanSpans(ctx context.Context, q store.ScanQuery, fn func([]model.Span) error) error {
	if err := checks.Project(q.ProjectID); err != nil {
		return err
	}
	if err := checkRange(q.Range); err != nil {
		return err
	}
	var after *spanRef
	for {
		batch, err := s.readSpans(ctx, "scan spans", scanSQL(s.l, q, after), true)
		if err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		end := batch[len(batch)-1]
		after = &spanRef{trace: end.TraceID, span: end.SpanID, started: end.StartedAt.UnixNano()}
		if err := fn(batch); err != nil {
			return err
		}
		if len(batch) < store.ScanBatch {
			return nil
		}
	}
}
