package sqlite

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weavetrace/weave/server/store"
)

var _ store.Pruner = (*Store)(nil)

// pruneTraces is how many traces one DeleteBefore transaction handles, so
// that ingest is held up for at most one short transaction at a time.
const pruneTraces = 200

// DeleteBefore implements store.Pruner. It works trace by trace, in
// transactions of pruneTraces traces: the deleted spans' contributions are
// subtracted from the rollups and the search groups exactly as a re-write
// would, and the remaining spans of each trace are re-derived. It then
// frees the texts, pages, attribute sets and resources nothing references
// (one transaction that reads every span's details; on a store of a
// million spans that takes seconds, during which writes wait). The file
// does not shrink: SQLite reuses the freed pages (VACUUM returns them to
// the file system; see README.md).
func (s *Store) DeleteBefore(ctx context.Context, t time.Time) (int64, error) {
	cutoff := store.ClampNanos(t)
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
		for {
			var n int64
			var more bool
			err := s.inWriteTx(ctx, func(w *writeTx) error {
				var err error
				n, more, err = w.pruneBatch(proj, cutoff)
				return err
			})
			if err != nil {
				return deleted, err
			}
			deleted += n
			if !more {
				break
			}
		}
	}
	if err := s.pruneMetricPoints(ctx, cutoff); err != nil {
		return deleted, err
	}
	if deleted == 0 {
		return 0, nil
	}
	if err := s.inWriteTx(ctx, func(w *writeTx) error { return w.collectGarbage() }); err != nil {
		return deleted, err
	}
	s.wmu.Lock()
	err = s.w.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM texts").Scan(&s.textMax)
	s.wmu.Unlock()
	if err != nil {
		return deleted, fmt.Errorf("sqlite: prune: %w", err)
	}
	s.cache.reset()
	s.log.Info("pruned spans", "before", t.UTC().Format(time.RFC3339), "spans", deleted)
	return deleted, nil
}

