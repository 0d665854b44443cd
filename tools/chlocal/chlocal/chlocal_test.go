//go:build unix

package chlocal

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// live skips tests that start servers unless asked to (make
// test-clickhouse sets WEAVE_TEST_CLICKHOUSE=local): they need the 178 MB
// package.
func live(t *testing.T) {
	t.Helper()
	if os.Getenv("WEAVE_TEST_CLICKHOUSE") != "local" {
		t.Skip("starts ClickHouse nodes: set WEAVE_TEST_CLICKHOUSE=local (make test-clickhouse does)")
	}
}

func TestNodeConfig(t *testing.T) {
	nodes := []Node{{TCPPort: 9001, HTTPPort: 8124, Dir: "/d/node1"}, {TCPPort: 9002, HTTPPort: 8125, Dir: "/d/node2"}}
	got := nodeConfig("weave", 1, nodes, false)
	path := filepath.Join("testdata", "node2_config.xml")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("nodeConfig: got\n%s\nwant\n%s", got, want)
	}
}

func TestCheckIntegrity(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.tgz")
	if err := os.WriteFile(p, []byte("not the package"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := checkIntegrity(p)
	if err == nil || !strings.Contains(err.Error(), "want "+Integrity) {
		t.Errorf("checkIntegrity(other bytes): got %v, want an integrity mismatch", err)
	}
}

func TestExtract(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct{ name, body string }{{"package/package.json", "{}"}, {"package/libchdb.so", "ELF..."}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		tw.Write([]byte(f.body))
	}
	tw.Close()
	zw.Close()
	dir := t.TempDir()
	tgz := filepath.Join(dir, "p.tgz")
	if err := os.WriteFile(tgz, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "lib")
	if err := extract(tgz, "package/libchdb.so", dst); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "ELF..." {
		t.Errorf("extracted %q, want %q", b, "ELF...")
	}
	if err := extract(tgz, "package/missing", dst); err == nil || !strings.Contains(err.Error(), "has no package/missing") {
		t.Errorf("extract(missing member): got %v, want a clear error", err)
	}
}

func TestLockFileWaits(t *testing.T) {
	p := filepath.Join(t.TempDir(), "lock")
	unlock, err := lockFile(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := lockFile(ctx, p); err == nil {
		t.Error("second lockFile while held: got nil, want a context error")
	}
}

// TestClusterStartStop starts two nodes, checks that each answers, that
// both know the cluster with one shard per node and that a Distributed
// table over them splits rows between the shards; after Stop no process
// of theirs is left.
func TestClusterStartStop(t *testing.T) {
	live(t)
	ctx := context.Background()
	c, err := Start(ctx, Options{Nodes: 2, Dir: t.TempDir(), Log: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			c.Stop()
		}
	}()
	if len(c.Nodes) != 2 || c.Running() != 2 {
		t.Fatalf("nodes: got %d (%d running), want 2", len(c.Nodes), c.Running())
	}
	conns := make([]driver.Conn, 2)
	for i, n := range c.Nodes {
		conns[i] = open(t, n.TCPPort)
	}
	for i := range conns {
		var shards uint64
		q := "SELECT count() FROM system.clusters WHERE cluster = '" + DefaultCluster + "'"
		if err := conns[i].QueryRow(ctx, q).Scan(&shards); err != nil {
			t.Fatal(err)
		}
		if shards != 2 {
			t.Errorf("node %d: cluster %s has %d shards, want 2", i+1, DefaultCluster, shards)
		}
		for _, q := range []string{
			"CREATE DATABASE t",
			"CREATE TABLE t.x_local (k UInt64) ENGINE = MergeTree ORDER BY k",
			"CREATE TABLE t.x AS t.x_local ENGINE = Distributed('" + DefaultCluster + "', 't', 'x_local', k)",
		} {
			if err := conns[i].Exec(ctx, q); err != nil {
				t.Fatalf("node %d: %s: %v", i+1, q, err)
			}
		}
	}
	fg := ch.Context(ctx, ch.WithSettings(ch.Settings{"distributed_foreground_insert": 1}))
	if err := conns[0].Exec(fg, "INSERT INTO t.x SELECT number FROM numbers(10)"); err != nil {
		t.Fatal(err)
	}
	for i := range conns {
		var local, all uint64
		if err := conns[i].QueryRow(ctx, "SELECT (SELECT count() FROM t.x_local), (SELECT count() FROM t.x)").Scan(&local, &all); err != nil {
			t.Fatal(err)
		}
		if local != 5 || all != 10 {
			t.Errorf("node %d: %d rows local, %d through the Distributed table; want 5 and 10", i+1, local, all)
		}
	}
	for _, cn := range conns {
		cn.Close()
	}

	pids := []int{c.Nodes[0].PID, c.Nodes[1].PID}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("node pid %d still exists after Stop", pid)
		}
		if err := syscall.Kill(-pid, 0); err == nil {
			t.Errorf("process group %d still has processes after Stop", pid)
		}
	}
}

func open(t *testing.T, port int) driver.Conn {
	t.Helper()
	conn, err := ch.Open(&ch.Options{Addr: []string{"127.0.0.1:" + strconv.Itoa(port)}})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestStartRetriesTakenPort hands the first start a TCP port another
// process listens on: the node cannot bind it, and Start tries again with
// other ports.
func TestStartRetriesTakenPort(t *testing.T) {
	live(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		ports, err := freePorts(n)
		if calls == 1 {
			ports[0] = taken
		}
		return ports, err
	}
	defer func() { pickPorts = freePorts }()
	c, err := Start(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if calls != 2 || c.Nodes[0].TCPPort == taken {
		t.Errorf("got %d port picks and TCP port %d (taken: %d), want a second pick with another port", calls, c.Nodes[0].TCPPort, taken)
	}
}

// TestNodesDieWithParent kills (SIGKILL) a process that started a node
// and checks that the node goes too: a crashed test binary leaks no
// server.
func TestNodesDieWithParent(t *testing.T) {
	live(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperParent$", "-test.v")
	cmd.Env = append(os.Environ(), "CHLOCAL_HELPER_DIR="+dir)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pid int
	deadline := time.Now().Add(2 * time.Minute)
	for pid == 0 {
		if b, err := os.ReadFile(filepath.Join(dir, "pid")); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("helper started no node:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	// The node, orphaned, kills its group within 250 ms; the minute is
	// only a hang guard for a loaded machine.
	deadline = time.Now().Add(time.Minute)
	for groupRuns(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("node pid %d still runs a minute after its parent was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// groupRuns reports whether process group pgid has a process that is not
// a zombie. A killed orphan stays a zombie until whoever adopted it (init,
// or a subreaper) reaps it, and an init in a container may never do so:
// kill(-pgid, 0) alone would still find it.
func groupRuns(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true // no /proc: trust the signal
	}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
			return true
		}
	}
	return false
}

// TestHelperParent is TestNodesDieWithParent's parent process.
func TestHelperParent(t *testing.T) {
	dir := os.Getenv("CHLOCAL_HELPER_DIR")
	if dir == "" {
		t.Skip("helper process of TestNodesDieWithParent")
	}
	c, err := Start(context.Background(), Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(fmt.Sprint(c.Nodes[0].PID)), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Hour) // killed by the test
}

// TestFatalLines reads the end of a node that aborted on the known chDB
// bug (testdata/abort.err.log, from a real node): the messages, without
// stack frames or prefixes.
func TestFatalLines(t *testing.T) {
	got := FatalLines(filepath.Join("testdata", "abort.err.log"), 12)
	want := []string{
		"(version 26.7.2.1, build id: 33A6A43F2725AB31E7E7289E175A8DE5FC222ECC, git hash: 7d84d719da07184f6a49405a11b112f16925af72) (from thread 12927) Terminate called for uncaught exception:",
		"Code: 210. DB::NetException: Connection reset by peer, while reading from socket (peer: 127.0.0.1:54746, local: 127.0.0.1:41869). (NETWORK_ERROR)",
		"(version 26.7.2.1)",
		"(version 26.7.2.1, build id: 33A6A43F2725AB31E7E7289E175A8DE5FC222ECC, git hash: 7d84d719da07184f6a49405a11b112f16925af72, architecture: x86_64) (from thread 12927) Received signal 6 (internal)",
		"Signal description: Aborted",
		"Sent by tkill.",
		"(version 26.7.2.1, build id: 33A6A43F2725AB31E7E7289E175A8DE5FC222ECC, git hash: 7d84d719da07184f6a49405a11b112f16925af72) (from thread 12927) (no query) Received signal Aborted (6)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("FatalLines:\ngot  %q\nwant %q", got, want)
	}
	if got := FatalLines(filepath.Join("testdata", "abort.err.log"), 2); len(got) != 2 {
		t.Errorf("FatalLines(max 2): %d lines", len(got))
	}
	if got := FatalLines(filepath.Join(t.TempDir(), "none.log"), 12); got != nil {
		t.Errorf("FatalLines(missing file): %q, want nil", got)
	}
}

// TestNodesDeadReported: a node that dies (SIGABRT, as on the chDB bug
// the package comment describes) is reported by Dead with how it ended
// and what ClickHouse logged of it; the other node is not.
func TestNodesDeadReported(t *testing.T) {
	live(t)
	c, err := Start(context.Background(), Options{Nodes: 2, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if dead := c.Dead(); dead != nil {
		t.Fatalf("Dead with every node running: %v", dead)
	}
	victim := c.Nodes[1]
	if err := syscall.Kill(victim.PID, syscall.SIGABRT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.exited[victim.PID].done:
	case <-time.After(time.Minute):
		t.Fatal("node still runs a minute after SIGABRT")
	}
	dead := c.Dead()
	if len(dead) != 1 {
		t.Fatalf("Dead: %v, want node 2 only", dead)
	}
	msg := dead[0].Error()
	for _, want := range []string{"ClickHouse node 2 (pid " + strconv.Itoa(victim.PID), "died: signal: aborted", "Received signal 6", "Aborted"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Dead: %s\nwant it to say %q", msg, want)
		}
	}
	if c.Running() != 1 {
		t.Errorf("Running: %d, want 1", c.Running())
	}
	t.Log(msg)
}

// TestNodesProbeClientResetAbort (WEAVE_CHLOCAL_PROBE=1) shows whether
// the library still has the bug the package comment describes: six
// clients insert and read with deadlines of 0 to 30 ms, so that many
// queries are cancelled while their answer streams in (clickhouse-go then
// closes the socket with the answer unread: a reset), until the node dies
// or a minute has passed. With chDB 26.7.3 the node aborts within
// seconds. The check: Dead says why. Run it after changing Version; drop
// the package comment's note once the node survives.
func TestNodesProbeClientResetAbort(t *testing.T) {
	live(t)
	if os.Getenv("WEAVE_CHLOCAL_PROBE") != "1" {
		t.Skip("probe of a chDB bug: set WEAVE_CHLOCAL_PROBE=1")
	}
	c, err := Start(context.Background(), Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	conn, err := ch.Open(&ch.Options{Addr: []string{"127.0.0.1:" + strconv.Itoa(c.Nodes[0].TCPPort)}, MaxOpenConns: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if err := conn.Exec(ctx, "CREATE TABLE t (k String, v UInt64, s String) ENGINE = ReplacingMergeTree ORDER BY k"); err != nil {
		t.Fatal(err)
	}
	queries := []string{
		"SELECT k, v, s FROM t FINAL ORDER BY k LIMIT 50000",
		"SELECT k, count(), groupArray(s) FROM t GROUP BY k ORDER BY k LIMIT 20000",
	}
	exited := c.exited[c.Nodes[0].PID].done
	var cancelled atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				qctx, cancel := context.WithTimeout(ctx, time.Duration(r.IntN(30000))*time.Microsecond)
				var err error
				if i := r.IntN(3); i < len(queries) {
					var rows driver.Rows
					if rows, err = conn.Query(qctx, queries[i]); err == nil {
						for rows.Next() {
						}
						err = rows.Err()
						rows.Close()
					}
				} else {
					var b driver.Batch
					if b, err = conn.PrepareBatch(qctx, "INSERT INTO t"); err == nil {
						for i := range 2000 {
							b.Append(strconv.Itoa(r.IntN(100000)), uint64(i), strings.Repeat("x", 40))
						}
						err = b.Send()
						b.Close()
					}
				}
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					cancelled.Add(1)
				}
			}
		}()
	}
	select {
	case <-exited:
		close(stop)
		wg.Wait()
		dead := c.Dead()
		if len(dead) != 1 || !strings.Contains(dead[0].Error(), "Received signal") {
			t.Fatalf("the node died after %d cancelled queries, and Dead says %v", cancelled.Load(), dead)
		}
		t.Logf("the node aborted after %d cancelled queries (the bug is there):\n%v", cancelled.Load(), dead[0])
	case <-time.After(time.Minute):
		close(stop)
		wg.Wait()
		t.Logf("the node survived %d cancelled queries in a minute: this build may no longer have the bug", cancelled.Load())
	}
}
