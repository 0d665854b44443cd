//go:build unix

// Package chlocal runs real ClickHouse servers without Docker or a
// download of its own: ClickHouse 26 as a library (chDB's libchdb.so,
// from the npm package Package) is loaded into a small launcher process
// with purego, and clickhouse-local is told to start its TCP and HTTP
// listeners. Start runs N such nodes on free loopback ports, each in its
// own process group with its own data directory and a generated config
// that names all of them as the shards of one cluster; Stop ends them.
//
// What the engine here lacks: Keeper, so no replication
// (Replicated*MergeTree stays read-only) and no distributed DDL (ON
// CLUSTER); Distributed tables over the shards work. Inserts into a
// Distributed table must be synchronous (distributed_foreground_insert=1):
// this build has no background pool to send queued ones.
//
// A known bug of this build (chDB 26.7.3, ClickHouse 26.7.2.1) kills a
// node: a client that resets its connection while a query's answer
// streams in (clickhouse-go closes the socket of a query whose context it
// cancelled, the answer unread) can make the connection's thread end on an
// uncaught exception. clickhouse.err.log then says
//
//	<Fatal> ClientBase: ... Terminate called for uncaught exception:
//	<Fatal> ClientBase: Code: 210. DB::NetException: Connection reset by peer, while reading from socket ...
//	<Fatal> ClientBase: ... Received signal 6 (internal) / Signal description: Aborted
//
// the queries running on other connections fail with code 236 (ABORTED,
// "The server is shutting down due to a fatal error") and the process is
// gone. Most resets are handled (logged as NETWORK_ERROR); one in tens
// aborts. A real clickhouse-server is not known to. Cluster.Dead reports a
// node that died, with these lines; clickhousetest fails the test that
// saw it. TestProbeClientResetAbort (WEAVE_CHLOCAL_PROBE=1) shows whether
// a build still has the bug.
package chlocal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
)

// DefaultCluster is the cluster name of Options.Cluster's zero value.
const DefaultCluster = "weave"

// stateFile is the record of a started cluster in its directory.
const stateFile = "chlocal.json"

// keepAlive is the query that keeps clickhouse-local (and so its
// listeners) running until the process is killed: one row a second.
const keepAlive = "SYSTEM START LISTEN TCP; SYSTEM START LISTEN HTTP; " +
	"SELECT sleepEachRow(1) FROM system.numbers SETTINGS max_block_size = 1 FORMAT Null"

// Options configure Start.
type Options struct {
	// Nodes is the number of servers (default 1), each a shard of the
	// cluster.
	Nodes int
	// Dir holds each node's data, config and log (node1/, node2/, …) and
	// the cluster's state file. Empty: a temporary directory that Stop
	// removes.
	Dir string
	// Cluster names the cluster in every node's remote_servers (default
	// DefaultCluster).
	Cluster string
	// Lib is the libchdb.so to load (default: Install's).
	Lib string
	// Detach lets the nodes outlive this process (the command's start;
	// stop them with Load(dir) and Stop). Otherwise each node kills itself
	// once this process is gone, however it ended.
	Detach bool
	// StartTimeout bounds the wait for every node to answer (default 90s).
	StartTimeout time.Duration
	// Log receives progress lines (nil: none).
	Log io.Writer
	// SystemLogs turns on the system tables a profile reads (query_log,
	// part_log, processors_profile_log), which this build leaves off. They
	// cost the node some CPU of their own: leave them off when measuring.
	// (This build's sampling profiler, trace_log, is not usable: it
	// writes no samples, or fails to create its table and stalls the
	// other logs' flushes.)
	SystemLogs bool
}

// Node is one running server.
type Node struct {
	PID      int    `json:"pid"`
	Started  string `json:"started"` // the process's start time (/proc/PID/stat), to recognise it
	TCPPort  int    `json:"tcp_port"`
	HTTPPort int    `json:"http_port"`
	Dir      string `json:"dir"`
}

// DSN is the node's clickhouse-go DSN (user default, no password).
func (n Node) DSN() string { return fmt.Sprintf("clickhouse://default:@127.0.0.1:%d", n.TCPPort) }

// Cluster is a set of started nodes.
type Cluster struct {
	Name  string `json:"cluster"`
	Dir   string `json:"dir"`
	Nodes []Node `json:"nodes"`

	tempDir bool
	exited  map[int]*exit // by PID, for the nodes this process started
}

// exit is how a node this process started ended.
type exit struct {
	done  chan struct{} // closed once the node is reaped
	state *os.ProcessState
	err   error // from Wait
}

// DSNs are the nodes' DSNs, in node order.
func (c *Cluster) DSNs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.DSN()
	}
	return out
}

