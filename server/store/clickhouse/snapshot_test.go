package clickhouse

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"go.uber.org/goleak"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run go test -update to create it)", name, err)
	}
	if got != string(want) {
		t.Errorf("golden %s differs (go test -update rewrites it):\n%s", name, diffLines(string(want), got))
	}
}

// diffLines shows the first differing lines of two texts.
func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	n := 0
	for i := 0; i < max(len(w), len(g)) && n < 12; i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			n++
			fmt.Fprintf(&b, "line %d:\n  want %s\n  got  %s\n", i+1, wl, gl)
		}
	}
	return b.String()
}

// stepClock is a deterministic clock: every call advances a millisecond.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func newFakeStore(t *testing.T, cfg Config) (*Store, *fakeConn) {
	t.Helper()
	f := &fakeConn{}
	return newStoreOn(t, f, cfg), f
}

// newStoreOn is a store on conn with a stepping clock, flushing at once,
// closed when t ends.
func newStoreOn(t *testing.T, conn driver.Conn, cfg Config) *Store {
	t.Helper()
	clock := &stepClock{t: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	if cfg.FlushInterval == 0 {
		cfg.FlushInterval = -1
	}
	s := New(conn, cfg, Settings{Now: clock.now})
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestSchemaSnapshot(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cluster string
		sharded bool
		ttl     int
	}{
		{"schema_single.sql", "", false, 0},
		{"schema_single_ttl.sql", "", false, 30},
		{"schema_cluster.sql", "weave_cluster", false, 90},
		{"schema_sharded.sql", "weave_cluster", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := layout{db: "weave", cluster: tc.cluster, sharded: tc.sharded}
			ms, err := migrations(l, tc.ttl, DefaultPendingEventsMaxAge)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, q := range migrationsTableDDL(l) {
				b.WriteString(q + ";\n\n")
			}
			for _, m := range ms {
				b.WriteString("-- migration " + fmt.Sprint(m.version) + " " + m.name + "\n\n")
				for _, q := range m.statements {
					b.WriteString(q + ";\n\n")
				}
			}
			golden(t, tc.name, b.String())
		})
	}
}

func TestMigrate(t *testing.T) {
	s, f := newFakeStore(t, Config{})
	ctx := context.Background()
	ms, err := migrations(s.l, 0, DefaultPendingEventsMaxAge)
	if err != nil {
		t.Fatal(err)
	}
	// A new database gets every migration; with every version applied,
	// only the bookkeeping runs; a database at version 3 (created before
	// 0004) gets exactly the later migrations.
	for _, tc := range []struct {
		name    string
		applied int
	}{{"new database", 0}, {"every version applied", len(ms)}, {"version 3 applied", 3}} {
		f.respond = func(sql string, _ map[string]any) [][]any {
			if strings.Contains(sql, "weave_migrations") {
				return appliedVersions(ms[:tc.applied])
			}
			return nil
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("%s: Migrate: %v", tc.name, err)
		}
		execs, inserts, backfills := 0, 0, 0
		for _, c := range f.take() {
			switch c.kind {
			case "exec":
				if strings.Contains(c.sql, "HAVING d != 0") { // a backfill (reconcile)
					backfills++
					continue
				}
				execs++
			case "insert":
				inserts++
			}
		}
		wantExecs := len(migrationsTableDDL(s.l))
		for _, m := range ms[tc.applied:] {
			wantExecs += len(m.statements)
		}
		if execs != wantExecs || inserts != len(ms)-tc.applied {
			t.Errorf("%s: got %d DDL statements and %d recorded migrations, want %d and %d", tc.name, execs, inserts, wantExecs, len(ms)-tc.applied)
		}
		if want := backfillsOf(ms[tc.applied:]); backfills != want {
			t.Errorf("%s: got %d backfills, want %d", tc.name, backfills, want)
		}
	}
}

// backfillsOf is the number of backfills (reconcile) of the migrations.
func backfillsOf(ms []migration) int {
	n := 0
	for _, m := range ms {
		if reconciledAt[m.version] != "" {
			n++
		}
	}
	return n
}

// appliedVersions answers the read of weave_migrations.
func appliedVersions(ms []migration) [][]any {
	var out [][]any
	for _, m := range ms {
		out = append(out, []any{uint32(m.version)})
	}
	return out
}

