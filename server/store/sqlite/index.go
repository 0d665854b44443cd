package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weavetrace/weave/server/store"
)

// The search index (msg_groups and the groups_fts full-text index) lives
// in a second database file beside the main one, <path>-search, written by
// its own connection. Writes do not index: each write transaction appends
// its span changes to search_log in the main file (one row, durable with
// the spans), and the indexer applies the log in order, in passes of many
// writes, to the search file, recording there the last row applied. Both
// files have their own write lock, so indexing runs on another core while
// the next batch is written.
//
// Freshness: SearchMessages and QueryConversations (with Search) first
// apply whatever is logged, so they see every write that returned before
// they were called. A background pass starts after each write while
// changes are pending; writers help index (in their own goroutine, after
// their commit) once more than maxBacklog span changes are pending, so a
// search never has more than that to catch up on.
//
// The search file is derived data: a missing, foreign (another main file's),
// outdated or half-rebuilt one is rebuilt from the spans in the background,
// and searches return what is indexed so far until that is done.

const (
	// searchSchemaVersion is bumped when the search file's layout or the
	// grouping rule changes; an older file is rebuilt. 2: the output of an
	// invoke_agent span that answers a tool call is a tool_result.
	searchSchemaVersion = 2
	// maxBacklog bounds the span changes logged and not yet indexed.
	maxBacklog = 20_000
	// passChanges bounds the span changes one pass applies.
	passChanges = 10_000
	// rebuildChunk is how many spans a rebuild indexes per transaction.
	rebuildChunk = 2_000
)

const searchSchema = `
CREATE TABLE IF NOT EXISTS meta (
    k TEXT PRIMARY KEY,
    v ANY
) WITHOUT ROWID;

-- Message search: one row per (conversation, role, text) with the number
-- of spans carrying it and its first occurrence (spans.pk in the main
-- file). gid orders groups by the millisecond of first_at (gid >> 20), the
-- low 20 bits tell groups of one millisecond apart; it is the rowid of the
-- group's document in groups_fts, so a search walks matches newest first.
CREATE TABLE IF NOT EXISTS msg_groups (
    conv_id    INTEGER NOT NULL,
    role       TEXT NOT NULL,
    text_id    INTEGER NOT NULL,
    proj       INTEGER NOT NULL,
    span_count INTEGER NOT NULL,
    first_at   INTEGER NOT NULL,
    first_pk   INTEGER NOT NULL,
    gid        INTEGER NOT NULL,
    PRIMARY KEY (conv_id, role, text_id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS msg_groups_gid ON msg_groups (gid);

-- Full-text index, one document per search group (rowid = gid): meta
-- holds filter tokens (p<project id> c<conversation id> r<hex role>), body
-- the indexed text (textsearch.IndexText of the text). Contentless:
-- snippets are built from texts.body in the main file.
CREATE VIRTUAL TABLE IF NOT EXISTS groups_fts USING fts5(
    meta,
    body,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);
-- Merge segments 16 at a time instead of 4 (crisis merge at 32 instead of
-- 16), and let the in-memory index grow to 16 MiB before it is flushed as a
-- segment instead of 1 MiB (a pass's documents then make one segment, not
-- one per MiB): together about a third less indexing work than automerge 8
-- alone, for a few more segments per search. Settings persist in the file;
-- they are applied again at every open.
INSERT INTO groups_fts (groups_fts, rank) VALUES ('automerge', 16);
INSERT INTO groups_fts (groups_fts, rank) VALUES ('crisismerge', 32);
INSERT INTO groups_fts (groups_fts, rank) VALUES ('hashsize', 16777216);
`

// indexer is the state of the search index.
type indexer struct {
	path string
	db   *sql.DB // the search file, one connection

	mu store.CtxMutex // one pass at a time; guards c
	c  *stmtCache

	applied atomic.Int64 // the last search_log seq applied (durable)
	pending atomic.Int64 // span changes logged and not applied
	rebuild atomic.Bool  // the index must be (is being) rebuilt

	runMu   sync.Mutex // guards running, closed and manual
	running bool       // a background pass loop is running
	closed  bool
	manual  bool // tests: no background passes (searches and writers still index)

	maxBacklog int64 // maxBacklog, lowered by tests
	wg         sync.WaitGroup
	ctx        context.Context // canceled by Close
	cancel     context.CancelFunc

	failMu   sync.Mutex
	lastFail time.Time // last failure logged (failures are logged at most once a minute)

	// Texts the writer just inserted, so that the indexer need not read
	// them back from the main file: id → body and the log seq that
	// brought it. Bounded; entries go once their seq is applied.
	recentMu    sync.Mutex
	recent      map[int64]recentText
	recentBytes int
}

