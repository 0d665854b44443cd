// Command weave-server is weave's trace server: OTLP/HTTP ingest for any
// OpenTelemetry GenAI instrumentation, an embedded store, the read API and
// the web UI (see docs/ARCHITECTURE.md and docs/API.md).
//
//	weave-server [serve] [flags]   run the server (the default command)
//	weave-server migrate [flags]   apply the store's schema and exit
//	weave-server export [flags]    write a project's data out (JSONL, OTLP, ATIF)
//	weave-server version           print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"syscall"

	"github.com/weavetrace/weave/server/auth"
	"github.com/weavetrace/weave/server/serve"
	"github.com/weavetrace/weave/server/store/clickhouse"
)

// version is weave's version, set at build time with
// -ldflags "-X main.version=...".
var version = "0.1.0-dev"

const usage = `usage: weave-server [serve] [flags]
       weave-server migrate [--store KIND] [--data-dir DIR] [clickhouse flags]
                            [--clickhouse-rebuild-tables] [--clickhouse-rebuild-counts]
       weave-server export --project E/P [export flags]
       weave-server version

weave-server stores OpenTelemetry GenAI traces (from weave-agentd or any OTel
SDK) and serves them through a JSON read API and a web UI. With no flags it
listens on http://127.0.0.1:7433 with the embedded store under ~/.weave/server.

serve flags:
  --addr HOST:PORT        listen address (default 127.0.0.1:7433). Without API
                          keys only loopback addresses are allowed.
  --grpc-addr HOST:PORT   OTLP/gRPC listen address (traces, logs, metrics;
                          default 127.0.0.1:4317), "off" for none. Without
                          API keys only loopback addresses are allowed.
  --data-dir DIR          where the embedded store keeps weave.db
                          (default ~/.weave/server)
  --store KIND            sqlite (embedded, default) or clickhouse
  --default-project E/P   project for spans without wandb.entity/wandb.project
                          resource attributes; the UI opens on it
                          (default local/default)
  --max-body BYTES        largest OTLP request body accepted (default 33554432)
  --ingest-memory BYTES   memory OTLP requests being handled may take together
                          (bodies plus decoding, estimated; default 67108864):
                          a request finding no room waits up to 2 s, then gets
                          503 with Retry-After
  --sqlite-cache-mb N     embedded store memory: the writer's page cache in
                          MiB (the search index half of it, each reader a
                          quarter, the raw-span chunk memo the same; default
                          16, about 100 MiB of RSS in all). Raise it for
                          stores of millions of spans on a roomy host.
  --api-keys-file FILE    JSON file of API keys scoped to projects:
                          {"keys":[{"name":"ci","key":"...","projects":["local/default"]}]}
                          Keys can also come from $WEAVE_API_KEYS as
                          "<key>=<project>[,<project>...];..." ("*" = all projects).
  --cpuprofile FILE       write a CPU profile of the whole run to FILE (for
                          go tool pprof), from start to shutdown
  --prices FILE           JSON price table consulted before the built-in one
                          (model pattern -> USD per million tokens by kind:
                          {"acme-*": {"input": 1, "output": 4, "cache_read": 0.1}};
                          see server/pricing). Prices calls whose producer
                          sent no cost, at ingest.
  --retention-days N      delete the spans older than N days (and what derives
                          from them: figures, search entries, annotations on
                          them, bodies nothing else uses), every
                          --retention-interval (default 1h); 0 (default)
                          keeps everything
  --retention-project P=N a project's own retention in days (0: forever);
                          repeat for several projects
  --pprof-addr HOST:PORT  serve Go's profiles (/debug/pprof/) on this loopback
                          address, e.g. 127.0.0.1:6060 (default: off)

clickhouse flags (--store clickhouse; see server/store/clickhouse/README.md):
  --clickhouse-dsn DSN    clickhouse://user:password@host:9000/weave?secure=true
                          (default $WEAVE_CLICKHOUSE_DSN); the password can
                          come from $WEAVE_CLICKHOUSE_PASSWORD instead
  --clickhouse-database DB       database for weave's tables (default: the
                          DSN's, else weave); created if missing
  --clickhouse-user USER  user name, overriding the DSN's
  --clickhouse-cluster NAME      cluster mode: <table>_local on every node
                          behind Distributed tables
  --clickhouse-cluster-mode MODE replicated (default: ON CLUSTER DDL,
                          Replicated tables with {shard}/{replica} macros,
                          needs Keeper) or sharded (plain tables, one
                          replica per shard, the schema applied node by node
                          to every host the cluster lists; no Keeper)
  --clickhouse-retention-days N  TTL of spans and what derives from them,
                          set when the tables are created (default 0: forever);
                          given to migrate, it changes the TTL of existing
                          tables (0 removes it)
  --clickhouse-ca-file FILE      PEM CAs for TLS (turns TLS on)
  --clickhouse-cert-file FILE, --clickhouse-key-file FILE  client certificate
  --clickhouse-skip-migrate      do not apply the schema on start (run
                          weave-server migrate instead)
  --clickhouse-rebuild-tables    (migrate only) copy the tables made before
                          their granule sizes were set into new ones (reads
                          by key get faster); rows written meanwhile are
                          lost: run it with no weave-server writing
  --clickhouse-rebuild-counts    (migrate only) set the span and conversation
                          counts (span_counts, conversations) to what
                          span_state holds, if they drifted; safe beside
                          running servers
  --clickhouse-phrase-index      keep an index of the bodies' word pairs: quoted
                          phrases of common words answered from it, at about
                          twice ClickHouse's CPU for storing message bodies;
                          without it (default) such phrases are checked on the
                          bodies that have their words, and the index an
                          earlier version built is dropped
  --clickhouse-batch-rows N      spans per insert batch (default 1000)
  --clickhouse-flush-interval D  under concurrent load, longest wait for a
                          batch to fill and shortest time between two
                          inserts (default 100ms); a write to an idle writer
                          goes at once

export flags (writes to stdout or -o FILE; a progress line on stderr):
  --project E/P           the project (required)
  --format F              jsonl (span rows, the read API's form; default),
                          otlp (OTLP/JSON ExportTraceServiceRequest lines, for
                          any OTLP/HTTP receiver, weave-server included) or
                          atif (one ATIF trajectory per conversation)
  --conversation ID       export this conversation (repeat for several)
  --trace ID              export this trace (repeat; not with --conversation)
  --from T, --to T        RFC 3339 bounds on span start (from inclusive)
  -o FILE                 write FILE (whole or not at all) instead of stdout
  --server URL            read from a running weave-server's /genai/export
                          (key from $WEAVE_API_KEY) instead of the store
                          (--store, --data-dir, clickhouse flags); the
                          embedded store can be read directly only while no
                          weave-server holds it

Endpoints: OTLP/HTTP at /v1/traces, /v1/logs, /otel/v1/traces, /agents/otel/v1/traces;
OTLP/gRPC on --grpc-addr;
the read API under /genai/ (docs/API.md); /healthz, /readyz, /metrics.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return runServe(args, stderr)
	case "migrate":
		return runMigrate(args, stderr)
	case "export":
		return runExport(args, stdout, stderr)
	case "version":
		fmt.Fprintf(stdout, "weave-server %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return 0
	case "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "weave-server: unknown command %q\n\n%s", cmd, usage)
	return 2
}

func runServe(args []string, stderr io.Writer) int {
	cfg := serve.NewDefaultConfig()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", cfg.GRPCAddr, "")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "")
	fs.StringVar(&cfg.Store, "store", cfg.Store, "")
	fs.StringVar(&cfg.DefaultProject, "default-project", cfg.DefaultProject, "")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body", cfg.MaxBodyBytes, "")
	fs.Int64Var(&cfg.IngestMemoryBytes, "ingest-memory", cfg.IngestMemoryBytes, "")
	fs.IntVar(&cfg.SQLiteCacheMB, "sqlite-cache-mb", cfg.SQLiteCacheMB, "")
	fs.StringVar(&cfg.APIKeysFile, "api-keys-file", "", "")
	cpuProfile := fs.String("cpuprofile", "", "")
	fs.StringVar(&cfg.PricesFile, "prices", "", "")
	fs.IntVar(&cfg.RetentionDays, "retention-days", 0, "")
	cfg.RetentionProjects = serve.RetentionFlag{}
	fs.Var(serve.RetentionFlag(cfg.RetentionProjects), "retention-project", "")
	fs.DurationVar(&cfg.RetentionInterval, "retention-interval", cfg.RetentionInterval, "")
	fs.StringVar(&cfg.PprofAddr, "pprof-addr", "", "")
	clickHouseFlags(fs, &cfg.ClickHouse)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "weave-server: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.APIKeys = os.Getenv(auth.EnvVar)
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "weave-server: --cpuprofile: %v\n", err)
			return 1
		}
		defer func() {
			if err := stopProfile(); err != nil {
				fmt.Fprintf(stderr, "weave-server: --cpuprofile: %v\n", err)
			}
		}()
	}
	clickHouseEnv(&cfg.ClickHouse)

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	srv, err := serve.New(cfg, serve.Settings{Logger: logger, Version: version})
	if err != nil {
		fmt.Fprintf(stderr, "weave-server: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process
	}()
	if err := srv.Run(ctx); err != nil {
		logger.Error("weave-server failed", "err", err)
		return 1
	}
	return 0
}

// startCPUProfile profiles the process's CPU into path until the returned
// function is called.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// clickHouseFlags registers the --clickhouse-* flags on fs.
func clickHouseFlags(fs *flag.FlagSet, c *clickhouse.Config) {
	fs.StringVar(&c.DSN, "clickhouse-dsn", os.Getenv(clickhouse.EnvDSN), "")
	fs.StringVar(&c.Database, "clickhouse-database", "", "")
	fs.StringVar(&c.Username, "clickhouse-user", "", "")
	fs.StringVar(&c.Cluster, "clickhouse-cluster", "", "")
	fs.StringVar(&c.ClusterMode, "clickhouse-cluster-mode", "", "")
	fs.IntVar(&c.RetentionDays, "clickhouse-retention-days", 0, "")
	fs.StringVar(&c.CAFile, "clickhouse-ca-file", "", "")
	fs.StringVar(&c.CertFile, "clickhouse-cert-file", "", "")
	fs.StringVar(&c.KeyFile, "clickhouse-key-file", "", "")
	fs.BoolVar(&c.SkipMigrate, "clickhouse-skip-migrate", false, "")
	fs.IntVar(&c.BatchRows, "clickhouse-batch-rows", 0, "")
	fs.DurationVar(&c.FlushInterval, "clickhouse-flush-interval", 0, "")
	fs.BoolVar(&c.PhraseIndex, "clickhouse-phrase-index", false, "")
}

// clickHouseEnv applies the settings that come only from the environment.
func clickHouseEnv(c *clickhouse.Config) {
	if pw := os.Getenv(clickhouse.EnvPassword); pw != "" {
		c.Password = pw
	}
}

// runMigrate applies the configured store's schema and exits: the
// embedded store's migrations, or the ClickHouse DDL (ON CLUSTER in a
// replicated cluster, node by node in a sharded one).
func runMigrate(args []string, stderr io.Writer) int {
	cfg := serve.NewDefaultConfig()
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "")
	fs.StringVar(&cfg.Store, "store", cfg.Store, "")
	clickHouseFlags(fs, &cfg.ClickHouse)
	fs.BoolVar(&cfg.ClickHouse.RebuildTables, "clickhouse-rebuild-tables", false, "")
	rebuildCounts := fs.Bool("clickhouse-rebuild-counts", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "weave-server: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	clickHouseEnv(&cfg.ClickHouse)
	cfg.ClickHouse.SkipMigrate = false
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "weave-server: %v\n", err)
		return 1
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	st, where, err := serve.OpenStore(ctx, cfg, logger)
	if err != nil {
		fmt.Fprintf(stderr, "weave-server: migrate: %v\n", err)
		return 1
	}
	retention := false
	fs.Visit(func(f *flag.Flag) { retention = retention || f.Name == "clickhouse-retention-days" })
	if retention {
		// The TTL is set when tables are created; given to migrate, it
		// changes the TTL of the tables that exist.
		r, ok := st.(interface {
			SetRetention(ctx context.Context, days int) error
		})
		if !ok {
			st.Close()
			fmt.Fprintf(stderr, "weave-server: migrate: --clickhouse-retention-days applies to the ClickHouse store; the embedded store's retention is serve --retention-days\n")
			return 2
		}
		if err := r.SetRetention(ctx, cfg.ClickHouse.RetentionDays); err != nil {
			st.Close()
			fmt.Fprintf(stderr, "weave-server: migrate: %v\n", err)
			return 1
		}
		logger.Info("retention set", "days", cfg.ClickHouse.RetentionDays)
	}
	if *rebuildCounts {
		r, ok := st.(interface {
			RebuildCounts(ctx context.Context) (uint64, error)
		})
		if !ok {
			st.Close()
			fmt.Fprintf(stderr, "weave-server: migrate: --clickhouse-rebuild-counts applies to the ClickHouse store\n")
			return 2
		}
		n, err := r.RebuildCounts(ctx)
		if err != nil {
			st.Close()
			fmt.Fprintf(stderr, "weave-server: migrate: %v\n", err)
			return 1
		}
		logger.Info("counts rebuilt", "keys_corrected", n)
	}
	if err := st.Close(); err != nil {
		fmt.Fprintf(stderr, "weave-server: migrate: %v\n", err)
		return 1
	}
	logger.Info("schema is up to date", "store", cfg.Store, "where", where)
	return 0
}