// TestMigrateSharded checks the node-by-node DDL of a sharded cluster:
// the nodes come from system.clusters, each gets the whole schema without
// ON CLUSTER or Replicated engines and records it in its own table, and a
// node that has the schema already gets only the idempotent bookkeeping.
func TestMigrateSharded(t *testing.T) {
	s, f := newFakeStore(t, Config{Cluster: "weave", ClusterMode: ClusterSharded})
	f.respond = func(sql string, p map[string]any) [][]any {
		if strings.Contains(sql, "system.clusters") && p["cluster"] == "weave" {
			return [][]any{{"ch-1", uint16(9000)}, {"ch-2", uint16(9000)}, {"ch-2", uint16(9000)}}
		}
		return nil
	}
	ms, err := migrations(s.l, 0, DefaultPendingEventsMaxAge)
	if err != nil {
		t.Fatal(err)
	}
	// ch-2 is up to date already: it records every migration.
	nodes := map[string]*fakeConn{"ch-1:9000": {}, "ch-2:9000": {
		respond: func(sql string, _ map[string]any) [][]any {
			if strings.Contains(sql, "weave_migrations_local") {
				return appliedVersions(ms)
			}
			return nil
		},
	}}
	var dialed []string
	s.dial = func(_ context.Context, addr string) (driver.Conn, error) {
		dialed = append(dialed, addr)
		if c := nodes[addr]; c != nil {
			return c, nil
		}
		return nil, fmt.Errorf("no node %s", addr)
	}
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	if want := []string{"ch-1:9000", "ch-2:9000"}; !slices.Equal(dialed, want) {
		t.Errorf("nodes migrated: got %v, want %v", dialed, want)
	}
	for _, c := range f.take() {
		if !strings.Contains(c.sql, "system.clusters") {
			t.Errorf("the connected server got %s %q, want only the cluster listing", c.kind, c.sql)
		}
	}
	wantDDL := len(migrationsTableDDL(s.l))
	for _, m := range ms {
		wantDDL += len(m.statements)
	}
	for addr, want := range map[string]struct{ ddl, inserts int }{
		"ch-1:9000": {wantDDL, len(ms)},
		"ch-2:9000": {len(migrationsTableDDL(s.l)), 0},
	} {
		var ddl, inserts int
		for _, c := range nodes[addr].take() {
			switch c.kind {
			case "exec":
				if strings.Contains(c.sql, "HAVING d != 0") { // a backfill (reconcile)
					if want.inserts == 0 || !strings.Contains(c.sql, "_local`") {
						t.Errorf("%s: backfill %q, want one of the node's own tables on a node to migrate", addr, firstLine(c.sql))
					}
					continue
				}
				ddl++
				if strings.Contains(c.sql, "ON CLUSTER") || strings.Contains(c.sql, "Replicated") {
					t.Errorf("%s: distributed DDL or a replicated engine in a sharded cluster: %s", addr, firstLine(c.sql))
				}
			case "insert":
				inserts++
				if !strings.Contains(c.sql, "`weave`.`weave_migrations_local`") {
					t.Errorf("%s: migration recorded by %q, want the node's own weave_migrations_local", addr, c.sql)
				}
			}
		}
		if ddl != want.ddl || inserts != want.inserts {
			t.Errorf("%s: got %d DDL statements and %d recorded migrations, want %d and %d", addr, ddl, inserts, want.ddl, want.inserts)
		}
	}

	s2, _ := newFakeStore(t, Config{Cluster: "nowhere", ClusterMode: ClusterSharded})
	if err := s2.Migrate(context.Background()); err == nil || !strings.Contains(err.Error(), `cluster "nowhere" is not in the server's remote_servers`) {
		t.Errorf("Migrate on an unknown cluster: got %v, want a clear error", err)
	}
}

// TestDeleteRowsLayouts checks where DeleteBefore's lightweight deletes
// go: the table on a single node, the local tables ON CLUSTER in a
// replicated cluster, each node's local table in a sharded one.
func TestDeleteRowsLayouts(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want map[string]string // connection → statement
	}{
		{"single", Config{}, map[string]string{"main": "DELETE FROM `weave`.`spans` WHERE project_id = {project:String}"}},
		{"replicated", Config{Cluster: "c1"}, map[string]string{"main": "DELETE FROM `weave`.`spans_local` ON CLUSTER `c1` WHERE project_id = {project:String}"}},
		{"sharded", Config{Cluster: "c1", ClusterMode: ClusterSharded}, map[string]string{
			"h1:9000": "DELETE FROM `weave`.`spans_local` WHERE project_id = {project:String}",
			"h2:9000": "DELETE FROM `weave`.`spans_local` WHERE project_id = {project:String}",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, f := newFakeStore(t, tc.cfg)
			f.respond = func(sql string, _ map[string]any) [][]any {
				return [][]any{{"h1", uint16(9000)}, {"h2", uint16(9000)}}
			}
			conns := map[string]*fakeConn{"main": f}
			s.dial = func(_ context.Context, addr string) (driver.Conn, error) {
				conns[addr] = &fakeConn{}
				return conns[addr], nil
			}
			if err := s.deleteRows(context.Background(), "spans", "project_id = {project:String}", named("project", "p")); err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for name, c := range conns {
				for _, call := range c.take() {
					if call.kind == "exec" {
						got[name] = call.sql
					}
				}
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("deletes: got %v, want %v", got, tc.want)
			}
		})
	}
}

