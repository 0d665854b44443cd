package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

// TestCollectKeepsContentWrittenDuringMark writes, while a collection is
// between its mark and its sweep, the spans whose deletion made their
// content dead (texts, history pages, raw-span chunks and chunk pages,
// attribute sets, resources: every one already stored, so the write
// only refers to the rows, through the writer's cache or their digests).
// The sweep must leave all of it: the spans read back whole.
func TestCollectKeepsContentWrittenDuringMark(t *testing.T) {
	st := mustOpen(t, filepath.Join(t.TempDir(), "weave.db"), Settings{})
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	spans := storetest.Flatten(storetest.BuildConversation(storetest.ConversationSpec{ProjectID: "p", ConversationID: "c", Start: t0,
		Turns: 4, CallsPerTurn: 3, Subagent: true, FullHistory: true, SystemPrompt: "only here: a long system prompt"}))
	spans[1].OutputMessages = []model.Message{{Role: "assistant", Parts: []model.Part{{Type: model.PartText, Content: "only in c zyxwv"}}}}
	for i := range spans {
		spans[i].CustomAttrsString = map[string]string{"only.here": "attrs of c"}
		spans[i].ResourceAttrs = map[string]any{"service.name": "only c"}
		spans[i].RawSpan = storetest.RawSpan(&spans[i])
	}
	if err := st.WriteSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}
	want, err := st.ConversationSpans(ctx, "p", "c", store.TimeRange{})
	if err != nil {
		t.Fatal(err)
	}
	var rewrite error
	gcAfterMark = func() { rewrite, gcAfterMark = st.WriteSpans(ctx, spans), nil }
	t.Cleanup(func() { gcAfterMark = nil })
	n, err := st.DeleteBefore(ctx, t0.Add(24*time.Hour))
	if err != nil || n != int64(len(spans)) || rewrite != nil {
		t.Fatalf("DeleteBefore: %d spans, %v (written again during the collection: %v); want %d", n, err, rewrite, len(spans))
	}
	got, err := st.ConversationSpans(ctx, "p", "c", store.TimeRange{})
	if err != nil {
		t.Fatalf("the spans written during the collection: %v", err)
	}
	if g, w := mustJSON(got), mustJSON(want); g != w {
		t.Errorf("the spans written during the collection read back as\n%s\nwant\n%s", g, w)
	}
	var triggers int
	if err := st.w.QueryRow("SELECT COUNT(*) FROM temp.sqlite_master").Scan(&triggers); err != nil || triggers != 0 {
		t.Errorf("after the collection the writer's connection has %d temporary objects (%v), want none", triggers, err)
	}
	// A collection with nothing written meanwhile frees all of it.
	if _, err := st.DeleteBefore(ctx, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, table := range gcTables {
		var left int
		if err := st.w.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&left); err != nil || left != 0 {
			t.Errorf("%s: %d rows left, %v; want none", table, left, err)
		}
	}
}
