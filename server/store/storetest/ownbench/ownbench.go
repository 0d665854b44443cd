// Package ownbench times what "own your data" costs on a filled store, the
// same way on both stores (`make bench-owndata`): exports of the whole
// project as span rows (JSONL) and as OTLP/JSON, conversations as ATIF,
// deleting one conversation, deleting 100 traces, and pruning the oldest
// tenth of the spans (retention). Every figure is printed with its wall
// time, the CPU time of this process and of the store's server process
// (ClickHouse's), and the load average when it started: on a shared
// machine the CPU time is the figure to compare.
package ownbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/export"
	"github.com/weavetrace/weave/server/store"
)

// Store is what the benchmark needs of a store.
type Store interface {
	export.Source
	store.Deleter
	store.Pruner
}

// Options describe the filled store.
type Options struct {
	Project string
	// Traces are root traces of the filled data in the order written; the
	// delete of 100 traces takes the last ones.
	Traces []string
	// Span returns the start of the earliest and of the latest span: the
	// retention cut is a tenth of the way.
	Span func() (lo, hi time.Time, err error)
	// ServerCPU, when set, is the CPU time the store's server process has
	// used so far (a ClickHouse node).
	ServerCPU func() time.Duration
	// Settle, when set, waits for the work a delete leaves running after
	// it returns (the embedded store frees content in the background) and
	// is timed as part of the delete.
	Settle func() error
	// SkipExport leaves the exports out (WEAVE_BENCH_OWNDATA=delete).
	SkipExport bool
}

// Run prints the figures; it fails t on an error.
func Run(t testing.TB, s Store, o Options) {
	t.Helper()
	ctx := context.Background()
	page, err := s.QueryConversations(ctx, store.ConversationQuery{ProjectID: o.Project, Limit: 21})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Conversations) < 21 || len(o.Traces) < 200 {
		t.Fatalf("ownbench: the store holds %d conversations and %d traces; want at least 21 and 200", len(page.Conversations), len(o.Traces))
	}
	convs := make([]string, len(page.Conversations))
	for i, c := range page.Conversations {
		convs[i] = c.ConversationID
	}
	if !o.SkipExport {
		exportProject(t, s, o, export.FormatJSONL)
		exportProject(t, s, o, export.FormatOTLP)
		exportATIF(t, s, o, convs[1:])
	}
	m := o.start()
	d, err := s.Delete(ctx, store.Deletion{ProjectID: o.Project, ConversationIDs: convs[:1]})
	m.settle(t, o)
	if err != nil {
		t.Fatal(err)
	}
	m.print("delete one conversation", fmt.Sprintf("%d spans, %d traces", d.Spans, d.Traces), d.Spans)
	m = o.start()
	d, err = s.Delete(ctx, store.Deletion{ProjectID: o.Project, TraceIDs: o.Traces[len(o.Traces)-100:]})
	m.settle(t, o)
	if err != nil {
		t.Fatal(err)
	}
	m.print("delete 100 traces", fmt.Sprintf("%d spans", d.Spans), d.Spans)
	lo, hi, err := o.Span()
	if err != nil {
		t.Fatal(err)
	}
	cut := lo.Add(hi.Sub(lo) / 10)
	m = o.start()
	n, err := s.DeleteBefore(ctx, cut)
	m.settle(t, o)
	if err != nil {
		t.Fatal(err)
	}
	m.print("retention: prune the oldest tenth (DeleteBefore)", fmt.Sprintf("%d spans", n), n)
}

// exportProject exports the whole project and shows that memory stays
// flat: the live heap (after a collection) every 5,000 spans, against
// before.
func exportProject(t testing.TB, s Store, o Options, format string) {
	before := liveHeap()
	var peak uint64
	var out countingWriter
	x, err := export.NewWriter(&out, format)
	if err != nil {
		t.Fatal(err)
	}
	next := int64(5000)
	x.Progress = func(items, _ int64) {
		if items >= next {
			next += 5000
			peak = max(peak, liveHeap())
		}
	}
	m := o.start()
	if err := x.Run(context.Background(), s, export.Selection{ProjectID: o.Project}); err != nil {
		t.Fatal(err)
	}
	growth := max(int64(peak)-int64(before), 0)
	m.print("export "+format+" (whole project)", fmt.Sprintf("%d spans, %d lines, %.0f MiB; live heap %.0f MiB before, at most %+.0f MiB during",
		x.Items, x.Lines, float64(out.n)/(1<<20), float64(before)/(1<<20), float64(growth)/(1<<20)), x.Items)
}

// exportATIF exports the conversations one at a time as ATIF.
func exportATIF(t testing.TB, s Store, o Options, convs []string) {
	var out countingWriter
	var trajectories int64
	m := o.start()
	for _, c := range convs {
		x, err := export.NewWriter(&out, export.FormatATIF)
		if err != nil {
			t.Fatal(err)
		}
		if err := x.Run(context.Background(), s, export.Selection{ProjectID: o.Project, ConversationIDs: []string{c}}); err != nil {
			t.Fatal(err)
		}
		trajectories += x.Items
	}
	m.print("export atif, one conversation at a time", fmt.Sprintf("%d conversations (%d trajectories), %.1f MiB", len(convs), trajectories, float64(out.n)/(1<<20)), int64(len(convs)))
}

// measure is one timing: started by Options.start, ended by stop (or
// settle), printed by print.
type measure struct {
	serverCPU func() time.Duration
	load      string // the load average at the start

	t0                 time.Time
	self0, server0     time.Duration // CPU times at the start
	wall, self, server time.Duration // spent until stop
	settled            time.Duration // of wall, after the call returned
}

func (o Options) start() *measure {
	cpu := o.ServerCPU
	if cpu == nil {
		cpu = func() time.Duration { return 0 }
	}
	return &measure{serverCPU: cpu, load: loadAvg(), t0: time.Now(), self0: processCPU(), server0: cpu()}
}

// settle ends the timing of the call and, when o has a Settle, times
// the background work it left too.
func (m *measure) settle(t testing.TB, o Options) {
	m.stop()
	if o.Settle == nil {
		return
	}
	t0 := time.Now()
	if err := o.Settle(); err != nil {
		t.Fatal(err)
	}
	m.settled = time.Since(t0)
	m.stop()
}

func (m *measure) stop() {
	m.wall = time.Since(m.t0)
	m.self = processCPU() - m.self0
	m.server = m.serverCPU() - m.server0
}

// print prints the figures of a timing of n items.
func (m *measure) print(name, what string, n int64) {
	if m.wall == 0 {
		m.stop()
	}
	cpu := m.self + m.server
	line := fmt.Sprintf("%s: %s. Wall %s", name, what, m.wall.Round(time.Millisecond))
	if m.settled > 0 {
		line += fmt.Sprintf(" (%s of it after the call returned)", m.settled.Round(time.Millisecond))
	}
	line += fmt.Sprintf("; CPU %s", cpu.Round(time.Millisecond))
	if m.server > 0 {
		line += fmt.Sprintf(" (weave %s + server %s)", m.self.Round(time.Millisecond), m.server.Round(time.Millisecond))
	}
	if n > 0 {
		line += fmt.Sprintf(", %.0f per CPU second, %.0f per second, %.1f µs CPU each",
			float64(n)/cpu.Seconds(), float64(n)/m.wall.Seconds(), float64(cpu.Microseconds())/float64(n))
	}
	fmt.Printf("%s; load average %s\n", line, m.load)
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the 1, 5 and 15 minute load averages, as uptime prints them.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// countingWriter counts and drops what is written.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)