// smallTurn is a turn with a subagent and short texts.
func smallTurn(project string) storetest.Turn {
	return storetest.BuildTurn(storetest.TurnSpec{ProjectID: project, ConversationID: "conv-1", Turn: 1,
		Start: storetest.T0, Prompt: "Fix the failing test", Calls: 2, Subagent: true, ContentScale: 0.1})
}

func TestWriteSnapshot(t *testing.T) {
	s, f := newFakeStore(t, Config{RetentionDays: 30})
	ctx := context.Background()
	turn := smallTurn("acme/agents")
	emu := newEmulator()
	f.respond = emu.respond

	write := func(spans ...model.Span) string {
		t.Helper()
		if err := s.WriteSpans(ctx, spans); err != nil {
			t.Fatalf("WriteSpans: %v", err)
		}
		calls := f.take()
		emu.apply(t, calls)
		return render(calls)
	}
	// A running root alone, then its children, then the finished root,
	// then everything again (nothing to write).
	root := *turn.Root
	running := root
	running.EndedAt = time.Time{}
	running.OutputMessages = nil
	var b strings.Builder
	b.WriteString("### running root alone\n\n" + write(running))
	b.WriteString("### children\n\n" + write(turn.Spans[1:]...))
	b.WriteString("### finished root\n\n" + write(root))
	b.WriteString("### everything again\n\n" + write(turn.Spans...))
	b.WriteString("### a stale running copy of the finished root\n\n" + write(running))
	golden(t, "write.txt", b.String())
}

