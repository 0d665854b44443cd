package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

var indexT0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

// indexQueries are searches whose results the index tests compare.
var indexQueries = []store.SearchQuery{
	{ProjectID: "p/ix", Query: "file", Limit: store.MaxLimit},
	{ProjectID: "p/ix", Query: "goroutine deadline", Limit: store.MaxLimit},
	{ProjectID: "p/ix", Query: `"retry timeout"`, Roles: []string{"user"}, Limit: store.MaxLimit},
	{ProjectID: "p/ix", Query: "claude", Limit: store.MaxLimit},
}

// fillIndexed writes a few realistic conversations and returns the hits of
// indexQueries.
func fillIndexed(t *testing.T, st *Store) [][]store.SearchHit {
	t.Helper()
	w := storetest.NewWorkload(7, "p/ix", indexT0)
	for range 6 {
		if err := st.WriteSpans(context.Background(), w.Next()); err != nil {
			t.Fatal(err)
		}
	}
	return searchAll(t, st)
}

func searchAll(t *testing.T, st *Store) [][]store.SearchHit {
	t.Helper()
	var out [][]store.SearchHit
	for _, q := range indexQueries {
		hits, err := st.SearchMessages(context.Background(), q)
		if err != nil {
			t.Fatalf("SearchMessages(%q): %v", q.Query, err)
		}
		out = append(out, hits)
	}
	if len(out[0]) == 0 {
		t.Fatal("test data: no hits for the first query")
	}
	return out
}

// finishRebuild runs the rebuild the store scheduled, if any, and reports
// whether there was one.
func finishRebuild(t *testing.T, st *Store) bool {
	t.Helper()
	rebuilt := st.ix.rebuild.Load()
	for st.ix.rebuild.Load() {
		if _, err := st.indexPass(context.Background()); err != nil {
			t.Fatalf("rebuild: %v", err)
		}
	}
	return rebuilt
}

func TestIndexRebuilt(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(t *testing.T, path string)
	}{
		{"search file deleted", func(t *testing.T, path string) {
			if err := removeDB(path + "-search"); err != nil {
				t.Fatal(err)
			}
		}},
		{"search file of another database", func(t *testing.T, path string) {
			other := filepath.Join(t.TempDir(), "other.db")
			st := mustOpen(t, other, Settings{})
			fillIndexed(t, st)
			st.Close()
			copyFile(t, other+"-search", path+"-search")
		}},
		{"search file of another version", func(t *testing.T, path string) {
			execOn(t, path+"-search", "UPDATE meta SET v = '0' WHERE k = 'version'")
		}},
		{"interrupted rebuild", func(t *testing.T, path string) {
			execOn(t, path+"-search", "UPDATE meta SET v = '1' WHERE k = 'rebuilding'")
		}},
		{"search file behind the log", func(t *testing.T, path string) {
			execOn(t, path, "UPDATE store_meta SET v = 1000000 WHERE k = 'log_pruned'")
		}},
		{"search file not a database", func(t *testing.T, path string) {
			if err := removeDB(path + "-search"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+"-search", []byte(strings.Repeat("not sqlite ", 100)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "weave.db")
			st := mustOpen(t, path, Settings{})
			want := fillIndexed(t, st)
			st.Close()
			tc.tamper(t, path)
			st = mustOpen(t, path, Settings{})
			if !finishRebuild(t, st) {
				t.Fatal("reopen: got no rebuild of the search index, want one")
			}
			if got := searchAll(t, st); !reflect.DeepEqual(got, want) {
				t.Errorf("after the rebuild: got hits\n%v\nwant\n%v", got, want)
			}
			// The rebuilt index keeps up with new writes.
			if err := st.WriteSpans(context.Background(), storetest.NewWorkload(8, "p/ix", indexT0.Add(time.Hour)).Next()); err != nil {
				t.Fatal(err)
			}
			if got := searchAll(t, st); len(got[0]) <= len(want[0]) {
				t.Errorf("after a new write: got %d hits, want more than %d", len(got[0]), len(want[0]))
			}
		})
	}
}

