package clickhouse

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// Defaults of Config.
const (
	DefaultDatabase            = "weave"
	DefaultBatchRows           = 1000
	DefaultFlushInterval       = 100 * time.Millisecond
	DefaultMaxQueuedRows       = 100_000
	DefaultPendingEventsMaxAge = 24 * time.Hour
	// MinPendingEventsMaxAge is the shortest age parked events are kept.
	MinPendingEventsMaxAge = time.Hour
)

// EnvDSN is the environment variable weave-server reads the DSN from when
// --clickhouse-dsn is not given; EnvPassword overrides the DSN's password
// (so that it need not appear on a command line).
const (
	EnvDSN      = "WEAVE_CLICKHOUSE_DSN"
	EnvPassword = "WEAVE_CLICKHOUSE_PASSWORD"
)

// Config is what a user configures for the ClickHouse store.
type Config struct {
	// DSN is a clickhouse-go DSN, e.g.
	// clickhouse://user:password@host:9000/weave?secure=true&dial_timeout=5s.
	// Its path names the database (see Database); query parameters
	// (secure, skip_verify, compress, dial_timeout, ... and any ClickHouse
	// setting) are clickhouse-go's.
	DSN string
	// Database holds weave's tables; it overrides the DSN's path. Both
	// empty: DefaultDatabase. It is created if missing.
	Database string
	// Username and Password override the DSN's credentials when set.
	Username string
	Password string
	// CAFile is a PEM bundle of the CAs that sign the server certificate;
	// setting it (or CertFile) turns TLS on, as secure=true in the DSN does.
	CAFile string
	// CertFile and KeyFile are a client certificate and key for mutual TLS.
	CertFile, KeyFile string
	// Cluster is the name of the ClickHouse cluster (remote_servers) to run
	// in cluster mode: each table is <name>_local on every node behind a
	// Distributed table <name>. Empty: a single node.
	Cluster string
	// ClusterMode is how the cluster is built (with Cluster only):
	// ClusterReplicated (the default) runs DDL ON CLUSTER and makes the
	// local tables Replicated*MergeTree with {shard}/{replica} macros
	// (needs Keeper); ClusterSharded makes them plain *MergeTree, one
	// replica per shard, and applies the schema node by node to every
	// host the cluster lists (no Keeper, no distributed DDL).
	ClusterMode string
	// RetentionDays expires spans and everything derived from them after
	// that many days (a TTL on every table, set when the tables are
	// created; README.md shows how to change it later). 0 keeps data forever.
	RetentionDays int
	// PendingEventsMaxAge is how long events parked for spans that never
	// arrive are kept (default 24h, at least MinPendingEventsMaxAge).
	PendingEventsMaxAge time.Duration
	// BatchRows flushes the write batch once it holds this many spans
	// (default 1000).
	BatchRows int
	// FlushInterval is, under concurrent load (writes arrived while the
	// last flush ran), the longest a queued span waits for more to join
	// its batch and the shortest time between two flushes (default 100ms;
	// at 1s, 4 clients sending 512-span requests got 592 spans/s, p99
	// 5.1 s, the writer idle between flushes; at 100ms 2,414 spans/s, p99
	// 1.0 s, at the same CPU per span). A write that finds the writer idle
	// is flushed at once. 0 uses the default; a negative value always
	// flushes at once.
	FlushInterval time.Duration
	// MaxQueuedRows bounds the spans waiting for the writer; WriteSpans
	// blocks (honouring its context) while the queue is full
	// (default 100,000).
	MaxQueuedRows int
	// StateCacheBytes bounds the writer's cache of the states of the
	// traces it wrote last (default DefaultStateCacheBytes): a batch that
	// continues a cached trace is planned without reading span_state. A
	// negative value turns the cache off.
	StateCacheBytes int64
	// searchPlan replaces the search plan's thresholds (tests force the
	// plan of common words on small data with it).
	searchPlan *searchPlan
	// SkipMigrate opens the store without applying the schema (for
	// deployments that run `weave-server migrate` separately).
	SkipMigrate bool
	// RebuildTables lets Migrate copy a table that has rows into one with
	// the granule sizes reads by key need (tune.go). Rows written to the
	// table during the copy are lost: set it only while no weave-server
	// writes (`weave-server migrate --clickhouse-rebuild-tables`). Empty
	// tables are rebuilt without it.
	RebuildTables bool
	// PhraseIndex keeps an index of message_content's word pairs (tune.go,
	// pairIndexName): a quoted phrase of common words is then answered
	// from the index, at about twice the ClickHouse CPU of storing the
	// bodies (README, Search). Off, Migrate drops the index where an
	// earlier version built it, and phrases are checked on the bodies
	// that have their words. Give every server of a database the same
	// value: each start adds or drops the index to match its own.
	PhraseIndex bool
}

// Settings are the dependencies a developer injects.
type Settings struct {
	// Logger receives the store's few log lines. Nil discards them.
	Logger *slog.Logger
	// Now is the clock for versions and annotation times (nil: time.Now).
	Now func() time.Time
}

// Cluster modes (Config.ClusterMode).
const (
	ClusterReplicated = "replicated"
	ClusterSharded    = "sharded"
)

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	if c.Cluster != "" && c.ClusterMode == "" {
		c.ClusterMode = ClusterReplicated
	}
	if c.BatchRows == 0 {
		c.BatchRows = DefaultBatchRows
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.FlushInterval < 0 {
		c.FlushInterval = 0
	}
	if c.MaxQueuedRows == 0 {
		c.MaxQueuedRows = DefaultMaxQueuedRows
	}
	if c.StateCacheBytes == 0 {
		c.StateCacheBytes = DefaultStateCacheBytes
	}
	if c.PendingEventsMaxAge == 0 {
		c.PendingEventsMaxAge = DefaultPendingEventsMaxAge
	}
	c.PendingEventsMaxAge = max(c.PendingEventsMaxAge, MinPendingEventsMaxAge)
	return c
}