func TestReadSnapshot(t *testing.T) {
	s, f := newFakeStore(t, Config{})
	ctx := context.Background()
	const p = "acme/agents"
	trace := storetest.TraceID("t1")
	// Canned answers so that multi-step reads reach their later queries.
	matching := int64(3)     // bodies a search matches
	phraseFound := int64(26) // of phraseSample bodies with a phrase's words, those with the phrase
	var touched [][]any      // conversations with tombstones
	var figures [][]any      // the candidates' figures, for a page walked newest first
	f.respond = func(sql string, _ map[string]any) [][]any {
		switch {
		case strings.HasPrefix(sql, "SELECT toInt64(count()) FROM (SELECT 1 FROM"):
			return [][]any{{matching}}
		case strings.HasPrefix(sql, "SELECT conv_key, if(sum(turn_spans)"):
			return figures
		case strings.HasPrefix(sql, "SELECT DISTINCT conv_key, digest FROM"):
			return [][]any{{"conv-1", digestOf("fix the bug")}}
		case strings.HasPrefix(sql, "SELECT DISTINCT conv_key FROM `weave`.`message_occurrences`"):
			return touched
		case strings.HasPrefix(sql, "SELECT conv_key FROM `weave`.`message_occurrences` WHERE project_id = {p0:String} AND conv_key IN"):
			return touched[:min(1, len(touched))] // the first still matches
		case strings.HasPrefix(sql, "SELECT (SELECT toInt64(count())"):
			return [][]any{{matching, int64(1_000_000)}}
		case strings.HasPrefix(sql, "SELECT DISTINCT digest FROM"):
			return [][]any{{digestOf("fix the bug")}}
		case strings.HasPrefix(sql, "SELECT conv_key, role, digest, toUnixTimestamp64Nano(started_at) FROM"):
			return [][]any{{"conv-1", "user", digestOf("fix the bug"), storetest.T0.UnixNano()}}
		case strings.HasPrefix(sql, "SELECT toInt64(count()), toInt64(countIf("):
			return [][]any{{int64(phraseSample), phraseFound}}
		case strings.HasPrefix(sql, "SELECT toInt64(count()) FROM"), strings.HasPrefix(sql, "SELECT toInt64(sum(sign)) FROM"),
			strings.HasPrefix(sql, "SELECT (SELECT toInt64(sum(span_count))"):
			return [][]any{{int64(3)}}
		case strings.HasPrefix(sql, "SELECT trace_id, min(first_ns)"):
			return [][]any{{trace, storetest.T0.UnixNano(), storetest.T0.Add(time.Minute).UnixNano(), int64(6), int64(1), int64(0),
				int64(100), int64(10), int64(50), int64(5), int64(0), int64(1_500_000), int64(1), int64(60000)}}
		case strings.HasPrefix(sql, "SELECT trace_id, span_id, parent_span_id, started_at, ended_at, eff_agent, conv_key"):
			end := storetest.T0.Add(time.Minute)
			return [][]any{{trace, storetest.SpanID("a"), "", storetest.T0, &end, "claude-code", "conv-1"},
				{trace, storetest.SpanID("b"), storetest.SpanID("a"), storetest.T0.Add(time.Second), &end, "claude-code", "conv-1"}}
		case strings.HasPrefix(sql, "SELECT trace_id, span_id, span_name"):
			return [][]any{{trace, storetest.SpanID("a"), "invoke_agent claude-code"}}
		case strings.HasPrefix(sql, "SELECT g0, g1, a_count"):
			op, agent, p50 := "chat", "claude-code", int64(1200)
			return [][]any{{&op, &agent, int64(4), int64(0), int64(1), int64(100), int64(10), int64(50), int64(5), int64(0), int64(110), int64(2_000), &p50, &p50, &p50, &p50},
				{&op, (*string)(nil), int64(1), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), (*int64)(nil), (*int64)(nil), (*int64)(nil), (*int64)(nil)}}
		case strings.HasPrefix(sql, "SELECT conv_key, max(last_ns) AS c_bound"):
			return [][]any{{"conv-1", storetest.T0.Add(time.Hour).UnixNano(), int64(1)}}
		case strings.HasPrefix(sql, "SELECT conv_key, max(last_ns)"):
			return [][]any{{"conv-1", storetest.T0.Add(time.Hour).UnixNano()}}
		case strings.HasPrefix(sql, "SELECT DISTINCT trace_id FROM"):
			return [][]any{{trace}}
		case strings.HasPrefix(sql, "SELECT trace_id, span_id, parent_span_id, started_at"):
			running := stateValues(p, &stateRow{traceID: trace, spanID: storetest.SpanID("a"), started: storetest.T0.UnixNano(), version: 7}, 1, false, false)
			return [][]any{append(append([]any(nil), running[1:1+len(stateCols)]...), int8(1))}
		case strings.HasPrefix(sql, "SELECT trace_id, span_id, toUnixTimestamp64Nano(started_at), version, sign"):
			// b's first state was replaced (its cancel row read too).
			return [][]any{{trace, storetest.SpanID("a"), storetest.T0.UnixNano(), uint64(5), int8(1)},
				{trace, storetest.SpanID("b"), storetest.T0.UnixNano(), uint64(3), int8(1)},
				{trace, storetest.SpanID("b"), storetest.T0.UnixNano(), uint64(3), int8(-1)},
				{trace, storetest.SpanID("b"), storetest.T0.Add(time.Second).UnixNano(), uint64(6), int8(1)}}
		case strings.HasPrefix(sql, "SELECT trace_id, first_ns, last_ns"):
			return [][]any{{trace, storetest.T0.UnixNano(), storetest.T0.Add(time.Minute).UnixNano()}}
		case strings.HasPrefix(sql, "SELECT agent_name, toInt64(sum(v_inv))"):
			return [][]any{{"claude-code", int64(2), int64(10), int64(0), int64(5000), storetest.T0.UnixNano(), storetest.T0.Add(time.Hour).UnixNano(),
				int64(100), int64(10), int64(50), int64(5), int64(0), int64(1), int64(2)}}
		case strings.HasPrefix(sql, "SELECT agent_version, toInt64(sum(invocation_count))"):
			return [][]any{{"2.1.0", int64(2), int64(10), int64(0), int64(5000), storetest.T0.UnixNano(), storetest.T0.Add(time.Hour).UnixNano(),
				int64(100), int64(10), int64(50), int64(5), int64(0), int64(1)}}
		case strings.HasPrefix(sql, "SELECT day, toInt64(sum(span_count))"):
			return [][]any{{int32(20579), int64(150)}}
		case strings.HasPrefix(sql, "WITH (SELECT (min(day), max(day))"):
			return [][]any{{int64(2), storetest.T0.UnixNano() / minuteNanos, storetest.T0.UnixNano()/minuteNanos + 30}}
		case strings.HasPrefix(sql, "SELECT *, toInt64(count() OVER ()) AS c_total"):
			row := []any{"conv-1", int64(2), int64(0), int64(10), int64(0), int64(0), storetest.T0.UnixNano(), storetest.T0.Add(time.Hour).UnixNano(),
				int64(100), int64(10), int64(50), int64(5), int64(0), int64(1_500_000), int64(1)}
			if strings.Contains(sql, " AS c_prompt") {
				row = append(row, "fix the bug")
			}
			return [][]any{append(row, int64(3))}
		case strings.HasPrefix(sql, "SELECT conv_key, role, digest"):
			return [][]any{{"conv-1", "user", digestOf("fix the bug"), storetest.T0.UnixNano(), trace, storetest.SpanID("a"), "claude-code", "invoke_agent"}}
		}
		return nil
	}
	var b strings.Builder
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b.WriteString("### " + name + "\n\n" + render(f.take()))
	}
	_, _, err := s.QuerySpans(ctx, store.SpanQuery{ProjectID: p})
	step("QuerySpans default", err)
	_, _, err = s.QuerySpans(ctx, store.SpanQuery{ProjectID: p, IncludeDetails: true, Limit: 20, Offset: 1,
		Range: store.TimeRange{From: storetest.T0, To: storetest.T0.Add(time.Hour)},
		Filters: []store.Filter{
			{Field: "operation_name", Op: "in", Value: []any{"chat", "execute_tool"}},
			{Field: "span_name", Op: "contains", Value: "Read"},
			{Field: "input_tokens", Op: "neq", Value: 0},
			{Field: "output_tokens", Op: "exists"},
			{Field: "ended_at", Op: "lt", Value: storetest.T0.Add(time.Hour).Format(time.RFC3339Nano)},
			{Field: "duration_ms", Op: "gte", Value: 100},
			{Field: "is_turn", Op: "eq", Value: true},
			{Field: "finish_reasons", Op: "in", Value: []any{"stop", "tool_use"}},
			{Field: "custom_attrs_string.weave.claude_code.cwd", Op: "neq", Value: "/tmp"},
			{Field: "custom_attrs_int.turn", Op: "gt", Value: 1},
			{Field: "custom_attrs_float.temperature", Op: "lte", Value: 0.5},
			{Field: "custom_attrs_bool.stream", Op: "eq", Value: false},
			{Field: "resource_attrs.service.name", Op: "eq", Value: "claude-code"},
			{Field: "cost_usd", Op: "gte", Value: 0.5},
		},
		Sort: []store.Sort{{Field: "input_tokens", Direction: "desc"}, {Field: "ended_at", Direction: "asc"}, {Field: "duration_ms"}, {Field: "cost_usd"}},
	})
	step("QuerySpans filters, sorts, range, details", err)
	_, _, err = s.QuerySpans(ctx, store.SpanQuery{ProjectID: p, Filters: []store.Filter{{Field: "operation_name", Op: "eq", Value: "chat"},
		{Field: "status_code", Op: "in", Value: []any{"ERROR"}}}, Range: store.TimeRange{From: storetest.T0, To: storetest.T0.Add(72 * time.Hour)}})
	step("QuerySpans filtered on the counted fields, over days (span_counts and the partial days)", err)
	_, _, err = s.QuerySpans(ctx, store.SpanQuery{ProjectID: p, Range: store.TimeRange{To: storetest.T0}})
	step("QuerySpans latest, before a time (span_counts and the partial day)", err)
	_, _, err = s.QuerySpans(ctx, store.SpanQuery{ProjectID: p, Range: store.TimeRange{From: storetest.T0, To: storetest.T0.Add(time.Hour)}})
	step("QuerySpans latest, within a day (spans)", err)
	_, err = s.GetSpans(ctx, []store.SpanKey{{ProjectID: p, TraceID: trace, SpanID: storetest.SpanID("a")}, {ProjectID: p, TraceID: trace, SpanID: storetest.SpanID("b")}})
	step("GetSpans", err)
	_, err = s.TraceSpans(ctx, p, trace)
	step("TraceSpans", err)
	_, err = s.TraceChatSpans(ctx, p, trace)
	step("TraceChatSpans", err)
	_, err = s.ActiveSpans(ctx, p, store.TimeRange{From: storetest.T0}, 50)
	step("ActiveSpans", err)
	_, err = s.ConversationSpans(ctx, p, "conv-1", store.TimeRange{To: storetest.T0.Add(30 * time.Second)})
	step("ConversationSpans", err)
	_, err = s.ConversationChatSpans(ctx, p, "conv-1", store.TimeRange{To: storetest.T0.Add(30 * time.Second)})
	step("ConversationChatSpans", err)
	_, err = s.QueryConversations(ctx, store.ConversationQuery{ProjectID: p})
	step("QueryConversations default", err)
	_, err = s.QueryConversations(ctx, store.ConversationQuery{ProjectID: p, AgentName: "Explore", Search: `payment "read file"`,
		Range: store.TimeRange{From: storetest.T0}, Sort: []store.Sort{{Field: "first_prompt", Direction: "asc"}, {Field: "turn_count"}}, Limit: 10, Offset: 0})
	step("QueryConversations agent, search, range, sort", err)
	_, err = s.QueryConversations(ctx, store.ConversationQuery{ProjectID: p,
		Filters: []store.Filter{{Field: "custom_attrs_string.weave.claude_code.cwd", Op: "eq", Value: "/home/dev/project"}}})
	step("QueryConversations span filters", err)
	traces, _, err := s.QueryTraces(ctx, store.TraceQuery{ProjectID: p})
	step("QueryTraces default", err)
	if len(traces) != 1 || traces[0].RootSpanName != "invoke_agent claude-code" || traces[0].AgentName != "claude-code" || traces[0].Status != store.TraceError {
		t.Errorf("QueryTraces: got %+v, want the root read back (invoke_agent claude-code, claude-code, error)", traces)
	}
	_, _, err = s.QueryTraces(ctx, store.TraceQuery{ProjectID: p, AgentName: "Explore", ConversationID: "conv-1", Status: store.TraceOK,
		Range:   store.TimeRange{From: storetest.T0, To: storetest.T0.Add(time.Hour)},
		Filters: []store.Filter{{Field: "tool_name", Op: "eq", Value: "Bash"}, {Field: "custom_attrs_int.turn", Op: "gte", Value: 2}},
		Sort:    []store.Sort{{Field: "duration_ms", Direction: "desc"}, {Field: "input_tokens", Direction: "asc"}}, Limit: 10, Offset: 0})
	step("QueryTraces agent, conversation, status, range, span filters, sort", err)
	groups, _, err := s.AggregateSpans(ctx, store.AggregateQuery{ProjectID: p, GroupBy: []string{"operation_name", "agent_name"}})
	step("AggregateSpans by two columns", err)
	if len(groups) != 2 || groups[0].Key[1] != "claude-code" || *groups[0].DurationP50Ms != 1200 || groups[1].Key[1] != nil || groups[1].DurationP50Ms != nil {
		t.Errorf("AggregateSpans: got %+v, want the keys and percentiles read back (NULL as nil)", groups)
	}
	_, _, err = s.AggregateSpans(ctx, store.AggregateQuery{ProjectID: p,
		GroupBy: []string{"custom_attrs_string.env", "custom_attrs_int.turn", "custom_attrs_float.temperature", "custom_attrs_bool.stream", "resource_attrs.service.name"},
		Filters: []store.Filter{{Field: "operation_name", Op: "eq", Value: "chat"}}, Range: store.TimeRange{From: storetest.T0},
		Sort: []store.Sort{{Field: "duration_p95_ms", Direction: "desc"}, {Field: "custom_attrs_int.turn", Direction: "desc"}}, Limit: 10, Offset: 5})
	step("AggregateSpans by attributes, filtered, sorted", err)
	_, _, err = s.AggregateSpans(ctx, store.AggregateQuery{ProjectID: p, GroupBy: []string{"input_tokens", "ended_at", "is_turn", "duration_ms", "project_id"}})
	step("AggregateSpans by nullable, time, bool and derived columns", err)
	_, _, err = s.AggregateSpans(ctx, store.AggregateQuery{ProjectID: p})
	step("AggregateSpans without group-by", err)
	_, _, err = s.QueryAgents(ctx, store.AgentQuery{ProjectID: p})
	step("QueryAgents (one stale agent)", err)
	_, err = s.AgentVersions(ctx, p, "claude-code")
	step("AgentVersions (one stale version)", err)
	_, err = s.AgentMetrics(ctx, store.MetricsQuery{ProjectID: p})
	step("AgentMetrics auto bucket, open range (minute rollup)", err)
	_, err = s.AgentMetrics(ctx, store.MetricsQuery{ProjectID: p, Bucket: 7 * 24 * time.Hour})
	step("AgentMetrics weeks, open range (day rollup)", err)
	_, err = s.AgentMetrics(ctx, store.MetricsQuery{ProjectID: p, AgentName: "Explore", Bucket: 90 * time.Second,
		Range: store.TimeRange{From: storetest.T0, To: storetest.T0.Add(time.Hour)}})
	step("AgentMetrics 90s buckets (span_state)", err)
	hits, err := s.SearchMessages(ctx, store.SearchQuery{ProjectID: p, Query: `Payment "fix the bug"`, Roles: []string{"user", "assistant"},
		AgentName: "claude-code", ConversationID: "conv-1", Range: store.TimeRange{From: storetest.T0, To: storetest.T0.Add(time.Hour)}, Limit: 5})
	step("SearchMessages", err)
	if len(hits) != 1 || !hits[0].LastActivity.Equal(storetest.T0.Add(time.Hour)) {
		t.Errorf("SearchMessages: got %+v, want the conversation's last activity on the hit", hits)
	}
	s.l.textIndex = true
	_, err = s.SearchMessages(ctx, store.SearchQuery{ProjectID: p, Query: `Payment "fix the bug"`, Limit: 5})
	step("SearchMessages (text index)", err)
	_, err = s.QueryConversations(ctx, store.ConversationQuery{ProjectID: p, Search: `payment "read file"`, Limit: 10})
	step("QueryConversations search (text index)", err)
	touched = [][]any{{"conv-1"}, {"conv-0"}}
	_, err = s.QueryConversations(ctx, store.ConversationQuery{ProjectID: p, Search: `payment`, Limit: 10, Offset: 10})
	step("QueryConversations search, conversations with tombstones (text index)", err)
	touched = nil
	matching, touched = searchDirectMax+1, [][]any{{"conv-1"}}
	figures = [][]any{{"conv-1", int64(1), int64(0), int64(2), int64(0), int64(0), storetest.T0.UnixNano(), storetest.T0.Add(time.Hour).UnixNano(),
		int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), []string{"claude-code"}, []string{}, "fix the bug", "", ""}}
	page, err := s.QueryConversations(ctx, store.ConversationQuery{ProjectID: p, Search: `payment`, Limit: 10})
	step("QueryConversations search matching many bodies (conversations walked newest first, one with tombstones)", err)
	if len(page.Conversations) != 1 || page.Total != 1 || page.TotalIsLowerBound {
		t.Errorf("QueryConversations walked: got %d conversations, total %d (lower bound %t), want conv-1 and an exact total of 1",
			len(page.Conversations), page.Total, page.TotalIsLowerBound)
	}
	matching, touched, figures = 3, nil, nil
	s.l.pairIndex = true
	_, err = s.SearchMessages(ctx, store.SearchQuery{ProjectID: p, Query: `"retry timeout" "fix the bug" payment`, Limit: 5})
	step("SearchMessages (text index and index of word pairs: two-word phrase exact, longer one checked in order)", err)
	s.l.pairIndex = false
	matching = searchDirectMax + 1
	_, err = s.SearchMessages(ctx, store.SearchQuery{ProjectID: p, Query: "payment", Roles: []string{"user"},
		Range: store.TimeRange{From: storetest.T0}, Limit: 5})
	step("SearchMessages matching many bodies (newest occurrences of matching bodies first)", err)
	matching = 100_000
	_, err = s.SearchMessages(ctx, store.SearchQuery{ProjectID: p, Query: `payment "fix the bug"`, Limit: 5})
	step("SearchMessages matching a tenth of the bodies, a phrase in a tenth of them (sampled; newest occurrences first, matches kept)", err)
	phraseFound = 0
	_, err = s.SearchMessages(ctx, store.SearchQuery{ProjectID: p, Query: `payment "fix the bug"`, Limit: 5})
	step("SearchMessages matching a tenth of the bodies, a phrase in none of the sample (all matches grouped)", err)
	s.l.pairIndex = true
	_, err = s.SearchMessages(ctx, store.SearchQuery{ProjectID: p, Query: `payment "fix bug"`, Limit: 5})
	step("SearchMessages matching a tenth of the bodies, a phrase the index of word pairs answers (no sample)", err)
	s.l.pairIndex = false
	s.l.textIndex = false
	_, err = s.Projects(ctx)
	step("Projects", err)
	_, err = s.Stats(ctx)
	step("Stats", err)
	_, err = s.QueryAnnotations(ctx, store.AnnotationQuery{ProjectID: p, Refs: []string{"agent_turn/" + trace}, Kind: "thumbs", Limit: 10})
	step("QueryAnnotations", err)
	_, err = s.TakePendingEvents(ctx, []store.SpanKey{{ProjectID: p, TraceID: trace, SpanID: storetest.SpanID("a")}})
	step("TakePendingEvents", err)
	golden(t, "read.txt", b.String())
}

