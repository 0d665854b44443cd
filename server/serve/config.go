package serve

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/api"
	"github.com/weavetrace/weave/server/ingest"
	"github.com/weavetrace/weave/server/store/clickhouse"
)

// DefaultAddr is where weave-server listens unless told otherwise: loopback
// only, port 7433 (the port weave-agentd sends to by default).
const DefaultAddr = "127.0.0.1:7433"

// DefaultGRPCAddr is where weave-server serves OTLP/gRPC unless told
// otherwise: loopback only, the OTLP default port.
const DefaultGRPCAddr = "127.0.0.1:4317"

// GRPCOff as Config.GRPCAddr serves no OTLP/gRPC.
const GRPCOff = "off"

// Store kinds.
const (
	StoreSQLite     = "sqlite"
	StoreClickHouse = "clickhouse"
)

// DefaultMaxBodyBytes bounds one OTLP request body (after decompression
// limits are the ingest's own concern).
const DefaultMaxBodyBytes = 32 << 20

// DefaultSQLiteCacheMB keeps weave-server under 300 MiB of RSS while four
// clients send maximum-size OTLP requests (make bench-ingest-memory): the
// store package's own defaults (64 MiB of page cache, 32 MiB for the search
// index, a 64 MiB memo) cost about 250 MiB of RSS on their own.
const DefaultSQLiteCacheMB = 16

// Config is what the user configures (flags of `weave-server serve`).
type Config struct {
	// Addr is the host:port to listen on.
	Addr string
	// GRPCAddr is the host:port OTLP/gRPC is served on (traces, logs,
	// metrics), or GRPCOff (or "") for none.
	GRPCAddr string
	// DataDir holds the embedded store's database file.
	DataDir string
	// Store is the backend: "sqlite" (embedded, default) or "clickhouse".
	Store string
	// DefaultProject receives spans that carry no wandb.entity /
	// wandb.project resource attributes, and is the project the UI opens on.
	DefaultProject string
	// MaxBodyBytes bounds one ingest request body; larger ones get a 413.
	MaxBodyBytes int64
	// IngestMemoryBytes bounds the memory OTLP requests being handled take
	// together (bodies and decoding, estimated); a request that finds no
	// room waits, then gets 503 with Retry-After.
	IngestMemoryBytes int64
	// SQLiteCacheMB sizes the embedded store's memory: the writer's page
	// cache in MiB, the search index's half of it, each reader's a
	// quarter, and the raw-span chunk memo the same (see
	// sqlite.Settings). Each MiB of page cache costs about 2 MiB of RSS.
	SQLiteCacheMB int
	// APIKeysFile is a JSON file of API keys (see server/auth); "" for none.
	APIKeysFile string
	// APIKeys is the value of WEAVE_API_KEYS; "" for none.
	APIKeys string
	// PprofAddr, when set, is a loopback host:port serving Go's profiles
	// (net/http/pprof under /debug/pprof/) on a listener of its own.
	PprofAddr string
	// ShutdownTimeout bounds the wait for in-flight requests on shutdown.
	ShutdownTimeout time.Duration
	// ClickHouse configures the ClickHouse store (--store clickhouse).
	ClickHouse clickhouse.Config
	// PricesFile is a price table (server/pricing) whose entries come
	// before the built-in ones; "" for the built-in table alone.
	PricesFile string
	// RetentionDays deletes, every RetentionInterval, the spans older than
	// this many days (0: keep everything), in every project but those of
	// RetentionProjects, which have their own (0: forever).
	RetentionDays     int
	RetentionProjects map[string]int
	// RetentionInterval is how often retention runs (default 1 h).
	RetentionInterval time.Duration
}