type recentText struct {
	body string
	seq  int64
}

// textBody is a text and its id.
type textBody struct {
	id   int64
	body string
}

// maxRecentBytes bounds the texts handed from the writer to the indexer.
const maxRecentBytes = 64 << 20

// handOff keeps the texts a write inserted (log seq seq) for the indexer.
func (ix *indexer) handOff(seq int64, texts []textBody) {
	ix.recentMu.Lock()
	defer ix.recentMu.Unlock()
	if ix.recent == nil {
		ix.recent = make(map[int64]recentText)
	}
	for _, t := range texts {
		if ix.recentBytes+len(t.body) > maxRecentBytes {
			return // the indexer reads the rest from the main file
		}
		ix.recent[t.id] = recentText{t.body, seq}
		ix.recentBytes += len(t.body)
	}
}

// forget drops the handed-off texts of log rows up to seq.
func (ix *indexer) forget(seq int64) {
	ix.recentMu.Lock()
	defer ix.recentMu.Unlock()
	for id, t := range ix.recent {
		if t.seq <= seq {
			delete(ix.recent, id)
			ix.recentBytes -= len(t.body)
		}
	}
}

// openIndex opens (creating it if needed) the search file and decides
// whether it must be rebuilt.
func (s *Store) openIndex(ctx context.Context, syncMode string) error {
	path := s.path + "-search"
	ix := &indexer{path: path, maxBacklog: maxBacklog, mu: store.NewCtxMutex()}
	ix.ctx, ix.cancel = context.WithCancel(context.Background())
	s.ix = ix
	open := func() error {
		dsn := "file:" + escapePath(path) + "?" + strings.Join([]string{
			"_pragma=busy_timeout(10000)",
			"_pragma=journal_mode(WAL)",
			"_pragma=synchronous(" + syncMode + ")",
			"_pragma=temp_store(MEMORY)",
			"_pragma=cache_size(" + strconv.Itoa(-s.ixCacheMB*1024) + ")",
			"_pragma=wal_autocheckpoint(10000)",
			"_pragma=journal_size_limit(67108864)",
			"_txlock=immediate",
		}, "&")
		ix.db = sql.OpenDB(connector{dsn: dsn})
		ix.db.SetMaxOpenConns(1)
		ix.db.SetMaxIdleConns(1)
		ix.db.SetConnMaxLifetime(0)
		ix.db.SetConnMaxIdleTime(0)
		if _, err := ix.db.ExecContext(ctx, searchSchema); err != nil {
			ix.db.Close()
			return err
		}
		return nil
	}
	if err := open(); err != nil {
		// The search file is derived data: start it again.
		s.log.Warn("search index file unreadable, rebuilding it", "path", path, "err", err)
		if err := removeDB(path); err != nil {
			return fmt.Errorf("sqlite: remove search index: %w", err)
		}
		if err := open(); err != nil {
			return fmt.Errorf("sqlite: open search index %s: %w", path, err)
		}
	}
	ix.c = newStmtCache(ix.db, s.log)

	meta := map[string]sql.NullString{}
	rows, err := ix.db.QueryContext(ctx, "SELECT k, CAST(v AS TEXT) FROM meta")
	if err != nil {
		return fmt.Errorf("sqlite: read search index: %w", err)
	}
	for rows.Next() {
		var k string
		var v sql.NullString
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: read search index: %w", err)
		}
		meta[k] = v
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite: read search index: %w", err)
	}
	var applied int64
	if v := meta["applied"]; v.Valid {
		fmt.Sscan(v.String, &applied)
	}
	reason := ""
	switch {
	case len(meta) == 0:
		reason = "new search index"
	case meta["version"].String != fmt.Sprint(searchSchemaVersion):
		reason = "search index from another version"
	case meta["main_id"].String != s.mainID:
		reason = "search index of another database"
	case meta["rebuilding"].String == "1":
		reason = "interrupted rebuild"
	case applied < s.logPruned || applied > s.logSeq.Load():
		reason = "search index out of step with the database"
	}
	if reason != "" {
		var spans int64
		if err := s.w.QueryRowContext(ctx, "SELECT COUNT(*) FROM spans").Scan(&spans); err != nil {
			return fmt.Errorf("sqlite: open: %w", err)
		}
		if spans == 0 && len(meta) == 0 {
			// Nothing to rebuild: a fresh store.
			if err := s.resetIndex(ctx, s.logSeq.Load(), false); err != nil {
				return err
			}
			applied = s.logSeq.Load()
		} else {
			s.log.Info("search index will be rebuilt", "path", path, "reason", reason, "spans", spans)
			ix.rebuild.Store(true)
		}
	}
	ix.applied.Store(applied)
	var pending int64
	if err := s.w.QueryRowContext(ctx, "SELECT COALESCE(SUM(n), 0) FROM search_log WHERE seq > ?", applied).Scan(&pending); err != nil {
		return fmt.Errorf("sqlite: open: %w", err)
	}
	ix.pending.Store(pending)
	return nil
}

