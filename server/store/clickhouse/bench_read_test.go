package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ch "github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/api"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/clickhouse/clickhousetest"
	"github.com/weavetrace/weave/server/store/storetest"
	"github.com/weavetrace/weave/tools/chlocal/chlocal"
)

const benchProject = "bench/claude-code"

var benchStart = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// TestBenchClickHouse is `make bench-clickhouse`, the ClickHouse side of
// `make bench-server`: it fills a ClickHouse store with WEAVE_BENCH_SPANS
// realistic spans (storetest.Workload, raw spans included: the embedded
// store's benchmark data) through WriteSpans, prints the ingest rate and
// the CPU each process spent, waits for the merges, then prints the p50
// latency through weave-server's read API handler of every read endpoint,
// against the goals.
//
// It runs on a local ClickHouse node it starts (WEAVE_TEST_CLICKHOUSE=local)
// or on WEAVE_TEST_CLICKHOUSE_DSN. WEAVE_BENCH_DIR keeps the local node's
// data; with WEAVE_BENCH_REUSE=1 a store filled by an earlier run there is
// measured again without filling it, and WEAVE_BENCH_AMPLIFY=1 grows it to
// WEAVE_BENCH_SPANS first by copying it inside ClickHouse (benchAmplify).
// WEAVE_BENCH_ONLY=text measures only the endpoints whose name contains
// text; WEAVE_BENCH_PROFILE=1 prints what each statement cost ClickHouse;
// WEAVE_BENCH_QUERIES=q1|q2|… searches those instead of the usual queries;
// WEAVE_BENCH_PHRASE_INDEX=1 keeps (or builds) the index of word pairs.
func TestBenchClickHouse(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv("WEAVE_BENCH_SPANS"))
	if err != nil || n <= 0 {
		t.Skip("set WEAVE_BENCH_SPANS=<spans> to run the ClickHouse benchmark (make bench-clickhouse)")
	}
	clickhousetest.SkipNotice(t)
	ctx := context.Background()
	dsn, nodePID := os.Getenv(clickhousetest.EnvDSN), 0
	if dsn == "" {
		dir := os.Getenv("WEAVE_BENCH_DIR")
		if dir == "" {
			dir = t.TempDir()
		}
		c, err := chlocal.Start(ctx, chlocal.Options{Nodes: 1, Dir: filepath.Join(dir, "ch"), Log: os.Stderr,
			SystemLogs: os.Getenv("WEAVE_BENCH_PROFILE") == "1"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Stop() })
		dsn, nodePID = c.DSNs()[0], c.Nodes[0].PID
	}
	t0 := time.Now()
	s, err := Open(ctx, Config{DSN: dsn, Database: "weave_bench", PhraseIndex: os.Getenv("WEAVE_BENCH_PHRASE_INDEX") == "1"}, Settings{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	fmt.Printf("opened (schema migrated and tuned) in %s\n", time.Since(t0).Round(time.Second))
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var traces []string
	if os.Getenv("WEAVE_BENCH_REUSE") == "1" && st.Spans > 0 {
		fmt.Printf("reusing a store of %d spans\n", st.Spans)
		traces = benchTraces(t, s)
	} else {
		if st.Spans > 0 {
			t.Fatalf("database weave_bench already holds %d spans: set WEAVE_BENCH_REUSE=1 to measure it, or use another WEAVE_BENCH_DIR", st.Spans)
		}
		traces = benchFill(t, s, n, nodePID)
	}
	if os.Getenv("WEAVE_BENCH_AMPLIFY") == "1" && st.Spans > 0 && st.Spans < int64(n) {
		benchAmplify(t, s, dsn, int(st.Spans), n)
	}
	if nodePID != 0 {
		t0 := time.Now()
		waitIdle(nodePID, 10*time.Minute)
		fmt.Printf("merges settled after %s\n", time.Since(t0).Round(time.Second))
	}
	if st, err = s.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("size: %d spans, %.1f MiB on disk (%.0f bytes/span)\n", st.Spans, float64(st.Bytes)/(1<<20), float64(st.Bytes)/float64(st.Spans))
	readsFrom := time.Now()
	benchReads(t, s, traces)
	if os.Getenv("WEAVE_BENCH_PROFILE") == "1" {
		benchQueryProfile(t, s, readsFrom)
	}
}

// benchQueryProfile prints, per statement shape, what the reads cost
// ClickHouse (WEAVE_BENCH_PROFILE=1 turns the node's query_log on).
func benchQueryProfile(t *testing.T, s *Store, since time.Time) {
	ctx := context.Background()
	if err := s.conn.Exec(ctx, "SYSTEM FLUSH LOGS"); err != nil {
		t.Fatal(err)
	}
	fmt.Println("\nClickHouse, per statement shape: runs, mean wall ms, mean CPU ms, mean rows read, statement (its start … its end)")
	// A shape is the statement with its literals and lists of literals
	// (of tuples too) replaced: the reads of a few keys are one shape
	// whatever their number.
	q := "SELECT count(), avg(query_duration_ms), avg(ProfileEvents['UserTimeMicroseconds'] + ProfileEvents['SystemTimeMicroseconds']) / 1e3, " +
		"avg(read_rows), replaceRegexpAll(replaceRegexpAll(normalizeQuery(query), '\\(\\?\\.\\.\\)(, \\(\\?\\.\\.\\))+', '(?..)'), '\\s+', ' ') AS shape, " +
		"if(length(shape) <= 200, shape, concat(substring(shape, 1, 130), ' … ', substring(shape, -70))) " +
		"FROM system.query_log WHERE type = 'QueryFinish' " +
		"AND query_kind = 'Select' AND has(databases, 'weave_bench') AND event_time_microseconds >= fromUnixTimestamp64Micro({since:Int64}) " +
		"GROUP BY shape ORDER BY count() * avg(query_duration_ms) DESC LIMIT 40"
	err := s.scanAll(ctx, "profile", q, []driver.NamedValue{named("since", since.UnixMicro())}, func(r driver.Rows) error {
		var n uint64
		var wall, cpu, rows float64
		var shape, sql string
		if err := r.Scan(&n, &wall, &cpu, &rows, &shape, &sql); err != nil {
			return err
		}
		fmt.Printf("%5d %9.1f %9.1f %11.0f  %s\n", n, wall, cpu, rows, sql)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// benchFill writes n spans of the workload from 4 writers in batches of
// 500 (as OTLP requests would arrive) and prints the ingest figures.
func benchFill(t *testing.T, s *Store, n, nodePID int) []string {
	w := storetest.NewWorkload(3, benchProject, benchStart)
	w.RawSpans = true
	const writers, batch, round = 4, 500, 50_000
	var traces []string
	var pending []model.Span
	written := 0
	var wall, self, node time.Duration
	for written < n {
		for len(pending) < min(round, n-written) {
			pending = append(pending, w.Next()...)
		}
		cut := pending[:min(round, n-written)]
		pending = pending[len(cut):]
		for _, sp := range cut {
			if sp.ParentSpanID == "" {
				traces = append(traces, sp.TraceID)
			}
		}
		batches := make(chan []model.Span, len(cut)/batch+1)
		for i := 0; i < len(cut); i += batch {
			batches <- cut[i:min(i+batch, len(cut))]
		}
		close(batches)
		self0, node0, t0 := cpuSelf(), cpuOf(nodePID), time.Now()
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range batches {
					if err := s.WriteSpans(context.Background(), b); err != nil {
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
		took := time.Since(t0)
		wall, self, node = wall+took, self+cpuSelf()-self0, node+cpuOf(nodePID)-node0
		written += len(cut)
		fmt.Printf("  %8d spans written: %.0f spans/s\n", written, float64(len(cut))/took.Seconds())
	}
	fmt.Printf("ingest: %d spans through WriteSpans, %d writers, batches of %d: %.0f spans/s; CPU %.0f µs/span (weave's writer) + %.0f µs/span (ClickHouse, until the last write)\n",
		written, writers, batch, float64(written)/wall.Seconds(), float64(self.Microseconds())/float64(written), float64(node.Microseconds())/float64(written))
	return traces
}

// amplifyTables are the tables benchAmplify copies, with the condition
// that keeps the original rows: those that start before the first copy
// ($hi: the latest start stored), or whose conversation is not a copy's
// (a conv_traces tombstone holds no times).
var amplifyTables = []struct{ table, orig string }{
	{"spans", "toUnixTimestamp64Nano(started_at) <= $hi"},
	{"span_state", "toUnixTimestamp64Nano(started_at) <= $hi"},
	{"conv_traces", "position(conv_key, '#') = 0"},
	{"message_occurrences", "toUnixTimestamp64Nano(started_at) <= $hi"},
}

// amplifyExpr is what a copied row holds in a column: its ids made those
// of copy c (a trace id hashed, a conversation suffixed), its times moved
// days later; other columns are copied as they are, but spans.chat_row,
// which holds ids and times: left out, ClickHouse computes it again. The
// materialized views fill the rollups and the time-sorted occurrences.
func amplifyExpr(col string, c, days int) string {
	tag := fmt.Sprintf("'#%d'", c)
	ns := strconv.FormatInt(int64(days)*int64(24*time.Hour), 10)
	traceOf := func(x string) string { return "lower(hex(MD5(concat(" + x + ", " + tag + "))))" }
	switch col {
	case "trace_id":
		return traceOf(col)
	case "conversation_id", "thread_id":
		return "if(" + col + " = '', '', concat(" + col + ", " + tag + "))"
	case "conv_key":
		return "if(startsWith(conv_key, 'trace:'), concat('trace:', " + traceOf("substring(conv_key, 7)") + "), concat(conv_key, " + tag + "))"
	case "started_at", "ended_at", "last_at":
		return col + " + toIntervalDay(" + strconv.Itoa(days) + ")"
	case "first_ns", "last_ns", "prompt_ns", "place_ns":
		return "if(" + col + " = 0, 0, " + col + " + " + ns + ")"
	case "minute":
		return fmt.Sprintf("minute + %d", days*1440)
	case "day":
		return fmt.Sprintf("day + %d", days)
	}
	return col
}

// benchAmplify grows a store of have spans to about want by copying its
// rows inside ClickHouse (INSERT … SELECT, table by table) under other
// ids, each copy moved past the end of the one before: what filling
// through WriteSpans would store for more conversations of the same
// shapes, at a fraction of the cost. The bodies are shared (one project).
func benchAmplify(t *testing.T, s *Store, dsn string, have, want int) {
	ctx := context.Background()
	// A copy runs for minutes: a connection of its own that waits for it
	// (the store's gives up reading after the DSN's read_timeout).
	opts, err := ch.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	opts.ReadTimeout = 2 * time.Hour
	conn, err := ch.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var lo, hi int64
	err = s.scanAll(ctx, "amplify", "SELECT toUnixTimestamp64Nano(min(started_at)), toUnixTimestamp64Nano(max(started_at)) FROM "+
		s.l.table("span_state"), nil, func(r driver.Rows) error { return r.Scan(&lo, &hi) })
	if err != nil {
		t.Fatal(err)
	}
	period := int((hi-lo)/int64(24*time.Hour)) + 1
	copies := (want + have/2) / have
	t0 := time.Now()
	for c := 1; c < copies; c++ {
		for _, tb := range amplifyTables {
			var cols []string
			err := s.scanAll(ctx, "amplify", "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "+
				"AND default_kind NOT IN ('MATERIALIZED', 'ALIAS') AND name != 'chat_row' ORDER BY position",
				[]driver.NamedValue{named("db", s.l.db), named("t", tb.table)}, func(r driver.Rows) error {
					var c string
					cols = append(cols, c)
					return r.Scan(&cols[len(cols)-1])
				})
			if err != nil {
				t.Fatal(err)
			}
			exprs := make([]string, len(cols))
			for i, col := range cols {
				exprs[i] = amplifyExpr(col, c, c*period)
			}
			q := "INSERT INTO " + s.l.table(tb.table) + " (" + strings.Join(cols, ", ") + ") SELECT " + strings.Join(exprs, ", ") +
				" FROM " + s.l.table(tb.table) + " WHERE " + strings.ReplaceAll(tb.orig, "$hi", strconv.FormatInt(hi, 10))
			if err := conn.Exec(ctx, q); err != nil {
				t.Fatalf("amplify %s: %v", tb.table, err)
			}
		}
		fmt.Printf("  copy %d of %d written (%s)\n", c+1, copies, time.Since(t0).Round(time.Second))
	}
	fmt.Printf("amplified: %d spans copied %d times inside ClickHouse, each copy %d days after the one before, in %s\n",
		have, copies-1, period, time.Since(t0).Round(time.Second))
}

// benchTraces reads some root spans' traces of a reused store.
func benchTraces(t *testing.T, s *Store) []string {
	var out []string
	err := s.scanAll(context.Background(), "bench traces", "SELECT trace_id FROM "+s.l.table("span_state")+
		" WHERE project_id = {p:String} AND parent_span_id = '' AND sign = 1 LIMIT 20000", []driver.NamedValue{named("p", benchProject)}, func(r driver.Rows) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		out = append(out, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// benchReads times every read endpoint through the API handler.
func benchReads(t *testing.T, s *Store, traces []string) {
	ctx := context.Background()
	h := api.New(api.Settings{Store: s})
	page, err := s.QueryConversations(ctx, store.ConversationQuery{ProjectID: benchProject, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Conversations) == 0 || len(traces) == 0 {
		t.Fatal("the store holds no conversations")
	}
	call := func(path, body string) error {
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			return fmt.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
		return nil
	}
	project := `{"project_id":"` + benchProject + `"`
	trace := func(i int) string { return traces[(i*7919)%len(traces)] }
	conv := func(i int) string { return page.Conversations[(i*31)%len(page.Conversations)].ConversationID }
	ms := time.Millisecond
	only := os.Getenv("WEAVE_BENCH_ONLY") // the endpoints whose name contains it
	measure := func(name string, goal time.Duration, fn func(int) error) {
		if strings.Contains(name, only) {
			storetest.Measure(t, name, goal, fn)
		}
	}
	measure("API agents list", 50*ms, func(int) error { return call("/genai/agents/query", project+`}`) })
	measure("API agent versions", 200*ms, func(int) error {
		return call("/genai/agents/versions", project+`,"agent_name":"claude-code"}`)
	})
	measure("API agent metrics", 200*ms, func(int) error { return call("/genai/agents/metrics", project+`}`) })
	measure("API conversations page (50)", 50*ms, func(i int) error {
		return call("/genai/conversations/query", project+fmt.Sprintf(`,"limit":50,"offset":%d}`, (i%3)*50))
	})
	measure("API one turn's chat view", 20*ms, func(i int) error {
		return call("/genai/traces/chat", project+`,"trace_id":"`+trace(i)+`"}`)
	})
	measure("API one turn's spans", 200*ms, func(i int) error {
		return call("/genai/spans/trace", project+`,"trace_id":"`+trace(i)+`"}`)
	})
	measure("API one conversation's chat view", 200*ms, func(i int) error {
		return call("/genai/conversations/chat", project+`,"conversation_id":"`+conv(i)+`"}`)
	})
	queries := storetest.BenchQueries()
	if qs := os.Getenv("WEAVE_BENCH_QUERIES"); qs != "" {
		queries = strings.Split(qs, "|")
	}
	measure("API search (20 hits, 6 queries)", 200*ms, func(i int) error {
		return call("/genai/messages/search", project+`,"query":"`+strings.ReplaceAll(queries[i%len(queries)], `"`, `\"`)+`","limit":20}`)
	})
	for _, q := range queries {
		measure(fmt.Sprintf("  search %q", q), 200*ms, func(int) error {
			return call("/genai/messages/search", project+`,"query":"`+strings.ReplaceAll(q, `"`, `\"`)+`","limit":20}`)
		})
	}
	measure("API conversations page with search", 200*ms, func(int) error {
		return call("/genai/conversations/query", project+`,"limit":50,"search":"goroutine deadline"}`)
	})
	measure("API conversations page with search, pages 1-3", 200*ms, func(i int) error {
		return call("/genai/conversations/query", project+fmt.Sprintf(`,"limit":50,"offset":%d,"search":"goroutine deadline"}`, (i%3)*50))
	})
	measure("API conversations page with search, exact total", 200*ms, func(int) error {
		return call("/genai/conversations/query", project+`,"limit":50,"search":"goroutine deadline","exact_total":true}`)
	})
	measure("API spans page (latest 100)", 200*ms, func(int) error { return call("/genai/spans/query", project+`}`) })
	measure("API spans page, filtered (chat, errors)", 200*ms, func(int) error {
		return call("/genai/spans/query", project+`,"filters":[{"field":"operation_name","op":"eq","value":"chat"},{"field":"status_code","op":"eq","value":"ERROR"}]}`)
	})
	measure("API spans page, filtered (chat)", 200*ms, func(int) error {
		return call("/genai/spans/query", project+`,"filters":[{"field":"operation_name","op":"eq","value":"chat"}]}`)
	})
	measure("API active spans", 200*ms, func(int) error { return call("/genai/spans/active", project+`}`) })
}

// waitIdle waits until a process uses less than 5% of a core over 2 s.
func waitIdle(pid int, max time.Duration) {
	deadline := time.Now().Add(max)
	prev := cpuOf(pid)
	for time.Now().Before(deadline) {
		time.Sleep(2 * time.Second)
		cur := cpuOf(pid)
		if cur-prev < 100*time.Millisecond {
			return
		}
		prev = cur
	}
}