// pruneBatch deletes the old spans of up to pruneTraces traces of a
// project; more reports that there may be others.
func (w *writeTx) pruneBatch(proj, cutoff int64) (deleted int64, more bool, err error) {
	rows, err := w.tx.QueryContext(w.ctx, `SELECT DISTINCT trace_id FROM spans INDEXED BY spans_started
		WHERE proj = ? AND started_at < ? LIMIT ?`, proj, cutoff, pruneTraces)
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: prune: %w", err)
	}
	var traces []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, false, fmt.Errorf("sqlite: prune: %w", err)
		}
		traces = append(traces, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, false, fmt.Errorf("sqlite: prune: %w", err)
	}
	var changes []*change
	var gone []*rowState
	for _, trace := range traces {
		old, err := w.loadTrace(proj, trace)
		if err != nil {
			return 0, false, err
		}
		var kept []*rowState
		for _, r := range old {
			if r.started < cutoff {
				gone = append(gone, r)
			} else {
				kept = append(kept, r)
			}
		}
		nodes := make([]node, len(kept))
		for i, r := range kept {
			nodes[i] = r.node()
		}
		ders := deriveTrace(trace, nodes)
		for i, r := range kept {
			if r.d == ders[i] {
				continue
			}
			convID, err := w.conv(proj, ders[i].convKey)
			if err != nil {
				return 0, false, err
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
		return 0, false, err
	}
	for _, c := range changes {
		if err := w.updateDerived(c.new); err != nil {
			return 0, false, err
		}
		if c.movedConv() {
			w.noteSearch(c.old, c.new, keys[c.old.pk], keys[c.old.pk])
		}
	}
	for _, r := range gone {
		if _, err := w.exec("DELETE FROM spans WHERE pk = ?", r.pk); err != nil {
			return 0, false, err
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
		return 0, false, err
	}
	return int64(len(gone)), len(traces) == pruneTraces, nil
}

// collectGarbage frees the content no span references: it marks the
// texts, pages and raw_span chunks reachable from every span's details,
// then deletes the rest, and the unreferenced attribute sets and
// resources.
func (w *writeTx) collectGarbage() error {
	// The search index refers to texts too. Bring it up to date first: no
	// write can commit meanwhile (this transaction holds the writer), so
	// afterwards its groups refer only to texts of the spans read below.
	if err := w.s.syncSearch(w.ctx); err != nil {
		return err
	}
	pages := make(map[int64]bool)      // message pages
	chunkPages := make(map[int64]bool) // raw_span chunk-id pages
	chunks := make(map[int64]bool)
	texts := make(map[int64]bool)
	markShapes := func(list []shape) {
		for _, sh := range list {
			for _, p := range sh.parts {
				for _, id := range p.ids() {
					if id != 0 {
						texts[id] = true
					}
				}
			}
		}
	}
	rows, err := w.tx.QueryContext(w.ctx, "SELECT pk, details FROM spans")
	if err != nil {
		return fmt.Errorf("sqlite: collect garbage: %w", err)
	}
	for rows.Next() {
		var pk int64
		var b []byte
		if err := rows.Scan(&pk, &b); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: collect garbage: %w", err)
		}
		x, err := decodeDetails(b)
		if err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: collect garbage: span %d: %w", pk, err)
		}
		for _, id := range x.inPages {
			pages[id] = true
		}
		markShapes(x.inTail)
		markShapes(x.out)
		for _, id := range append(x.sys, x.args, x.result) {
			if id != 0 {
				texts[id] = true
			}
		}
		if x.rawForm != nil {
			pg, ch := x.rawForm.refs()
			for _, id := range pg {
				chunkPages[id] = true
			}
			for _, id := range ch {
				chunks[id] = true
			}
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite: collect garbage: %w", err)
	}
	var pageIDs []int64
	for id := range pages {
		pageIDs = append(pageIDs, id)
	}
	lists, err := loadPages(w.ctx, w.tx, pageIDs)
	if err != nil {
		return err
	}
	for _, list := range lists {
		markShapes(list)
	}
	var chunkPageIDs []int64
	for id := range chunkPages {
		chunkPageIDs = append(chunkPageIDs, id)
		pages[id] = true
	}
	if err := loadByIDs(w.ctx, w.tx, "pages", "refs", chunkPageIDs, func(id int64, v []byte) error {
		ids, err := decodeIDs(v)
		if err != nil {
			return fmt.Errorf("sqlite: collect garbage: chunk page %d: %w", id, err)
		}
		for _, c := range ids {
			chunks[c] = true
		}
		return nil
	}); err != nil {
		return err
	}
	sweep := func(table string, live map[int64]bool) error {
		rows, err := w.tx.QueryContext(w.ctx, "SELECT id FROM "+table)
		if err != nil {
			return fmt.Errorf("sqlite: collect garbage: %w", err)
		}
		var dead []int64
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: collect garbage: %w", err)
			}
			if !live[id] {
				dead = append(dead, id)
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("sqlite: collect garbage: %w", err)
		}
		for _, id := range dead {
			if _, err := w.exec("DELETE FROM "+table+" WHERE id = ?", id); err != nil {
				return err
			}
		}
		return nil
	}
	if err := sweep("pages", pages); err != nil {
		return err
	}
	if err := sweep("texts", texts); err != nil {
		return err
	}
	if err := sweep("chunks", chunks); err != nil {
		return err
	}
	for _, q := range []string{
		"DELETE FROM attrsets WHERE id NOT IN (SELECT attrs_id FROM spans WHERE attrs_id IS NOT NULL)",
		"DELETE FROM resources WHERE id NOT IN (SELECT resource_id FROM spans WHERE resource_id IS NOT NULL)",
	} {
		if _, err := w.tx.ExecContext(w.ctx, q); err != nil {
			return fmt.Errorf("sqlite: collect garbage: %w", err)
		}
	}
	return nil
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
