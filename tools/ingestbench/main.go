//go:build unix

// Command ingestbench measures weave-server's whole ingest path on each
// store, side by side in one run with the same load: the weave-server
// binary runs as a process of its own (on ClickHouse, next to a local
// ClickHouse node started with tools/chlocal), Claude Code-shaped OTLP/HTTP
// protobuf requests (tools/otlpload) arrive from concurrent clients, and it
// prints per store: spans/s, CPU µs per span of each process (from
// /proc/PID/stat, during the load and until the processes are idle again:
// ClickHouse merges and SQLite's search indexing come after the answers),
// p50/p99 request latency, peak RSS, bytes on disk per span, spans lost
// (stored vs sent) and whether sampled traces are complete.
//
//	go run ./tools/ingestbench                          # make bench-ingest-stores
//	go run ./tools/ingestbench -stores clickhouse -spans 30000 -profile /tmp/prof
//
// -profile DIR also takes a CPU profile of weave-server during the load
// (DIR/weave-server-STORE.NN.pprof, slices of 5 s) and turns on ClickHouse's query_log and
// part_log, summarized after the run: which queries and merges the
// ClickHouse CPU went to. The system logs cost ClickHouse CPU of their
// own, so profile and measure in separate runs.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"

	"github.com/weavetrace/weave/tools/chlocal/chlocal"
	"github.com/weavetrace/weave/tools/otlpload/otlpload"
)

type options struct {
	stores     []string
	spans      int
	warmup     int
	workers    int
	batch      int
	sample     int
	server     string
	serverArgs []string
	dir        string
	profile    string
	settle     time.Duration
	asJSON     bool
}

func main() {
	var o options
	stores := flag.String("stores", "sqlite,clickhouse", "stores to measure, in order")
	flag.IntVar(&o.spans, "spans", 100_000, "spans of the measured load")
	flag.IntVar(&o.warmup, "warmup", 10_000, "spans sent first, unmeasured (another project)")
	flag.IntVar(&o.workers, "workers", 4, "concurrent clients")
	flag.IntVar(&o.batch, "batch", 512, "spans per request")
	flag.IntVar(&o.sample, "sample", 100, "complete traces read back and checked")
	flag.StringVar(&o.server, "server", "", "weave-server binary (default: built from ./cmd/weave-server)")
	serverArgs := flag.String("server-args", "", "extra weave-server flags, space-separated (e.g. --clickhouse-batch-rows 5000)")
	flag.StringVar(&o.dir, "dir", "", "working directory (default: a temporary one, removed)")
	flag.StringVar(&o.profile, "profile", "", "write weave-server CPU profiles here and summarize ClickHouse's query_log and part_log")
	flag.DurationVar(&o.settle, "settle", 2*time.Minute, "longest wait for the processes to go idle after the load")
	flag.BoolVar(&o.asJSON, "json", false, "print one JSON line per store instead of the table")
	flag.Parse()
	o.stores = strings.Split(*stores, ",")
	o.serverArgs = strings.Fields(*serverArgs)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "ingestbench:", err)
		os.Exit(1)
	}
}

// figures are one store's results.
type figures struct {
	Store         string  `json:"store"`
	Spans         int     `json:"spans"`
	SpansPerSec   float64 `json:"spans_per_s"`
	WeaveCPU      float64 `json:"weave_cpu_us_per_span"`
	WeaveCPUIdle  float64 `json:"weave_cpu_us_per_span_until_idle"`
	CHCPU         float64 `json:"clickhouse_cpu_us_per_span,omitempty"`
	CHCPUIdle     float64 `json:"clickhouse_cpu_us_per_span_until_idle,omitempty"`
	P50ms         float64 `json:"p50_ms"`
	P99ms         float64 `json:"p99_ms"`
	WeaveRSSMiB   float64 `json:"weave_peak_rss_mib"`
	CHRSSMiB      float64 `json:"clickhouse_peak_rss_mib,omitempty"`
	DiskPerSpan   float64 `json:"disk_bytes_per_span"`
	Stored        int64   `json:"stored"`
	Lost          int64   `json:"lost"`
	Failed        int     `json:"failed_requests"`
	TracesChecked int     `json:"traces_checked"`
	TracesBad     int     `json:"traces_incomplete"`
	Settle        float64 `json:"settle_s"`
	Load1         string  `json:"load_average"`
}