// Start installs the library if needed and starts opts.Nodes servers,
// returning once every one answers SELECT 1 over the native protocol.
// Ports are picked free on 127.0.0.1; a start that loses a port race is
// retried with new ports.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	if opts.Cluster == "" {
		opts.Cluster = DefaultCluster
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 90 * time.Second
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Lib == "" {
		lib, err := Install(ctx, opts.Log)
		if err != nil {
			return nil, err
		}
		opts.Lib = lib
	}
	c := &Cluster{Name: opts.Cluster, Dir: opts.Dir}
	if c.Dir == "" {
		d, err := os.MkdirTemp("", "chlocal-")
		if err != nil {
			return nil, fmt.Errorf("chlocal: %w", err)
		}
		c.Dir, c.tempDir = d, true
	}
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return nil, fmt.Errorf("chlocal: %w", err)
	}
	c.Dir = abs
	if old, err := Load(c.Dir); err == nil && old.Running() > 0 {
		return nil, fmt.Errorf("chlocal: %s: %d node(s) of an earlier start still run (stop them first)", c.Dir, old.Running())
	}
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		lastErr = c.start(ctx, opts)
		if lastErr == nil {
			return c, nil
		}
		c.Stop()
		if ctx.Err() != nil || !errors.Is(lastErr, errPortTaken) {
			break
		}
		fmt.Fprintf(opts.Log, "chlocal: %v; retrying with other ports\n", lastErr)
	}
	if c.tempDir {
		os.RemoveAll(c.Dir)
	}
	return nil, lastErr
}

var errPortTaken = errors.New("port taken")

func (c *Cluster) start(ctx context.Context, opts Options) error {
	ports, err := pickPorts(2 * opts.Nodes)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("chlocal: %w", err)
	}
	c.Nodes = make([]Node, opts.Nodes)
	c.exited = map[int]*exit{}
	for i := range c.Nodes {
		c.Nodes[i] = Node{TCPPort: ports[2*i], HTTPPort: ports[2*i+1], Dir: filepath.Join(c.Dir, fmt.Sprintf("node%d", i+1))}
	}
	for i := range c.Nodes {
		n := &c.Nodes[i]
		if err := os.MkdirAll(filepath.Join(n.Dir, "data"), 0o755); err != nil {
			return fmt.Errorf("chlocal: %w", err)
		}
		if opts.SystemLogs {
			// clickhouse-local keeps no metadata of its system tables: the
			// data directories of an earlier run's logs would make their
			// creation fail (and stall every log's flush). Only logs are
			// lost.
			for _, t := range systemLogTables {
				os.RemoveAll(filepath.Join(n.Dir, "data", "data", "system", t))
			}
		}
		cfg := filepath.Join(n.Dir, "config.xml")
		if err := os.WriteFile(cfg, []byte(nodeConfig(c.Name, i, c.Nodes, opts.SystemLogs)), 0o644); err != nil {
			return fmt.Errorf("chlocal: %w", err)
		}
		spec := nodeSpec{Lib: opts.Lib, Args: []string{
			"--config-file=" + cfg, "--path=" + filepath.Join(n.Dir, "data") + "/", "--multiquery", "--query=" + keepAlive,
		}}
		if !opts.Detach {
			spec.ParentPID = os.Getpid()
		}
		b, _ := json.Marshal(spec)
		specPath := filepath.Join(n.Dir, "node.json")
		if err := os.WriteFile(specPath, b, 0o644); err != nil {
			return fmt.Errorf("chlocal: %w", err)
		}
		logf, err := os.OpenFile(filepath.Join(n.Dir, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("chlocal: %w", err)
		}
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), envNode+"="+specPath)
		cmd.Dir = n.Dir
		cmd.Stdout, cmd.Stderr = logf, logf
		// Its own session and process group: SYSTEM SHUTDOWN signals the
		// whole group, and Stop kills the group.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		err = cmd.Start()
		logf.Close()
		if err != nil {
			return fmt.Errorf("chlocal: start node %d: %w", i+1, err)
		}
		n.PID = cmd.Process.Pid
		n.Started, _ = procStart(n.PID)
		e := &exit{done: make(chan struct{})}
		c.exited[n.PID] = e
		go func() { e.err = cmd.Wait(); e.state = cmd.ProcessState; close(e.done) }()
	}
	if err := c.save(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
	defer cancel()
	for i, n := range c.Nodes {
		if err := waitReady(wctx, n, c.exited[n.PID].done); err != nil {
			return fmt.Errorf("chlocal: node %d (%s): %w", i+1, n.Dir, err)
		}
	}
	fmt.Fprintf(opts.Log, "chlocal: %d node(s) up in %s\n", len(c.Nodes), c.Dir)
	return nil
}

