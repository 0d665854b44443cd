package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
	"github.com/weavetrace/weave/server/store/storetest/ccload"
)

const benchProject = "bench/claude-code"

var benchStart = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// fill writes n realistic spans in batches of batchSize and returns the
// wall time spent in WriteSpans and the trace ids written.
func fill(tb testing.TB, s *Store, w *storetest.Workload, n, batchSize int) (time.Duration, []string) {
	tb.Helper()
	ctx := context.Background()
	var pending []model.Span
	var traces []string
	var spent time.Duration
	written := 0
	flush := func(all bool) {
		for len(pending) >= batchSize || (all && len(pending) > 0) {
			k := min(batchSize, len(pending))
			start := time.Now()
			if err := s.WriteSpans(ctx, pending[:k]); err != nil {
				tb.Fatalf("WriteSpans: %v", err)
			}
			spent += time.Since(start)
			written += k
			pending = pending[k:]
		}
	}
	for written+len(pending) < n {
		spans := w.Next()
		if need := n - written - len(pending); len(spans) > need {
			spans = spans[:need]
		}
		for _, sp := range spans {
			if sp.ParentSpanID == "" {
				traces = append(traces, sp.TraceID)
			}
		}
		pending = append(pending, spans...)
		flush(false)
	}
	flush(true)
	return spent, traces
}

func openBench(tb testing.TB, dir string) *Store {
	tb.Helper()
	// WEAVE_BENCH_DURABILITY=normal measures without the per-commit fsync;
	// WEAVE_BENCH_CACHE_MB sets Settings.CacheMB.
	cache, _ := strconv.Atoi(os.Getenv("WEAVE_BENCH_CACHE_MB"))
	s, err := Open(context.Background(), filepath.Join(dir, "bench.db"), Settings{Durability: os.Getenv("WEAVE_BENCH_DURABILITY"), CacheMB: cache})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	return s
}

// BenchmarkWriteSpans measures ingest through WriteSpans in batches of 500
// realistic spans with raw spans (fresh ids every batch) into a store that
// already holds 20k spans, search indexing included.
func BenchmarkWriteSpans(b *testing.B) {
	s := openBench(b, b.TempDir())
	defer s.Close()
	w := storetest.NewWorkload(1, benchProject, benchStart)
	w.RawSpans = true
	fill(b, s, w, 20_000, 500)
	if err := s.syncSearch(context.Background()); err != nil {
		b.Fatal(err)
	}
	var batch []model.Span
	ctx := context.Background()
	b.ResetTimer()
	spans := 0
	var cpu time.Duration // the process's CPU time inside the measured sections
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for len(batch) < 500 {
			batch = append(batch, w.Next()...)
		}
		cur := batch[:500]
		cpu0 := processCPU(b)
		b.StartTimer()
		if err := s.WriteSpans(ctx, cur); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - cpu0
		spans += len(cur)
		batch = batch[500:]
	}
	// The search index catches up inside the measured time.
	cpu0 := processCPU(b)
	if err := s.syncSearch(ctx); err != nil {
		b.Fatal(err)
	}
	cpu += processCPU(b) - cpu0
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(spans), "cpu-µs/span")
}

// benchDB is a store filled once per process for the query benchmarks.
type benchDB struct {
	s      *Store
	traces []string
	convs  []string
}

var sharedBench *benchDB

func getBenchDB(b *testing.B) *benchDB {
	if sharedBench != nil {
		return sharedBench
	}
	n := 20_000
	if v, err := strconv.Atoi(os.Getenv("WEAVE_BENCH_SPANS")); err == nil && v > 0 {
		n = v
	}
	dir, err := os.MkdirTemp("", "weave-bench-")
	if err != nil {
		b.Fatal(err)
	}
	s := openBench(b, dir)
	w := storetest.NewWorkload(2, benchProject, benchStart)
	w.RawSpans = os.Getenv("WEAVE_BENCH_RAW") != "0"
	_, traces := fill(b, s, w, n, 500)
	page, err := s.QueryConversations(context.Background(), store.ConversationQuery{ProjectID: benchProject, Limit: 200})
	if err != nil {
		b.Fatal(err)
	}
	db := &benchDB{s: s, traces: traces}
	for _, c := range page.Conversations {
		db.convs = append(db.convs, c.ConversationID)
	}
	sharedBench = db
	return db
}

