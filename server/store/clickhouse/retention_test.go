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