// nodeConfig is the config file of node i: its ports, a log of warnings,
// the cluster with one shard per node, and the profiling system tables
// when systemLogs.
func nodeConfig(cluster string, i int, nodes []Node, systemLogs bool) string {
	x := html.EscapeString
	var b strings.Builder
	b.WriteString("<clickhouse>\n")
	fmt.Fprintf(&b, "  <listen_host>127.0.0.1</listen_host>\n  <tcp_port>%d</tcp_port>\n  <http_port>%d</http_port>\n", nodes[i].TCPPort, nodes[i].HTTPPort)
	fmt.Fprintf(&b, "  <logger>\n    <level>warning</level>\n    <log>%s</log>\n    <errorlog>%s</errorlog>\n    <size>10M</size>\n    <count>2</count>\n    <console>0</console>\n  </logger>\n",
		x(filepath.Join(nodes[i].Dir, "clickhouse.log")), x(filepath.Join(nodes[i].Dir, "clickhouse.err.log")))
	fmt.Fprintf(&b, "  <macros>\n    <cluster>%s</cluster>\n    <shard>%d</shard>\n    <replica>r1</replica>\n  </macros>\n", x(cluster), i+1)
	fmt.Fprintf(&b, "  <remote_servers>\n    <%s>\n", x(cluster))
	for _, n := range nodes {
		fmt.Fprintf(&b, "      <shard>\n        <replica>\n          <host>127.0.0.1</host>\n          <port>%d</port>\n          <user>default</user>\n        </replica>\n      </shard>\n", n.TCPPort)
	}
	fmt.Fprintf(&b, "    </%s>\n  </remote_servers>\n", x(cluster))
	if systemLogs {
		b.WriteString(systemLogsConfig)
	}
	b.WriteString("</clickhouse>\n")
	return b.String()
}

// systemLogTables are the tables SystemLogs turns on.
var systemLogTables = []string{"query_log", "part_log", "processors_profile_log"}

// systemLogsConfig turns on the system tables of a profile: every query
// with its ProfileEvents (query_log, processors_profile_log) and every
// part written or merged, with the CPU each took (part_log).
const systemLogsConfig = `  <query_log><database>system</database><table>query_log</table><flush_interval_milliseconds>2000</flush_interval_milliseconds></query_log>
  <part_log><database>system</database><table>part_log</table><flush_interval_milliseconds>2000</flush_interval_milliseconds></part_log>
  <processors_profile_log><database>system</database><table>processors_profile_log</table><flush_interval_milliseconds>2000</flush_interval_milliseconds></processors_profile_log>
`

// pickPorts is freePorts, replaced by a test.
var pickPorts = freePorts

// freePorts returns n distinct free TCP ports on 127.0.0.1 (free when
// asked: another process may take one before the node binds it, which
// Start retries).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	out := make([]int, n)
	for i := range out {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("chlocal: free port: %w", err)
		}
		ls = append(ls, l)
		out[i] = l.Addr().(*net.TCPAddr).Port
	}
	return out, nil
}

