package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

// TestMigrateTurns opens a database written before schema version 5 (no
// turn columns; a conversation's turn_count was its trace count) holding
// W&B threads with is_turn spans: the migration derives the turn spans,
// including one under a non-turn root and a nested one, and the
// conversations come out as a fresh write makes them.
func TestMigrateTurns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	st := mustOpen(t, path, Settings{})
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	mk := func(thread, trace, id, parent string, turn bool, at time.Duration) model.Span {
		tid := storetest.TraceID(thread, trace)
		s := model.Span{ProjectID: "p/turns", TraceID: tid, SpanID: storetest.SpanID(tid, id), SpanName: id,
			SpanKind: model.KindInternal, StartedAt: t0.Add(at), EndedAt: t0.Add(at + time.Second),
			StatusCode: model.StatusOK, ThreadID: thread, IsTurn: turn}
		if parent != "" {
			s.ParentSpanID = storetest.SpanID(tid, parent)
		}
		return s
	}
	spans := []model.Span{
		mk("bg", "indexing", "background_indexing", "", false, 0),
		mk("bg", "query", "user_query", "", true, time.Minute),
		mk("nested", "t", "session", "", false, 0),
		mk("nested", "t", "turn-a", "session", true, time.Second),
		mk("nested", "t", "inner", "turn-a", true, 2*time.Second),
		mk("nested", "t", "turn-b", "session", true, 3*time.Second),
		mk("plain", "a", "a", "", false, 0),
		mk("plain", "b", "b", "", false, time.Minute),
	}
	if err := st.WriteSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	want, err := st.QueryConversations(context.Background(), store.ConversationQuery{ProjectID: "p/turns"})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]int64{}
	for _, c := range want.Conversations {
		byID[c.ConversationID] = c.TurnCount*10 + c.BackgroundCount
	}
	if w := map[string]int64{"bg": 11, "nested": 20, "plain": 20}; !reflect.DeepEqual(byID, w) {
		t.Fatalf("before the migration test: got turns*10+background %v, want %v", byID, w)
	}
	st.Close()
	execOn(t, path, append(append([]string{"UPDATE conversations SET turn_count = trace_count"}, undoMappingColumns...),
		append(undoTurns, "DELETE FROM schema_migrations WHERE version >= 5")...)...)
	st = mustOpen(t, path, Settings{})
	got, err := st.QueryConversations(context.Background(), store.ConversationQuery{ProjectID: "p/turns"})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("after the migration: got %+v (%v)\nwant %+v", got, err, want)
	}
	// Later writes keep the migrated figures exact.
	more := mk("bg", "query2", "user_query_2", "", true, 2*time.Minute)
	if err := st.WriteSpans(context.Background(), []model.Span{more}); err != nil {
		t.Fatal(err)
	}
	page, err := st.QueryConversations(context.Background(), store.ConversationQuery{ProjectID: "p/turns", Sort: []store.Sort{{Field: "conversation_id", Direction: "asc"}}})
	if err != nil || len(page.Conversations) == 0 || page.Conversations[0].TurnCount != 2 || page.Conversations[0].BackgroundCount != 1 {
		t.Errorf("after a later write: got %+v (%v), want bg with 2 turns and 1 background trace", page.Conversations, err)
	}
}

