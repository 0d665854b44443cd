package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/derive"
)

var _ store.Pruner = (*Store)(nil)

// pruneTraces is how many traces one DeleteBefore transaction handles, so
// that ingest is held up for at most one short transaction at a time.
const pruneTraces = 200

// DeleteBefore implements store.Pruner. It works trace by trace, in
// transactions of pruneTraces traces: the deleted spans' contributions are
// subtracted from the rollups and the search groups exactly as a re-write
// would, and the remaining spans of each trace are re-derived. It then
// frees the texts, pages, raw-span chunks, attribute sets and resources
// nothing references (collectGarbage: it reads every span's details, about
// 7 µs of CPU a span, beside the writer, which it holds only for short
// sweep transactions). The file does not shrink: SQLite reuses the freed pages (VACUUM returns them to
// the file system; see README.md).
func (s *Store) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	var projs []int64
	rows, err := s.r.QueryContext(ctx, "SELECT id FROM projects")
	if err != nil {
		return 0, fmt.Errorf("sqlite: prune: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlite: prune: %w", err)
		}
		projs = append(projs, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("sqlite: prune: %w", err)
	}
	var deleted int64
	for _, proj := range projs {
		name, err := s.projectName(ctx, s.r, proj)
		if err != nil {
			return deleted, err
		}
		d, err := s.deleteIn(ctx, proj, name, deleteSel{cutoff: store.ClampNanos(t), before: true})
		deleted += d.Spans
		if err != nil {
			return deleted, err
		}
	}
	if err := s.pruneMetricPoints(ctx, store.ClampNanos(t)); err != nil {
		return deleted, err
	}
	if deleted == 0 {
		return 0, nil
	}
	if err := s.freeContent(ctx); err != nil {
		return deleted, err
	}
	s.log.Info("pruned spans", "before", t.UTC().Format(time.RFC3339), "spans", deleted)
	return deleted, nil
}

var _ store.Deleter = (*Store)(nil)

// Delete implements store.Deleter, trace by trace in transactions of
// pruneTraces traces as DeleteBefore. The content nothing references any
// more is freed by a collection Delete starts and that runs after it
// returns (collectGarbage); the deleted spans' texts are out of every
// read and search at once.
func (s *Store) Delete(ctx context.Context, d store.Deletion) (store.Deleted, error) {
	if err := d.Check(); err != nil {
		return store.Deleted{}, fmt.Errorf("sqlite: %w", err)
	}
	proj, ok, err := s.projectID(ctx, d.ProjectID)
	if err != nil || !ok {
		return store.Deleted{}, err
	}
	sel := deleteSel{traces: d.TraceIDs}
	switch {
	case !d.Before.IsZero():
		sel = deleteSel{cutoff: store.ClampNanos(d.Before), before: true}
	case len(d.ConversationIDs) > 0:
		sel = deleteSel{convs: map[int64]bool{}}
		keys := make([]any, 0, len(d.ConversationIDs)+1)
		keys = append(keys, proj)
		for _, c := range d.ConversationIDs {
			keys = append(keys, c)
		}
		rows, err := s.r.QueryContext(ctx, "SELECT id FROM conversations WHERE proj = ? AND conv_key IN ("+placeholders(len(keys)-1)+")", keys...)
		if err != nil {
			return store.Deleted{}, fmt.Errorf("sqlite: delete: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return store.Deleted{}, fmt.Errorf("sqlite: delete: %w", err)
			}
			sel.convs[id] = true
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return store.Deleted{}, fmt.Errorf("sqlite: delete: %w", err)
		}
		if len(sel.convs) == 0 {
			return store.Deleted{}, nil
		}
	}
	out, err := s.deleteIn(ctx, proj, d.ProjectID, sel)
	if out.Spans > 0 {
		s.freeContentSoon()
	}
	return out, err
}

// deleteSel selects the spans a deletion removes: those started before
// cutoff, those of the listed traces, or those of the conversations (by
// conversations.id).
type deleteSel struct {
	before bool
	cutoff int64
	traces []string
	convs  map[int64]bool
}

