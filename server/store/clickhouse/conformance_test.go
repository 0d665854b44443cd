package clickhouse

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/clickhouse/clickhousetest"
	"github.com/weavetrace/weave/server/store/storetest"
)

// testConfig is a fresh database on the server at dsn.
func testConfig(dsn, cluster string) Config {
	var b [6]byte
	rand.Read(b[:])
	return Config{
		DSN:           dsn,
		Database:      "weave_test_" + hex.EncodeToString(b[:]),
		Cluster:       cluster,
		FlushInterval: -1, // flush every write at once: the suite writes span by span
	}
}

// TestConformance runs the store contract's suite against a real
// ClickHouse: the user's (WEAVE_TEST_CLICKHOUSE_DSN, optionally in cluster
// mode with WEAVE_TEST_CLICKHOUSE_CLUSTER) or a local node (make
// test-clickhouse).
func TestConformance(t *testing.T) {
	dsn := clickhousetest.DSN(t)
	cluster := ""
	if os.Getenv(clickhousetest.EnvDSN) != "" {
		cluster = os.Getenv(clickhousetest.EnvCluster)
	}
	runConformance(t, func() Config { return testConfig(dsn, cluster) })
}

// TestConformanceCluster runs the suite on a sharded cluster of two local
// nodes: every table is Distributed over two shards (writes routed by
// trace, reads merged), the schema applied node by node.
func TestConformanceCluster(t *testing.T) {
	c := clickhousetest.Start(t, 2)
	runConformance(t, func() Config {
		cfg := testConfig(c.DSNs()[0], c.Name)
		cfg.ClusterMode = ClusterSharded
		return cfg
	})
}

// TestConformanceSearchRecent runs the search areas of the suite with
// every search on the plans of common words (newest occurrences first,
// searchRecent), two rows at a time so that pages take several rounds:
// reading the rows of matching bodies, and reading every row and keeping
// the matches.
func TestConformanceSearchRecent(t *testing.T) {
	dsn := clickhousetest.DSN(t)
	for _, tc := range []struct {
		name          string
		commonPercent int
	}{{"matching rows", 101}, {"every row", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			runConformanceMatching(t, func() Config {
				cfg := testConfig(dsn, "")
				cfg.searchPlan = &searchPlan{directMax: 0, commonPercent: tc.commonPercent, recentRows: 2, perHit: 0, recentMax: 1 << 20}
				return cfg
			}, func(name string) bool {
				return strings.Contains(name, "Search") || strings.Contains(name, "Conversation")
			})
		})
	}
}

func runConformance(t *testing.T, newConfig func() Config) {
	runConformanceMatching(t, newConfig, func(string) bool { return true })
}

// TestConformanceConversationWalk runs the conversations page with a
// search on the walk of the conversations newest first (searchWalk) for
// every query that matches a body, one candidate past the page at first:
// pages take several rounds, and a page of one stops before the last
// match (a total that is a lower bound); on one node and on two shards.
func TestConformanceConversationWalk(t *testing.T) {
	defer func(slack int) { latestSlackConvs = slack }(latestSlackConvs)
	latestSlackConvs = 0
	plan := defaultSearchPlan
	plan.directMax = 0
	match := func(name string) bool { return strings.HasSuffix(name, "ConversationSearchPage") }
	t.Run("node", func(t *testing.T) {
		dsn := clickhousetest.DSN(t)
		runConformanceMatching(t, func() Config {
			cfg := testConfig(dsn, "")
			cfg.searchPlan = &plan
			return cfg
		}, match)
	})
	t.Run("cluster", func(t *testing.T) {
		c := clickhousetest.Start(t, 2)
		runConformanceMatching(t, func() Config {
			cfg := testConfig(c.DSNs()[0], c.Name)
			cfg.ClusterMode = ClusterSharded
			cfg.searchPlan = &plan
			return cfg
		}, match)
	})
}

func runConformanceMatching(t *testing.T, newConfig func() Config, match func(string) bool) {
	storetest.RunMatching(t, func(t *testing.T) func() (store.Store, error) {
		cfg := newConfig()
		t.Cleanup(func() { dropDatabase(t, cfg) })
		return func() (store.Store, error) {
			return Open(context.Background(), cfg, Settings{})
		}
	}, storetest.Capabilities{}, match)
}