// TestMigrateMappingColumns opens a database written before schema
// version 6: its spans get the computed total (input + output where either
// was reported) and empty new columns; new writes keep every column.
func TestMigrateMappingColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	st := mustOpen(t, path, Settings{})
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	in, out := int64(120), int64(30)
	mk := func(id string, in, out *int64) model.Span {
		return model.Span{ProjectID: "p/cols", TraceID: storetest.TraceID("cols"), SpanID: storetest.SpanID(id), SpanName: id,
			StartedAt: t0, EndedAt: t0.Add(time.Second), StatusCode: model.StatusOK, InputTokens: in, OutputTokens: out}
	}
	spans := []model.Span{mk("both", &in, &out), mk("input-only", &in, nil), mk("none", nil, nil)}
	if err := st.WriteSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	st.Close()
	execOn(t, path, append(append([]string(nil), undoMappingColumns...), "DELETE FROM schema_migrations WHERE version >= 6")...)
	st = mustOpen(t, path, Settings{})
	got, _, err := st.QuerySpans(context.Background(), store.SpanQuery{ProjectID: "p/cols", Sort: []store.Sort{{Field: "span_name", Direction: "asc"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"both": "150", "input-only": "120", "none": "<nil>"}
	for _, s := range got {
		total := "<nil>"
		if s.TotalTokens != nil {
			total = fmt.Sprint(*s.TotalTokens)
		}
		if total != want[s.SpanName] || s.DisplayName != "" || s.WBRunID != "" || s.WBRunStep != nil || s.ModelParameters != nil {
			t.Errorf("span %s after the migration: got total %s, display %q, run %q/%v, params %v; want total %s and empty new columns",
				s.SpanName, total, s.DisplayName, s.WBRunID, s.WBRunStep, s.ModelParameters, want[s.SpanName])
		}
	}
	if len(got) != 3 {
		t.Errorf("got %d spans, want 3", len(got))
	}
}

// TestMigrateCost opens a database written before schema version 7: its
// spans have no cost, so the rollups count those that reported tokens (and
// whose usage counts) as unpriced; later writes keep the figures exact.
func TestMigrateCost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	st := mustOpen(t, path, Settings{})
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	in := int64(100)
	tid := storetest.TraceID("cost")
	mk := func(id, parent string, tokens *int64) model.Span {
		s := model.Span{ProjectID: "p/cost", TraceID: tid, SpanID: storetest.SpanID(id), SpanName: id, AgentName: "a",
			StartedAt: t0, EndedAt: t0.Add(time.Second), StatusCode: model.StatusOK, InputTokens: tokens, ConversationID: "c"}
		if parent != "" {
			s.ParentSpanID = storetest.SpanID(parent)
		}
		return s
	}
	// The root reports the sum of its calls: only the calls count.
	spans := []model.Span{mk("root", "", &in), mk("call1", "root", &in), mk("call2", "root", &in), mk("tool", "root", nil)}
	if err := st.WriteSpans(context.Background(), spans); err != nil {
		t.Fatal(err)
	}
	st.Close()
	execOn(t, path, append(undoCost, "DELETE FROM schema_migrations WHERE version >= 7")...)
	st = mustOpen(t, path, Settings{})
	check := func(when string, want int64, wantUSD float64) {
		t.Helper()
		page, err := st.QueryConversations(context.Background(), store.ConversationQuery{ProjectID: "p/cost"})
		if err != nil || len(page.Conversations) != 1 {
			t.Fatalf("%s: conversations %+v (%v)", when, page, err)
		}
		agents, _, err := st.QueryAgents(context.Background(), store.AgentQuery{ProjectID: "p/cost"})
		if err != nil || len(agents) != 1 {
			t.Fatalf("%s: agents %+v (%v)", when, agents, err)
		}
		buckets, err := st.AgentMetrics(context.Background(), store.MetricsQuery{ProjectID: "p/cost", Bucket: time.Hour})
		if err != nil || len(buckets) != 1 {
			t.Fatalf("%s: metrics %+v (%v)", when, buckets, err)
		}
		minutes, err := st.AgentMetrics(context.Background(), store.MetricsQuery{ProjectID: "p/cost", Bucket: time.Minute})
		if err != nil || len(minutes) != 1 {
			t.Fatalf("%s: metrics %+v (%v)", when, minutes, err)
		}
		for name, u := range map[string]store.Usage{"conversation": page.Conversations[0].Usage, "agent": agents[0].Usage,
			"hour": buckets[0].Usage, "minute": minutes[0].Usage} {
			if u.UnpricedCount != want || u.CostUSD != wantUSD {
				t.Errorf("%s: %s unpriced %d cost %v, want %d and %v", when, name, u.UnpricedCount, u.CostUSD, want, wantUSD)
			}
		}
	}
	check("after the migration", 2, 0)
	// call1 comes again with a cost: one unpriced call is left.
	priced := mk("call1", "root", &in)
	priced.CostUSD, priced.CostSource = model.CostPtr(1500), model.CostReported
	if err := st.WriteSpans(context.Background(), []model.Span{priced}); err != nil {
		t.Fatal(err)
	}
	check("after a priced copy", 1, model.USD(1500))
}

// TestMigratePlaces opens a database written before schema version 10:
// each conversation gets where it last ran from its stored spans (the
// latest one recording a working directory or git branch: here a later
// turn on another branch, written before the earlier one), as a fresh
// write makes it, and later writes keep it exact (a newer turn moves it, a
// re-sent latest root without a place falls back to the turn before).
func TestMigratePlaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	st := mustOpen(t, path, Settings{})
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	root := func(conv, trace string, at time.Duration, cwd, branch string) model.Span {
		tid := storetest.TraceID(conv, trace)
		s := model.Span{ProjectID: "p/places", TraceID: tid, SpanID: storetest.SpanID(tid, "root"), SpanName: "invoke_agent claude-code",
			SpanKind: model.KindInternal, StartedAt: t0.Add(at), EndedAt: t0.Add(at + time.Second), StatusCode: model.StatusOK,
			OperationName: model.OpInvokeAgent, AgentName: "claude-code", ConversationID: conv,
			CustomAttrsString: map[string]string{"weave.claude_code.session.id": conv}}
		if cwd != "" {
			s.CustomAttrsString["weave.claude_code.cwd"] = cwd
		}
		if branch != "" {
			s.CustomAttrsString["weave.claude_code.git_branch"] = branch
		}
		return s
	}
	later := root("moved", "t2", time.Minute, "/src/weave", "fix-search")
	for _, batch := range [][]model.Span{
		{later, root("branch-only", "t1", 0, "", "HEAD")},
		{root("moved", "t1", 0, "/src/weave", "main"), root("none", "t1", 0, "", "")},
	} {
		if err := st.WriteSpans(ctx, batch); err != nil {
			t.Fatal(err)
		}
	}
	places := func(st *Store) map[string]string {
		t.Helper()
		page, err := st.QueryConversations(ctx, store.ConversationQuery{ProjectID: "p/places"})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, c := range page.Conversations {
			out[c.ConversationID] = c.WorkingDir + "@" + c.GitBranch
		}
		return out
	}
	want := map[string]string{"moved": "/src/weave@fix-search", "branch-only": "@HEAD", "none": "@"}
	if got := places(st); !reflect.DeepEqual(got, want) {
		t.Fatalf("before the migration test: got %v, want %v", got, want)
	}
	before, err := st.QueryConversations(ctx, store.ConversationQuery{ProjectID: "p/places"})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	execOn(t, path, append(undoPlaces, "DELETE FROM schema_migrations WHERE version >= 10")...)
	st = mustOpen(t, path, Settings{})
	if got, err := st.QueryConversations(ctx, store.ConversationQuery{ProjectID: "p/places"}); err != nil || !reflect.DeepEqual(got, before) {
		t.Errorf("after the migration: got %+v (%v)\nwant %+v", got, err, before)
	}
	// Later writes keep the migrated places exact.
	if err := st.WriteSpans(ctx, []model.Span{root("moved", "t3", 2*time.Minute, "/src/weave", "release")}); err != nil {
		t.Fatal(err)
	}
	want["moved"] = "/src/weave@release"
	if got := places(st); !reflect.DeepEqual(got, want) {
		t.Errorf("after a newer turn: got %v, want %v", got, want)
	}
	for _, s := range []model.Span{root("moved", "t3", 2*time.Minute, "", ""), root("moved", "t2", time.Minute, "", "")} {
		if err := st.WriteSpans(ctx, []model.Span{s}); err != nil {
			t.Fatal(err)
		}
	}
	want["moved"] = "/src/weave@main"
	if got := places(st); !reflect.DeepEqual(got, want) {
		t.Errorf("after the latest roots lost their place: got %v, want %v", got, want)
	}
}