// waitReady polls the node until SELECT 1 answers over its TCP port.
func waitReady(ctx context.Context, n Node, exited <-chan struct{}) error {
	for {
		err := ping(ctx, n.TCPPort)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			log := tailFile(filepath.Join(n.Dir, "node.log"), 1500) + "\n" + tailFile(filepath.Join(n.Dir, "clickhouse.err.log"), 1500)
			if strings.Contains(log, "Address already in use") {
				return fmt.Errorf("%w: exited at start: %s", errPortTaken, strings.TrimSpace(log))
			}
			return fmt.Errorf("exited at start: %s", strings.TrimSpace(log))
		case <-ctx.Done():
			return fmt.Errorf("no answer on port %d: %v (%w)", n.TCPPort, err, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ping(ctx context.Context, port int) error {
	conn, err := ch.Open(&ch.Options{Addr: []string{"127.0.0.1:" + strconv.Itoa(port)}, DialTimeout: time.Second})
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var one uint8
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// Stop ends every node (SIGTERM to its process group, SIGKILL after 10 s)
// and waits until each is gone; a temporary directory is removed.
func (c *Cluster) Stop() error {
	var errs []error
	for _, n := range c.Nodes {
		if n.PID == 0 {
			continue
		}
		if err := c.stopNode(n); err != nil {
			errs = append(errs, err)
		}
	}
	if c.tempDir {
		os.RemoveAll(c.Dir)
	} else if len(errs) == 0 {
		os.Remove(filepath.Join(c.Dir, stateFile))
	}
	return errors.Join(errs...)
}

func (c *Cluster) stopNode(n Node) error {
	gone := func() bool { return !c.running(n) }
	if gone() {
		return nil
	}
	syscall.Kill(-n.PID, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for !gone() {
		if time.Now().After(deadline) {
			syscall.Kill(-n.PID, syscall.SIGKILL)
			deadline = time.Now().Add(10 * time.Second)
			for !gone() {
				if time.Now().After(deadline) {
					return fmt.Errorf("chlocal: node %d (pid %d) does not exit", n.TCPPort, n.PID)
				}
				time.Sleep(20 * time.Millisecond)
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// alive reports whether the node's process still runs (and is the one
// that was started: a PID reused by another process does not count).
func (n Node) alive() bool {
	if n.PID <= 0 || syscall.Kill(n.PID, 0) != nil {
		return false
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		return true // no /proc: trust the signal
	}
	st, err := procStart(n.PID)
	if err != nil {
		return false
	}
	return st == n.Started && !isZombie(n.PID)
}

// Running is how many of the cluster's nodes still run.
func (c *Cluster) Running() int {
	k := 0
	for _, n := range c.Nodes {
		if c.running(n) {
			k++
		}
	}
	return k
}

// running reports whether n runs: not yet reaped when this process
// started it, else alive.
func (c *Cluster) running(n Node) bool {
	if e, ok := c.exited[n.PID]; ok {
		select {
		case <-e.done:
			return false
		default:
			return true
		}
	}
	return n.alive()
}

// Dead returns one error for each node that is no longer running, saying
// how it ended (for a node this process started: its exit status or
// signal) and what it logged of its end: the fatal lines of
// clickhouse.err.log (see the package comment for a known cause) or the
// end of node.log. Nil while every node runs. Stop ends nodes on purpose:
// call Dead before it.
func (c *Cluster) Dead() []error {
	var out []error
	for i, n := range c.Nodes {
		if n.PID == 0 || c.running(n) {
			continue
		}
		how := "exited"
		if e, ok := c.exited[n.PID]; ok && e.state != nil {
			how = e.state.String() // "signal: aborted", "exit status 1"
		}
		msg := fmt.Sprintf("chlocal: ClickHouse node %d (pid %d, %s) died: %s", i+1, n.PID, n.Dir, how)
		if fatal := FatalLines(filepath.Join(n.Dir, "clickhouse.err.log"), 12); len(fatal) > 0 {
			msg += "; clickhouse.err.log:\n\t" + strings.Join(fatal, "\n\t")
		} else if log := strings.TrimSpace(tailFile(filepath.Join(n.Dir, "node.log"), 1500)); log != "" {
			msg += "; node.log:\n" + log
		}
		out = append(out, errors.New(msg))
	}
	return out
}

// FatalLines returns the messages of the <Fatal> lines of a ClickHouse
// log (what it says when it dies: the uncaught exception, the signal),
// without their timestamp, thread and logger prefix and without stack
// frames, each once, at most max of them.
func FatalLines(path string, max int) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		_, msg, ok := strings.Cut(line, "<Fatal> ")
		if !ok {
			continue
		}
		if logger, rest, ok := strings.Cut(msg, ": "); ok && !strings.Contains(logger, " ") {
			msg = rest // the logger's name: "ClientBase: ", "BaseDaemon: "
		}
		msg, _, _ = strings.Cut(msg, ", Stack trace (")
		msg = strings.TrimSpace(msg)
		if msg == "" || isStackFrame(msg) || strings.HasPrefix(msg, "####") || strings.HasPrefix(msg, "Stack trace:") || seen[msg] {
			continue
		}
		seen[msg] = true
		out = append(out, msg)
		if len(out) == max {
			break
		}
	}
	return out
}

// isStackFrame: "12. ? @ 0x…", "3. __pthread_kill_implementation @ 0x…".
func isStackFrame(s string) bool {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 0 && i < len(s) && s[i] == '.' && strings.Contains(s, " @ 0x")
}

func (c *Cluster) save() error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.Dir, stateFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("chlocal: %w", err)
	}
	return nil
}

// Load reads the cluster started (detached) in dir, to stop it.
func Load(dir string) (*Cluster, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("chlocal: %w", err)
	}
	var c Cluster
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("chlocal: %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &c, nil
}

// procStart is field 22 of /proc/PID/stat: when the process started, in
// clock ticks since boot.
func procStart(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces
	if i < 0 {
		return "", fmt.Errorf("chlocal: /proc/%d/stat: unexpected form", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", fmt.Errorf("chlocal: /proc/%d/stat: unexpected form", pid)
	}
	return f[19], nil // fields after the command start at field 3
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && strings.HasPrefix(s[i+1:], " Z")
}

func tailFile(path string, n int) string {
	b, _ := os.ReadFile(path)
	return tail(string(b), n)
}
