package ingest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/spans"
)

// TestWeaveAgentdRoundTrip exports weave-agentd's spans through its real
// OTLP exporter (package spans) to the handler and checks that every
// attribute landed in a column or a custom map.
func TestWeaveAgentdRoundTrip(t *testing.T) {
	w := newMemWriter()
	srv := httptest.NewServer(mux(mustHandler(t, w)))
	defer srv.Close()

	base := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	root := spans.Span{
		TraceID: spans.TraceID{1, 2, 3}, SpanID: spans.SpanID{1}, Name: "invoke_agent claude-code", Kind: spans.KindInternal,
		Start: base, // still running: no end time
		Attributes: map[string]any{
			spans.KeyOperationName: spans.OpInvokeAgent, spans.KeyAgentName: "claude-code", spans.KeyConversationID: "conv-1",
			spans.KeyInputMessages: `[{"role":"user","parts":[{"type":"text","content":"Fix the build"}]}]`,
			spans.KeySessionID:     "conv-1", spans.KeyTurnNumber: int64(2), spans.KeyCwd: "/src/app",
			spans.KeyTurnFailed: false, spans.KeyRedactions: []string{"api_key", "token"},
		},
	}
	chat := spans.Span{
		TraceID: spans.TraceID{1, 2, 3}, SpanID: spans.SpanID{2}, ParentSpanID: spans.SpanID{1}, Name: "chat claude-opus-4-1",
		Kind: spans.KindClient, Start: base.Add(time.Second), End: base.Add(3 * time.Second), StatusCode: spans.StatusOK,
		Attributes: map[string]any{
			spans.KeyOperationName: spans.OpChat, spans.KeyProviderName: "anthropic", spans.KeyRequestModel: "claude-opus-4-1",
			spans.KeyInputTokens: int64(1210), spans.KeyOutputTokens: int64(40), spans.KeyCacheReadTokens: int64(1000),
			spans.KeyCacheCreateTokens: int64(200), spans.KeyCacheWriteTokens: int64(200), spans.KeyFinishReasons: []string{"end_turn"},
			spans.KeyOutputMessages: `[{"role":"assistant","parts":[{"type":"text","content":"Done."}],"finish_reason":"stop"}]`,
		},
	}
	compaction := spans.Span{
		TraceID: spans.TraceID{1, 2, 3}, SpanID: spans.SpanID{3}, ParentSpanID: spans.SpanID{1}, Name: "compaction",
		Kind: spans.KindInternal, Start: base.Add(4 * time.Second), End: base.Add(5 * time.Second),
		Attributes: map[string]any{
			spans.KeyCompactionSummary: "Earlier work summarized.", spans.KeyCompactionItemsBefore: int64(80),
			spans.KeyCompactionItemsAfter: int64(3), spans.KeyCompactionTrigger: "manual",
		},
		Events: []spans.Event{{Name: spans.EventCompaction, Time: base.Add(4 * time.Second), Attributes: map[string]any{spans.KeyCompactionPreTokens: int64(150000)}}},
	}
	target := spans.Target{Endpoint: srv.URL, Project: "acme/agents", ServiceVersion: "test"}
	ctx := context.Background()
	exp, err := spans.NewExporter(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportSpans(ctx, spans.ReadOnly(target.Resource(), []spans.Span{root, chat, compaction})); err != nil {
		t.Fatalf("ExportSpans: %v", err)
	}
	if err := exp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	srv.CloseClientConnections()

	got := map[string]model.Span{}
	for _, s := range w.all() {
		got[s.SpanID] = s
	}
	r, c, k := got["0100000000000000"], got["0200000000000000"], got["0300000000000000"]
	checks := []struct {
		name      string
		got, want any
	}{
		{"project", r.ProjectID, "acme/agents"},
		{"root running", r.IsRunning(), true},
		{"root op", r.OperationName, model.OpInvokeAgent},
		{"agent", r.AgentName, "claude-code"},
		{"conversation", r.ConversationID, "conv-1"},
		{"user text", firstText(r.InputMessages), "Fix the build"},
		{"session custom", r.CustomAttrsString[spans.KeySessionID], "conv-1"},
		{"turn custom", r.CustomAttrsInt[spans.KeyTurnNumber], int64(2)},
		{"failed custom", r.CustomAttrsBool[spans.KeyTurnFailed], false},
		{"redactions custom", r.CustomAttrsString[spans.KeyRedactions], `["api_key","token"]`},
		{"chat provider", c.ProviderName, "anthropic"},
		{"chat input tokens (already inclusive)", *c.InputTokens, int64(1210)},
		{"chat cache creation", *c.CacheCreationInputTokens, int64(200)},
		{"chat finish", c.FinishReasons[0], "stop"},
		{"chat output", firstText(c.OutputMessages), "Done."},
		{"chat parent", c.ParentSpanID, "0100000000000000"},
		{"compaction summary", k.CompactionSummary, "Earlier work summarized."},
		{"compaction before", k.CompactionItemsBefore, int64(80)},
		{"compaction after", k.CompactionItemsAfter, int64(3)},
		{"compaction trigger custom", k.CustomAttrsString[spans.KeyCompactionTrigger], "manual"},
		{"compaction event", len(k.Events), 1},
		{"scope", k.CustomAttrsString["otel.scope.name"], "github.com/weavetrace/weave/spans"},
		{"resource", r.ResourceAttrs["service.name"], spans.ServiceName},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %#v, want %#v", ch.name, ch.got, ch.want)
		}
	}
	if len(w.all()) != 3 {
		t.Errorf("stored %d spans, want 3", len(w.all()))
	}
}

func firstText(msgs []model.Message) string {
	if len(msgs) == 0 {
		return ""
	}
	return msgs[0].Text()
}
