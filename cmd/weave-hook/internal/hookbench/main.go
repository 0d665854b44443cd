// Command hookbench measures weave-hook as Claude Code runs it: a fresh
// process per event, the event's JSON on stdin, wall time from spawn to
// exit. In one run, interleaved so machine load hits all alike:
//
//   - floor: a do-nothing Go binary that only reads stdin;
//   - up:    weave-hook with weave-agentd running (event written to the journal, answered; fsynced in the background);
//   - down:  weave-hook with no daemon (event kept in the inbox, daemon start attempted).
//
// It prints p50/p90/p99/max and the mean CPU time (user + system) per run
// of each scenario, the ratios to the floor against
// the goals (up: p50 <= 1.5x, p90 <= 2x the floor; down: <= 25 ms), and
// checks that every event was delivered or kept. Run it with `make bench-hook`.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/hookproto"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hookbench:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 300, "events per scenario")
	payloads := flag.String("payloads", "daemon/hookproto/testdata/payloads.jsonl", "JSONL of captured hook calls ({\"payload\":{...}} per line, as in a recording's hooks.jsonl under testdata/)")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	flag.Parse()

	events, err := loadPayloads(*payloads)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hookbench-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	bin := filepath.Join(dir, "bin")
	builds := []struct{ out, pkg string }{
		{filepath.Join(bin, "weave-hook"), "./cmd/weave-hook"},
		{filepath.Join(bin, "weave-agentd"), "./cmd/weave-agentd"},
		{filepath.Join(bin, "floor"), "./cmd/weave-hook/internal/hookbench/floor"},
		{filepath.Join(bin, "noop"), "./cmd/weave-hook/internal/hookbench/noop"},
	}
	for _, b := range builds {
		if out, err := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", b.out, b.pkg).CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	hook := filepath.Join(bin, "weave-hook")
	fi, _ := os.Stat(hook)

	upHome, downHome := filepath.Join(dir, "up"), filepath.Join(dir, "down")
	baseEnv := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "WEAVE_ENDPOINT=http://127.0.0.1:9", "WEAVE_IDLE_TIMEOUT=0"}
	upEnv := append(slices.Clone(baseEnv), hookproto.EnvHome+"="+upHome, hookproto.EnvAgentd+"="+filepath.Join(bin, "weave-agentd"))
	downEnv := append(slices.Clone(baseEnv), hookproto.EnvHome+"="+downHome, hookproto.EnvAgentd+"="+filepath.Join(bin, "noop"))

	// Start the daemon for "up" and wait until it answers.
	agentd := exec.Command(filepath.Join(bin, "weave-agentd"), "run")
	agentd.Env = upEnv
	if err := agentd.Start(); err != nil {
		return err
	}
	defer func() {
		_ = daemon.RequestStop(context.Background(), hookproto.NewPaths(upHome))
		_ = agentd.Wait()
	}()
	upPaths := hookproto.NewPaths(upHome)
	if err := waitReady(upPaths); err != nil {
		return err
	}

	scenarios := []struct {
		name string
		bin  string
		env  []string
		d    []time.Duration
		cpu  time.Duration // user + system CPU of every run
	}{
		{name: "floor", bin: filepath.Join(bin, "floor"), env: baseEnv},
		{name: "up", bin: hook, env: upEnv},
		{name: "down", bin: hook, env: downEnv},
	}
	// Warm up (page cache, first daemon start paths).
	for i := range scenarios {
		for j := 0; j < 10; j++ {
			if _, _, err := spawn(scenarios[i].bin, scenarios[i].env, events[j%len(events)]); err != nil {
				return err
			}
		}
	}
	// Forget the warm-up's kept events.
	_, _ = hookproto.DrainInbox(hookproto.NewPaths(downHome), func(hookproto.Envelope) error { return nil }, func() error { return nil })
	before, err := daemon.FetchStatus(context.Background(), upPaths)
	if err != nil {
		return err
	}
	for i := 0; i < *n; i++ {
		ev := events[i%len(events)]
		for s := range scenarios {
			d, cpu, err := spawn(scenarios[s].bin, scenarios[s].env, ev)
			if err != nil {
				return fmt.Errorf("%s: %w", scenarios[s].name, err)
			}
			scenarios[s].d = append(scenarios[s].d, d)
			scenarios[s].cpu += cpu
		}
	}

	// Every event delivered (up) or kept (down)?
	after, err := daemon.FetchStatus(context.Background(), upPaths)
	if err != nil {
		return err
	}
	delivered := after.EventsReceived + after.Journal.FromInbox - before.EventsReceived - before.Journal.FromInbox
	kept := 0
	if _, err := hookproto.DrainInbox(hookproto.NewPaths(downHome), func(hookproto.Envelope) error { kept++; return nil }, func() error { return nil }); err != nil {
		return err
	}

	fmt.Printf("weave-hook wall time per event: fresh process, real Claude Code payload on stdin (%d payloads from %s, %d-%d bytes), %d events per scenario, interleaved\n",
		len(events), *payloads, minLen(events), maxLen(events), *n)
	fmt.Printf("weave-hook binary: %.1f MiB stripped; machine: %d CPUs, load %s\n\n", float64(fi.Size())/(1<<20), numCPU(), loadAvg())
	fmt.Printf("%-7s %9s %9s %9s %9s %12s\n", "", "p50", "p90", "p99", "max", "CPU per run")
	q := map[string][4]time.Duration{}
	for _, s := range scenarios {
		slices.Sort(s.d)
		v := [4]time.Duration{pct(s.d, 50), pct(s.d, 90), pct(s.d, 99), s.d[len(s.d)-1]}
		q[s.name] = v
		fmt.Printf("%-7s %9s %9s %9s %9s %12s\n", s.name, ms(v[0]), ms(v[1]), ms(v[2]), ms(v[3]), ms(s.cpu/time.Duration(len(s.d))))
	}
	fl, up, down := q["floor"], q["up"], q["down"]
	r50, r90 := float64(up[0])/float64(fl[0]), float64(up[1])/float64(fl[1])
	fmt.Println()
	fmt.Printf("daemon up:   p50 %.2fx floor (goal <= 1.5x) %s; p90 %.2fx floor (goal <= 2x) %s; %d/%d events journaled\n",
		r50, verdict(r50 <= 1.5), r90, verdict(r90 <= 2), delivered, *n)
	fmt.Printf("daemon down: p50 %s p99 %s (goal <= 25 ms) %s; %d/%d events kept in the inbox\n",
		ms(down[0]), ms(down[2]), verdict(down[2] <= 25*time.Millisecond), kept, *n)
	if f := after.Journal.Fsyncs - before.Journal.Fsyncs; f > 0 {
		mean := time.Duration(after.Journal.FsyncTotalMicros-before.Journal.FsyncTotalMicros) * time.Microsecond / time.Duration(f)
		fmt.Printf("journal fsync (background, off the hook path): mean %s over %d, longest %s since the daemon started\n",
			ms(mean), f, ms(time.Duration(after.Journal.FsyncMaxMicros)*time.Microsecond))
	}
	if delivered != int64(*n) || kept != *n {
		return errors.New("events were lost")
	}
	return nil
}

