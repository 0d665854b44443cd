package sqlite

import (
	"context"
	"maps"
	"math/bits"
	"path/filepath"
	"strconv"
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

// TestMarkerDetails checks that the mark's walk over details blobs and
// pages finds exactly the references decodeDetails and decodePage give,
// on the benchmark workload (raw spans included), and that truncated
// blobs are errors, not panics.
func TestMarkerDetails(t *testing.T) {
	st := mustOpen(t, filepath.Join(t.TempDir(), "weave.db"), Settings{})
	ctx := context.Background()
	w := storetest.NewWorkload(7, "p", time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	w.RawSpans = true
	for range 20 {
		if err := st.WriteSpans(ctx, w.Next()); err != nil {
			t.Fatal(err)
		}
	}
	fresh := func(max int64) *marker {
		m := &marker{newPages: map[[2]int64]bool{}, msgPages: newGCSet(max), chunkPages: newGCSet(max)}
		for i := range m.live {
			m.live[i] = newGCSet(max)
		}
		return m
	}
	rows, err := st.r.Query("SELECT details FROM spans")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	spans, chunked, fielded := 0, 0, 0
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		spans++
		x, err := decodeDetails(b)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{}
		add := func(kind string, ids ...int64) {
			for _, id := range ids {
				if id != 0 {
					want[kind+strconv.FormatInt(id, 10)] = true
				}
			}
		}
		add("page0:", x.inPages...)
		for _, list := range [][]shape{x.inTail, x.out} {
			for _, sh := range list {
				for _, p := range sh.parts {
					ids := p.ids()
					add("text:", ids[:]...)
				}
			}
		}
		add("text:", x.sys...)
		add("text:", x.args, x.result)
		if x.rawForm != nil {
			chunked++
			if x.rawForm.hasField() {
				fielded++
			}
			pages, chunks := x.rawForm.refs()
			add("page1:", pages...)
			add("chunk:", chunks...)
		}
		m := fresh(1 << 16)
		got := map[string]bool{}
		if err := m.details(b); err != nil {
			t.Fatal(err)
		}
		for kind, set := range map[string]*gcSet{"text:": &m.live[gcTexts], "chunk:": &m.live[gcChunks], "page0:": &m.msgPages, "page1:": &m.chunkPages} {
			for w, bits := range set.bits {
				for ; bits != 0; bits &= bits - 1 {
					got[kind+strconv.Itoa(w*64+bits0(bits))] = true
				}
			}
		}
		if !maps.Equal(got, want) {
			t.Fatalf("span details: the mark found %v, decodeDetails %v", got, want)
		}
		for cut := 0; cut < len(b); cut += 1 + len(b)/40 {
			if err := fresh(0).details(b[:cut]); err == nil {
				t.Fatalf("details cut to %d of %d bytes: no error", cut, len(b))
			}
		}
	}
	if spans == 0 || chunked == 0 || fielded == 0 {
		t.Fatalf("%d spans, %d with chunked raw spans, %d whose raw span names their tool-call texts: the workload should have all three", spans, chunked, fielded)
	}
}

// bits0 is the index of the lowest set bit.
func bits0(v uint64) int { return bits.TrailingZeros64(v) }