func run(ctx context.Context, o options) error {
	dir := o.dir
	if dir == "" {
		d, err := os.MkdirTemp("", "ingestbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if o.server == "" {
		o.server = filepath.Join(dir, "weave-server")
		fmt.Fprintln(os.Stderr, "building weave-server…")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", o.server, "./cmd/weave-server")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build weave-server (run from the repository root, or pass -server): %w", err)
		}
	}
	if o.profile != "" {
		if err := os.MkdirAll(o.profile, 0o755); err != nil {
			return err
		}
	}
	seed := uint64(time.Now().UnixNano())
	warm, err := otlpload.Build(otlpload.Config{Entity: "bench", Project: "warmup", Seed: seed}, max(o.warmup, 1), o.batch)
	if err != nil {
		return err
	}
	cfg := otlpload.Config{Entity: "bench", Project: "otlpload", Seed: seed + 1}
	load, err := otlpload.Build(cfg, o.spans, o.batch)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "load: %d spans (%.0f bytes of protobuf a span) in %d requests of %d from %d clients; warm-up %d spans\n",
		load.Spans, float64(load.Bytes)/float64(load.Spans), len(load.Bodies), o.batch, o.workers, o.warmup)
	var all []figures
	for _, st := range o.stores {
		f, err := measure(ctx, o, st, filepath.Join(dir, st), warm, load, cfg.ProjectID())
		if err != nil {
			return fmt.Errorf("%s: %w", st, err)
		}
		all = append(all, f)
		if o.asJSON {
			json.NewEncoder(os.Stdout).Encode(f)
		}
	}
	if !o.asJSON {
		printTable(all)
	}
	return nil
}

func printTable(all []figures) {
	fmt.Printf("\n%-11s %9s %18s %22s %16s %14s %10s %9s %13s\n", "store", "spans/s", "weave µs/span", "clickhouse µs/span",
		"p50 / p99 ms", "peak RSS MiB", "disk B/sp", "lost", "traces ok")
	for _, f := range all {
		chCPU, chRSS := "-", "-"
		if f.Store == "clickhouse" {
			chCPU = fmt.Sprintf("%.0f (%.0f idle)", f.CHCPU, f.CHCPUIdle)
			chRSS = fmt.Sprintf("/%.0f", f.CHRSSMiB)
		}
		fmt.Printf("%-11s %9.0f %18s %22s %16s %14s %10.0f %9d %13s\n", f.Store, f.SpansPerSec,
			fmt.Sprintf("%.0f (%.0f idle)", f.WeaveCPU, f.WeaveCPUIdle), chCPU,
			fmt.Sprintf("%.0f / %.0f", f.P50ms, f.P99ms), fmt.Sprintf("%.0f%s", f.WeaveRSSMiB, strings.TrimPrefix(chRSS, "-")),
			f.DiskPerSpan, f.Lost, fmt.Sprintf("%d/%d", f.TracesChecked-f.TracesBad, f.TracesChecked))
	}
	fmt.Println("\nCPU: during the load (until the last answer), and in parentheses until both processes were idle again")
	fmt.Println("(ClickHouse merges, SQLite search indexing). Peak RSS: weave-server[/ClickHouse]. Load average at the start:")
	for _, f := range all {
		fmt.Printf("  %s: %s (settled %.0f s after the load)\n", f.Store, f.Load1, f.Settle)
	}
}