func BenchmarkQueryAgents(b *testing.B) {
	db := getBenchDB(b)
	for b.Loop() {
		if _, _, err := db.s.QueryAgents(context.Background(), store.AgentQuery{ProjectID: benchProject}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQueryConversations(b *testing.B) {
	db := getBenchDB(b)
	for b.Loop() {
		if _, err := db.s.QueryConversations(context.Background(), store.ConversationQuery{ProjectID: benchProject, Limit: 50}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTraceSpans(b *testing.B) {
	db := getBenchDB(b)
	b.Run("full", func(b *testing.B) { benchTraceRead(b, db, db.s.TraceSpans) })
	b.Run("chat", func(b *testing.B) { benchTraceRead(b, db, db.s.TraceChatSpans) })
}

// benchTraceRead reads traces of db with read, 7,919 apart.
func benchTraceRead(b *testing.B, db *benchDB, read func(ctx context.Context, projectID, traceID string) ([]model.Span, error)) {
	i := 0
	for b.Loop() {
		if _, err := read(context.Background(), benchProject, db.traces[i%len(db.traces)]); err != nil {
			b.Fatal(err)
		}
		i += 7919
	}
}

func BenchmarkSearch(b *testing.B) {
	db := getBenchDB(b)
	queries := storetest.BenchQueries()
	i := 0
	for b.Loop() {
		if _, err := db.s.SearchMessages(context.Background(), store.SearchQuery{ProjectID: benchProject, Query: queries[i%len(queries)], Limit: 20}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// ingestResult is what benchIngest measured.
type ingestResult struct {
	spans, traceCount int
	writes            time.Duration // until the last write of each round returned
	total             time.Duration // until the search index had caught up too
	cpu               time.Duration // process CPU time over the timed rounds
}

// benchRound is how many spans benchIngest generates ahead of each timed
// round.
const benchRound = 50_000

// benchIngest writes n realistic spans (storetest.Workload with raw spans,
// batches of batch spans) from writers goroutines, as concurrent OTLP requests
// would. The spans are generated ahead in rounds of benchRound, untimed;
// each round is timed from its first write until its last write returned
// (writes) and until the search index had caught up with it (total), so
// that indexing is paid for inside the figure. It returns the trace ids.
func benchIngest(t *testing.T, s *Store, w spanSource, n, writers, batch int) (ingestResult, []string) {
	t.Helper()
	ctx := context.Background()
	var res ingestResult
	var traces []string
	var pending []model.Span
	for res.spans < n {
		for len(pending) < min(benchRound, n-res.spans) {
			pending = append(pending, w.Next()...)
		}
		round := pending[:min(benchRound, n-res.spans)]
		pending = pending[len(round):]
		for _, sp := range round {
			if sp.ParentSpanID == "" {
				traces = append(traces, sp.TraceID)
			}
		}
		batches := make(chan []model.Span, len(round)/batch+1)
		for i := 0; i < len(round); i += batch {
			batches <- round[i:min(i+batch, len(round))]
		}
		close(batches)
		errs := make(chan error, writers)
		cpu0, t0 := processCPU(t), time.Now()
		var wg sync.WaitGroup
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					if err := s.WriteSpans(ctx, b); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("WriteSpans: %v", err)
		}
		wrote := time.Since(t0)
		if err := s.syncSearch(ctx); err != nil {
			t.Fatalf("search index: %v", err)
		}
		took := time.Since(t0)
		res.cpu += processCPU(t) - cpu0
		res.writes += wrote
		res.total += took
		res.spans += len(round)
		fmt.Printf("  %8d spans written: round of %d at %.0f spans/s (%.0f spans/s until written)\n",
			res.spans, len(round), float64(len(round))/took.Seconds(), float64(len(round))/wrote.Seconds())
	}
	res.traceCount = len(traces)
	return res, traces
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(t testing.TB) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchStoreSetup opens the benchmark store and, unless it reuses one,
// fills it with WEAVE_BENCH_SPANS spans, printing the ingest figures. It
// returns the store and trace ids of the filled data.
func benchStoreSetup(t *testing.T) (*Store, []string) {
	n, err := strconv.Atoi(os.Getenv("WEAVE_BENCH_SPANS"))
	if err != nil || n <= 0 {
		t.Skip("set WEAVE_BENCH_SPANS=<spans> to run the store benchmark (make bench-store, make bench-server)")
	}
	dir := t.TempDir()
	if d := os.Getenv("WEAVE_BENCH_DIR"); d != "" {
		dir = d
	}
	// WEAVE_BENCH_REUSE=1 with WEAVE_BENCH_DIR holding a bench.db from an
	// earlier run measures the reads only.
	reuse := false
	if os.Getenv("WEAVE_BENCH_REUSE") == "1" {
		if _, err := os.Stat(filepath.Join(dir, "bench.db")); err == nil {
			reuse = true
		}
	}
	s := openBench(t, dir)
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	var traces []string
	if reuse {
		rows, err := s.r.Query("SELECT trace_id FROM spans WHERE parent_span_id = '' LIMIT 20000")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			rows.Scan(&id)
			traces = append(traces, id)
		}
		rows.Close()
		fmt.Printf("reusing %s\n", filepath.Join(dir, "bench.db"))
	} else {
		traces = runIngest(t, s, os.Getenv("WEAVE_BENCH_WORKLOAD"), n)
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("size: %.1f MiB (%.0f bytes/span, search index included)\n", float64(st.Bytes)/(1<<20), float64(st.Bytes)/float64(st.Spans))
	return s, traces
}

// runIngest fills s with n spans of the workload (see benchSource) and
// prints the ingest figures; it returns the trace ids.
func runIngest(t *testing.T, s *Store, workload string, n int) []string {
	writers := 2
	if v, err := strconv.Atoi(os.Getenv("WEAVE_BENCH_WRITERS")); err == nil && v > 0 {
		writers = v
	}
	// WEAVE_BENCH_BATCH sets the spans per WriteSpans call (an OTLP
	// request): e.g. 20 from WEAVE_BENCH_WRITERS=8 is many agents flushing
	// small batches at once.
	batch := 500
	if v, err := strconv.Atoi(os.Getenv("WEAVE_BENCH_BATCH")); err == nil && v > 0 {
		batch = v
	}
	w, desc := benchSource(t, workload)
	fmt.Printf("ingest: %d spans of %s, batches of %d from %d writers, durability %q, writer cache %d MiB\n", n, desc, batch, writers, s.durability, s.cacheMB)
	res, traces := benchIngest(t, s, w, n, writers, batch)
	fmt.Printf("ingest: %d spans, %d traces: %.0f spans/s with the search index caught up (%s); %.0f spans/s until written (%s); CPU %.0f µs/span\n",
		res.spans, res.traceCount, float64(res.spans)/res.total.Seconds(), res.total.Round(time.Millisecond),
		float64(res.spans)/res.writes.Seconds(), res.writes.Round(time.Millisecond), float64(res.cpu.Microseconds())/float64(res.spans))
	return traces
}

// spanSource gives the spans a benchmark writes, a conversation at a time.
type spanSource interface{ Next() []model.Span }

// ccSource replays weave-agentd's spans of the real Claude Code sessions.
type ccSource struct{ l *ccload.Load }

func (c ccSource) Next() []model.Span { return c.l.NextSpans() }

// benchSource is the ingest benchmarks' workload: storetest.Workload
// (synthetic Claude Code-like conversations, heavy: the whole history in
// half of the calls' input, raw spans; WEAVE_BENCH_RAW=0 leaves raw spans
// out), or with WEAVE_BENCH_WORKLOAD=claude-code the golden spans of the
// real harness captures replayed under fresh ids (ccload), normalized from
// the OTLP requests weave-agentd sends.
func benchSource(t *testing.T, workload string) (spanSource, string) {
	switch workload {
	case "", "synthetic":
		w := storetest.NewWorkload(3, benchProject, benchStart)
		w.RawSpans = os.Getenv("WEAVE_BENCH_RAW") != "0"
		return w, fmt.Sprintf("the synthetic workload (raw spans %v)", w.RawSpans)
	case "claude-code":
		l, err := ccload.FromRepo(benchProject)
		if err != nil {
			t.Fatal(err)
		}
		return ccSource{l}, fmt.Sprintf("real Claude Code sessions replayed (%d sessions, %d spans a round)", l.Sessions(), l.SpansPerRound())
	default:
		t.Fatalf("WEAVE_BENCH_WORKLOAD=%q: want synthetic or claude-code", workload)
		return nil, ""
	}
}

// TestBenchStore builds a store of WEAVE_BENCH_SPANS realistic spans and
// prints the ingest rate and the p50/p95 latency of the store's read
// paths. It is skipped unless the variable is set (`make bench-store` sets
// it to 1,000,000).
func TestBenchStore(t *testing.T) {
	s, traces := benchStoreSetup(t)
	ctx := context.Background()
	page, err := s.QueryConversations(ctx, store.ConversationQuery{ProjectID: benchProject, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(9, 9))
	storetest.Measure(t, "agents list", 50*time.Millisecond, func(int) error {
		_, _, err := s.QueryAgents(ctx, store.AgentQuery{ProjectID: benchProject})
		return err
	})
	storetest.Measure(t, "conversations page (50)", 50*time.Millisecond, func(i int) error {
		_, err := s.QueryConversations(ctx, store.ConversationQuery{ProjectID: benchProject, Limit: 50, Offset: (i % 3) * 50})
		return err
	})
	storetest.Measure(t, "one turn's spans (TraceSpans)", 20*time.Millisecond, func(int) error {
		_, err := s.TraceSpans(ctx, benchProject, traces[r.IntN(len(traces))])
		return err
	})
	storetest.Measure(t, "conversation spans (one conversation)", 100*time.Millisecond, func(int) error {
		c := page.Conversations[r.IntN(len(page.Conversations))]
		_, err := s.ConversationSpans(ctx, benchProject, c.ConversationID, store.TimeRange{})
		return err
	})
	for _, q := range storetest.BenchQueries() {
		storetest.Measure(t, fmt.Sprintf("search %q", q), 200*time.Millisecond, func(int) error {
			_, err := s.SearchMessages(ctx, store.SearchQuery{ProjectID: benchProject, Query: q, Limit: 20})
			return err
		})
	}
	storetest.Measure(t, "conversations page with search", 200*time.Millisecond, func(int) error {
		_, err := s.QueryConversations(ctx, store.ConversationQuery{ProjectID: benchProject, Limit: 50, Search: "goroutine deadline"})
		return err
	})
	storetest.Measure(t, "conversations page with search, exact total", 200*time.Millisecond, func(int) error {
		_, err := s.QueryConversations(ctx, store.ConversationQuery{ProjectID: benchProject, Limit: 50, Search: "goroutine deadline", ExactTotal: true})
		return err
	})
	storetest.Measure(t, "query spans (latest 100)", 50*time.Millisecond, func(int) error {
		_, _, err := s.QuerySpans(ctx, store.SpanQuery{ProjectID: benchProject})
		return err
	})
	storetest.Measure(t, "agent metrics (auto buckets)", 100*time.Millisecond, func(int) error {
		_, err := s.AgentMetrics(ctx, store.MetricsQuery{ProjectID: benchProject})
		return err
	})
}
