package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

func mustOpen(t *testing.T, path string, s Settings) *Store {
	t.Helper()
	st, err := Open(context.Background(), path, s)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		path string
		s    Settings
		want string
	}{
		{"empty path", "", Settings{}, "empty database path"},
		{"unknown durability", filepath.Join(dir, "a.db"), Settings{Durability: "sometimes"}, `unknown durability "sometimes"`},
		{"not a database", writeFile(t, filepath.Join(dir, "junk.db"), "this is not sqlite, just text padding the header out"), Settings{}, "open"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Open(context.Background(), tc.path, tc.s)
			if err == nil {
				st.Close()
				t.Fatalf("Open: got nil error, want one containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "sqlite: ") {
				t.Errorf("Open: got %q, want a sqlite: error containing %q", err, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenCreatesDirAndLocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "data", "weave.db")
	st := mustOpen(t, path, Settings{})
	fi, err := os.Stat(filepath.Dir(path))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir: got %v, %v, want mode 0700", fi, err)
	}
	if _, err := Open(context.Background(), path, Settings{}); err == nil || !strings.Contains(err.Error(), "in use by another process") {
		t.Errorf("second Open: got %v, want an in-use error", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if err := st.WriteSpans(context.Background(), []model.Span{{ProjectID: "p", TraceID: "t", SpanID: "s", StartedAt: time.Now()}}); !errors.Is(err, errClosed) {
		t.Errorf("WriteSpans after Close: got %v, want errClosed", err)
	}
	st2 := mustOpen(t, path, Settings{}) // the lock was released
	st2.Close()
}

func TestMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	st := mustOpen(t, path, Settings{})
	st.Close()
	st = mustOpen(t, path, Settings{}) // reopening applies nothing twice
	var n, v int
	if err := st.r.QueryRow("SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	migs, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if n != len(migs) || v != migs[len(migs)-1].version {
		t.Errorf("schema_migrations: got %d rows up to %d, want %d up to %d", n, v, len(migs), migs[len(migs)-1].version)
	}
	st.Close()

	// A database from a newer binary is refused, not modified.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future', 0)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(context.Background(), path, Settings{}); err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Errorf("Open(newer schema): got %v, want a newer-schema error", err)
	}
}

func TestOpenRefusesForeignSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	st := mustOpen(t, path, Settings{})
	st.Close()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DROP TABLE agent_hours"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(context.Background(), path, Settings{}); err == nil || !strings.Contains(err.Error(), `no table "agent_hours"`) {
		t.Errorf("Open(older pre-release schema): got %v, want a missing-table error", err)
	}
}