func TestMiscWriteSnapshot(t *testing.T) {
	s, f := newFakeStore(t, Config{})
	ctx := context.Background()
	const p = "acme/agents"
	key := store.SpanKey{ProjectID: p, TraceID: storetest.TraceID("t1"), SpanID: storetest.SpanID("a")}
	created := storetest.T0.UnixNano()
	f.respond = func(sql string, params map[string]any) [][]any {
		switch {
		case strings.Contains(sql, "`annotations` FINAL WHERE project_id = {p0:String} AND id = {p1:String}"):
			if params["p1"] == "known" {
				return [][]any{{created, uint64(5)}}
			}
		case strings.Contains(sql, "`pending_events` FINAL"):
			return [][]any{{key.TraceID, key.SpanID, uint64(7), `[{"name":"gen_ai.user.message","time":"2026-05-04T09:30:00Z","attributes":{"content":"hi"}}]`}}
		}
		return nil
	}
	var b strings.Builder
	step := func(name string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b.WriteString("### " + name + "\n\n" + render(f.take()))
	}
	step("Migrate", s.Migrate(ctx))
	_, err := s.UpsertAnnotation(ctx, store.Annotation{ID: "new-id", ProjectID: p, Ref: "agent_turn/" + key.TraceID, Kind: "thumbs", Value: "up", Author: "dana"})
	step("UpsertAnnotation (new)", err)
	_, err = s.UpsertAnnotation(ctx, store.Annotation{ID: "known", ProjectID: p, Ref: "agent_conversation/c%2F1", Kind: "note", Value: map[string]any{"text": "nice"}})
	step("UpsertAnnotation (replace, keeps created_at)", err)
	step("DeleteAnnotation", s.DeleteAnnotation(ctx, p, "known"))
	step("WritePendingEvents", s.WritePendingEvents(ctx, []store.KeyedEvents{{Key: key, Events: []model.Event{{Name: "gen_ai.choice", Time: storetest.T0}}}}))
	_, err = s.TakePendingEvents(ctx, []store.SpanKey{key, {ProjectID: p, TraceID: key.TraceID, SpanID: storetest.SpanID("b")}})
	step("TakePendingEvents (tombstones what it took)", err)
	golden(t, "write_misc.txt", b.String())

	cs, cf := newFakeStore(t, Config{Cluster: "weave_cluster"})
	b.Reset()
	f = cf
	_, err = cs.Stats(ctx)
	step("Stats (cluster)", err)
	step("Migrate (cluster)", cs.Migrate(ctx))
	golden(t, "cluster_misc.txt", b.String())
}