// TestIndexUntouchedNotRebuilt checks that a clean reopen keeps the index.
func TestIndexUntouchedNotRebuilt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	st := mustOpen(t, path, Settings{})
	want := fillIndexed(t, st)
	st.Close()
	st = mustOpen(t, path, Settings{})
	if finishRebuild(t, st) {
		t.Error("clean reopen: got a rebuild, want none")
	}
	if got := searchAll(t, st); !reflect.DeepEqual(got, want) {
		t.Errorf("after reopening: got hits\n%v\nwant\n%v", got, want)
	}
}

// TestIndexLogSurvivesRestart checks that changes logged and not indexed
// when the store closes are indexed after it opens again.
func TestIndexLogSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	st := mustOpen(t, path, Settings{})
	want := fillIndexed(t, st)
	st.Close()
	// Write the same data again into a fresh store without indexing it.
	path2 := filepath.Join(t.TempDir(), "weave.db")
	st = mustOpen(t, path2, Settings{})
	st.ix.manual = true
	w := storetest.NewWorkload(7, "p/ix", indexT0)
	for range 6 {
		if err := st.WriteSpans(context.Background(), w.Next()); err != nil {
			t.Fatal(err)
		}
	}
	if st.ix.pending.Load() == 0 || st.ix.applied.Load() != 0 {
		t.Fatalf("before closing: got %d changes pending, %d applied, want all pending", st.ix.pending.Load(), st.ix.applied.Load())
	}
	st.Close()
	st = mustOpen(t, path2, Settings{})
	if finishRebuild(t, st) {
		t.Error("reopen with changes pending: got a rebuild, want the log applied")
	}
	if got := searchAll(t, st); !reflect.DeepEqual(got, want) {
		t.Errorf("after reopening: got hits\n%v\nwant\n%v", got, want)
	}
	if n := st.ix.pending.Load(); n != 0 {
		t.Errorf("after searching: got %d changes pending, want 0", n)
	}
}

// TestIndexBacklogBounded checks that writers help the indexer once the
// backlog passes its bound, and that applied log rows are deleted.
func TestIndexBacklogBounded(t *testing.T) {
	st := mustOpen(t, filepath.Join(t.TempDir(), "weave.db"), Settings{})
	st.ix.manual = true
	st.ix.maxBacklog = 100
	w := storetest.NewWorkload(9, "p/ix", indexT0)
	maxPending := int64(0)
	for range 12 {
		spans := w.Next()
		if err := st.WriteSpans(context.Background(), spans); err != nil {
			t.Fatal(err)
		}
		if n := st.ix.pending.Load(); n > st.ix.maxBacklog {
			t.Errorf("after a write of %d spans: got %d changes pending, want at most %d", len(spans), n, st.ix.maxBacklog)
		}
		maxPending = max(maxPending, st.ix.pending.Load())
	}
	if maxPending == 0 {
		t.Error("test data: nothing was ever pending")
	}
	var rows int64
	if err := st.w.QueryRow("SELECT COUNT(*) FROM search_log WHERE seq <= ?", st.ix.applied.Load()-1).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("search_log: got %d applied rows kept, want them deleted", rows)
	}
}