func TestPendingEventsExpire(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	st := mustOpen(t, filepath.Join(t.TempDir(), "weave.db"), Settings{Now: func() time.Time { return now }, PendingEventsMaxAge: 2 * time.Hour})
	ctx := context.Background()
	old := store.SpanKey{ProjectID: "p", TraceID: "t", SpanID: "old"}
	fresh := store.SpanKey{ProjectID: "p", TraceID: "t", SpanID: "fresh"}
	ev := []model.Event{{Name: "gen_ai.choice", Time: now}}
	if err := st.WritePendingEvents(ctx, []store.KeyedEvents{{Key: old, Events: ev}}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(3 * time.Hour)
	if err := st.WritePendingEvents(ctx, []store.KeyedEvents{{Key: fresh, Events: ev}}); err != nil {
		t.Fatal(err)
	}
	got, err := st.TakePendingEvents(ctx, []store.SpanKey{old, fresh})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[old]; ok || len(got[fresh]) != 1 {
		t.Errorf("TakePendingEvents after 3h with a 2h max age: got %v, want only the fresh key", got)
	}
}

// TestPendingEventsFastPath: TakePendingEvents answers from a count of the
// parked rows when there are none, without the writer; the count follows
// parking, taking and expiry, and is read back when the file is opened
// again, so parked events are never skipped.
func TestPendingEventsFastPath(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "weave.db")
	set := Settings{Now: func() time.Time { return now }, PendingEventsMaxAge: 2 * time.Hour}
	st, err := Open(context.Background(), path, set)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k1 := store.SpanKey{ProjectID: "p", TraceID: "t", SpanID: "one"}
	k2 := store.SpanKey{ProjectID: "p", TraceID: "t", SpanID: "two"}
	ev := []model.Event{{Name: "gen_ai.choice", Time: now}}
	take := func(st *Store, k store.SpanKey) int {
		t.Helper()
		got, err := st.TakePendingEvents(ctx, []store.SpanKey{k})
		if err != nil {
			t.Fatal(err)
		}
		return len(got[k])
	}
	c0 := st.commits.Load()
	if n := take(st, k1); n != 0 {
		t.Fatalf("took %d events from an empty table", n)
	}
	if st.commits.Load() != c0 {
		t.Errorf("TakePendingEvents with nothing parked ran a write transaction")
	}
	if err := st.WritePendingEvents(ctx, []store.KeyedEvents{{Key: k1, Events: ev}, {Key: k2, Events: ev}}); err != nil {
		t.Fatal(err)
	}
	if got := st.pendingRows.Load(); got != 2 {
		t.Errorf("pendingRows after parking 2: %d", got)
	}
	st.Close()

	st = mustOpen(t, path, set)
	if got := st.pendingRows.Load(); got != 2 {
		t.Fatalf("pendingRows after reopening: %d, want 2", got)
	}
	if n := take(st, k1); n != 1 {
		t.Fatalf("after reopening, took %d events for a parked span, want 1", n)
	}
	if got := st.pendingRows.Load(); got != 1 {
		t.Errorf("pendingRows after taking one: %d", got)
	}
	now = now.Add(3 * time.Hour) // k2's row expires at the next parking
	if err := st.WritePendingEvents(ctx, []store.KeyedEvents{{Key: k1, Events: ev}}); err != nil {
		t.Fatal(err)
	}
	if got := st.pendingRows.Load(); got != 1 {
		t.Errorf("pendingRows after one expired and one parked: %d, want 1", got)
	}
	if n := take(st, k1); n != 1 {
		t.Errorf("took %d events, want 1", n)
	}
	if got := st.pendingRows.Load(); got != 0 {
		t.Errorf("pendingRows at the end: %d, want 0", got)
	}
}

// usedBytes is the space the store's data takes in its two files (the
// main file and the search index), free pages excluded.
func usedBytes(t *testing.T, st *Store) int64 {
	t.Helper()
	if err := st.syncSearch(context.Background()); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, db := range []*sql.DB{st.w, st.ix.db} {
		if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
			t.Fatal(err)
		}
		var pages, free, pageSize int64
		for q, dst := range map[string]*int64{"PRAGMA page_count": &pages, "PRAGMA freelist_count": &free, "PRAGMA page_size": &pageSize} {
			if err := db.QueryRow(q).Scan(dst); err != nil {
				t.Fatal(err)
			}
		}
		total += (pages - free) * pageSize
	}
	return total
}