// measure runs one store: start it, warm up, wait for idle, send the
// load, wait until everything is stored and the processes are idle, check.
func measure(ctx context.Context, o options, storeKind, dir string, warm, load *otlpload.Load, project string) (figures, error) {
	f := figures{Store: storeKind, Spans: load.Spans}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return f, err
	}
	port, err := freePort()
	if err != nil {
		return f, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	args := []string{"--addr", "127.0.0.1:" + strconv.Itoa(port), "--data-dir", filepath.Join(dir, "data"), "--store", storeKind}
	var node *chlocal.Node
	var chConn func(context.Context, string) (int64, error)
	if storeKind == "clickhouse" {
		c, err := chlocal.Start(ctx, chlocal.Options{Nodes: 1, Dir: filepath.Join(dir, "ch"), SystemLogs: o.profile != "", Log: os.Stderr})
		if err != nil {
			return f, err
		}
		defer c.Stop()
		node = &c.Nodes[0]
		args = append(args, "--clickhouse-dsn", node.DSN()+"/weave")
		chConn = func(ctx context.Context, q string) (int64, error) { return chScalar(ctx, node.DSN(), q) }
	}
	var pprofAddr string
	if o.profile != "" {
		pp, err := freePort()
		if err != nil {
			return f, err
		}
		pprofAddr = "127.0.0.1:" + strconv.Itoa(pp)
		args = append(args, "--pprof-addr", pprofAddr)
	}
	args = append(args, o.serverArgs...)
	logf, err := os.Create(filepath.Join(dir, "weave-server.log"))
	if err != nil {
		return f, err
	}
	defer logf.Close()
	srv := exec.Command(o.server, args...)
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		return f, err
	}
	exited := make(chan struct{})
	go func() { srv.Wait(); close(exited) }()
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			srv.Process.Kill()
			<-exited
		}
	}()
	if err := waitReady(ctx, base, exited, filepath.Join(dir, "weave-server.log")); err != nil {
		return f, err
	}
	pids := []int{srv.Process.Pid}
	if node != nil {
		pids = append(pids, node.PID)
	}

	fmt.Fprintf(os.Stderr, "%s: warm-up…\n", storeKind)
	if r := otlpload.Send(ctx, warm, otlpload.SendOptions{URL: base + "/v1/traces", Workers: o.workers}); r.Failed > 0 {
		return f, fmt.Errorf("warm-up: %d requests failed: %s", r.Failed, r.FirstError)
	}
	waitIdle(ctx, pids, o.settle)

	f.Load1 = loadAverage()
	fmt.Fprintf(os.Stderr, "%s: %d spans… (load average %s)\n", storeKind, load.Spans, f.Load1)
	cpu0, loadStart := cpuOf(pids), time.Now()
	var prof chan error
	stopProf := make(chan struct{})
	profPath := filepath.Join(o.profile, "weave-server-"+storeKind)
	if pprofAddr != "" {
		prof = make(chan error, 1)
		go func() { prof <- profileSlices("http://"+pprofAddr, profPath, stopProf) }()
	}
	res := otlpload.Send(ctx, load, otlpload.SendOptions{URL: base + "/v1/traces", Workers: o.workers})
	cpu1 := cpuOf(pids)
	if prof != nil {
		close(stopProf)
		if err := <-prof; err != nil {
			fmt.Fprintf(os.Stderr, "%s: weave-server profile: %v\n", storeKind, err)
		} else {
			fmt.Fprintf(os.Stderr, "%s: weave-server CPU profile in slices of 5 s: go tool pprof -top %s %s.*.pprof\n", storeKind, o.server, profPath)
		}
	}
	f.SpansPerSec = res.SpansPerSecond()
	f.P50ms, f.P99ms = ms(res.Quantile(0.5)), ms(res.Quantile(0.99))
	f.Failed = res.Failed
	if res.Failed > 0 {
		fmt.Fprintf(os.Stderr, "%s: %d requests failed, first: %s\n", storeKind, res.Failed, res.FirstError)
	}

	// Everything acknowledged must be readable; then the processes finish
	// their background work.
	t0 := time.Now()
	f.Stored, err = waitStored(ctx, base, project, int64(load.Spans), o.settle)
	if err != nil {
		return f, err
	}
	f.Lost = int64(load.Spans) - f.Stored
	waitIdle(ctx, pids, o.settle)
	f.Settle = time.Since(t0).Seconds()
	loadEnd := time.Now()
	cpu2 := cpuOf(pids)
	n := float64(load.Spans)
	f.WeaveCPU = us(cpu1[0]-cpu0[0]) / n
	f.WeaveCPUIdle = us(cpu2[0]-cpu0[0]) / n
	f.WeaveRSSMiB = peakRSS(pids[0])
	if node != nil {
		f.CHCPU = us(cpu1[1]-cpu0[1]) / n
		f.CHCPUIdle = us(cpu2[1]-cpu0[1]) / n
		f.CHRSSMiB = peakRSS(node.PID)
		b, err := chConn(ctx, "SELECT toInt64(sum(bytes_on_disk)) FROM system.parts WHERE database = 'weave' AND active")
		if err != nil {
			return f, err
		}
		f.DiskPerSpan = float64(b) / float64(f.Stored+int64(warm.Spans))
	} else {
		f.DiskPerSpan = float64(dirSize(filepath.Join(dir, "data"))) / float64(f.Stored+int64(warm.Spans))
	}
	f.TracesChecked, f.TracesBad, err = checkTraces(ctx, base, project, load.Traces, o.sample)
	if err != nil {
		return f, err
	}
	if o.profile != "" && node != nil {
		summarizeClickHouse(ctx, node.DSN(), filepath.Join(o.profile, "clickhouse.txt"), loadStart, loadEnd)
	}
	return f, nil
}

