//go:build unix

package clickhouse

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/clickhouse/clickhousetest"
	"github.com/weavetrace/weave/server/store/storetest"
)

// TestClusterShardingLive writes realistic conversations into a sharded
// cluster of two local nodes and into a single-node database, and checks
// what the suite cannot see from outside: rows are spread over both
// shards, every row of a trace lives on one shard (so FINAL and the
// writer's per-trace state are exact per shard), conversations do span
// shards, spans sent twice (in other batches, through the other node) are
// stored once, and every read through either node equals the single
// node's.
func TestClusterShardingLive(t *testing.T) {
	c := clickhousetest.Start(t, 2)
	ctx := context.Background()
	clusterCfg := testConfig(c.DSNs()[0], c.Name)
	clusterCfg.ClusterMode = ClusterSharded
	refCfg := testConfig(c.DSNs()[0], "")
	t.Cleanup(func() { dropDatabase(t, clusterCfg); dropDatabase(t, refCfg) })

	open := func(cfg Config) *Store {
		t.Helper()
		s, err := Open(ctx, cfg, Settings{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	viaNode1 := open(clusterCfg)
	node2Cfg := clusterCfg
	node2Cfg.DSN = c.DSNs()[1] // migrates again, node by node: a no-op
	viaNode2 := open(node2Cfg)
	ref := open(refCfg)

	write := func(s *Store, spans []model.Span) {
		t.Helper()
		if err := s.WriteSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
	}
	var all []model.Span
	for _, project := range []string{"acme/one", "acme/two"} {
		w := storetest.NewWorkload(3, project, storetest.T0)
		for range 6 {
			spans := w.Next()
			all = append(all, spans...)
			write(viaNode1, spans)
			write(ref, spans)
		}
	}
	// Spans that land twice: a slice re-sent through the other node, and
	// the first conversation re-sent in two batches, one of its spans as
	// an in-progress copy (a finished span is never replaced by one).
	again := append([]model.Span(nil), all[:40]...)
	write(viaNode2, again)
	write(ref, again)
	running := all[3]
	running.EndedAt = time.Time{}
	half := len(all) / 4
	for _, batch := range [][]model.Span{all[:half], append([]model.Span{running}, all[half:2*half]...)} {
		write(viaNode1, batch)
		write(ref, batch)
	}

	// Rows are spread over both shards, and each trace lives on one.
	for i, dsn := range c.DSNs() {
		cfg := clusterCfg
		cfg.DSN = dsn
		cfg.SkipMigrate = true
		n := open(cfg)
		var local uint64
		if err := n.conn.QueryRow(ctx, "SELECT count() FROM "+n.l.local("span_state")).Scan(&local); err != nil {
			t.Fatal(err)
		}
		if local == 0 {
			t.Errorf("node %d holds no span_state rows: writes were not routed to it", i+1)
		}
	}
	for _, table := range []string{"spans", "span_state", "conv_traces", "message_occurrences"} {
		var split uint64
		q := "SELECT count() FROM (SELECT trace_id FROM " + viaNode1.l.table(table) + " GROUP BY project_id, trace_id HAVING uniqExact(_shard_num) > 1)"
		if err := viaNode1.conn.QueryRow(ctx, q).Scan(&split); err != nil {
			t.Fatal(err)
		}
		if split != 0 {
			t.Errorf("%s: %d traces have rows on more than one shard", table, split)
		}
	}
	var crossing uint64
	q := "SELECT count() FROM (SELECT conv_key FROM " + viaNode1.l.table("conv_traces") + " GROUP BY project_id, conv_key HAVING uniqExact(_shard_num) > 1)"
	if err := viaNode1.conn.QueryRow(ctx, q).Scan(&crossing); err != nil {
		t.Fatal(err)
	}
	if crossing == 0 {
		t.Fatal("test data: no conversation has turns on both shards")
	}

	// Every read through either node equals the single node's.
	for name, s := range map[string]*Store{"node 1": viaNode1, "node 2": viaNode2} {
		for _, project := range []string{"acme/one", "acme/two"} {
			same(t, name+" QueryAgents "+project, ref, s, func(s *Store) (any, error) {
				a, n, err := s.QueryAgents(ctx, store.AgentQuery{ProjectID: project, Limit: store.MaxLimit})
				return []any{a, n}, err
			})
			same(t, name+" QueryConversations "+project, ref, s, func(s *Store) (any, error) {
				return s.QueryConversations(ctx, store.ConversationQuery{ProjectID: project, Limit: store.MaxLimit})
			})
			page, err := ref.QueryConversations(ctx, store.ConversationQuery{ProjectID: project, Limit: 3})
			if err != nil {
				t.Fatal(err)
			}
			for _, conv := range page.Conversations {
				same(t, name+" ConversationSpans "+conv.ConversationID, ref, s, func(s *Store) (any, error) {
					return s.ConversationSpans(ctx, project, conv.ConversationID, store.TimeRange{})
				})
			}
			for _, query := range []string{"file", "please", `"read file"`, "token cache"} {
				same(t, name+" SearchMessages "+query, ref, s, func(s *Store) (any, error) {
					return s.SearchMessages(ctx, store.SearchQuery{ProjectID: project, Query: query, Limit: store.MaxLimit})
				})
			}
			same(t, name+" QuerySpans "+project, ref, s, func(s *Store) (any, error) {
				sp, n, err := s.QuerySpans(ctx, store.SpanQuery{ProjectID: project, Limit: 100})
				return []any{sp, n}, err
			})
			same(t, name+" AgentMetrics "+project, ref, s, func(s *Store) (any, error) {
				return s.AgentMetrics(ctx, store.MetricsQuery{ProjectID: project, Bucket: time.Hour})
			})
		}
		same(t, name+" Stats.Spans", ref, s, func(s *Store) (any, error) {
			st, err := s.Stats(ctx)
			return st.Spans, err
		})
	}
}

// same fails t unless read gives the same result (as JSON) on both stores.
func same(t *testing.T, what string, want, got *Store, read func(*Store) (any, error)) {
	t.Helper()
	w, err := read(want)
	if err != nil {
		t.Fatalf("%s (single node): %v", what, err)
	}
	g, err := read(got)
	if err != nil {
		t.Fatalf("%s (cluster): %v", what, err)
	}
	wj, _ := json.Marshal(w)
	gj, _ := json.Marshal(g)
	if string(wj) != string(gj) {
		t.Errorf("%s: the cluster's differs from the single node's:\ngot  %.2000s\nwant %.2000s", what, gj, wj)
	}
}
