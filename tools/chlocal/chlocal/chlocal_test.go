//go:build unix

package chlocal

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	got := nodeConfig("weave", 1, nodes)
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
	deadline = time.Now().Add(10 * time.Second)
	for syscall.Kill(-pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(-pid, syscall.SIGKILL)
			t.Fatalf("node pid %d still runs 10 s after its parent was killed", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