// profileSlices collects weave-server CPU profiles of 5 s one after the
// other until stop is closed (pprof cannot end a profile early), writing
// each to path.NN.pprof; `go tool pprof` merges the files it is given.
func profileSlices(base, path string, stop <-chan struct{}) error {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return nil
		default:
		}
		resp, err := http.Get(base + "/debug/pprof/profile?seconds=5")
		if err != nil {
			return err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("pprof: HTTP %d: %.200s", resp.StatusCode, b)
		}
		if err := os.WriteFile(fmt.Sprintf("%s.%02d.pprof", path, i), b, 0o644); err != nil {
			return err
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(ctx context.Context, base string, exited <-chan struct{}, logPath string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(logPath)
			return fmt.Errorf("weave-server exited: %s", tail(string(b), 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("weave-server not ready after 2 minutes")
}

// cpuOf is the CPU time (user + system) of each process, from
// /proc/PID/stat in clock ticks (1/100 s).
func cpuOf(pids []int) []time.Duration {
	out := make([]time.Duration, len(pids))
	for i, pid := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		fs := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fs) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(fs[11], 10, 64)
		st, _ := strconv.ParseInt(fs[12], 10, 64)
		out[i] = time.Duration(ut+st) * 10 * time.Millisecond
	}
	return out
}

// waitIdle waits until the processes together use less than 5% of a core
// over two seconds, or until max.
func waitIdle(ctx context.Context, pids []int, max time.Duration) {
	deadline := time.Now().Add(max)
	prev := cpuOf(pids)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(2 * time.Second)
		cur := cpuOf(pids)
		var used time.Duration
		for i := range cur {
			used += cur[i] - prev[i]
		}
		prev = cur
		if used < 100*time.Millisecond {
			return
		}
	}
}

// peakRSS is a process's peak resident set (VmHWM), in MiB.
func peakRSS(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// post calls the read API.
func post(ctx context.Context, base, path string, body any, out any) (int, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return resp.StatusCode, fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, msg)
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
}