func (d deleteSel) gone(r *rowState) bool {
	switch {
	case d.before:
		return r.started < d.cutoff
	case d.convs != nil:
		return d.convs[r.convID]
	}
	return true
}

// nextTraces is the next batch of traces to work on; next is the
// position in a listed selection.
func (w *writeTx) nextTraces(proj int64, d deleteSel, next *int) ([]string, error) {
	if !d.before && d.convs == nil {
		lo := *next
		hi := min(len(d.traces), lo+pruneTraces)
		*next = hi
		return d.traces[lo:hi], nil
	}
	q, args := `SELECT DISTINCT trace_id FROM spans INDEXED BY spans_started WHERE proj = ? AND started_at < ? LIMIT ?`, []any{proj, d.cutoff, pruneTraces}
	if d.convs != nil {
		ids := make([]any, 0, len(d.convs)+1)
		for id := range d.convs {
			ids = append(ids, id)
		}
		q, args = `SELECT DISTINCT trace_id FROM spans WHERE conv_id IN (`+placeholders(len(ids))+`) LIMIT ?`, append(ids, pruneTraces)
	}
	rows, err := w.tx.QueryContext(w.ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: delete: %w", err)
	}
	var traces []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: delete: %w", err)
		}
		traces = append(traces, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite: delete: %w", err)
	}
	return traces, nil
}

// deleteIn deletes what d selects in one project, pruneTraces traces per
// transaction.
func (s *Store) deleteIn(ctx context.Context, proj int64, project string, d deleteSel) (store.Deleted, error) {
	var out store.Deleted
	next := 0
	for {
		var res store.Deleted
		var done bool
		err := s.inWriteTx(ctx, func(w *writeTx) error {
			traces, err := w.nextTraces(proj, d, &next)
			if err != nil || len(traces) == 0 {
				done = true
				return err
			}
			res, err = w.deleteBatch(proj, project, traces, d)
			return err
		})
		out.Add(res)
		if err != nil || done {
			return out, err
		}
		if res.Spans == 0 && (d.before || d.convs != nil) {
			return out, fmt.Errorf("sqlite: delete: a round over %s found nothing to delete", project)
		}
	}
}

// deleteBatch deletes the selected spans of a batch of traces of a
// project, re-derives what remains of them, and deletes the annotations
// on what no longer exists.
func (w *writeTx) deleteBatch(proj int64, project string, traces []string, sel deleteSel) (store.Deleted, error) {
	var res store.Deleted
	var changes []*change
	var gone []*rowState
	for _, trace := range traces {
		old, err := w.loadTrace(proj, trace)
		if err != nil {
			return res, err
		}
		var kept []*rowState
		for _, r := range old {
			if sel.gone(r) {
				gone = append(gone, r)
			} else {
				kept = append(kept, r)
			}
		}
		if len(kept) == 0 && len(old) > 0 {
			res.Traces++
		}
		nodes := make([]derive.Node, len(kept))
		for i, r := range kept {
			nodes[i] = r.node()
		}
		ders := derive.Trace(trace, nodes)
		for i, r := range kept {
			if r.d == ders[i] {
				continue
			}
			convID, err := w.conv(proj, ders[i].ConvKey)
			if err != nil {
				return res, err
			}
			nr := *r
			nr.d, nr.convID = ders[i], convID
			changes = append(changes, &change{old: r, new: &nr})
		}
	}
	need := make([]int64, 0, len(gone))
	for _, r := range gone {
		need = append(need, r.pk)
	}
	for _, c := range changes {
		if c.movedConv() {
			need = append(need, c.old.pk)
		}
	}
	keys, err := w.spanKeys(need)
	if err != nil {
		return res, err
	}
	for _, c := range changes {
		if err := w.updateDerived(c.new); err != nil {
			return res, err
		}
		if c.movedConv() {
			w.noteSearch(c.old, c.new, keys[c.old.pk], keys[c.old.pk])
		}
	}
	for _, r := range gone {
		if _, err := w.exec("DELETE FROM spans WHERE pk = ?", r.pk); err != nil {
			return res, err
		}
		w.noteSearchGone(r, keys[r.pk])
	}
	d := newDeltas()
	for _, r := range gone {
		d.add(r, nil, -1)
	}
	for _, c := range changes {
		d.add(c.old, nil, -1)
		var pc *promptCand
		if c.new.hasPrompt {
			pc = &promptCand{key: promptKeyOf(c.new)} // text unknown: recomputed
		}
		d.add(c.new, pc, +1)
	}
	if err := w.applyDeltas(d); err != nil {
		return res, err
	}
	res.Spans = int64(len(gone))
	res.Annotations, err = w.deleteOrphanAnnotations(proj, project, traces, gone)
	return res, err
}