// TestRepeatedHistoryGrowsLinearly writes a conversation of 200 model
// calls whose every call repeats the whole history in its input, and
// checks that the database grows linearly with the calls: message bodies
// are stored once, and successive calls share their history pages.
func TestRepeatedHistoryGrowsLinearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	st := mustOpen(t, path, Settings{})
	ctx := context.Background()
	turns := storetest.BuildConversation(storetest.ConversationSpec{ProjectID: "p/history", ConversationID: "long",
		Start: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), Turns: 50, CallsPerTurn: 4, FullHistory: true,
		SystemPrompt: storetest.SystemPrompt()})
	size := func() int64 { return usedBytes(t, st) }
	base := size()
	var sizes []int64
	var naive, calls int64 // bytes of input history a store without dedup would keep
	for i, turn := range turns {
		if err := st.WriteSpans(ctx, turn.Spans); err != nil {
			t.Fatal(err)
		}
		for _, s := range turn.Spans {
			if s.OperationName == model.OpChat {
				calls++
				for _, m := range s.InputMessages {
					for _, p := range m.Parts {
						naive += int64(len(p.Content) + len(p.Arguments) + len(p.Response))
					}
				}
			}
		}
		if (i+1)%(len(turns)/4) == 0 {
			sizes = append(sizes, size()-base)
		}
	}
	if calls != 200 {
		t.Fatalf("conversation has %d chat calls, want 200", calls)
	}
	growth := []int64{sizes[0], sizes[1] - sizes[0], sizes[2] - sizes[1], sizes[3] - sizes[2]}
	t.Logf("200 calls: DB grew %d KiB (quarters: %d %d %d %d KiB); input history without dedup: %d KiB",
		sizes[3]>>10, growth[0]>>10, growth[1]>>10, growth[2]>>10, growth[3]>>10, naive>>10)
	// Quadratic growth would make the last quarter about 7× the first
	// (the history it repeats is 7/4 of the first quarter's, times 4 for
	// its calls); linear growth keeps the quarters alike.
	if growth[3] > 2*growth[0] {
		t.Errorf("growth is not linear: last quarter %d KiB, first %d KiB", growth[3]>>10, growth[0]>>10)
	}
	// Everything the conversation stores (outputs, tool calls and results,
	// span rows, the search index) still weighs less than half of the input
	// history alone, were it kept per call.
	if sizes[3]*2 > naive {
		t.Errorf("DB grew %d KiB for %d KiB of repeated input history, want under half", sizes[3]>>10, naive>>10)
	}
	// And it all reads back.
	got, err := st.ConversationSpans(ctx, "p/history", "long", store.TimeRange{})
	if err != nil {
		t.Fatal(err)
	}
	var want int
	for _, turn := range turns {
		want += len(turn.Spans)
	}
	last := turns[len(turns)-1].Spans
	if len(got) != want || len(got[len(got)-1].InputMessages) == 0 {
		t.Fatalf("ConversationSpans: got %d spans, want %d", len(got), want)
	}
	back, err := st.GetSpans(ctx, []store.SpanKey{{ProjectID: "p/history", TraceID: last[len(last)-1].TraceID, SpanID: last[len(last)-1].SpanID}})
	if err != nil || len(back) != 1 || len(back[0].InputMessages) != len(last[len(last)-1].InputMessages) {
		t.Fatalf("GetSpans(last call): got %d spans, %v", len(back), err)
	}
}

// TestRawSpanHistoryGrowsLinearly is TestRepeatedHistoryGrowsLinearly for
// raw_span: spans made by normalize.Normalize from OTLP chat spans whose
// gen_ai.input.messages holds the whole conversation so far (as the OTel
// openai instrumentation and others send it), so that every raw span
// repeats the history. The database must still grow linearly, and every
// raw span must come back byte for byte (Renormalize reads it).
func TestRawSpanHistoryGrowsLinearly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "weave.db")
	st := mustOpen(t, path, Settings{})
	ctx := context.Background()
	const calls = 160
	spans, rawBytes := otelChatConversation(t, "p/raw", calls)
	size := func() int64 { return usedBytes(t, st) }
	base := size()
	var sizes []int64
	for i := 0; i < calls; i += 8 {
		if err := st.WriteSpans(ctx, spans[i:i+8]); err != nil {
			t.Fatal(err)
		}
		if (i+8)%(calls/4) == 0 {
			sizes = append(sizes, size()-base)
		}
	}
	growth := []int64{sizes[0], sizes[1] - sizes[0], sizes[2] - sizes[1], sizes[3] - sizes[2]}
	t.Logf("%d calls: DB grew %d KiB (quarters: %d %d %d %d KiB); raw spans as sent: %d KiB",
		calls, sizes[3]>>10, growth[0]>>10, growth[1]>>10, growth[2]>>10, growth[3]>>10, rawBytes>>10)
	// Quadratic growth would make the last quarter about 7× the first.
	if growth[3] > 2*growth[0] {
		t.Errorf("growth is not linear: last quarter %d KiB, first %d KiB", growth[3]>>10, growth[0]>>10)
	}
	if sizes[3]*4 > rawBytes {
		t.Errorf("DB grew %d KiB for %d KiB of raw spans, want under a quarter", sizes[3]>>10, rawBytes>>10)
	}
	keys := make([]store.SpanKey, len(spans))
	for i, s := range spans {
		keys[i] = store.SpanKey{ProjectID: s.ProjectID, TraceID: s.TraceID, SpanID: s.SpanID}
	}
	got, err := st.GetSpans(ctx, keys)
	if err != nil || len(got) != len(spans) {
		t.Fatalf("GetSpans: got %d spans, %v, want %d", len(got), err, len(spans))
	}
	want := make(map[string][]byte, len(spans))
	for _, s := range spans {
		want[s.SpanID] = s.RawSpan
	}
	for _, s := range got {
		if !bytes.Equal(s.RawSpan, want[s.SpanID]) {
			t.Fatalf("span %s: raw_span differs from the one written (%d bytes, want %d)", s.SpanID, len(s.RawSpan), len(want[s.SpanID]))
		}
	}
	// The stored raw span normalizes again into the same messages.
	last := got[0]
	for _, s := range got {
		if len(s.InputMessages) > len(last.InputMessages) {
			last = s
		}
	}
	again, _, err := normalize.Renormalize(last, nil, normalize.Options{})
	if err != nil {
		t.Fatalf("Renormalize: %v", err)
	}
	if len(again.InputMessages) != len(last.InputMessages) || again.InputMessages[len(again.InputMessages)-1].Text() != last.InputMessages[len(last.InputMessages)-1].Text() {
		t.Errorf("Renormalize: got %d input messages, want the stored %d", len(again.InputMessages), len(last.InputMessages))
	}
}

