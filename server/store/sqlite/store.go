package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"database/sql/driver"

	sqlite "modernc.org/sqlite"

	"github.com/weavetrace/weave/server/store"
)

// Durability levels (Settings.Durability).
const (
	// DurabilityFull fsyncs the WAL on every commit: a WriteSpans that
	// returned survives a process crash and a power loss.
	DurabilityFull = "full"
	// DurabilityNormal fsyncs only at checkpoints: a returned write survives
	// a process crash but the last commits can be lost on power loss or an
	// OS crash. Faster when batches are small.
	DurabilityNormal = "normal"
)

// Settings configure a Store. The zero value is valid.
type Settings struct {
	// Logger receives the store's few log lines (migrations, slow
	// recomputations). Nil discards them.
	Logger *slog.Logger
	// Now is the clock for annotation timestamps and pending-event expiry.
	// Nil means time.Now.
	Now func() time.Time
	// Durability is DurabilityFull (default) or DurabilityNormal.
	Durability string
	// ReadConns bounds the pool of read connections (default 4).
	ReadConns int
	// CacheMB is SQLite's page cache per connection in MiB (default 64 for
	// the writer, a quarter of it for each reader). Under the pure-Go
	// SQLite each MiB of page cache takes about 2 MiB of memory: a 4 KiB
	// page with its header lands in an 8 KiB slot of its allocator.
	CacheMB int
	// IndexCacheMB is the search index's page cache in MiB (default 32).
	IndexCacheMB int
	// MemoMB bounds the memo of recent raw-span chunkings in MiB (default
	// 64): what lets a growing conversation history be chunked for what it
	// adds, not its whole length again.
	MemoMB int
	// PendingEventsMaxAge is how long events for spans that never arrive
	// are kept (default 24h; never less than one hour).
	PendingEventsMaxAge time.Duration
}

// Store is the SQLite implementation of store.Store.
type Store struct {
	path   string
	log    *slog.Logger
	now    func() time.Time
	maxAge time.Duration

	wmu        store.CtxMutex // serializes writes on w; guards wc and logPruned
	w          *sql.DB        // one connection
	wc         *stmtCache     // statements prepared on w
	r          *sql.DB        // read-only pool, with the search file attached as "search"
	lock       *os.File
	cache      *contentCache
	closeMu    sync.Mutex
	isClosed   atomic.Bool
	mainID     string       // store_meta id: ties the search file to this file
	logSeq     atomic.Int64 // the last search_log seq committed
	logPruned  int64        // search_log rows up to this seq are deleted
	textMax    int64        // the highest committed texts.id, guarded by wmu
	durability string       // Settings.Durability as applied
	cacheMB    int          // the writer's page cache as applied
	ixCacheMB  int          // the search index's page cache
	// insertShapes caches span INSERTs by which columns are empty (guarded by wmu).
	insertShapes map[uint64]string
	ix           *indexer     // the search index (index.go)
	group        *writeGroup  // WriteSpans calls waiting for the writer (groupcommit.go)
	commits      atomic.Int64 // write transactions committed (Stats)
	// pendingRows counts the rows of pending_events, which only this
	// process writes: never less than the table holds (rows are counted
	// before they are inserted and uncounted once their removal
	// committed), so 0 means none.
	pendingRows atomic.Int64
	memo        chunkMemo // recent raw-span chunkings (raw.go)

	projMu    sync.Mutex
	projIDs   map[string]int64 // committed projects
	projNames map[int64]string

	// The content collection a Delete starts (prune.go, collect.go).
	gcRunning, gcAgain atomic.Bool
	gcDone             sync.WaitGroup
	gcRuns             atomic.Int64 // collections finished (tests)
	gcMu               sync.Mutex   // one collection at a time (collect.go)
}