// NewDefaultConfig returns the zero-configuration defaults: loopback on port
// 7433, the embedded store under ~/.weave/server, project local/default.
func NewDefaultConfig() Config {
	return Config{
		Addr:              DefaultAddr,
		GRPCAddr:          DefaultGRPCAddr,
		DataDir:           DefaultDataDir(),
		Store:             StoreSQLite,
		DefaultProject:    api.DefaultProject,
		MaxBodyBytes:      DefaultMaxBodyBytes,
		IngestMemoryBytes: ingest.DefaultMaxInFlightBytes,
		SQLiteCacheMB:     DefaultSQLiteCacheMB,
		ShutdownTimeout:   30 * time.Second,
		RetentionInterval: DefaultRetentionInterval,
	}
}

// GRPCEnabled reports whether OTLP/gRPC is served.
func (c Config) GRPCEnabled() bool { return c.GRPCAddr != "" && c.GRPCAddr != GRPCOff }

// DefaultDataDir is ~/.weave/server (or ./.weave/server without a home).
func DefaultDataDir() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(".weave", "server")
	}
	return filepath.Join(home, ".weave", "server")
}

// Validate reports every problem with the configuration, before anything is
// opened.
func (c Config) Validate() error {
	errs := append(c.addrErrors(), c.storeErrors()...)
	errs = append(errs, c.limitErrors()...)
	if len(errs) > 0 {
		return fmt.Errorf("serve: invalid configuration: %w", errors.Join(errs...))
	}
	return nil
}

// addrErrors are the problems with the listen addresses.
func (c Config) addrErrors() []error {
	var errs []error
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("--addr %q: want host:port, e.g. %s", c.Addr, DefaultAddr))
	}
	if c.PprofAddr != "" {
		if host, port, err := net.SplitHostPort(c.PprofAddr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("--pprof-addr %q: want host:port, e.g. 127.0.0.1:6060", c.PprofAddr))
		} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			errs = append(errs, fmt.Errorf("--pprof-addr %q: profiles are served on a loopback address only", c.PprofAddr))
		}
	}
	if c.GRPCEnabled() {
		if _, port, err := net.SplitHostPort(c.GRPCAddr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("--grpc-addr %q: want host:port, e.g. %s, or %s", c.GRPCAddr, DefaultGRPCAddr, GRPCOff))
		}
	}
	return errs
}

// storeErrors are the problems with the data directory and the store.
func (c Config) storeErrors() []error {
	var errs []error
	if strings.TrimSpace(c.DataDir) == "" {
		errs = append(errs, errors.New("--data-dir is empty"))
	}
	switch c.Store {
	case StoreSQLite:
	case StoreClickHouse:
		if err := c.ClickHouse.Validate(); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("--store %q: want %s or %s", c.Store, StoreSQLite, StoreClickHouse))
	}
	return errs
}

// limitErrors are the problems with the default project, the size and
// memory limits, retention and the shutdown timeout.
func (c Config) limitErrors() []error {
	var errs []error
	if c.DefaultProject == "" || c.DefaultProject != strings.TrimSpace(c.DefaultProject) {
		errs = append(errs, fmt.Errorf("--default-project %q: want entity/project without surrounding spaces", c.DefaultProject))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("--max-body %d: want at least 1024 bytes", c.MaxBodyBytes))
	}
	if c.IngestMemoryBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("--ingest-memory %d: want at least 1 MiB (1048576)", c.IngestMemoryBytes))
	}
	if c.SQLiteCacheMB < 1 {
		errs = append(errs, fmt.Errorf("--sqlite-cache-mb %d: want at least 1", c.SQLiteCacheMB))
	}
	if c.RetentionDays < 0 {
		errs = append(errs, fmt.Errorf("--retention-days %d: want ≥ 0 (0 keeps everything)", c.RetentionDays))
	}
	for p, d := range c.RetentionProjects {
		if p == "" || d < 0 {
			errs = append(errs, fmt.Errorf("--retention-project %s=%d: want a project and days ≥ 0", p, d))
		}
	}
	if c.RetentionInterval < time.Minute {
		errs = append(errs, fmt.Errorf("--retention-interval %v: want at least 1m", c.RetentionInterval))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown timeout %v: want > 0", c.ShutdownTimeout))
	}
	return errs
}
