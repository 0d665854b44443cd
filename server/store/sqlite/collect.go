package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// The collection of the content no span references any more (texts,
// pages, raw-span chunks, attribute sets, resources) after a delete. It
// holds the writer only briefly, so that writes go on meanwhile:
//
//  1. start (one short write transaction): the highest id of each content
//     table is taken as its watermark, and temporary triggers on the
//     writer's connection begin to note every span inserted or whose
//     references change (temp.gc_dirty).
//  2. mark (read connections, the writer free): the spans are read by pk
//     in batches of gcSpanBatch, every content id they reference, directly
//     or through the pages, is marked live; then the ids of each table up
//     to its watermark that nothing marked are listed as dead.
//  3. sweep (write transactions of at most gcSweepRows deletes): each first
//     marks what the spans noted since reference (a write may reuse any
//     stored content: content is shared by digest, and the writer caches
//     ids) and brings the search index up to date (its groups name texts),
//     then deletes dead rows that are still unmarked, set-based.
//
// Content inserted after the start has an id above the watermark and is
// never a candidate. A span deleted meanwhile only keeps its content one
// collection longer.

// gcSpanBatch is how many spans one read of the mark takes.
const gcSpanBatch = 2000

// gcSweepRows is how many rows one sweep transaction deletes at most.
const gcSweepRows = 2000

// gcTables are the content tables, in the order they are swept.
var gcTables = [...]string{"texts", "pages", "chunks", "attrsets", "resources"}

const (
	gcTexts = iota
	gcPages
	gcChunks
	gcAttrs
	gcResources
)

// gcSet is a set of the ids of one table up to its watermark.
type gcSet struct {
	max  int64
	bits []uint64
}

func newGCSet(max int64) gcSet { return gcSet{max: max, bits: make([]uint64, max/64+1)} }

// add marks id and reports whether it was not marked yet. Ids above the
// watermark are not tracked (they are never swept).
func (g *gcSet) add(id int64) bool {
	if id <= 0 || id > g.max {
		return false
	}
	w, b := id/64, uint64(1)<<(id%64)
	if g.bits[w]&b != 0 {
		return false
	}
	g.bits[w] |= b
	return true
}

func (g *gcSet) has(id int64) bool {
	return id > g.max || id <= 0 || g.bits[id/64]&(uint64(1)<<(id%64)) != 0
}

// marker is the live set of a collection.
type marker struct {
	live [len(gcTables)]gcSet
	// A page is read for what it lists once: as a message page (texts)
	// or as a chunk-id page (chunks); pages above the watermark (new
	// since the start) are tracked by id.
	msgPages, chunkPages gcSet
	newPages             map[[2]int64]bool
	toRead               [2][]int64 // message pages, chunk-id pages
	dead                 [len(gcTables)][]int64
	stats                gcStats
}

// span marks what one span references.
func (m *marker) span(pk int64, attrs, res sql.NullInt64, b sql.RawBytes) error {
	if attrs.Valid {
		m.live[gcAttrs].add(attrs.Int64)
	}
	if res.Valid {
		m.live[gcResources].add(res.Int64)
	}
	if err := m.details(b); err != nil {
		return fmt.Errorf("sqlite: collect garbage: span %d: %w", pk, err)
	}
	return nil
}