// TestTune checks the server-dependent table options: on a 26.x server
// without them, the tables rebuilt with smaller granules (copied, then
// exchanged; not in a replicated cluster), the merge selector base of the
// large tables, span_state's merge of whole months and the text index of message_content (built for existing
// parts, the bloom filter dropped), ON CLUSTER in a replicated cluster;
// nothing on a server that has them already, only the index of word pairs
// on one tuned before it existed when PhraseIndex asks for it (its rows
// are indexed by the MATERIALIZE), its DROP when it does not, only the
// rebuilds on one that offers neither (25.8).
func TestTune(t *testing.T) {
	server := func(version string, tuned, leftover bool, rows uint64, noPairs bool) func(string, map[string]any) [][]any {
		return func(sql string, params map[string]any) [][]any {
			switch {
			case sql == "SELECT version()":
				return [][]any{{version}}
			case strings.HasPrefix(sql, "EXISTS TABLE ") && leftover && strings.Contains(sql, "`spans__rebuild`"):
				return [][]any{{uint8(1)}}
			case strings.HasPrefix(sql, "SHOW CREATE TABLE "):
				return [][]any{{fakeTableDDL(strings.TrimPrefix(sql, "SHOW CREATE TABLE "), tuned)}}
			case strings.HasPrefix(sql, "SELECT count() FROM `"):
				return [][]any{{rows}}
			case strings.Contains(sql, "system.functions"):
				return [][]any{{uint64(1), uint64(1), uint64(1)}}
			case strings.HasPrefix(sql, "SELECT count() FROM system."):
				if tuned && !(noPairs && params["i"] == pairIndexName) {
					return [][]any{{uint64(1)}}
				}
				return [][]any{{uint64(0)}}
			}
			return nil
		}
	}
	var b strings.Builder
	for _, tc := range []struct {
		name            string
		cfg             Config
		version         string
		tuned, leftover bool
		rows            uint64 // in each table
		noPairs         bool   // tuned, but without the index of word pairs
	}{
		{"26.7, single node, new database (empty tables rebuilt)", Config{}, "26.7.2.1", false, false, 0, false},
		{"26.7, single node, new database, PhraseIndex (the index of word pairs too)", Config{PhraseIndex: true}, "26.7.2.1", false, false, 0, false},
		{"26.7, single node, tables with rows (kept without RebuildTables)", Config{}, "26.7.2.1", false, false, 1000, false},
		{"26.7, single node, tables with rows, RebuildTables", Config{RebuildTables: true}, "26.7.2.1", false, false, 1000, false},
		{"26.7, replicated cluster", Config{Cluster: "c", ClusterMode: ClusterReplicated, RebuildTables: true}, "26.7.2.1", false, false, 1000, false},
		{"26.7, tuned already, PhraseIndex", Config{PhraseIndex: true}, "26.7.2.1", true, false, 1000, false},
		{"26.7, tuned already without the index of word pairs", Config{}, "26.7.2.1", true, false, 1000, true},
		{"26.7, tuned by a run interrupted before it dropped the copy of spans", Config{PhraseIndex: true}, "26.7.2.1", true, true, 1000, false},
		{"26.7, tuned with the index of word pairs, PhraseIndex off (the index dropped)", Config{}, "26.7.2.1", true, false, 1000, false},
		{"26.7, tuned before the index of word pairs, PhraseIndex", Config{PhraseIndex: true}, "26.7.2.1", true, false, 1000, true},
		{"25.8 (no text index)", Config{}, "25.8.3.1", false, false, 0, false},
	} {
		s, f := newFakeStore(t, tc.cfg)
		f.respond = server(tc.version, tc.tuned, tc.leftover, tc.rows, tc.noPairs)
		if err := s.tune(context.Background(), s.conn, ""); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var execs []call
		for _, c := range f.take() {
			if c.kind == "exec" {
				execs = append(execs, c)
			}
		}
		b.WriteString("### " + tc.name + "\n\n" + render(execs))
		if err := s.detectSearch(context.Background()); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "searches with the text index: %v, phrases with the index of word pairs: %v\n\n", s.l.textIndex, s.l.pairIndex)
	}
	golden(t, "tune.txt", b.String())
}