// Validate reports every problem with the configuration (without
// connecting).
func (c Config) Validate() error {
	var errs []error
	if c.DSN == "" {
		errs = append(errs, fmt.Errorf("no DSN (--clickhouse-dsn or $%s), e.g. clickhouse://default:@127.0.0.1:9000/weave", EnvDSN))
	} else if _, err := ch.ParseDSN(c.DSN); err != nil {
		errs = append(errs, fmt.Errorf("DSN: %w", err))
	}
	if c.Database != "" && !identRE.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("database %q: want letters, digits and _", c.Database))
	}
	if c.Cluster != "" && !identRE.MatchString(c.Cluster) {
		errs = append(errs, fmt.Errorf("cluster %q: want letters, digits and _", c.Cluster))
	}
	switch {
	case c.ClusterMode != "" && c.Cluster == "":
		errs = append(errs, fmt.Errorf("cluster mode %q without a cluster name", c.ClusterMode))
	case c.ClusterMode != "" && c.ClusterMode != ClusterReplicated && c.ClusterMode != ClusterSharded:
		errs = append(errs, fmt.Errorf("cluster mode %q: want %s or %s", c.ClusterMode, ClusterReplicated, ClusterSharded))
	}
	if c.RetentionDays < 0 {
		errs = append(errs, fmt.Errorf("retention %d days: want ≥ 0 (0 keeps data forever)", c.RetentionDays))
	}
	if c.BatchRows < 0 {
		errs = append(errs, fmt.Errorf("batch rows %d: want > 0", c.BatchRows))
	}
	if c.MaxQueuedRows < 0 {
		errs = append(errs, fmt.Errorf("max queued rows %d: want > 0", c.MaxQueuedRows))
	}
	if c.PendingEventsMaxAge < 0 {
		errs = append(errs, fmt.Errorf("pending events max age %s: want > 0", c.PendingEventsMaxAge))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("client certificate: set both the cert and the key file"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("clickhouse: invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}

// database is the database name in effect.
func (c Config) database(dsnDB string) string {
	switch {
	case c.Database != "":
		return c.Database
	case dsnDB != "":
		return dsnDB
	}
	return DefaultDatabase
}

// options builds the clickhouse-go options: the DSN's, with the
// credential and TLS overrides, connected to the server's default database
// (weave's own is named in every statement and may not exist yet).
func (c Config) options() (*ch.Options, string, error) {
	opts, err := ch.ParseDSN(c.DSN)
	if err != nil {
		return nil, "", fmt.Errorf("clickhouse: DSN: %w", err)
	}
	db := c.database(opts.Auth.Database)
	if !identRE.MatchString(db) {
		return nil, "", fmt.Errorf("clickhouse: database %q: want letters, digits and _", db)
	}
	opts.Auth.Database = ""
	if c.Username != "" {
		opts.Auth.Username = c.Username
	}
	if c.Password != "" {
		opts.Auth.Password = c.Password
	}
	if c.CAFile != "" || c.CertFile != "" {
		if opts.TLS == nil {
			opts.TLS = &tls.Config{}
		}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, "", fmt.Errorf("clickhouse: CA file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, "", fmt.Errorf("clickhouse: CA file %s: no PEM certificate in it", c.CAFile)
			}
			opts.TLS.RootCAs = pool
		}
		if c.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err != nil {
				return nil, "", fmt.Errorf("clickhouse: client certificate: %w", err)
			}
			opts.TLS.Certificates = []tls.Certificate{cert}
		}
	}
	if opts.Settings == nil {
		opts.Settings = ch.Settings{}
	}
	for k, v := range sessionSettings(c.layout("")) {
		if _, set := opts.Settings[k]; !set {
			opts.Settings[k] = v
		}
	}
	return opts, db, nil
}

// layout is the table layout the configuration asks for, in database db.
func (c Config) layout(db string) layout {
	l := layout{db: db, cluster: c.Cluster}
	if c.Cluster != "" && c.ClusterMode == ClusterSharded {
		l.sharded = true
	}
	return l
}

// sessionSettings are the ClickHouse settings every connection carries
// unless the DSN sets them: WHERE conditions of FINAL reads stay after the
// merge (the default, pinned), and in cluster mode inserts into Distributed
// tables are synchronous (so that the writer's next read of a trace sees
// them; a sharded cluster without a background pool for Distributed sends
// would otherwise queue them) and IN / JOIN subqueries over Distributed
// tables run once (GLOBAL). Replicated tables also wait for a majority of
// replicas (see writerReadSettings).
func sessionSettings(l layout) ch.Settings {
	s := ch.Settings{
		"optimize_move_to_prewhere_if_final": 0,
	}
	if l.isCluster() {
		s["distributed_foreground_insert"] = 1
		s["distributed_product_mode"] = "global"
	}
	if l.replicated() {
		s["insert_quorum"] = "auto"
		s["insert_quorum_parallel"] = 0
	}
	return s
}

// writerReadSettings are the settings of the writer's reads of the state
// it is about to change: with replicas they must see every insert the
// writer made before (quorum inserts, sequential consistency).
func writerReadSettings(l layout) ch.Settings {
	if !l.replicated() {
		return nil
	}
	return ch.Settings{"select_sequential_consistency": 1}
}
