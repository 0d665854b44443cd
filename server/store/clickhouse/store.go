package clickhouse

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// Store is the ClickHouse implementation of store.Store. All methods are
// safe for concurrent use.
type Store struct {
	conn driver.Conn
	l    layout
	cfg  Config
	log  *slog.Logger
	now  func() time.Time

	clock versionClock
	q     *queue
	// writeMu serializes the writer's flushes and DeleteBefore's batches:
	// each reads trace states and writes what follows from them.
	writeMu store.CtxMutex
	// visible makes each flush's inserts visible to this store's reads
	// all at once (visibility.go).
	visible *gate
	// The writer goroutine starts with the first WriteSpans and stops in
	// Close, after it has flushed what was queued.
	startOnce sync.Once
	wg        sync.WaitGroup
	ctx       context.Context // the writer's; cancelled by Close
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error

	where string // for logs: addresses, database, cluster (no credentials)
	// dial connects to one node of the cluster (host:port) with the
	// store's options, for node-by-node DDL; set by Open. dialCopy does
	// too, without the read timeout, for a table copy ("" is the DSN's
	// servers).
	dial, dialCopy func(ctx context.Context, addr string) (driver.Conn, error)

	annMu   store.CtxMutex // serializes annotation upserts and deletes
	pendMu  sync.Mutex     // serializes pending-event lookups
	pendQMu sync.Mutex     // guards pendQ
	pendQ   []*pendingTake // calls waiting for the next lookup
	content *digestCache
	states  *stateCache // recently written traces' states, under writeMu's protocol
	search  searchPlan
	// retention is the retention in days the tables' TTL carries (0:
	// none), which the counts' liveFrom assumes: Config.RetentionDays,
	// then what Open reads from span_state and SetRetention sets.
	retention atomic.Int64
}

var _ store.Store = (*Store)(nil)