// resetIndex empties the search file and records it as matching this main
// file up to seq (rebuilding: still to be filled).
func (s *Store) resetIndex(ctx context.Context, seq int64, rebuilding bool) error {
	ix := s.ix
	t, err := ix.c.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: reset search index: %w", err)
	}
	flag := "0"
	if rebuilding {
		flag = "1"
	}
	for _, q := range []string{"DELETE FROM msg_groups", "DELETE FROM meta", "DROP TABLE groups_fts"} {
		if _, err := t.tx.ExecContext(ctx, q); err != nil {
			t.end(false)
			return fmt.Errorf("sqlite: reset search index: %w", err)
		}
	}
	if _, err := t.tx.ExecContext(ctx, searchSchema); err != nil {
		t.end(false)
		return fmt.Errorf("sqlite: reset search index: %w", err)
	}
	if _, err := t.tx.ExecContext(ctx, "INSERT INTO meta (k, v) VALUES ('version', ?), ('main_id', ?), ('applied', ?), ('rebuilding', ?)",
		fmt.Sprint(searchSchemaVersion), s.mainID, seq, flag); err != nil {
		t.end(false)
		return fmt.Errorf("sqlite: reset search index: %w", err)
	}
	// The statement cache may hold statements on the dropped table.
	ix.c.close()
	if err := t.end(true); err != nil {
		return fmt.Errorf("sqlite: reset search index: %w", err)
	}
	return nil
}

// idxTx is one indexer transaction: a write transaction on the search file
// and, opened when first needed, a read transaction on the main file (for
// span keys and text bodies), so that what it reads there is consistent.
type idxTx struct {
	*txn
	s        *Store
	main     *sql.Tx
	fts      []ftsOp
	newAbove int64 // texts above this id have no search group yet
}

func (x *idxTx) mainTx() (queryer, error) {
	if x.main == nil {
		tx, err := x.s.r.BeginTx(x.ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("sqlite: index: %w", err)
		}
		x.main = tx
	}
	return x.main, nil
}

// bodies returns texts, handed off by the writer or read from the main
// file; ids the main file does not hold are absent.
func (x *idxTx) bodies(ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	var read []int64
	ix := x.s.ix
	ix.recentMu.Lock()
	for _, id := range ids {
		if t, ok := ix.recent[id]; ok {
			out[id] = t.body
		} else {
			read = append(read, id)
		}
	}
	ix.recentMu.Unlock()
	if len(read) == 0 {
		return out, nil
	}
	q, err := x.mainTx()
	if err != nil {
		return nil, err
	}
	err = loadByIDs(x.ctx, q, "texts", "body", uniq(read), func(id int64, v []byte) error {
		out[id] = string(v)
		return nil
	})
	return out, err
}

func (x *idxTx) end(ok bool) error {
	if x.main != nil {
		x.main.Rollback()
		x.main = nil
	}
	return x.txn.end(ok)
}