func dropDatabase(t *testing.T, cfg Config) {
	t.Helper()
	opts, db, err := cfg.options()
	if err != nil {
		t.Errorf("drop test database: %v", err)
		return
	}
	s, err := Open(context.Background(), Config{DSN: cfg.DSN, Database: db, Cluster: cfg.Cluster, ClusterMode: cfg.ClusterMode, SkipMigrate: true}, Settings{})
	if err != nil {
		t.Errorf("drop test database %s (%v): %v", db, opts.Addr, err)
		return
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q := "DROP DATABASE IF EXISTS `" + db + "`" + s.l.onCluster() + " SYNC"
	if s.l.sharded {
		err = s.eachNode(ctx, func(_ string, conn driver.Conn) error { return conn.Exec(ctx, q) })
	} else {
		err = s.conn.Exec(ctx, q)
	}
	if err != nil {
		t.Errorf("drop test database: %v", err)
	}
}

// TestMigrateGranulesLive checks on a real server that a new database's
// tables are created with the granule sizes reads by key need, so that
// opening it rebuilds nothing (no rebuild logged, no copy left behind,
// the same definitions after a second open).
func TestMigrateGranulesLive(t *testing.T) {
	dsn := clickhousetest.DSN(t)
	cfg := testConfig(dsn, "")
	t.Cleanup(func() { dropDatabase(t, cfg) })
	ctx := context.Background()
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	defs := func() map[string]string {
		s, err := Open(ctx, cfg, Settings{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		out := map[string]string{}
		err = s.scanAll(ctx, "tables", "SELECT name, create_table_query FROM system.tables WHERE database = {db:String}",
			[]driver.NamedValue{named("db", cfg.Database)}, func(r driver.Rows) error {
				var name, ddl string
				if err := r.Scan(&name, &ddl); err != nil {
					return err
				}
				out[name] = ddl
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := defs()
	for _, g := range granules {
		ddl := first[g.table]
		for _, st := range g.settings {
			if !strings.Contains(ddl, st[0]+" = "+st[1]) {
				t.Errorf("%s created without %s = %s: %s", g.table, st[0], st[1], ddl)
			}
		}
	}
	for name := range first {
		if strings.HasSuffix(name, rebuildSuffix) {
			t.Errorf("a rebuild copy is left: %s", name)
		}
	}
	if second := defs(); !reflect.DeepEqual(first, second) {
		t.Errorf("a second open changed the tables:\nfirst  %v\nsecond %v", first, second)
	}
	if strings.Contains(logged.String(), "rebuil") {
		t.Errorf("opening a new database rebuilt tables:\n%s", logged.String())
	}
}

// openPhraseIndexLive opens a live store with the index of word pairs
// (Config.PhraseIndex), and its configuration; it skips the test on a
// server without text indexes.
func openPhraseIndexLive(t *testing.T) (*Store, Config) {
	t.Helper()
	cfg := testConfig(clickhousetest.DSN(t), "")
	cfg.PhraseIndex = true
	s := openLiveConfig(t, cfg)
	if !s.l.pairIndex {
		t.Skip("the server has no text index")
	}
	return s, cfg
}

// TestPairIndexUnbuiltPartsLive checks that phrases stay correct on rows
// written before the index of word pairs existed: tune adds it with an
// asynchronous MATERIALIZE, and until that reaches a part, reads compute
// the pairs from the terms. Here the index is dropped, bodies written, the
// index added back without MATERIALIZE (their part has none), and more
// bodies written (their part has it).
func TestPairIndexUnbuiltPartsLive(t *testing.T) {
	ctx := context.Background()
	s, _ := openPhraseIndexLive(t)
	table := s.l.local("message_content")
	write := func(turn int, prompt string) {
		t.Helper()
		built := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "p", ConversationID: "c", Turn: turn,
			Start: storetest.T0.Add(time.Duration(turn) * time.Hour), Prompt: prompt, Calls: 1})
		if err := s.WriteSpans(ctx, built.Spans); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.conn.Exec(ctx, "ALTER TABLE "+table+" DROP INDEX "+pairIndexName); err != nil {
		t.Fatal(err)
	}
	write(1, "retry the timeout")
	write(2, "a retry timeout now")
	if err := s.conn.Exec(ctx, "ALTER TABLE "+table+" ADD INDEX "+pairIndexName+" "+pairsExpr+" TYPE text(tokenizer = splitByString([' ']))"); err != nil {
		t.Fatal(err)
	}
	write(3, "timeout retry")
	write(4, "retry timeout again")
	hits, err := s.SearchMessages(ctx, store.SearchQuery{ProjectID: "p", Query: `"retry timeout"`, Roles: []string{"user"}})
	var got []string
	for _, h := range hits {
		got = append(got, h.Snippet)
	}
	if err != nil || strings.Join(got, "|") != "«retry timeout» again|a «retry timeout» now" {
		t.Fatalf(`SearchMessages("retry timeout") over parts with and without the pair index: got %q, %v; want the prompts of turns 4 and 2`, got, err)
	}
}

// TestPhraseIndexDroppedLive checks a store whose index of word pairs an
// earlier start built (Config.PhraseIndex), opened without it: the index
// is dropped, and phrases find the same hits through the sampled plan
// (bodies with the words, checked) as through the index, on the plan that
// groups every match and on the newest-first one.
func TestPhraseIndexDroppedLive(t *testing.T) {
	ctx := context.Background()
	s, cfg := openPhraseIndexLive(t)
	for i, prompt := range []string{"retry the timeout", "a retry timeout now", "timeout retry", "retry timeout again", "retry timeout deadline"} {
		built := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "p", ConversationID: "c", Turn: i + 1,
			Start: storetest.T0.Add(time.Duration(i) * time.Hour), Prompt: prompt, Calls: 1})
		if err := s.WriteSpans(ctx, built.Spans); err != nil {
			t.Fatal(err)
		}
	}
	search := func(s *Store, q string) string {
		t.Helper()
		hits, err := s.SearchMessages(ctx, store.SearchQuery{ProjectID: "p", Query: q, Roles: []string{"user"}})
		if err != nil {
			t.Fatalf("SearchMessages(%s): %v", q, err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.Snippet)
		}
		return strings.Join(got, "|")
	}
	queries := map[string]string{
		`"retry timeout"`:          "«retry timeout» deadline|«retry timeout» again|a «retry timeout» now",
		`"retry timeout deadline"`: "«retry timeout deadline»",
		`"timeout retry"`:          "«timeout retry»",
		`"timeout retry" the`:      "",
	}
	for q, want := range queries {
		if got := search(s, q); got != want {
			t.Errorf("with the index of word pairs, %s: got %q, want %q", q, got, want)
		}
	}
	cfg.PhraseIndex = false
	for _, plan := range []*searchPlan{nil, {directMax: 0, commonPercent: 101, recentRows: 2, perHit: 0, recentMax: 1 << 20}} {
		cfg.searchPlan = plan
		without, err := Open(ctx, cfg, Settings{})
		if err != nil {
			t.Fatal(err)
		}
		has, err := without.hasIndex(ctx, without.conn, pairIndexName)
		if err != nil || has || without.l.pairIndex {
			t.Fatalf("opened without PhraseIndex: index still there %v (%v), searched through %v", has, err, without.l.pairIndex)
		}
		for q, want := range queries {
			if got := search(without, q); got != want {
				t.Errorf("without the index of word pairs (plan %+v), %s: got %q, want %q", plan, q, got, want)
			}
		}
		without.Close()
	}
}

// openLive opens a store on a fresh database of the test server, closed
// and dropped when the test ends.
func openLive(t *testing.T) *Store {
	t.Helper()
	return openLiveConfig(t, testConfig(clickhousetest.DSN(t), ""))
}

// openLiveConfig opens a store with cfg, closed and its database dropped
// when the test ends.
func openLiveConfig(t *testing.T, cfg Config) *Store {
	t.Helper()
	return openLiveSettings(t, cfg, Settings{})
}

// openLiveWith is openLive with a configuration set changes, and
// settings.
func openLiveWith(t *testing.T, set func(*Config), st Settings) *Store {
	t.Helper()
	cfg := testConfig(clickhousetest.DSN(t), "")
	set(&cfg)
	return openLiveSettings(t, cfg, st)
}

// openLiveSettings opens a store with cfg and st, closed and its database
// dropped when the test ends.
func openLiveSettings(t *testing.T, cfg Config, st Settings) *Store {
	t.Helper()
	t.Cleanup(func() { dropDatabase(t, cfg) })
	s, err := Open(context.Background(), cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