// details marks what a details blob references. It walks the encoding
// decodeDetails reads without building the values (a third of the mark's
// time went to decoding them); TestMarkerDetails checks both agree.
func (m *marker) details(b []byte) error {
	d := decoder{b: b}
	v := d.byte1()
	if (v < 1 || v > detailsVersionFields) && d.err == nil {
		return fmt.Errorf("sqlite: span details version %d unknown", v)
	}
	for n := d.count(); n > 0 && d.err == nil; n-- {
		m.page(d.id(), 0)
	}
	m.shapes(&d)
	m.shapes(&d)
	for n := d.count(); n > 0 && d.err == nil; n-- {
		m.live[gcTexts].add(d.id())
	}
	m.live[gcTexts].add(d.id()) // tool call arguments
	m.live[gcTexts].add(d.id()) // tool call result
	d.raw()                     // events
	if v >= 2 && d.byte1() == 1 {
		for n := d.count(); n > 0 && d.err == nil; n-- {
			switch k := d.byte1(); {
			case k == 0:
				d.raw()
			case v == detailsVersionFields && (rawField(k) == rawResult || rawField(k) == rawArgs):
				// the tool-call result or arguments, marked above
			case k == 1:
				for k := d.count(); k > 0 && d.err == nil; k-- {
					m.page(d.id(), 1)
				}
				for k := d.count(); k > 0 && d.err == nil; k-- {
					m.live[gcChunks].add(d.id())
				}
			default:
				d.fail()
			}
		}
	} else {
		d.raw()
	}
	return d.done()
}

// shapes marks the texts of a list of shapes (decoder.shapes's encoding).
func (m *marker) shapes(d *decoder) {
	texts := &m.live[gcTexts]
	for n := d.count(); n > 0 && d.err == nil; n-- {
		d.raw() // role
		d.raw() // name
		d.raw() // finish
		for k := d.count(); k > 0 && d.err == nil; k-- {
			d.raw() // type
			f := d.byte1()
			if f&flagContent != 0 {
				texts.add(d.id())
			}
			if f&flagInline != 0 {
				d.raw()
			}
			if f&flagArgs != 0 {
				texts.add(d.id())
			}
			if f&flagResp != 0 {
				texts.add(d.id())
			}
			if f&flagRespRaw != 0 {
				texts.add(d.id())
			}
			if f&flagMeta != 0 {
				for range 6 { // id, name, mime, modality, file id, uri
					d.raw()
				}
			}
		}
	}
}

// page marks a page and queues it to be read (kind 0: messages, 1: chunk
// ids) the first time.
func (m *marker) page(id int64, kind int) {
	m.live[gcPages].add(id)
	seen := &m.msgPages
	if kind == 1 {
		seen = &m.chunkPages
	}
	if id > seen.max {
		if m.newPages[[2]int64{id, int64(kind)}] {
			return
		}
		m.newPages[[2]int64{id, int64(kind)}] = true
	} else if !seen.add(id) {
		return
	}
	m.toRead[kind] = append(m.toRead[kind], id)
}

