package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/store/clickhouse/clickhousetest"
	"github.com/weavetrace/weave/server/store/storetest/ownbench"
	"github.com/weavetrace/weave/tools/chlocal/chlocal"
)

// TestBenchOwnDataClickHouse is the ClickHouse half of `make
// bench-owndata`: on a store filled as `make bench-clickhouse` fills it
// (WEAVE_BENCH_SPANS spans into database weave_bench of a local node;
// WEAVE_BENCH_DIR keeps the node's data in <dir>/ch, WEAVE_BENCH_REUSE=1
// measures a store filled earlier there) it times the exports, deleting
// a conversation and 100 traces, and pruning the oldest tenth (ownbench),
// with the CPU of weave and of the ClickHouse node. It deletes data:
// measure a copy of a store you want to keep. WEAVE_BENCH_OWNDATA=delete
// leaves the exports out.
func TestBenchOwnDataClickHouse(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("WEAVE_BENCH_SPANS"))
	if err != nil || n <= 0 {
		t.Skip("set WEAVE_BENCH_SPANS=<spans> to run the ClickHouse own-data benchmark (make bench-owndata)")
	}
	clickhousetest.SkipNotice(t)
	dir := os.Getenv("WEAVE_BENCH_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	ctx := context.Background()
	profile := os.Getenv("WEAVE_BENCH_PROFILE") == "1"
	c, err := chlocal.Start(ctx, chlocal.Options{Nodes: 1, Dir: filepath.Join(dir, "ch"), Log: os.Stderr, SystemLogs: profile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Stop() })
	nodePID := c.Nodes[0].PID
	s, err := Open(ctx, Config{DSN: c.DSNs()[0], Database: "weave_bench"}, Settings{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var traces []string
	switch {
	case os.Getenv("WEAVE_BENCH_REUSE") == "1" && st.Spans > 0:
		fmt.Printf("reusing a store of %d spans (%.1f MiB on disk)\n", st.Spans, float64(st.Bytes)/(1<<20))
		traces = benchTraces(t, s)
	case st.Spans > 0:
		t.Fatalf("database weave_bench already holds %d spans: set WEAVE_BENCH_REUSE=1 to measure it, or use another WEAVE_BENCH_DIR", st.Spans)
	default:
		traces = benchFill(t, s, n, nodePID)
	}
	waitIdle(nodePID, 10*time.Minute)
	if profile {
		from := time.Now()
		defer benchStatementProfile(t, s, from)
	}
	ownbench.Run(t, s, ownbench.Options{
		Project: benchProject,
		Traces:  traces,
		Span: func() (lo, hi time.Time, err error) {
			err = s.scanAll(ctx, "bench span range", "SELECT min(started_at), max(started_at) FROM "+s.l.table("span_state")+
				" WHERE project_id = {p:String} AND sign = 1", []driver.NamedValue{named("p", benchProject)}, func(r driver.Rows) error {
				return r.Scan(&lo, &hi)
			})
			return lo, hi, err
		},
		ServerCPU:  func() time.Duration { return cpuOf(nodePID) },
		SkipExport: os.Getenv("WEAVE_BENCH_OWNDATA") == "delete",
	})
}

// benchStatementProfile prints, per statement shape of every kind, what
// ClickHouse spent since from (WEAVE_BENCH_PROFILE=1 turns its query_log
// on).
func benchStatementProfile(t *testing.T, s *Store, from time.Time) {
	ctx := context.Background()
	if err := s.conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		t.Fatal(err)
	}
	fmt.Println("\nClickHouse, per statement shape: runs, total wall s, total CPU s, rows read, statement")
	q := "SELECT count(), sum(query_duration_ms) / 1e3, sum(ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']) / 1e6, " +
		"sum(read_rows), substring(replaceRegexpAll(any(query), '\\s+', ' '), 1, 160) FROM system.query_log WHERE type = 'QueryFinish' " +
		"AND event_time_microseconds >= fromUnixTimestamp64Micro({from:Int64}) " +
		"GROUP BY normalized_query_hash ORDER BY sum(ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']) DESC LIMIT 25"
	err := s.scanAll(ctx, "profile", q, []driver.NamedValue{named("from", from.UnixMicro())}, func(r driver.Rows) error {
		var n, rows uint64
		var wall, cpu float64
		var sql string
		if err := r.Scan(&n, &wall, &cpu, &rows, &sql); err != nil {
			return err
		}
		fmt.Printf("%5d %8.1f %8.1f %12d  %s\n", n, wall, cpu, rows, sql)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("\nClickHouse, merges and mutations: count, total s, rows read, table")
	q = "SELECT count(), sum(duration_ms) / 1e3, sum(read_rows), concat(table, ' ', toString(event_type)) FROM system.part_log " +
		"WHERE event_time_microseconds >= fromUnixTimestamp64Micro({from:Int64}) AND event_type IN ('MergeParts', 'MutatePart') GROUP BY table, event_type ORDER BY 2 DESC LIMIT 15"
	err = s.scanAll(ctx, "profile", q, []driver.NamedValue{named("from", from.UnixMicro())}, func(r driver.Rows) error {
		var n, rows uint64
		var secs float64
		var what string
		if err := r.Scan(&n, &secs, &rows, &what); err != nil {
			return err
		}
		fmt.Printf("%5d %8.1f %12d  %s\n", n, secs, rows, what)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