var _ store.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Open opens (creating if needed) the database file at path, applies the
// migrations the file lacks, and returns the store. The directory is
// created with mode 0700 if missing. A second Open of the same path, from
// this or another process, fails until the first is closed.
func Open(ctx context.Context, path string, s Settings) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: create data dir: %w", err)
	}
	st, err := newStore(abs, s)
	if err != nil {
		return nil, err
	}
	if st.lock, err = lockFile(abs + ".lock"); err != nil {
		return nil, err
	}
	readConns := s.ReadConns
	if readConns <= 0 {
		readConns = 4
	}
	if err := st.open(ctx, readConns); err != nil {
		if st.ix != nil && st.ix.db != nil {
			st.ix.cancel()
			st.ix.db.Close()
		}
		if st.w != nil {
			st.w.Close()
		}
		if st.r != nil {
			st.r.Close()
		}
		unlockFile(st.lock)
		return nil, err
	}
	return st, nil
}

// newStore is the Store of the database file abs with the settings'
// defaults applied, not yet open.
func newStore(abs string, s Settings) (*Store, error) {
	st := &Store{
		path:   abs,
		log:    s.Logger,
		now:    s.Now,
		maxAge: s.PendingEventsMaxAge,
		cache:  newContentCache(),
		group:  newWriteGroup(),
		wmu:    store.NewCtxMutex(),

		projIDs: make(map[string]int64),

		insertShapes: make(map[uint64]string),
		projNames:    make(map[int64]string),
	}
	if st.log == nil {
		st.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if st.now == nil {
		st.now = time.Now
	}
	if st.maxAge == 0 {
		st.maxAge = 24 * time.Hour
	}
	st.maxAge = max(st.maxAge, time.Hour)
	switch s.Durability {
	case "", DurabilityFull:
		st.durability = DurabilityFull
	case DurabilityNormal:
		st.durability = DurabilityNormal
	default:
		return nil, fmt.Errorf("sqlite: unknown durability %q (want %q or %q)", s.Durability, DurabilityFull, DurabilityNormal)
	}
	st.cacheMB = s.CacheMB
	if st.cacheMB <= 0 {
		st.cacheMB = 64
	}
	st.ixCacheMB = s.IndexCacheMB
	if st.ixCacheMB <= 0 {
		st.ixCacheMB = 32
	}
	if s.MemoMB > 0 {
		st.memo.limit = s.MemoMB << 20
	}
	return st, nil
}

// open opens the writer connection (migrating the schema), the search
// file and readConns reader connections; on error the caller closes what
// it opened.
func (st *Store) open(ctx context.Context, readConns int) error {
	syncMode := "FULL"
	if st.durability == DurabilityNormal {
		syncMode = "NORMAL"
	}
	base := "file:" + escapePath(st.path)
	common := []string{
		"_pragma=busy_timeout(10000)",
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(" + syncMode + ")",
		"_pragma=foreign_keys(0)",
		"_pragma=temp_store(MEMORY)",
	}
	wdsn := base + "?" + strings.Join(append(common,
		"_pragma=cache_size("+strconv.Itoa(-st.cacheMB*1024)+")",
		"_pragma=wal_autocheckpoint(10000)",
		"_pragma=journal_size_limit(67108864)",
		"_txlock=immediate",
	), "&")
	st.w = sql.OpenDB(connector{dsn: wdsn})
	st.w.SetMaxOpenConns(1)
	st.w.SetMaxIdleConns(1)
	st.w.SetConnMaxLifetime(0)
	st.w.SetConnMaxIdleTime(0)
	if err := st.w.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", st.path, err)
	}
	if err := st.migrate(ctx); err != nil {
		return err
	}
	if err := st.checkSchema(ctx); err != nil {
		return err
	}
	st.wc = newStmtCache(st.w, st.log)
	if err := st.readMeta(ctx); err != nil {
		return err
	}
	if err := st.openIndex(ctx, syncMode); err != nil {
		return err
	}
	rdsn := base + "?" + strings.Join(append(common,
		"_pragma=cache_size("+strconv.Itoa(-max(st.cacheMB/4, 2)*1024)+")",
		"_pragma=query_only(1)",
	), "&")
	st.r = sql.OpenDB(connector{dsn: rdsn, attach: "file:" + escapePath(st.ix.path)})
	st.r.SetMaxOpenConns(readConns)
	st.r.SetMaxIdleConns(readConns)
	st.r.SetConnMaxIdleTime(0)
	st.r.SetConnMaxLifetime(0)
	if err := st.r.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: open %s: %w", st.path, err)
	}
	return nil
}