// readPages marks what the queued pages list.
func (m *marker) readPages(ctx context.Context, q queryer) error {
	msgs, chunkLists := m.toRead[0], m.toRead[1]
	m.toRead = [2][]int64{}
	err := loadByIDs(ctx, q, "pages", "refs", msgs, func(id int64, v []byte) error {
		d := decoder{b: v}
		m.shapes(&d)
		if err := d.done(); err != nil {
			return fmt.Errorf("sqlite: collect garbage: page %d: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return loadByIDs(ctx, q, "pages", "refs", chunkLists, func(id int64, v []byte) error {
		d := decoder{b: v}
		for n := d.count(); n > 0 && d.err == nil; n-- {
			m.live[gcChunks].add(d.id())
		}
		if err := d.done(); err != nil {
			return fmt.Errorf("sqlite: collect garbage: chunk page %d: %w", id, err)
		}
		return nil
	})
}

// scanSpans marks what the spans of a query's rows (pk, attrs_id,
// resource_id, details) reference, and what their pages list; it returns
// the highest pk read and how many rows.
func (m *marker) scanSpans(ctx context.Context, q queryer, query string, args ...any) (last int64, n int, err error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: collect garbage: %w", err)
	}
	for rows.Next() {
		var attrs, res sql.NullInt64
		var b sql.RawBytes // not copied: walked before the next row
		if err := rows.Scan(&last, &attrs, &res, &b); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("sqlite: collect garbage: %w", err)
		}
		n++
		m.stats.spans++
		if err := m.span(last, attrs, res, b); err != nil {
			rows.Close()
			return 0, 0, err
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, 0, fmt.Errorf("sqlite: collect garbage: %w", err)
	}
	return last, n, m.readPages(ctx, q)
}

// gcAfterMark, when set (tests), runs between the mark and the sweep;
// gcObserve, when set (tests, benchmarks), is told what each collection
// did.
var (
	gcAfterMark func()
	gcObserve   func(gcStats)
)

// gcStats is what a collection did.
type gcStats struct {
	mark    time.Duration // the mark, on the read connections
	spans   int           // spans read by the mark
	rounds  int           // sweep transactions
	longest time.Duration // the longest of them (the writer held)
	sweep   time.Duration // all of them
	freed   [len(gcTables)]int
	dirty   int // spans written during the collection, marked by the sweep
}

func (g gcStats) logArgs() []any {
	args := []any{"mark_ms", g.mark.Milliseconds(), "spans_read", g.spans, "sweep_ms", g.sweep.Milliseconds(),
		"sweep_transactions", g.rounds, "longest_transaction_ms", g.longest.Milliseconds(), "spans_written_meanwhile", g.dirty}
	for i, t := range gcTables {
		args = append(args, t+"_freed", g.freed[i])
	}
	return args
}

// collectGarbage runs a collection (see above).
func (s *Store) collectGarbage(ctx context.Context) error {
	s.gcMu.Lock()
	defer s.gcMu.Unlock()
	m, err := s.gcStart(ctx)
	if err != nil {
		return err
	}
	defer s.gcStop()
	t0 := time.Now()
	if err := s.gcMark(ctx, m); err != nil {
		return err
	}
	m.stats.mark = time.Since(t0)
	if gcAfterMark != nil {
		gcAfterMark()
	}
	for {
		t0 := time.Now()
		more, err := s.gcSweep(ctx, m)
		d := time.Since(t0)
		m.stats.rounds++
		m.stats.sweep += d
		m.stats.longest = max(m.stats.longest, d)
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	s.log.Info("freed deleted content", m.stats.logArgs()...)
	if gcObserve != nil {
		gcObserve(m.stats)
	}
	return nil
}

// gcStart takes the watermarks and starts noting the spans written.
func (s *Store) gcStart(ctx context.Context) (*marker, error) {
	m := &marker{newPages: map[[2]int64]bool{}}
	err := s.inWriteTx(ctx, func(w *writeTx) error {
		for i, t := range gcTables {
			var max int64
			if err := w.tx.QueryRowContext(w.ctx, "SELECT COALESCE(MAX(id), 0) FROM "+t).Scan(&max); err != nil {
				return fmt.Errorf("sqlite: collect garbage: %w", err)
			}
			m.live[i] = newGCSet(max)
		}
		m.msgPages, m.chunkPages = newGCSet(m.live[gcPages].max), newGCSet(m.live[gcPages].max)
		for _, q := range []string{
			"CREATE TEMP TABLE IF NOT EXISTS gc_dirty (pk INTEGER PRIMARY KEY)",
			"DELETE FROM temp.gc_dirty",
			"CREATE TEMP TRIGGER IF NOT EXISTS gc_spans_insert AFTER INSERT ON main.spans BEGIN INSERT OR IGNORE INTO gc_dirty (pk) VALUES (NEW.pk); END",
			"CREATE TEMP TRIGGER IF NOT EXISTS gc_spans_update AFTER UPDATE OF details, attrs_id, resource_id ON main.spans BEGIN INSERT OR IGNORE INTO gc_dirty (pk) VALUES (NEW.pk); END",
		} {
			if _, err := w.tx.ExecContext(w.ctx, q); err != nil {
				return fmt.Errorf("sqlite: collect garbage: %w", err)
			}
		}
		return nil
	})
	return m, err
}

// gcStop drops the triggers and what they noted, and lowers the highest
// text id the search log records to what is left.
func (s *Store) gcStop() {
	err := s.inWriteTx(context.Background(), func(w *writeTx) error {
		for _, q := range []string{"DROP TRIGGER IF EXISTS temp.gc_spans_insert", "DROP TRIGGER IF EXISTS temp.gc_spans_update", "DROP TABLE IF EXISTS temp.gc_dirty"} {
			if _, err := w.tx.ExecContext(w.ctx, q); err != nil {
				return err
			}
		}
		return w.tx.QueryRowContext(w.ctx, "SELECT COALESCE(MAX(id), 0) FROM texts").Scan(&w.s.textMax)
	})
	if err != nil && !errors.Is(err, errClosed) {
		s.log.Warn("ending a content collection failed", "err", err)
	}
}

// gcMark marks what every span references, reading on the read
// connections, then lists the dead ids of each table.
func (s *Store) gcMark(ctx context.Context, m *marker) error {
	var last int64
	for {
		if s.isClosed.Load() {
			return errClosed
		}
		var n int
		var err error
		last, n, err = m.scanSpans(ctx, s.r, "SELECT pk, attrs_id, resource_id, details FROM spans WHERE pk > ? ORDER BY pk LIMIT ?", last, gcSpanBatch)
		if err != nil {
			return err
		}
		if n < gcSpanBatch {
			break
		}
	}
	for i, t := range gcTables {
		live := &m.live[i]
		if live.max == 0 {
			continue
		}
		// Without a WHERE on the id the plan is a scan of the digest
		// index (covering, 30 bytes a row) rather than of the table and
		// its bodies: 2-4x less CPU.
		rows, err := s.r.QueryContext(ctx, "SELECT id FROM "+t)
		if err != nil {
			return fmt.Errorf("sqlite: collect garbage: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: collect garbage: %w", err)
			}
			if id <= live.max && !live.has(id) {
				m.dead[i] = append(m.dead[i], id)
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("sqlite: collect garbage: %w", err)
		}
		slices.Sort(m.dead[i]) // deleted in id order: neighbours share pages
	}
	return nil
}

// gcSweep is one sweep transaction; it reports whether dead rows are
// left.
func (s *Store) gcSweep(ctx context.Context, m *marker) (bool, error) {
	more := false
	err := s.inWriteTx(ctx, func(w *writeTx) error {
		var ok int
		if err := w.tx.QueryRowContext(w.ctx, "SELECT COUNT(*) FROM temp.sqlite_master WHERE name IN ('gc_spans_insert', 'gc_spans_update')").Scan(&ok); err != nil || ok != 2 {
			return fmt.Errorf("sqlite: collect garbage: the writer's connection lost its triggers (%d, %v)", ok, err)
		}
		_, dirty, err := m.scanSpans(w.ctx, w.tx, "SELECT s.pk, s.attrs_id, s.resource_id, s.details FROM temp.gc_dirty d JOIN spans s ON s.pk = d.pk")
		if err != nil {
			return err
		}
		m.stats.dirty += dirty
		m.stats.spans -= dirty
		if _, err := w.tx.ExecContext(w.ctx, "DELETE FROM temp.gc_dirty"); err != nil {
			return fmt.Errorf("sqlite: collect garbage: %w", err)
		}
		if err := w.s.syncSearch(w.ctx); err != nil {
			return err
		}
		budget := gcSweepRows
		for i, t := range gcTables {
			var ids []byte
			n := 0
			for budget > 0 && len(m.dead[i]) > 0 {
				id := m.dead[i][0]
				m.dead[i] = m.dead[i][1:]
				if m.live[i].has(id) {
					continue
				}
				ids = strconv.AppendInt(append(ids, ','), id, 10)
				n++
				budget--
			}
			more = more || len(m.dead[i]) > 0
			if n == 0 {
				continue
			}
			ids[0] = '['
			if _, err := w.exec("DELETE FROM "+t+" WHERE id IN (SELECT value FROM json_each(?))", string(append(ids, ']'))); err != nil {
				return err
			}
			m.stats.freed[i] += n
		}
		w.s.cache.reset()
		return nil
	})
	return more, err
}