// TestMigrateSchemaV1 opens a database written with schema version 1
// (search tables in the main file, no search_log, no conversation counts):
// the migrations move the search index to its own file, rebuilt from the
// spans, and count the conversations.
func TestMigrateSchemaV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	st := mustOpen(t, path, Settings{})
	want := fillIndexed(t, st)
	spans, err := st.ConversationSpans(context.Background(), "p/ix", searchAllConv(t, st), store.TimeRange{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range spans { // what a version 1 database could hold
		s := &spans[i]
		s.CacheCreation5mInputTokens, s.CacheCreation1hInputTokens, s.CostUSD, s.CostSource = nil, nil, nil, ""
	}
	st.Close()
	// Turn the file back into a version 1 database.
	if err := removeDB(path + "-search"); err != nil {
		t.Fatal(err)
	}
	v1, err := migrationFS.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	var code []string // without comments, which hold semicolons
	for _, line := range strings.Split(string(v1), "\n") {
		if c, _, _ := strings.Cut(line, "--"); strings.TrimSpace(c) != "" {
			code = append(code, c)
		}
	}
	var groupsDDL []string
	for _, stmt := range strings.Split(strings.Join(code, "\n"), ";") {
		if strings.Contains(stmt, "msg_groups") || strings.Contains(stmt, "groups_fts") {
			groupsDDL = append(groupsDDL, stmt)
		}
	}
	execOn(t, path, append([]string{"DROP TABLE search_log", "DROP TABLE store_meta", "DROP TABLE chunks",
		"ALTER TABLE projects DROP COLUMN conv_count", "DELETE FROM schema_migrations WHERE version > 1"}, append(append(append([]string(nil), undoMappingColumns...), undoTurns...), groupsDDL...)...)...)
	st = mustOpen(t, path, Settings{})
	if !finishRebuild(t, st) {
		t.Fatal("open of a version 1 database: got no rebuild of the search index, want one")
	}
	if got := searchAll(t, st); !reflect.DeepEqual(got, want) {
		t.Errorf("after the migration: got hits\n%v\nwant\n%v", got, want)
	}
	again, err := st.ConversationSpans(context.Background(), "p/ix", searchAllConv(t, st), store.TimeRange{})
	if err != nil || !reflect.DeepEqual(again, spans) {
		t.Errorf("after the migration: spans differ (%v)", err)
	}
	page, err := st.QueryConversations(context.Background(), store.ConversationQuery{ProjectID: "p/ix"})
	if err != nil || page.Total != 6 || len(page.Conversations) != 6 {
		t.Errorf("after the migration: got %d conversations (total %d), %v, want 6", len(page.Conversations), page.Total, err)
	}
}

// undoPlaces takes a database back to before migration 0010.
var undoPlaces = []string{"ALTER TABLE spans DROP COLUMN has_place", "ALTER TABLE conversations DROP COLUMN working_dir",
	"ALTER TABLE conversations DROP COLUMN git_branch", "ALTER TABLE conversations DROP COLUMN place_pk",
	"ALTER TABLE conversations DROP COLUMN place_at", "ALTER TABLE conversations DROP COLUMN place_span"}

// undoScores takes a database back to before migration 0008 (0010 first).
var undoScores = append(append([]string(nil), undoPlaces...), "DROP INDEX annotations_kind", "ALTER TABLE annotations DROP COLUMN name",
	"ALTER TABLE annotations DROP COLUMN data_type", "ALTER TABLE annotations DROP COLUMN min",
	"ALTER TABLE annotations DROP COLUMN max", "ALTER TABLE annotations DROP COLUMN trace_id",
	"ALTER TABLE annotations DROP COLUMN score", "ALTER TABLE annotations DROP COLUMN label")

// undoCost takes a database back to before migration 0007 (0008 first).
var undoCost = append(append([]string(nil), undoScores...), "ALTER TABLE spans DROP COLUMN cache_creation_5m_input_tokens",
	"ALTER TABLE spans DROP COLUMN cache_creation_1h_input_tokens", "ALTER TABLE spans DROP COLUMN cost_nanos",
	"ALTER TABLE spans DROP COLUMN cost_source", "ALTER TABLE agent_versions DROP COLUMN cost_nanos",
	"ALTER TABLE agent_versions DROP COLUMN unpriced", "ALTER TABLE agent_minutes DROP COLUMN cost_nanos",
	"ALTER TABLE agent_minutes DROP COLUMN unpriced", "ALTER TABLE agent_hours DROP COLUMN cost_nanos",
	"ALTER TABLE agent_hours DROP COLUMN unpriced", "ALTER TABLE conversations DROP COLUMN cost_nanos",
	"ALTER TABLE conversations DROP COLUMN unpriced")

// undoMappingColumns takes a database back to before migration 0006
// (0007 first).
var undoMappingColumns = append(append([]string(nil), undoCost...), "ALTER TABLE spans DROP COLUMN total_tokens", "ALTER TABLE spans DROP COLUMN display_name",
	"ALTER TABLE spans DROP COLUMN wb_run_id", "ALTER TABLE spans DROP COLUMN wb_run_step", "ALTER TABLE spans DROP COLUMN model_parameters")

// undoTurns takes a database back to before migration 0005 (after
// undoMappingColumns).
var undoTurns = []string{"ALTER TABLE spans DROP COLUMN turn_root", "ALTER TABLE conv_traces DROP COLUMN turn_spans",
	"ALTER TABLE conversations DROP COLUMN trace_count", "ALTER TABLE conversations DROP COLUMN turn_spans",
	"ALTER TABLE conversations DROP COLUMN turn_traces", "ALTER TABLE conversations DROP COLUMN background_count"}

// searchAllConv is the conversation of the first hit of indexQueries.
func searchAllConv(t *testing.T, st *Store) string {
	t.Helper()
	return searchAll(t, st)[0][0].ConversationID
}

func TestChangesRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		list []searchChange
	}{
		{"none", nil},
		{"insert, replace, delete", []searchChange{
			{pk: 1, proj: 2, trace: "t1", span: "s1", new: &searchState{conv: 3, started: 1_700_000_000_000_000_000, keys: []roleText{{"user", 4}, {"tool_call", 5}}}},
			{pk: 6, proj: 2, trace: "t1", span: "s2", old: &searchState{conv: 3, started: -5, keys: []roleText{{"assistant", 7}}},
				new: &searchState{conv: 8, started: 9, keys: []roleText{{"assistant", 7}, {"system", 10}}}},
			{pk: 11, proj: 2, trace: "t2", span: "s3", old: &searchState{conv: 3, started: 12, keys: []roleText{{"", 13}}}},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, before, err := decodeChanges(encodeChanges(tc.list, 77))
			if err != nil {
				t.Fatalf("decodeChanges: %v", err)
			}
			if before != 77 || len(got) != len(tc.list) || (len(got) > 0 && !reflect.DeepEqual(got, tc.list)) {
				t.Errorf("round trip: got %+v (texts before %d), want %+v (77)", got, before, tc.list)
			}
		})
	}
}