// waitStored polls the project's span count until it reaches want (or
// stops growing for the settle time) and returns it.
func waitStored(ctx context.Context, base, project string, want int64, settle time.Duration) (int64, error) {
	deadline := time.Now().Add(settle)
	for {
		var page struct {
			Total int64 `json:"total"`
		}
		if _, err := post(ctx, base, "/genai/spans/query", map[string]any{"project_id": project, "limit": 1}, &page); err != nil {
			return 0, err
		}
		if page.Total >= want || time.Now().After(deadline) {
			return page.Total, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// checkTraces reads n random complete traces back and counts those that
// lack spans.
func checkTraces(ctx context.Context, base, project string, traces []string, n int) (checked, bad int, err error) {
	r := rand.New(rand.NewPCG(uint64(len(traces)), 3))
	for range min(n, len(traces)) {
		id := traces[r.IntN(len(traces))]
		var out struct {
			Spans []json.RawMessage `json:"spans"`
		}
		code, err := post(ctx, base, "/genai/spans/trace", map[string]any{"project_id": project, "trace_id": id}, &out)
		if err != nil && code != http.StatusNotFound {
			return checked, bad, err
		}
		checked++
		if len(out.Spans) != otlpload.SpansPerTurn {
			bad++
			fmt.Fprintf(os.Stderr, "trace %s: %d spans stored, want %d\n", id, len(out.Spans), otlpload.SpansPerTurn)
		}
	}
	return checked, bad, nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n += info.Size()
		}
		return nil
	})
	return n
}

func chScalar(ctx context.Context, dsn, q string) (int64, error) {
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		return 0, err
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var v int64
	err = conn.QueryRow(ctx, q).Scan(&v)
	return v, err
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// summarizeClickHouse prints (and writes to path) where the node's CPU
// went, from query_log (per statement shape) and part_log (inserted parts
// and merges per table).
func summarizeClickHouse(ctx context.Context, dsn, path string, since, until time.Time) {
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		return
	}
	conn, err := ch.Open(opts)
	if err != nil {
		return
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		fmt.Fprintf(os.Stderr, "clickhouse profile: %v\n", err)
		return
	}
	var b strings.Builder
	report := func(title, q string) {
		rows, err := conn.Query(ctx, q)
		if err != nil {
			fmt.Fprintf(&b, "%s: %v\n", title, err)
			return
		}
		defer rows.Close()
		fmt.Fprintf(&b, "\n%s\n", title)
		for rows.Next() {
			var what string
			var n uint64
			var cpu, wall float64
			var rowsIO uint64
			if err := rows.Scan(&what, &n, &cpu, &wall, &rowsIO); err != nil {
				fmt.Fprintf(&b, "  %v\n", err)
				return
			}
			fmt.Fprintf(&b, "  %8.2f s CPU %8.2f s wall %6d× %12d rows  %s\n", cpu, wall, n, rowsIO, what)
		}
	}
	const cpu = "(ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']) / 1e6"
	after := " AND event_time_microseconds BETWEEN fromUnixTimestamp64Micro(" + strconv.FormatInt(since.UnixMicro(), 10) +
		") AND fromUnixTimestamp64Micro(" + strconv.FormatInt(until.UnixMicro(), 10) + ")"
	report("queries (CPU, wall, count, rows read or written, statement):",
		"SELECT substring(replaceRegexpAll(any(query), '\\\\s+', ' '), 1, 110), count(), sum("+cpu+"), sum(query_duration_ms) / 1e3, "+
			"sum(read_rows + written_rows) FROM system.query_log WHERE type = 'QueryFinish' AND has(databases, 'weave')"+after+
			" "+
			"GROUP BY normalized_query_hash ORDER BY 3 DESC LIMIT 25")
	report("parts (CPU, wall, count, rows, table and event):",
		"SELECT concat(table, ' ', toString(event_type)), count(), sum("+cpu+"), sum(duration_ms) / 1e3, sum(rows) "+
			"FROM system.part_log WHERE database = 'weave' AND event_type IN ('NewPart', 'MergeParts')"+after+" "+
			"GROUP BY table, event_type ORDER BY 3 DESC")
	fmt.Fprint(os.Stderr, b.String())
	os.WriteFile(path, []byte(b.String()), 0o644)
}