// deleteOrphanAnnotations deletes the annotations on the deleted spans,
// on the traces left without spans and on the conversations left without
// spans.
func (w *writeTx) deleteOrphanAnnotations(proj int64, project string, traces []string, gone []*rowState) (int64, error) {
	var n int64
	del := func(q string, args ...any) error {
		r, err := w.exec(q, args...)
		if err != nil {
			return err
		}
		k, err := r.RowsAffected()
		n += k
		return err
	}
	convs := map[string]bool{}
	for _, r := range gone {
		convs[r.d.ConvKey] = true
		if err := del("DELETE FROM annotations WHERE project_id = ? AND ref = ? AND trace_id IN (?, '')",
			project, store.SpanRef(r.spanID), r.traceID); err != nil {
			return n, err
		}
	}
	for _, t := range traces {
		var left int
		if err := w.tx.QueryRowContext(w.ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM spans WHERE proj = ? AND trace_id = ? LIMIT 1)", proj, t).Scan(&left); err != nil {
			return n, fmt.Errorf("sqlite: delete: %w", err)
		}
		if left == 0 {
			if err := del("DELETE FROM annotations WHERE project_id = ? AND ref = ?", project, store.TurnRef(t)); err != nil {
				return n, err
			}
		}
	}
	for c := range convs {
		var left int
		if err := w.tx.QueryRowContext(w.ctx, "SELECT COUNT(*) FROM conversations WHERE proj = ? AND conv_key = ? AND span_count > 0", proj, c).Scan(&left); err != nil {
			return n, fmt.Errorf("sqlite: delete: %w", err)
		}
		if left == 0 {
			if err := del("DELETE FROM annotations WHERE project_id = ? AND ref = ?", project, store.ConversationRef(c)); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// freeContent frees the content nothing references any more
// (collect.go).
func (s *Store) freeContent(ctx context.Context) error { return s.collectGarbage(ctx) }

// freeContentSoon runs freeContent in the background, once at a time;
// asked again while it runs, it runs once more after. Close waits for it.
func (s *Store) freeContentSoon() {
	s.gcAgain.Store(true)
	if !s.gcRunning.CompareAndSwap(false, true) {
		return
	}
	s.gcDone.Add(1)
	go func() {
		defer s.gcDone.Done()
		for {
			for s.gcAgain.Swap(false) && !s.isClosed.Load() {
				if err := s.freeContent(context.Background()); err != nil && !s.isClosed.Load() {
					s.log.Warn("freeing deleted content failed", "err", err)
				}
				s.gcRuns.Add(1)
			}
			s.gcRunning.Store(false)
			// Asked again between the last check and now: go on.
			if !s.gcAgain.Load() || s.isClosed.Load() || !s.gcRunning.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

// pruneMetricPoints deletes the OTLP metric points older than cutoff, in
// transactions of at most pruneMetricRows rows.
func (s *Store) pruneMetricPoints(ctx context.Context, cutoff int64) error {
	for {
		var n int64
		err := s.inWriteTx(ctx, func(w *writeTx) error {
			res, err := w.exec(`DELETE FROM metric_points WHERE (project_id, series_id, time_ns) IN
				(SELECT project_id, series_id, time_ns FROM metric_points WHERE time_ns < ? LIMIT ?)`, cutoff, pruneMetricRows)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: prune metric points: %w", err)
		}
		if n < pruneMetricRows {
			return nil
		}
	}
}

// pruneMetricRows is how many metric points one DeleteBefore transaction
// deletes.
const pruneMetricRows = 10000