// indexPass applies up to passChanges logged span changes (or, when the
// index must be rebuilt, rebuilds it). It reports whether it applied
// anything.
func (s *Store) indexPass(ctx context.Context) (bool, error) {
	ix := s.ix
	if err := ix.mu.LockCtx(ctx); err != nil {
		return false, fmt.Errorf("sqlite: index: waiting for the pass under way: %w", err)
	}
	defer ix.mu.Unlock()
	if ix.rebuild.Load() {
		return true, s.rebuildIndex(ctx)
	}
	applied := ix.applied.Load()
	if applied >= s.logSeq.Load() {
		return false, nil
	}
	rows, err := s.r.QueryContext(ctx, "SELECT seq, n, changes FROM search_log WHERE seq > ? ORDER BY seq", applied)
	if err != nil {
		return false, fmt.Errorf("sqlite: index: read search log: %w", err)
	}
	d := make(groupDeltas)
	last, n := applied, int64(0)
	newAbove := int64(-1)
	for rows.Next() {
		var seq, k int64
		var b []byte
		if err := rows.Scan(&seq, &k, &b); err != nil {
			rows.Close()
			return false, fmt.Errorf("sqlite: index: read search log: %w", err)
		}
		changes, textsBefore, err := decodeChanges(b)
		if err != nil {
			rows.Close()
			return false, fmt.Errorf("sqlite: index: search log row %d: %w", seq, err)
		}
		if newAbove < 0 {
			// Groups indexed so far come from earlier writes, which could
			// only refer to texts that existed before this one.
			newAbove = textsBefore
		}
		for i := range changes {
			d.add(&changes[i])
		}
		last, n = seq, n+k
		if n >= passChanges {
			break
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return false, fmt.Errorf("sqlite: index: read search log: %w", err)
	}
	if last == applied {
		return false, nil
	}
	if err := s.applyIndex(ctx, d, newAbove, last, false); err != nil {
		return false, err
	}
	ix.applied.Store(last)
	ix.pending.Add(-n)
	ix.forget(last)
	return true, nil
}

// applyIndex applies deltas in one transaction of the search file and
// records seq as applied (done: the rebuild is complete). Groups of texts
// above newAbove are known not to exist yet (-1: none is).
func (s *Store) applyIndex(ctx context.Context, d groupDeltas, newAbove, seq int64, done bool) error {
	t, err := s.ix.c.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: index: begin: %w", err)
	}
	x := &idxTx{txn: t, s: s, newAbove: newAbove}
	err = x.applyGroups(d)
	if err == nil {
		err = x.applyFTS()
	}
	if err == nil && seq >= 0 {
		_, err = x.exec("UPDATE meta SET v = ? WHERE k = 'applied'", seq)
	}
	if err == nil && done {
		_, err = x.exec("UPDATE meta SET v = '0' WHERE k = 'rebuilding'")
	}
	if err != nil {
		x.end(false)
		return err
	}
	if err := x.end(true); err != nil {
		return fmt.Errorf("sqlite: index: commit: %w", err)
	}
	return nil
}

// rebuildIndex indexes every stored span again, from one snapshot of the
// main file, then resumes applying the log after the last row that
// snapshot includes. Interrupted (Close, an error), it starts over next
// time.
func (s *Store) rebuildIndex(ctx context.Context) error {
	ix := s.ix
	start := time.Now()
	main, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: rebuild search index: %w", err)
	}
	defer main.Rollback()
	var seq int64
	if err := main.QueryRowContext(ctx, "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'search_log'), 0)").Scan(&seq); err != nil {
		return fmt.Errorf("sqlite: rebuild search index: %w", err)
	}
	if err := s.resetIndex(ctx, -1, true); err != nil {
		return err
	}
	var after, spans int64
	for {
		rows, err := main.QueryContext(ctx, "SELECT pk, proj, trace_id, span_id, started_at, conv_id FROM spans WHERE pk > ? ORDER BY pk LIMIT ?", after, rebuildChunk)
		if err != nil {
			return fmt.Errorf("sqlite: rebuild search index: %w", err)
		}
		var chunk []searchChange
		for rows.Next() {
			c := searchChange{new: &searchState{}}
			if err := rows.Scan(&c.pk, &c.proj, &c.trace, &c.span, &c.new.started, &c.new.conv); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: rebuild search index: %w", err)
			}
			chunk = append(chunk, c)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("sqlite: rebuild search index: %w", err)
		}
		if len(chunk) == 0 {
			break
		}
		pks := make([]int64, len(chunk))
		for i := range chunk {
			pks[i] = chunk[i].pk
		}
		keys, err := spanKeysFrom(ctx, main, pks)
		if err != nil {
			return err
		}
		d := make(groupDeltas)
		for i := range chunk {
			chunk[i].new.keys = keys[chunk[i].pk]
			d.add(&chunk[i])
		}
		if err := s.applyIndex(ctx, d, math.MaxInt64, -1, false); err != nil {
			return err
		}
		after = chunk[len(chunk)-1].pk
		spans += int64(len(chunk))
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	var pending int64
	if err := s.r.QueryRowContext(ctx, "SELECT COALESCE(SUM(n), 0) FROM search_log WHERE seq > ?", seq).Scan(&pending); err != nil {
		return fmt.Errorf("sqlite: rebuild search index: %w", err)
	}
	if err := s.applyIndex(ctx, nil, math.MaxInt64, seq, true); err != nil {
		return err
	}
	ix.applied.Store(seq)
	ix.pending.Store(pending)
	ix.rebuild.Store(false)
	s.log.Info("search index rebuilt", "path", ix.path, "spans", spans, "duration", time.Since(start).Round(time.Millisecond))
	return nil
}