// otelChatConversation builds calls chat spans of one conversation the way
// the OTel GenAI instrumentations export them (every call's
// gen_ai.input.messages holds the whole history), normalizes them, and
// returns them with the bytes of their raw spans.
// TestRawSpanToolTextsStoredOnce: an execute_tool span's raw span carries
// its tool-call result and arguments as attribute strings; when they are
// long they are stored as the texts the span already has, not again as
// raw-span chunks, and read back byte for byte. A raw string that is the
// text written with other escapes is chunked, and also comes back as
// written.
func TestRawSpanToolTextsStoredOnce(t *testing.T) {
	st := mustOpen(t, filepath.Join(t.TempDir(), "weave.db"), Settings{})
	ctx := context.Background()
	output := strings.Repeat("total 12\n-rw-r--r-- 1 me \"quoted\" ü \\ <b>", 100)
	args := `{"command":"` + strings.Repeat("ls -la ", 300) + `"}`
	chunks := func() (n int) {
		if err := st.r.QueryRow("SELECT count(*) FROM chunks").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	tool := func(id, raw string) model.Span {
		return model.Span{ProjectID: "p/tool", TraceID: "t1", SpanID: id, SpanName: "execute_tool Bash",
			OperationName: "execute_tool", ToolName: "Bash", ToolCallID: "call_" + id,
			ToolCallArguments: args, ToolCallResult: output, StartedAt: time.Unix(1_700_000_000, 0).UTC(),
			RawSpan: json.RawMessage(raw)}
	}
	// As normalize writes strings (no HTML escapes)...
	plain := func(v string) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(b.String())
	}
	same := tool("s1", fmt.Sprintf(`{"name":"execute_tool Bash","attributes":{"gen_ai.tool.call.arguments":%s,"gen_ai.tool.call.result":%s}}`, plain(args), plain(output)))
	// ... and as json.Marshal does, "<" as \u003c: not the bytes
	// encodeJSONString gives back.
	r, _ := json.Marshal(output)
	other := tool("s2", fmt.Sprintf(`{"name":"execute_tool Bash","attributes":{"gen_ai.tool.call.result":%s}}`, r))
	if err := st.WriteSpans(ctx, []model.Span{same}); err != nil {
		t.Fatal(err)
	}
	if n := chunks(); n != 0 {
		t.Errorf("the raw span whose long strings are the span's texts stored %d chunks, want 0", n)
	}
	if err := st.WriteSpans(ctx, []model.Span{other}); err != nil {
		t.Fatal(err)
	}
	if n := chunks(); n == 0 {
		t.Errorf("the raw span with the result escaped otherwise stored no chunks")
	}
	got, err := st.GetSpans(ctx, []store.SpanKey{{ProjectID: "p/tool", TraceID: "t1", SpanID: "s1"}, {ProjectID: "p/tool", TraceID: "t1", SpanID: "s2"}})
	if err != nil || len(got) != 2 {
		t.Fatalf("GetSpans: %d spans, %v", len(got), err)
	}
	want := map[string]json.RawMessage{"s1": same.RawSpan, "s2": other.RawSpan}
	for _, g := range got {
		if !bytes.Equal(g.RawSpan, want[g.SpanID]) {
			t.Errorf("span %s: raw_span differs from the one written (%d bytes, want %d)", g.SpanID, len(g.RawSpan), len(want[g.SpanID]))
		}
	}
}