func verdict(ok bool) string {
	if ok {
		return "OK"
	}
	return "MISSED"
}

// spawn runs bin once with stdin and returns its wall time and its CPU
// time (user + system, as the kernel accounted it).
func spawn(bin string, env []string, stdin []byte) (wall, cpu time.Duration, err error) {
	cmd := exec.Command(bin)
	cmd.Env = env
	cmd.Stdin = bytes.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start)
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return wall, cpu, fmt.Errorf("%s: %v", bin, err)
	}
	if out.Len() > 0 {
		return wall, cpu, fmt.Errorf("%s wrote to stdout: %q", bin, out.String())
	}
	return wall, cpu, nil
}

func waitReady(p hookproto.Paths) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := daemon.FetchStatus(ctx, p)
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("weave-agentd did not start: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func loadPayloads(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w (run from the repository root)", err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var l struct {
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && len(l.Payload) > 0 {
			out = append(out, append([]byte(nil), l.Payload...))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no payloads", path)
	}
	return out, nil
}

func pct(d []time.Duration, p int) time.Duration { return d[(len(d)-1)*p/100] }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func minLen(b [][]byte) int {
	m := len(b[0])
	for _, x := range b {
		m = min(m, len(x))
	}
	return m
}

func maxLen(b [][]byte) int {
	m := 0
	for _, x := range b {
		m = max(m, len(x))
	}
	return m
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return max(1, strings.Count(string(b), "processor\t:"))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