// Open connects to ClickHouse as cfg says, applies the schema (unless
// cfg.SkipMigrate) and returns the store.
func Open(ctx context.Context, cfg Config, set Settings) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, db, err := cfg.options()
	if err != nil {
		return nil, err
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("clickhouse: open: %w", err)
	}
	if err := conn.Ping(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("clickhouse: connect to %s: %w", strings.Join(opts.Addr, ","), err)
	}
	cfg.Database = db
	s := New(conn, cfg, set)
	s.where = "clickhouse://" + strings.Join(opts.Addr, ",") + "/" + db
	if cfg.Cluster != "" {
		s.where += " (cluster " + cfg.Cluster + ", " + s.cfg.ClusterMode + ")"
	}
	s.dial = func(ctx context.Context, addr string) (driver.Conn, error) { return dialWith(ctx, *opts, addr) }
	s.dialCopy = func(ctx context.Context, addr string) (driver.Conn, error) {
		// A table copy (tune's rebuild) answers only when it is done.
		o := *opts
		o.ReadTimeout = copyReadTimeout
		return dialWith(ctx, o, addr)
	}
	if !cfg.SkipMigrate {
		if err := s.Migrate(ctx); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if err := s.detectSearch(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if err := s.readRetention(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// copyReadTimeout bounds the wait for a table copy's answer.
const copyReadTimeout = 24 * time.Hour

// dialWith connects with opts, to addr alone when it is not empty.
func dialWith(ctx context.Context, opts ch.Options, addr string) (driver.Conn, error) {
	if addr != "" {
		opts.Addr = []string{addr}
	}
	c, err := ch.Open(&opts)
	if err != nil {
		return nil, err
	}
	if err := c.Ping(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// New returns a store on an open connection (Open's second half, and the
// way tests drive the store with a fake driver.Conn). cfg.Database names
// the database (DefaultDatabase if empty); the schema is not applied.
// The store owns conn and closes it in Close.
func New(conn driver.Conn, cfg Config, set Settings) *Store {
	cfg = cfg.withDefaults()
	if cfg.Database == "" {
		cfg.Database = DefaultDatabase
	}
	s := &Store{
		conn:    conn,
		l:       cfg.layout(cfg.Database),
		cfg:     cfg,
		log:     set.Logger,
		now:     set.Now,
		q:       newQueue(cfg.MaxQueuedRows),
		visible: newGate(),
		writeMu: store.NewCtxMutex(),
		annMu:   store.NewCtxMutex(),
		content: newDigestCache(500_000),
		search:  defaultSearchPlan,
	}
	if cfg.searchPlan != nil {
		s.search = *cfg.searchPlan
	}
	s.retention.Store(int64(cfg.RetentionDays))
	s.states = newStateCache(cfg.StateCacheBytes, func() time.Time { return s.now() })
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.clock.now = s.now
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Where describes the store for logs: the server addresses, the database
// and the cluster, without credentials.
func (s *Store) Where() string {
	if s.where == "" {
		return "clickhouse database " + s.l.db
	}
	return s.where
}

// Close flushes what is queued, stops the writer and closes the
// connection. Writes after Close fail; it is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.q.close()
		s.wg.Wait()
		s.cancel()
		s.closeErr = s.conn.Close()
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("clickhouse: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// Migrate applies the schema files the database lacks, in order, and
// records each in weave_migrations. Every statement is idempotent, so two
// servers migrating at once, or a migration interrupted half-way and run
// again, end in the same schema. In a sharded cluster it connects to every
// node the cluster lists and migrates each on its own (no distributed
// DDL): a node added later is migrated by the next run.
//
// Then it tunes the tables to what the server offers (tune): a server
// upgraded since gets the text index of message search at the next start.
func (s *Store) Migrate(ctx context.Context) error {
	if !s.l.sharded {
		if err := s.migrateNode(ctx, s.conn); err != nil {
			return err
		}
		return s.tune(ctx, s.conn, "")
	}
	return s.eachNode(ctx, func(addr string, conn driver.Conn) error {
		if err := s.migrateNode(ctx, conn); err != nil {
			return fmt.Errorf("%w (node %s)", err, addr)
		}
		if err := s.tune(ctx, conn, addr); err != nil {
			return fmt.Errorf("%w (node %s)", err, addr)
		}
		return nil
	})
}

func (s *Store) migrateNode(ctx context.Context, conn driver.Conn) error {
	for _, q := range migrationsTableDDL(s.l) {
		if err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("clickhouse: migrate: %s: %w", firstLine(q), err)
		}
	}
	applied := map[uint32]bool{}
	rows, err := conn.Query(ctx, "SELECT DISTINCT version FROM "+s.l.migrationsTable())
	if err != nil {
		return fmt.Errorf("clickhouse: migrate: read applied versions: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("clickhouse: migrate: read applied versions: %w", err)
		}
		applied[v] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("clickhouse: migrate: read applied versions: %w", err)
	}
	// Tables a later version adds get the TTL of those there are, which
	// `migrate --clickhouse-retention-days` may have set to other than
	// the server's flag (that only applies to a new database).
	days := s.cfg.RetentionDays
	if applied[1] {
		if days, err = s.carriedRetention(ctx, conn); err != nil {
			return fmt.Errorf("clickhouse: migrate: %w", err)
		}
	}
	ms, err := migrations(s.l, days, s.cfg.PendingEventsMaxAge)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if applied[uint32(m.version)] {
			continue
		}
		for _, q := range m.statements {
			if err := conn.Exec(ctx, q); err != nil {
				return fmt.Errorf("clickhouse: migrate %04d_%s: %s: %w", m.version, m.name, firstLine(q), err)
			}
		}
		if step := migrationSteps[m.version]; step != nil {
			if err := step(s, ctx, conn); err != nil {
				return fmt.Errorf("clickhouse: migrate %04d_%s: %w", m.version, m.name, err)
			}
		}
		err := insertInto(ctx, conn, s.l.migrationsTable(), []string{"version", "name", "applied_at"},
			[][]any{{uint32(m.version), m.name, s.now().UTC()}})
		if err != nil {
			return fmt.Errorf("clickhouse: migrate %04d_%s: record: %w", m.version, m.name, err)
		}
		s.log.Info("clickhouse migration applied", "version", m.version, "name", m.name, "database", s.l.db)
	}
	return nil
}

// eachNode calls fn with a connection to every node of the cluster, as the
// connected server's system.clusters lists them (host and native port),
// one after the other.
func (s *Store) eachNode(ctx context.Context, fn func(addr string, conn driver.Conn) error) error {
	var addrs []string
	seen := map[string]bool{}
	q := "SELECT host_name, toUInt16(port) FROM system.clusters WHERE cluster = {cluster:String} ORDER BY shard_num, replica_num"
	err := s.scanAll(ctx, "list cluster nodes", q, []driver.NamedValue{named("cluster", s.l.cluster)}, func(r driver.Rows) error {
		var host string
		var port uint16
		if err := r.Scan(&host, &port); err != nil {
			return err
		}
		if a := net.JoinHostPort(host, strconv.Itoa(int(port))); !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(addrs) == 0 {
		return fmt.Errorf("clickhouse: cluster %q is not in the server's remote_servers (system.clusters)", s.l.cluster)
	}
	if s.dial == nil {
		return errors.New("clickhouse: no way to connect to the cluster's nodes (store not opened with Open)")
	}
	for _, addr := range addrs {
		conn, err := s.dial(ctx, addr)
		if err != nil {
			return fmt.Errorf("clickhouse: connect to cluster node %s: %w", addr, err)
		}
		err = fn(addr, conn)
		conn.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func firstLine(q string) string {
	if i := strings.IndexByte(q, '\n'); i >= 0 {
		return q[:i]
	}
	return q
}

// insert writes rows into table with one batch.
func (s *Store) insert(ctx context.Context, table string, cols []string, rows [][]any) error {
	return insertInto(ctx, s.conn, s.l.table(table), cols, rows)
}

// insertInto writes rows into the table named (quoted) with one batch.
func insertInto(ctx context.Context, conn driver.Conn, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" ("+strings.Join(cols, ", ")+")")
	if err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	defer b.Close()
	for _, r := range rows {
		if err := b.Append(r...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("insert into %s: %w", table, err)
	}
	return nil
}

// query runs a SELECT with server-side parameters ({name:Type} in q).
func (s *Store) query(ctx context.Context, q string, params ...driver.NamedValue) (driver.Rows, error) {
	args := make([]any, len(params))
	for i, p := range params {
		args[i] = p
	}
	return s.conn.Query(ctx, q, args...)
}

// scanAll runs q and calls fn for every row.
func (s *Store) scanAll(ctx context.Context, what, q string, params []driver.NamedValue, fn func(driver.Rows) error) error {
	rows, err := s.query(ctx, q, params...)
	if err != nil {
		return fmt.Errorf("clickhouse: %s: %w", what, err)
	}
	for rows.Next() {
		if err := fn(rows); err != nil {
			rows.Close()
			return fmt.Errorf("clickhouse: %s: %w", what, err)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("clickhouse: %s: %w", what, err)
	}
	return nil
}

// scanSet runs a query of one string column and returns the set of its
// values.
func (s *Store) scanSet(ctx context.Context, what string, b built) (map[string]bool, error) {
	set := map[string]bool{}
	err := s.scanAll(ctx, what, b.sql, b.params, func(r driver.Rows) error {
		var v string
		if err := r.Scan(&v); err != nil {
			return err
		}
		set[v] = true
		return nil
	})
	return set, err
}

func named(name string, v any) driver.NamedValue { return ch.Named(name, v) }

// loadStates reads the current state of every span of the traces. It
// reads the rows as they are (no FINAL) and collapses them itself as
// VersionedCollapsingMergeTree would: a state row (sign 1) cancelled by a
// row of sign -1 with its version is gone, and of what remains of a span
// the highest version is its state.
func (s *Store) loadStates(ctx context.Context, project string, traces []string) ([]*stateRow, error) {
	if st := writerReadSettings(s.l); st != nil {
		ctx = ch.Context(ctx, ch.WithSettings(st))
	}
	var states collapsed[*stateRow]
	err := s.scanAll(ctx, "load trace states", loadStatesSQL(s.l), []driver.NamedValue{named("project", project), named("traces", traces)},
		func(rows driver.Rows) error {
			var x stateScan
			var sign int8
			if err := rows.Scan(append(x.dest(), &sign)...); err != nil {
				return err
			}
			states.add(x.r.traceID, x.r.spanID, x.r.version, sign, x.row)
			return nil
		})
	if err != nil {
		return nil, err
	}
	out := states.live()
	slices.SortFunc(out, func(a, b *stateRow) int {
		return cmp.Or(strings.Compare(a.traceID, b.traceID), strings.Compare(a.spanID, b.spanID))
	})
	return out, nil
}

func loadStatesSQL(l layout) string {
	return "SELECT " + strings.Join(stateCols, ", ") + ", sign FROM " + l.table("span_state") +
		" WHERE project_id = {project:String} AND trace_id IN {traces:Array(String)}"
}

// contentCols are the columns of a message_content insert.
var contentCols = []string{"project_id", "digest", "content", "terms", "refreshed_at"}

// bodyRefreshEvery is how old a body's last write may get, under a
// retention, before a span that says it writes it again: message_content's
// TTL counts the retention from a day after refreshed_at, so that a body
// outlives every span written while its row was that fresh.
const bodyRefreshEvery = 24 * time.Hour

// contentRows are the message_content rows of the bodies the digest cache
// does not know as stored (or, under a retention, knows as written more
// than bodyRefreshEvery ago), with their search terms, and the cache keys to record
// once they are written. Nothing is read: a body stored before (by
// another server, or before a restart) is inserted again and merges away
// (ReplacingMergeTree on project and digest), which costs less than
// looking every new body up.
func (s *Store) contentRows(content map[string]map[string]msgPair) (rows [][]any, added []string, now time.Time) {
	now = s.now().UTC()
	freshAfter := time.Time{}
	if s.retention.Load() > 0 { // the TTL the tables carry
		freshAfter = now.Add(-bodyRefreshEvery)
	}
	for _, project := range sortedKeys(content) {
		bodies := content[project]
		for _, d := range sortedKeys(bodies) {
			if at, ok := s.content.get(project, d); ok && !at.Before(freshAfter) {
				continue
			}
			pr := bodies[d]
			t := pr.terms
			if t == "" {
				t = terms(pr.text)
			}
			rows = append(rows, []any{project, d, pr.text, t, now})
			added = append(added, project+"\x00"+d)
		}
	}
	return rows, added, now
}

// terms is the search form of a body: its normalized words, space
// separated, with a space at each end so that a phrase matches as
// " w1 w2 ".
func terms(body string) string {
	b := make([]byte, 1, len(body)+2)
	b[0] = ' '
	return string(textsearch.AppendWords(b, textsearch.IndexText(body), ' '))
}

// digestCache remembers which bodies are stored (and when they were last
// refreshed), so that a conversation's repeated history is not looked up
// on every write. It forgets everything when it reaches its size.
type digestCache struct {
	mu  sync.Mutex
	max int
	m   map[string]time.Time
}

func newDigestCache(max int) *digestCache {
	return &digestCache{max: max, m: make(map[string]time.Time)}
}

func (c *digestCache) get(project, digest string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[project+"\x00"+digest]
	return t, ok
}

// putAll records bodies stored at at, by their cache keys (project, NUL,
// digest).
func (c *digestCache) putAll(keys []string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if len(c.m) >= c.max {
			clear(c.m)
		}
		c.m[k] = at
	}
}

// invalid is a bad-query error wrapping store.ErrInvalid.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: clickhouse: %s", store.ErrInvalid, fmt.Sprintf(format, args...))
}

// forget drops the digests of a project, whose bodies were deleted.
func (c *digestCache) forget(project string, digests []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, d := range digests {
		delete(c.m, project+"\x00"+d)
	}
}