func otelChatConversation(t *testing.T, project string, calls int) ([]model.Span, int64) {
	t.Helper()
	type part struct {
		Type    string `json:"type"`
		Content string `json:"content"`
	}
	type msg struct {
		Role  string `json:"role"`
		Parts []part `json:"parts"`
	}
	w := storetest.NewWorkload(5, project, time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	var texts []string // message texts from realistic conversations
	for len(texts) < 2*calls {
		for _, s := range w.Next() {
			for _, m := range append(s.InputMessages, s.OutputMessages...) {
				if tx := m.Text(); tx != "" {
					texts = append(texts, tx)
				}
			}
		}
	}
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "support-bot")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("opentelemetry.instrumentation.openai_v2")
	start := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	var hist []msg
	for i := range calls {
		hist = append(hist, msg{Role: "user", Parts: []part{{Type: "text", Content: texts[2*i]}}})
		in, err := json.Marshal(hist)
		if err != nil {
			t.Fatal(err)
		}
		answer := msg{Role: "assistant", Parts: []part{{Type: "text", Content: texts[2*i+1]}}}
		out, _ := json.Marshal([]msg{answer})
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{0x7a, byte(i >> 8), byte(i)})
		sp.SetSpanID(pcommon.SpanID{0x5b, byte(i >> 8), byte(i)})
		sp.SetName("chat gpt-4o")
		sp.SetKind(ptrace.SpanKindClient)
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i) * time.Minute)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(i)*time.Minute + 2*time.Second)))
		a := sp.Attributes()
		a.PutStr("gen_ai.operation.name", "chat")
		a.PutStr("gen_ai.provider.name", "openai")
		a.PutStr("gen_ai.request.model", "gpt-4o")
		a.PutStr("gen_ai.conversation.id", "support-42")
		a.PutStr("gen_ai.input.messages", string(in))
		a.PutStr("gen_ai.output.messages", string(out))
		a.PutInt("gen_ai.usage.input_tokens", int64(100*(i+1)))
		a.PutInt("gen_ai.usage.output_tokens", 50)
		hist = append(hist, answer)
	}
	spans, warns := normalize.Normalize(rs, normalize.Options{DefaultProject: project})
	for _, w := range warns {
		if w.Rejected {
			t.Fatalf("normalize rejected a span: %+v", w)
		}
	}
	if len(spans) != calls {
		t.Fatalf("normalize: got %d spans, want %d", len(spans), calls)
	}
	var raw int64
	for _, s := range spans {
		if len(s.InputMessages) == 0 || len(s.RawSpan) == 0 {
			t.Fatalf("normalized span %s has no input messages or raw span", s.SpanID)
		}
		raw += int64(len(s.RawSpan))
	}
	return spans, raw
}

// FuzzSearch runs arbitrary queries against a small store: every query is
// answered or rejected as ErrInvalid, never a database error.
func FuzzSearch(f *testing.F) {
	for _, q := range []string{"payment processor", `"read file"`, "NOT x", "hand*", "col:x", `"unterminated`, "(a OR b)", "^x", "NEAR(a b, 3)", "\x00", "💥"} {
		f.Add(q)
	}
	st, err := Open(context.Background(), filepath.Join(f.TempDir(), "weave.db"), Settings{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	turns := storetest.BuildConversation(storetest.ConversationSpec{ProjectID: "p", ConversationID: "c",
		Start: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), Turns: 3, CallsPerTurn: 3, FullHistory: true})
	if err := st.WriteSpans(context.Background(), storetest.Flatten(turns)); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		for _, req := range []store.SearchQuery{
			{ProjectID: "p", Query: q, Limit: 5},
			{ProjectID: "p", Query: q, Roles: []string{q, "user"}, ConversationID: "c"},
		} {
			if _, err := st.SearchMessages(context.Background(), req); err != nil && !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("SearchMessages(%q): %v", q, err)
			}
		}
		if _, err := st.QueryConversations(context.Background(), store.ConversationQuery{ProjectID: "p", Search: q}); err != nil && !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("QueryConversations(search %q): %v", q, err)
		}
	})
}