// ourDriver is a private modernc driver carrying the SQL functions this
// package registers, so that they reach only this package's connections.
var ourDriver = sync.OnceValue(func() *sqlite.Driver {
	d := &sqlite.Driver{}
	// weave_lower is Unicode-aware lower-casing (SQLite's lower() folds
	// ASCII only), for case-insensitive "contains" filters.
	d.MustRegisterDeterministicScalarFunction("weave_lower", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return strings.ToLower(v), nil
		case []byte:
			return strings.ToLower(string(v)), nil
		case nil:
			return nil, nil
		default:
			return strings.ToLower(fmt.Sprint(v)), nil
		}
	})
	return d
})

// connector opens connections to one database file, attaching a second
// one (the search file, as schema "search") if attach is set.
type connector struct{ dsn, attach string }

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	conn, err := ourDriver().Open(c.dsn)
	if err != nil || c.attach == "" {
		return conn, err
	}
	if _, err := conn.(driver.ExecerContext).ExecContext(ctx, "ATTACH DATABASE ? AS search",
		[]driver.NamedValue{{Ordinal: 1, Value: c.attach}}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("sqlite: attach search index: %w", err)
	}
	return conn, nil
}

// escapePath renders a file path for a file: URI.
func escapePath(p string) string { return (&url.URL{Path: p}).EscapedPath() }

func (c connector) Driver() driver.Driver { return ourDriver() }

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close closes the connections (checkpointing the WAL into the main file)
// and releases the lock. Calls after the first return nil.
func (s *Store) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.isClosed.Swap(true) {
		return nil
	}
	s.gcDone.Wait() // a collection in progress finishes (its writes stop at isClosed)
	errI := s.closeIndex()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.wc.close()
	errR := s.r.Close()
	// A TRUNCATE checkpoint leaves a small WAL behind; failure is harmless
	// (the WAL is replayed on the next open).
	if _, err := s.w.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		s.log.Warn("wal checkpoint failed", "path", s.path, "err", err)
	}
	errW := s.w.Close()
	errL := unlockFile(s.lock)
	if err := errors.Join(errI, errR, errW, errL); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// migrate applies the embedded migrations the database lacks, each in its
// own transaction, recording them in schema_migrations.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	)`); err != nil {
		return fmt.Errorf("sqlite: create schema_migrations: %w", err)
	}
	applied := map[int]bool{}
	maxApplied := 0
	rows, err := s.w.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return fmt.Errorf("sqlite: read schema_migrations: %w", err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: read schema_migrations: %w", err)
		}
		applied[v] = true
		maxApplied = max(maxApplied, v)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("sqlite: read schema_migrations: %w", err)
	}
	migs, err := migrations()
	if err != nil {
		return err
	}
	if n := len(migs); n > 0 && maxApplied > migs[n-1].version {
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary's (%d); upgrade weave-server", maxApplied, migs[n-1].version)
	}
	for _, m := range migs {
		if applied[m.version] {
			continue
		}
		start := time.Now()
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, time.Now().UnixNano()); err != nil {
			tx.Rollback()
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("sqlite: migration %s: %w", m.name, err)
		}
		s.log.Info("schema migration applied", "path", s.path, "migration", m.name, "duration", time.Since(start))
	}
	return nil
}

// schemaTables are tables the current schema has; a file missing one was
// made by a pre-release build whose first migration differed.
var schemaTables = []string{"spans", "texts", "pages", "chunks", "attrsets", "resources", "search_log", "store_meta",
	"conversations", "conv_traces", "agent_versions", "agent_minutes", "agent_hours", "pending_events", "annotations"}

func (s *Store) checkSchema(ctx context.Context) error {
	for _, name := range schemaTables {
		var n int
		if err := s.w.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", name).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: check schema: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("sqlite: %s has no table %q: it was created by a pre-release weave-server with another schema; move it away (or delete it) and start again", s.path, name)
		}
	}
	return nil
}

