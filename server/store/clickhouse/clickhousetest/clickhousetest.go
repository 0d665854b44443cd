//go:build unix

// Package clickhousetest gives tests a real ClickHouse: the user's server
// (WEAVE_TEST_CLICKHOUSE_DSN) or nodes it starts itself with chlocal
// (ClickHouse 26 as a library, from npm, cached) when
// WEAVE_TEST_CLICKHOUSE=local, as make test-clickhouse sets. Without
// either, the tests that need a server are skipped with a notice: a plain
// go test ./... neither downloads the 178 MB package nor starts servers.
package clickhousetest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/weavetrace/weave/tools/chlocal/chlocal"
)

// Environment variables the live tests read.
const (
	// EnvDSN names a ClickHouse server to test against.
	EnvDSN = "WEAVE_TEST_CLICKHOUSE_DSN"
	// EnvCluster optionally names a cluster of that server (replicated
	// mode: ON CLUSTER DDL, Keeper).
	EnvCluster = "WEAVE_TEST_CLICKHOUSE_CLUSTER"
	// EnvLocal = "local" lets tests start chlocal nodes.
	EnvLocal = "WEAVE_TEST_CLICKHOUSE"
)

// Enabled reports whether live tests run: a DSN is given or local nodes
// may be started.
func Enabled() bool { return os.Getenv(EnvDSN) != "" || LocalEnabled() }

// LocalEnabled reports whether tests may start chlocal nodes.
func LocalEnabled() bool { return os.Getenv(EnvLocal) == "local" }

// SkipNotice skips t unless live tests are enabled.
func SkipNotice(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skipf("live ClickHouse test skipped: run make test-clickhouse (starts a local ClickHouse), or set %s=local, or %s=clickhouse://default:@127.0.0.1:9000 for your own server",
			EnvLocal, EnvDSN)
	}
}

// DSN is the server a live test runs against: the user's, or a node
// started for t (stopped when t ends). It skips t when live tests are not
// enabled.
func DSN(t testing.TB) string {
	t.Helper()
	SkipNotice(t)
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn
	}
	return Start(t, 1).DSNs()[0]
}

// Start starts n chlocal nodes, each a shard of cluster chlocal.DefaultCluster,
// and stops them when t ends (they also die with the test binary). It
// skips t unless WEAVE_TEST_CLICKHOUSE=local.
func Start(t testing.TB, n int) *chlocal.Cluster {
	t.Helper()
	if !LocalEnabled() {
		t.Skipf("test of local ClickHouse nodes skipped: set %s=local (make test-clickhouse does)", EnvLocal)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, err := chlocal.Start(ctx, chlocal.Options{Nodes: n, Dir: t.TempDir(), Log: testLog{t}})
	if err != nil {
		t.Fatalf("start %d ClickHouse node(s): %v", n, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			// A failure may be the server's: show what it logged.
			for _, n := range c.Nodes {
				t.Logf("ClickHouse node %s, end of clickhouse.err.log:\n%s", n.Dir, tailFile(filepath.Join(n.Dir, "clickhouse.err.log"), 8000))
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop ClickHouse nodes: %v", err)
		}
	})
	return c
}

// tailFile returns the last n bytes of the file at path, or why it cannot.
func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(p))
	return len(p), nil
}

// Exec runs one statement on the server at dsn (e.g. to drop a test
// database).
func Exec(ctx context.Context, dsn, query string) error {
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		return err
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Exec(ctx, query)
}