// FuzzFilters runs arbitrary filter fields, ops and values: every query is
// answered or rejected as ErrInvalid.
func FuzzFilters(f *testing.F) {
	f.Add("custom_attrs_string.weave.claude_code.cwd", "eq", "/home/dev/project", int64(3))
	f.Add("input_tokens", "gt", "x", int64(10))
	f.Add(`custom_attrs_int.a"b`, "in", "", int64(-1))
	f.Add("resource_attrs.service.name", "contains", "claude", int64(0))
	f.Add("started_at", "gte", "2026-05-01T09:00:00Z", int64(0))
	st, err := Open(context.Background(), filepath.Join(f.TempDir(), "weave.db"), Settings{})
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	turn := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "p", ConversationID: "c", Turn: 1,
		Start: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), Prompt: "hi", Calls: 2})
	if err := st.WriteSpans(context.Background(), turn.Spans); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, field, op, s string, n int64) {
		for _, v := range []any{s, n, float64(n) / 3, []any{s, n}, nil, true} {
			q := store.SpanQuery{ProjectID: "p", Filters: []store.Filter{{Field: field, Op: op, Value: v}},
				Sort: []store.Sort{{Field: field, Direction: op}}}
			if _, _, err := st.QuerySpans(context.Background(), q); err != nil && !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("QuerySpans(%s %s %v): %v", field, op, v, err)
			}
		}
	})
}

func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "weave-example-")
	defer os.RemoveAll(dir)
	st, err := Open(context.Background(), filepath.Join(dir, "weave.db"), Settings{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	turn := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "acme/agents", ConversationID: "session-1", Turn: 1,
		Start: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), Prompt: "Fix the failing test", Calls: 2})
	if err := st.WriteSpans(context.Background(), turn.Spans); err != nil {
		fmt.Println(err)
		return
	}
	page, _ := st.QueryConversations(context.Background(), store.ConversationQuery{ProjectID: "acme/agents"})
	c := page.Conversations[0]
	fmt.Println(c.ConversationID, c.TurnCount, c.FirstPrompt, c.AgentNames)
	// Output: session-1 1 Fix the failing test [claude-code]
}

// TestDeleteBeforeFreesEverything checks that deleting every span leaves
// no rollup, search group, index document or content behind.
func TestDeleteBeforeFreesEverything(t *testing.T) {
	st := mustOpen(t, filepath.Join(t.TempDir(), "weave.db"), Settings{})
	ctx := context.Background()
	turns := storetest.BuildConversation(storetest.ConversationSpec{ProjectID: "p", ConversationID: "c",
		Start: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), Turns: 24, CallsPerTurn: 4, Subagent: true, FullHistory: true,
		SystemPrompt: storetest.SystemPrompt()})
	if err := st.WriteSpans(ctx, storetest.Flatten(turns)); err != nil {
		t.Fatal(err)
	}
	count := func(table string) int64 {
		db := st.w
		if strings.HasPrefix(table, "search.") { // the search file
			if err := st.syncSearch(ctx); err != nil {
				t.Fatal(err)
			}
			db, table = st.ix.db, strings.TrimPrefix(table, "search.")
		}
		var n int64
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		return n
	}
	if count("pages") == 0 || count("search.groups_fts_docsize") == 0 {
		t.Fatal("test data: no history pages or search documents")
	}
	n, err := st.DeleteBefore(ctx, store.MaxTime)
	if err != nil || n != int64(len(storetest.Flatten(turns))) {
		t.Fatalf("DeleteBefore: got %d, %v, want %d", n, err, len(storetest.Flatten(turns)))
	}
	for _, table := range []string{"spans", "texts", "pages", "attrsets", "resources", "search.msg_groups", "search.groups_fts_docsize",
		"conversations", "conv_traces", "conv_agents", "conv_models", "agent_versions", "agent_minutes", "agent_hours", "search_log"} {
		if n := count(table); n != 0 {
			t.Errorf("%s after deleting everything: got %d rows, want 0", table, n)
		}
	}
	// Writing the same spans again works (no stale cached content ids).
	if err := st.WriteSpans(ctx, storetest.Flatten(turns)); err != nil {
		t.Fatal(err)
	}
	got, err := st.ConversationSpans(ctx, "p", "c", store.TimeRange{})
	if err != nil || len(got) != len(storetest.Flatten(turns)) {
		t.Fatalf("after re-writing: got %d spans, %v, want %d", len(got), err, len(storetest.Flatten(turns)))
	}
	longest := 0
	for _, s := range got {
		longest = max(longest, len(s.InputMessages))
	}
	if longest <= pageSize || count("pages") == 0 {
		t.Errorf("after re-writing: longest input %d messages, %d pages; want history pages back", longest, count("pages"))
	}
}

