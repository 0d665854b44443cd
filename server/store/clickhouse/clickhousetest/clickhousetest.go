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
	"os"
	"path/filepath"
	"strings"
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
// and stops them when t ends (they also die with the test binary). A node
// that died meanwhile fails t, with what it logged of its end (see
// package chlocal for a known cause); a test that failed otherwise shows
// each node's last errors. It skips t unless WEAVE_TEST_CLICKHOUSE=local.
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
		dead := c.Dead()
		for _, err := range dead {
			t.Error(err)
		}
		if t.Failed() && len(dead) == 0 {
			// A failure may be the server's: show what it logged.
			for _, n := range c.Nodes {
				t.Logf("ClickHouse node %s, last errors of clickhouse.err.log:\n%s", n.Dir, lastErrors(filepath.Join(n.Dir, "clickhouse.err.log"), 20))
			}
		}
		if err := c.Stop(); err != nil {
			t.Errorf("stop ClickHouse nodes: %v", err)
		}
	})
	return c
}

// lastErrors returns the last max error and fatal messages of a
// ClickHouse log, one line each (no stack frames), or why it cannot. The
// warnings that fill the log under load say nothing of a failure.
func lastErrors(path string, max int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var lines []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "} <Error> ") || strings.Contains(line, "} <Fatal> ") {
			line, _, _ = strings.Cut(line, ", Stack trace (")
			lines = append(lines, line)
		}
	}
	if len(lines) > max {
		lines = lines[len(lines)-max:]
	}
	if len(lines) == 0 {
		return "(none)"
	}
	return strings.Join(lines, "\n")
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