// readMeta reads the store's id and the search log's position.
func (s *Store) readMeta(ctx context.Context) error {
	if err := s.w.QueryRowContext(ctx, "SELECT v FROM store_meta WHERE k = 'id'").Scan(&s.mainID); err != nil {
		return fmt.Errorf("sqlite: read store_meta: %w", err)
	}
	if err := s.w.QueryRowContext(ctx, "SELECT v FROM store_meta WHERE k = 'log_pruned'").Scan(&s.logPruned); err != nil {
		return fmt.Errorf("sqlite: read store_meta: %w", err)
	}
	var seq int64
	if err := s.w.QueryRowContext(ctx, "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'search_log'), 0)").Scan(&seq); err != nil {
		return fmt.Errorf("sqlite: read search log: %w", err)
	}
	s.logSeq.Store(seq)
	if err := s.w.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM texts").Scan(&s.textMax); err != nil {
		return fmt.Errorf("sqlite: read texts: %w", err)
	}
	var pending int64
	if err := s.w.QueryRowContext(ctx, "SELECT count(*) FROM pending_events").Scan(&pending); err != nil {
		return fmt.Errorf("sqlite: read pending events: %w", err)
	}
	s.pendingRows.Store(pending)
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded files NNNN_name.sql in version order.
func migrations() ([]migration, error) {
	entries, err := migrationFS.ReadDir("migrations")
	if err != nil {
		return nil, fmt.Errorf("sqlite: read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("sqlite: bad migration file name %q", name)
		}
		b, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read migration %s: %w", name, err)
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(name, ".sql"), sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i := 1; i < len(out); i++ {
		if out[i].version == out[i-1].version {
			return nil, fmt.Errorf("sqlite: two migrations with version %d", out[i].version)
		}
	}
	return out, nil
}

// projectID returns the id of a committed project; ok is false if the
// project has no data.
func (s *Store) projectID(ctx context.Context, name string) (id int64, ok bool, err error) {
	s.projMu.Lock()
	id, ok = s.projIDs[name]
	s.projMu.Unlock()
	if ok {
		return id, true, nil
	}
	err = s.r.QueryRowContext(ctx, "SELECT id FROM projects WHERE project_id = ?", name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("sqlite: look up project: %w", err)
	}
	s.rememberProject(name, id)
	return id, true, nil
}

func (s *Store) rememberProject(name string, id int64) {
	s.projMu.Lock()
	s.projIDs[name] = id
	s.projNames[id] = name
	s.projMu.Unlock()
}

// projectName maps a project id back to its name.
func (s *Store) projectName(ctx context.Context, q queryer, id int64) (string, error) {
	s.projMu.Lock()
	name, ok := s.projNames[id]
	s.projMu.Unlock()
	if ok {
		return name, nil
	}
	if err := q.QueryRowContext(ctx, "SELECT project_id FROM projects WHERE id = ?", id).Scan(&name); err != nil {
		return "", fmt.Errorf("sqlite: project %d: %w", id, err)
	}
	s.rememberProject(name, id)
	return name, nil
}

// Stats reports the span count and the on-disk size (database + WAL).
func (s *Store) Stats(ctx context.Context) (store.Stats, error) {
	st := store.Stats{WriteTransactions: s.commits.Load(), SearchBacklog: max(s.ix.pending.Load(), 0)}
	if err := s.r.QueryRowContext(ctx, "SELECT COALESCE(SUM(span_count), 0) FROM projects").Scan(&st.Spans); err != nil {
		return store.Stats{}, fmt.Errorf("sqlite: stats: %w", err)
	}
	for _, suffix := range []string{"", "-wal", "-search", "-search-wal"} {
		if fi, err := os.Stat(s.path + suffix); err == nil {
			st.Bytes += fi.Size()
		}
	}
	return st, nil
}

// Projects lists the projects that have spans.
func (s *Store) Projects(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT project_id FROM projects WHERE span_count > 0 ORDER BY project_id")
	if err != nil {
		return nil, fmt.Errorf("sqlite: projects: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			return nil, fmt.Errorf("sqlite: projects: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: projects: %w", err)
	}
	return out, nil
}