// TestDeleteFreesContent checks that deleting conversations frees the
// content only they used, by the collection Delete starts, keeps what the
// rest still uses, and leaves the store writable.
func TestDeleteFreesContent(t *testing.T) {
	st := mustOpen(t, filepath.Join(t.TempDir(), "weave.db"), Settings{})
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	var gone, kept []model.Span
	for i, id := range []string{"gone", "kept"} {
		turns := storetest.BuildConversation(storetest.ConversationSpec{ProjectID: "p", ConversationID: id, Start: t0.Add(time.Duration(i) * time.Hour),
			Turns: 6, CallsPerTurn: 3, Subagent: true, FullHistory: true, SystemPrompt: storetest.SystemPrompt()})
		spans := storetest.Flatten(turns)
		spans[1].OutputMessages = []model.Message{{Role: "assistant", Parts: []model.Part{{Type: model.PartText, Content: "only in " + id + " zyxwv"}}}}
		if err := st.WriteSpans(ctx, spans); err != nil {
			t.Fatal(err)
		}
		if id == "gone" {
			gone = spans
		} else {
			kept = spans
		}
	}
	texts := func(like string) int64 {
		var n int64
		if err := st.w.QueryRow("SELECT COUNT(*) FROM texts WHERE body LIKE ?", like).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := st.gcRuns.Load()
	d, err := st.Delete(ctx, store.Deletion{ProjectID: "p", ConversationIDs: []string{"gone"}})
	if err != nil || d.Spans != int64(len(gone)) {
		t.Fatalf("Delete: got %+v, %v; want %d spans", d, err, len(gone))
	}
	for st.gcRuns.Load() == before {
		runtime.Gosched()
	}
	st.gcDone.Wait()
	if n := texts("only in gone%"); n != 0 {
		t.Errorf("the deleted conversation's own text: %d left, want 0", n)
	}
	if n := texts("only in kept%"); n != 1 {
		t.Errorf("the other conversation's text: %d left, want 1", n)
	}
	if n := texts(storetest.SystemPrompt()); n != 1 {
		t.Errorf("the system prompt both used: %d left, want 1", n)
	}
	got, err := st.ConversationSpans(ctx, "p", "kept", store.TimeRange{})
	if err != nil || len(got) != len(kept) {
		t.Fatalf("the kept conversation: got %d spans, %v; want %d", len(got), err, len(kept))
	}
	// Writing the deleted spans again works (no stale cached content ids).
	if err := st.WriteSpans(ctx, gone); err != nil {
		t.Fatal(err)
	}
	again, err := st.ConversationSpans(ctx, "p", "gone", store.TimeRange{})
	if err != nil || len(again) != len(gone) || texts("only in gone%") != 1 {
		t.Errorf("written again: got %d spans, %v; want %d and the text back", len(again), err, len(gone))
	}
}