// FuzzDecodeChanges checks that a corrupt search_log row is an error,
// never a panic, and that what decodes encodes back to the same changes.
func FuzzDecodeChanges(f *testing.F) {
	f.Add(encodeChanges([]searchChange{{pk: 1, proj: 2, trace: "t", span: "s",
		old: &searchState{conv: 3, started: 4, keys: []roleText{{"user", 5}}}, new: &searchState{conv: 6, keys: []roleText{{"tool_call", 7}}}}}, 3))
	f.Add([]byte{changesVersion, 0, 0})
	f.Add([]byte{changesVersion, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		list, before, err := decodeChanges(b)
		if err != nil {
			return
		}
		again, before2, err := decodeChanges(encodeChanges(list, before))
		if err != nil || before2 != before || len(again) != len(list) || (len(list) > 0 && !reflect.DeepEqual(again, list)) {
			t.Fatalf("re-decode: got %+v, %v, want %+v", again, err, list)
		}
	})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := removeDB(to); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// execOn runs statements on a closed database file.
func execOn(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range stmts {
		if strings.TrimSpace(q) == "" {
			continue
		}
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", firstWords(q), err)
		}
	}
}

// TestIndexFTSSettings checks that the search file's FTS5 settings
// (automerge, crisismerge, hashsize) are those of searchSchema, also for a
// file written with other settings: they are applied again at every open.
func TestIndexFTSSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	mustOpen(t, path, Settings{}).Close()
	execOn(t, path+"-search",
		"INSERT INTO groups_fts (groups_fts, rank) VALUES ('automerge', 8)",
		"DELETE FROM groups_fts_config WHERE k IN ('crisismerge', 'hashsize')")
	st := mustOpen(t, path, Settings{})
	defer st.Close()
	got := map[string]int64{}
	rows, err := st.ix.db.Query("SELECT k, v FROM groups_fts_config WHERE k IN ('automerge', 'crisismerge', 'hashsize')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var v int64
		if err := rows.Scan(&k, &v); err != nil {
			t.Fatal(err)
		}
		got[k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"automerge": 16, "crisismerge": 32, "hashsize": 16 << 20}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got settings %v, want %v", got, want)
	}
}
