package clickhouse

import (
	"context"
	"fmt"
	"io/fs"
	"math"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

// TestTTLTablesMatchSchema checks that SetRetention changes the TTL of
// exactly the tables the schema gives one, with the same expression.
func TestTTLTablesMatchSchema(t *testing.T) {
	entries, err := fs.ReadDir(schemaFS, "schema")
	if err != nil {
		t.Fatal(err)
	}
	create := regexp.MustCompile(`CREATE TABLE IF NOT EXISTS \{\{local "(\w+)"\}\}`)
	drop := regexp.MustCompile(`DROP TABLE IF EXISTS \{\{local "(\w+)"\}\}`) // a later migration's
	ttl := regexp.MustCompile(`\{\{ttl "([^"]+)"\}\}`)
	want := map[string]string{}
	for _, e := range entries {
		b, err := fs.ReadFile(schemaFS, path.Join("schema", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, stmt := range strings.Split(string(b), ";\n") {
			c, x := create.FindStringSubmatch(stmt), ttl.FindStringSubmatch(stmt)
			if c != nil && x != nil {
				want[c[1]] = x[1]
			}
			for _, d := range drop.FindAllStringSubmatch(stmt, -1) {
				delete(want, d[1])
			}
		}
	}
	got := map[string]string{}
	for _, x := range ttlTables {
		got[x.table] = x.expr
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ttlTables: got %v, want the schema's %v", got, want)
	}
}

// TestSetRetentionSnapshot records the statements of a retention change on
// one node (the TTL set, then removed) and in a replicated cluster.
func TestSetRetentionSnapshot(t *testing.T) {
	var b strings.Builder
	for _, cfg := range []Config{{}, {Cluster: "weave_cluster"}} {
		s, f := newFakeStore(t, cfg)
		f.respond = func(sql string, params map[string]any) [][]any {
			if strings.HasPrefix(sql, "SELECT create_table_query FROM system.tables") {
				return [][]any{{"CREATE TABLE x (a Int64) ENGINE = MergeTree ORDER BY a TTL toDateTime(a) + toIntervalDay(30)"}}
			}
			return nil
		}
		for _, days := range []int{90, 0} {
			if err := s.SetRetention(context.Background(), days); err != nil {
				t.Fatal(err)
			}
			b.WriteString(fmt.Sprintf("### SetRetention(%d), cluster %q\n\n", days, cfg.Cluster) + render(f.take()))
		}
	}
	golden(t, "retention.txt", b.String())
}

// TestRetimeTTLSnapshot records migration 16's step on one node, in a
// replicated cluster (ON CLUSTER) and on a node of a sharded one (its own
// tables): the TTL of the agent rollups at the end of the row's day or
// minute, with the retention the table's TTL carries (30 days here).
func TestRetimeTTLSnapshot(t *testing.T) {
	var b strings.Builder
	for _, cfg := range []Config{{}, {Cluster: "weave_cluster"}, {Cluster: "weave_cluster", ClusterMode: ClusterSharded}} {
		s, f := newFakeStore(t, cfg)
		f.respond = func(sql string, params map[string]any) [][]any {
			if strings.HasPrefix(sql, "SELECT create_table_query FROM system.tables") {
				return [][]any{{"CREATE TABLE x (day Int32) ENGINE = AggregatingMergeTree ORDER BY day TTL toDateTime(toInt64(day) * 86400) + toIntervalDay(30)"}}
			}
			return nil
		}
		if err := s.retimeTTL(context.Background(), f); err != nil {
			t.Fatal(err)
		}
		var execs []call
		for _, c := range f.take() {
			if c.kind == "exec" {
				execs = append(execs, c)
			}
		}
		b.WriteString(fmt.Sprintf("### cluster %q, mode %q\n\n", cfg.Cluster, cfg.ClusterMode) + render(execs))
	}
	golden(t, "retime_ttl.txt", b.String())
}

// TestMigrateRetentionLive changes the TTL of a live database's tables and
// removes it again.
func TestMigrateRetentionLive(t *testing.T) {
	ctx := context.Background()
	s := openLive(t)
	retained := map[string]bool{}
	for _, x := range ttlTables {
		retained[x.table] = true
	}
	ttlOf := func() map[string]string { // of the retained tables (pending_events has its own)
		out := map[string]string{}
		err := s.scanAll(ctx, "ttl", "SELECT name, create_table_query FROM system.tables WHERE database = {db:String}",
			[]driver.NamedValue{named("db", s.l.db)}, func(r driver.Rows) error {
				var name, ddl string
				if err := r.Scan(&name, &ddl); err != nil {
					return err
				}
				if i := strings.Index(ddl, " TTL "); i >= 0 && retained[name] {
					out[name] = ddl[i:]
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := ttlOf(); len(got) != 0 {
		t.Fatalf("before: got TTLs %v, want none", got)
	}
	if err := s.SetRetention(ctx, 30); err != nil {
		t.Fatal(err)
	}
	got := ttlOf()
	for _, x := range ttlTables {
		if !strings.Contains(got[x.table], "toIntervalDay(30)") {
			t.Errorf("%s after SetRetention(30): TTL %q, want 30 days", x.table, got[x.table])
		}
	}
	// A server started without the flag counts as the tables' TTL says.
	again, err := Open(ctx, s.cfg, Settings{})
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := again.retention.Load(); got != 30 {
		t.Errorf("a store opened without a retention on tables with a 30-day TTL assumes %d days, want 30", got)
	}
	if err := s.SetRetention(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := ttlOf(); len(got) != 0 {
		t.Errorf("after SetRetention(0): got TTLs %v, want none", got)
	}
}

// TestRetentionFromTables: the counts' liveFrom follows the TTL span_state
// carries, not the server's own flag (migrate --clickhouse-retention-days
// changes the TTL of tables a server without the flag then reads), and
// what SetRetention sets.
func TestRetentionFromTables(t *testing.T) {
	s, f := newFakeStore(t, Config{})
	ddl := "CREATE TABLE weave.span_state (`started_at` DateTime64(9)) ENGINE = VersionedCollapsingMergeTree(sign, version) " +
		"ORDER BY (project_id, trace_id) TTL toDateTime(started_at) + toIntervalDay(30) SETTINGS index_granularity = 8192"
	f.respond = func(sql string, _ map[string]any) [][]any {
		if strings.Contains(sql, "FROM system.tables") {
			return [][]any{{ddl}}
		}
		return nil
	}
	if s.liveFrom() != math.MinInt64 {
		t.Fatalf("without a retention: liveFrom %d, want none", s.liveFrom())
	}
	if err := s.readRetention(context.Background()); err != nil {
		t.Fatal(err)
	}
	cutoff := s.now().Add(-30 * 24 * time.Hour).UnixNano()
	if want := (store.FloorDiv(cutoff, dayNanos) + 1) * dayNanos; s.liveFrom() != want {
		t.Errorf("tables with a 30-day TTL: liveFrom %d, want %d (the day after the cutoff's)", s.liveFrom(), want)
	}
	ddl = strings.Replace(ddl, " TTL toDateTime(started_at) + toIntervalDay(30)", "", 1)
	if err := s.readRetention(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.liveFrom() != math.MinInt64 {
		t.Errorf("tables without a TTL: liveFrom %d, want none", s.liveFrom())
	}
	if err := s.SetRetention(context.Background(), 7); err != nil {
		t.Fatal(err)
	}
	if got := s.retention.Load(); got != 7 {
		t.Errorf("after SetRetention(7): %d days, want 7", got)
	}
}

// TestTTLDayEndLive: a rollup row of the last retained day is kept as
// long as the spans it counts (it expired at the day's start plus the
// retention, up to a day before them), on new tables and on tables of an
// earlier version that migration 16 changes, keeping their retention.
func TestTTLDayEndLive(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	if today.Add(24*time.Hour).Sub(now) < 5*time.Minute {
		t.Skip("too close to midnight UTC for a span of yesterday within a day's retention")
	}
	s := openLiveWith(t, func(c *Config) { c.RetentionDays = 1 }, Settings{})
	// A store of version 15: the old TTLs, with another retention than
	// the server's flag (migrate --clickhouse-retention-days 2 did it).
	old := map[string]string{"agent_versions": "toDateTime(toInt64(day) * 86400)", "agent_costs": "toDateTime(toInt64(day) * 86400)",
		"agent_minutes": "toDateTime(minute * 60)", "agent_minute_costs": "toDateTime(minute * 60)", "message_content": "toDateTime(refreshed_at)"}
	for table, expr := range old {
		if err := s.conn.Exec(ctx, s.modifyTTL(table, expr, 2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.conn.Exec(ctx, "ALTER TABLE "+s.l.migrationsTable()+" DELETE WHERE version = 16 SETTINGS mutations_sync = 2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for table := range old {
		ttl, err := s.tableTTL(ctx, s.conn, table)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(ttl, " + 1) * ") && !strings.Contains(ttl, " + 86400") || !strings.Contains(ttl, "toIntervalDay(2)") {
			t.Errorf("%s after migration 16: TTL %q, want the end of the row's day or minute (a body's write plus a day) plus the 2 days it had", table, ttl)
		}
	}
	if err := s.SetRetention(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The last second of yesterday: within a day's retention until the
	// end of today.
	span := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "p", ConversationID: "c", Turn: 1, Start: today.Add(-time.Second), Prompt: "hi", Calls: 1})
	if err := s.WriteSpans(ctx, span.Spans); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"span_state", "agent_versions", "agent_costs"} {
		if err := s.conn.Exec(ctx, "ALTER TABLE "+s.l.local(table)+" MATERIALIZE TTL SETTINGS mutations_sync = 2"); err != nil {
			t.Fatal(err)
		}
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.l.table(table)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Errorf("%s after its TTL applied: no rows, want those of yesterday's spans (within a day's retention)", table)
		}
	}
	vs, err := s.AgentVersions(ctx, "p", span.Spans[0].AgentName)
	if err != nil || len(vs) == 0 {
		t.Errorf("AgentVersions of yesterday's agent after the TTL applied: %v, %v; want its version", vs, err)
	}
}

// TestCarriedRetentionLive: a server started without a retention on
// tables whose TTL `migrate --clickhouse-retention-days 30` set (here
// SetRetention) gives the tables a later version adds the same TTL (they
// had none: span_counts kept counting spans the TTL had dropped), and
// refreshes the bodies it still writes before their TTL drops them (it
// never did: a body its cache knew as stored was not written again).
func TestCarriedRetentionLive(t *testing.T) {
	ctx := context.Background()
	clock := &stepClock{t: time.Now().UTC()}
	s := openLiveWith(t, func(*Config) {}, Settings{Now: clock.now})
	if err := s.SetRetention(ctx, 30); err != nil {
		t.Fatal(err)
	}
	// The database as version 11 left it, then migrated again.
	for _, q := range []string{
		"DROP VIEW " + s.l.local("span_counts_mv"),
		"DROP TABLE " + s.l.local("span_counts"),
		"ALTER TABLE " + s.l.migrationsTable() + " DELETE WHERE version = 12 SETTINGS mutations_sync = 2",
	} {
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if ttl, err := s.tableTTL(ctx, s.conn, "span_counts"); err != nil || !strings.Contains(ttl, "toIntervalDay(30)") {
		t.Errorf("span_counts created by a migration on tables with a 30-day TTL: TTL %q, %v; want 30 days", ttl, err)
	}

	write := func(turn int) {
		t.Helper()
		built := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "p", ConversationID: "c", Turn: turn, Start: clock.now(),
			Prompt: "the same prompt", SystemPrompt: "the same system prompt", Calls: 1})
		if err := s.WriteSpans(ctx, built.Spans); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	clock.mu.Lock()
	clock.t = clock.t.Add(20 * 24 * time.Hour) // past half the retention
	later := clock.t
	clock.mu.Unlock()
	write(2)
	var refreshed uint64
	q := "SELECT count() FROM (SELECT digest FROM " + s.l.table("message_content") + " WHERE project_id = 'p' GROUP BY digest" +
		" HAVING min(refreshed_at) < {later:DateTime64(3, 'UTC')} AND max(refreshed_at) >= {later:DateTime64(3, 'UTC')})"
	if err := s.conn.QueryRow(ctx, q, named("later", later)).Scan(&refreshed); err != nil {
		t.Fatal(err)
	}
	if refreshed == 0 {
		t.Errorf("bodies written again 20 days later under a 30-day TTL: none refreshed, want the repeated ones")
	}
}

// TestBodyOutlivesSpanLive: a body keeps its row as long as the spans
// that say it. It was written again only once its last write was half
// the retention old, and expired at that write plus the retention: a span
// that said it 14 days after its first write, under a 30-day retention,
// lost it (and its search hits) 16 days before the span went.
func TestBodyOutlivesSpanLive(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	clock := &stepClock{t: now.Add(-35 * 24 * time.Hour)}
	s := openLiveWith(t, func(c *Config) { c.RetentionDays = 30 }, Settings{Now: clock.now})
	write := func(turn int) {
		t.Helper()
		built := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "p", ConversationID: "c", Turn: turn, Start: clock.now(),
			Prompt: "zanzibarquux again", Calls: 1})
		if err := s.WriteSpans(ctx, built.Spans); err != nil {
			t.Fatal(err)
		}
	}
	write(1) // 35 days ago: its spans are past the retention
	clock.mu.Lock()
	clock.t = now.Add(-21 * 24 * time.Hour)
	clock.mu.Unlock()
	write(2) // 21 days ago: kept 9 more days
	for _, table := range []string{"spans", "span_state", "message_content", "message_occurrences", "message_occurrences_by_time"} {
		if err := s.conn.Exec(ctx, "ALTER TABLE "+s.l.local(table)+" MATERIALIZE TTL SETTINGS mutations_sync = 2"); err != nil {
			t.Fatal(err)
		}
	}
	hits, err := s.SearchMessages(ctx, store.SearchQuery{ProjectID: "p", Query: "zanzibarquux", Roles: []string{"user"}})
	if err != nil || len(hits) != 1 {
		t.Errorf("SearchMessages for the prompt of a span within the retention, first said before it: %d hits, %v; want 1", len(hits), err)
	}
}