// kickIndexer starts the background pass loop if changes are pending and
// it is not running.
func (s *Store) kickIndexer() {
	ix := s.ix
	ix.runMu.Lock()
	defer ix.runMu.Unlock()
	if ix.running || ix.closed || ix.manual || !s.indexBehind() {
		return
	}
	ix.running = true
	ix.wg.Add(1)
	go s.indexLoop()
}

func (s *Store) indexBehind() bool {
	return s.ix.rebuild.Load() || s.ix.applied.Load() < s.logSeq.Load()
}

// indexLoop runs passes until the index has caught up, then exits (the
// next write starts it again).
func (s *Store) indexLoop() {
	ix := s.ix
	defer ix.wg.Done()
	for {
		_, err := s.indexPass(ix.ctx)
		ix.runMu.Lock()
		if err != nil || ix.closed || !s.indexBehind() {
			ix.running = false
			ix.runMu.Unlock()
			if err != nil && ix.ctx.Err() == nil {
				s.indexFailed(err)
			}
			return
		}
		ix.runMu.Unlock()
	}
}

// indexFailed logs a failed pass, at most once a minute.
func (s *Store) indexFailed(err error) {
	ix := s.ix
	ix.failMu.Lock()
	defer ix.failMu.Unlock()
	if now := s.now(); now.Sub(ix.lastFail) >= time.Minute {
		ix.lastFail = now
		s.log.Error("search index pass failed", "path", ix.path, "pending", ix.pending.Load(), "err", err)
	}
}

// syncSearch applies every change logged before the call, so that a search
// sees every write that returned before it. While the index is being
// rebuilt it returns at once (searches see what is indexed so far).
func (s *Store) syncSearch(ctx context.Context) error {
	target := s.logSeq.Load()
	for {
		if s.ix.rebuild.Load() {
			s.kickIndexer()
			return nil
		}
		if s.ix.applied.Load() >= target {
			return nil
		}
		if _, err := s.indexPass(ctx); err != nil {
			return err
		}
	}
}

// relieveBacklog has a writer help the indexer while more than maxBacklog
// span changes are pending. A failing pass does not fail the write (it is
// committed); it is logged and left to the next pass.
func (s *Store) relieveBacklog(ctx context.Context) {
	for s.ix.pending.Load() > s.ix.maxBacklog && !s.ix.rebuild.Load() && ctx.Err() == nil {
		progressed, err := s.indexPass(ctx)
		if err != nil {
			if ctx.Err() == nil { // a cancelled request is no failure of the index
				s.indexFailed(err)
			}
			return
		}
		if !progressed {
			return
		}
	}
}

// closeIndex stops the background passes and closes the search file.
func (s *Store) closeIndex() error {
	ix := s.ix
	ix.runMu.Lock()
	ix.closed = true
	ix.runMu.Unlock()
	ix.cancel()
	ix.wg.Wait()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.c.close()
	if _, err := ix.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		s.log.Warn("wal checkpoint failed", "path", ix.path, "err", err)
	}
	return ix.db.Close()
}

// removeDB deletes a database file and its WAL and shared-memory files.
func removeDB(path string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}
