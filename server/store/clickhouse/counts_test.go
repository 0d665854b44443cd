package clickhouse

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/weavetrace/weave/server/store/storetest"
)

// TestReconcileSnapshot records the statement that sets each counting
// rollup to span_state's sums, on one node, with a retention, and in a
// replicated and a sharded cluster.
func TestReconcileSnapshot(t *testing.T) {
	var b strings.Builder
	day := int32(20600)
	for _, tc := range []struct {
		name string
		l    layout
		from *int32
	}{
		{"single node", layout{db: "weave"}, nil},
		{"single node, retention", layout{db: "weave"}, &day},
		{"replicated", layout{db: "weave", cluster: "weave_cluster"}, nil},
		{"sharded", layout{db: "weave", cluster: "weave_cluster", sharded: true}, nil},
	} {
		for _, c := range counters {
			fmt.Fprintf(&b, "### %s, %s\n\n%s;\n\n", c.table, tc.name, reconcileSQL(tc.l, c, tc.from))
		}
	}
	golden(t, "reconcile.txt", b.String())
}

// drift returns, per counting rollup, the number of keys whose count
// differs from span_state's sum of signs (what reconcile would correct),
// and the rollup's total.
func drift(t *testing.T, s *Store) map[string][2]int64 {
	t.Helper()
	ctx := context.Background()
	out := map[string][2]int64{}
	for _, c := range counters {
		q := reconcileSQL(s.l, c, nil)
		diff := q[strings.Index(q, " SELECT ")+1:]
		var n, total int64
		if err := s.conn.QueryRow(ctx, "SELECT toInt64(count()) FROM ("+diff+")").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if err := s.conn.QueryRow(ctx, "SELECT toInt64(sum(span_count)) FROM "+s.l.table(c.table)).Scan(&total); err != nil {
			t.Fatal(err)
		}
		out[c.table] = [2]int64{n, total}
	}
	return out
}

// writeWorkload writes n conversations of a realistic workload.
func writeWorkload(t *testing.T, s *Store, n int) int64 {
	t.Helper()
	w := storetest.NewWorkload(7, "acme/counts", storetest.T0)
	var spans int64
	for range n {
		batch := w.Next()
		spans += int64(len(batch))
		if err := s.WriteSpans(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
	return spans
}

// TestMigrateBackfillTwiceLive runs the migrations that backfill the
// counting rollups (10: conversations, 12: span_counts) again on a store
// that has them, as a server that crashed after the backfill and before
// recording the version does at its next start, and as three servers
// starting at once do: every span is still counted once.
func TestMigrateBackfillTwiceLive(t *testing.T) {
	ctx := context.Background()
	s := openLive(t)
	spans := writeWorkload(t, s, 6)
	forget := func() {
		t.Helper()
		q := "ALTER TABLE " + s.l.migrationsTable() + " DELETE WHERE version IN (10, 12) SETTINGS mutations_sync = 2"
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string) {
		t.Helper()
		d := drift(t, s)
		for _, c := range counters {
			if d[c.table][0] != 0 {
				t.Errorf("%s: %s has %d keys whose count differs from span_state's", when, c.table, d[c.table][0])
			}
		}
		if got := d["span_counts"][1]; got != spans {
			t.Errorf("%s: span_counts counts %d spans, want %d", when, got, spans)
		}
	}
	check("after the writes")

	forget()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	check("migrated again")

	forget()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other, err := Open(ctx, s.cfg, Settings{})
			if err == nil {
				err = other.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	check("migrated by three servers at once")
}

// TestRebuildCountsLive: rollups that drifted (here: a day of
// span_counts lost, conversations counted twice) are set right by
// RebuildCounts, four of them running at once, and a run on exact
// rollups corrects nothing.
func TestRebuildCountsLive(t *testing.T) {
	ctx := context.Background()
	s := openLive(t)
	spans := writeWorkload(t, s, 6)
	if n, err := s.RebuildCounts(ctx); err != nil || n != 0 {
		t.Fatalf("RebuildCounts on exact rollups: corrected %d keys, %v; want 0", n, err)
	}
	for _, q := range []string{
		"TRUNCATE TABLE " + s.l.local("span_counts"),
		"INSERT INTO " + s.l.local("conversations") + " SELECT * FROM " + s.l.local("conversations"),
	} {
		if err := s.conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	fixed := make([]uint64, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fixed[i], errs[i] = s.RebuildCounts(ctx)
		}()
	}
	wg.Wait()
	var total uint64
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		total += fixed[i]
	}
	d := drift(t, s)
	for _, c := range counters {
		if d[c.table][0] != 0 {
			t.Errorf("after RebuildCounts: %s has %d keys whose count differs from span_state's", c.table, d[c.table][0])
		}
	}
	if got := d["span_counts"][1]; got != spans {
		t.Errorf("after RebuildCounts: span_counts counts %d spans, want %d", got, spans)
	}
	if total == 0 {
		t.Errorf("RebuildCounts reported no key corrected, want the rows it wrote")
	}
	if st, err := s.Stats(ctx); err != nil || st.Spans != spans {
		t.Errorf("Stats after RebuildCounts: %d spans, %v; want %d", st.Spans, err, spans)
	}
}
