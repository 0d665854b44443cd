package clickhouse

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/storetest"
)

// TestPruneLeavesNoOccurrencesLive: the occurrence rows of what a
// deletion through the API (of conversations, of traces) took away go
// with it, tombstones included: a tombstone left behind marks its
// conversation as touched for every later search of the conversations
// page, which past touchedMax of them gives up its fast path. The
// conversations that remain are still found by a search.
func TestPruneLeavesNoOccurrencesLive(t *testing.T) {
	ctx := context.Background()
	s := openLive(t)
	for i, conv := range []string{"old", "kept"} {
		start := storetest.T0.Add(time.Duration(i) * 48 * time.Hour)
		for turn := 1; turn <= 2; turn++ {
			built := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "p", ConversationID: conv, Turn: turn,
				Start: start.Add(time.Duration(turn) * time.Hour), Prompt: "deploy the billing service " + conv, Calls: 2})
			if err := s.WriteSpans(ctx, built.Spans); err != nil {
				t.Fatal(err)
			}
		}
	}
	rowsOf := func(where string) uint64 {
		t.Helper()
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.l.table("message_occurrences")+" WHERE project_id = 'p' AND "+where).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := rowsOf("conv_key = 'old'"); n == 0 {
		t.Fatal("no occurrence rows of the first conversation before the deletion")
	}
	if _, err := s.Delete(ctx, store.Deletion{ProjectID: "p", ConversationIDs: []string{"old"}}); err != nil {
		t.Fatal(err)
	}
	if n := rowsOf("conv_key = 'old'"); n != 0 {
		t.Errorf("after a delete of the conversation: %d occurrence rows (tombstones included) of the deleted conversation, want none", n)
	}
	if n := rowsOf("is_deleted = 1"); n != 0 {
		t.Errorf("after a delete of the conversation: %d tombstones in message_occurrences, want none", n)
	}
	var convRows uint64
	if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+s.l.table("conv_traces")+" WHERE project_id = 'p' AND (conv_key = 'old' OR is_deleted = 1)").Scan(&convRows); err != nil {
		t.Fatal(err)
	}
	if convRows != 0 {
		t.Errorf("after a delete of the conversation: %d rows of conv_traces of the deleted conversation or tombstones, want none", convRows)
	}
	page, err := s.QueryConversations(ctx, store.ConversationQuery{ProjectID: "p", Search: "billing"})
	if err != nil || len(page.Conversations) != 1 || page.Conversations[0].ConversationID != "kept" {
		t.Errorf("conversations matching billing after the deletion: %+v, %v; want the kept one", page.Conversations, err)
	}
	// A delete by trace (the API's) leaves none either.
	built := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "p", ConversationID: "kept", Turn: 3,
		Start: storetest.T0.Add(60 * time.Hour), Prompt: "zanzibarquux the billing service", Calls: 1})
	if err := s.WriteSpans(ctx, built.Spans); err != nil {
		t.Fatal(err)
	}
	// Another server's row of one of its keys, at a version past the
	// deletion's, is not the deletion's to take.
	trace := built.Spans[0].TraceID
	var d, c, r string
	if err := s.conn.QueryRow(ctx, "SELECT digest, conv_key, role FROM "+s.l.table("message_occurrences")+" WHERE trace_id = {t:String} LIMIT 1",
		named("t", trace)).Scan(&d, &c, &r); err != nil {
		t.Fatal(err)
	}
	later := []any{"p", d, c, r, trace, "0000000000000001", "", "chat", storetest.T0.Add(60 * time.Hour), uint64(1) << 62, uint8(0)}
	if err := s.insert(ctx, "message_occurrences", occurrenceCols, [][]any{later}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, store.Deletion{ProjectID: "p", TraceIDs: []string{trace}}); err != nil {
		t.Fatal(err)
	}
	if n := rowsOf("trace_id = '" + trace + "'"); n != 1 {
		t.Errorf("after a delete by trace: %d occurrence rows of the trace, want only the one written at a later version", n)
	}
	if err := s.deleteRows(ctx, "message_occurrences", "version = {v:UInt64}", named("v", uint64(1)<<62)); err != nil {
		t.Fatal(err)
	}
	hits, err := s.SearchMessages(ctx, store.SearchQuery{ProjectID: "p", Query: "zanzibarquux"})
	if err != nil || len(hits) != 0 {
		t.Errorf("SearchMessages(zanzibarquux) after its trace was deleted: %+v, %v; want none", hits, err)
	}
	if hits, err := s.SearchMessages(ctx, store.SearchQuery{ProjectID: "p", Query: "billing"}); err != nil || len(hits) == 0 {
		t.Errorf("SearchMessages(billing) after the deletions: %d hits, %v; want the kept conversation's", len(hits), err)
	}
}

// TestConvTraceTombstoneTTLLive: the row that takes a trace out of a
// conversation expires with the row it shadows, not at once: it carried
// no time (1970), so under any retention the first TTL merge of its part
// dropped it and the trace came back into the conversation it left (a
// delete of that conversation then failed on it).
func TestConvTraceTombstoneTTLLive(t *testing.T) {
	ctx := context.Background()
	s := openLiveWith(t, func(c *Config) { c.RetentionDays = 3650 }, Settings{})
	start := time.Now().UTC().Add(-time.Hour)
	built := storetest.BuildTurn(storetest.TurnSpec{ProjectID: "p", ConversationID: "a", Turn: 1, Start: start, Prompt: "hello", Calls: 1})
	if err := s.WriteSpans(ctx, built.Spans); err != nil {
		t.Fatal(err)
	}
	moved := slices.Clone(built.Spans)
	for i := range moved {
		moved[i].ConversationID = "b"
	}
	if err := s.WriteSpans(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if err := s.conn.Exec(ctx, "ALTER TABLE "+s.l.local("conv_traces")+" MATERIALIZE TTL SETTINGS mutations_sync = 2"); err != nil {
		t.Fatal(err)
	}
	page, err := s.QueryConversations(ctx, store.ConversationQuery{ProjectID: "p", Sort: []store.Sort{{Field: "span_count", Direction: "asc"}}})
	var got []string
	for _, c := range page.Conversations {
		got = append(got, c.ConversationID)
	}
	if err != nil || !slices.Equal(got, []string{"b"}) {
		t.Errorf("conversations after the trace moved and the TTL applied: %v, %v; want [b]", got, err)
	}
	if d, err := s.Delete(ctx, store.Deletion{ProjectID: "p", ConversationIDs: []string{"a"}}); err != nil || d.Spans != 0 {
		t.Errorf("Delete(conversation a, which has no spans): %+v, %v; want nothing deleted", d, err)
	}
}
