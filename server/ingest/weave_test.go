package ingest

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/spanid"
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
		TraceID: spanid.TraceID{1, 2, 3}, SpanID: spanid.SpanID{1}, Name: "invoke_agent claude-code", Kind: spans.KindInternal,
		Start: base, // still running: no end time
		Attributes: map[string]any{
			semconv.KeyOperationName: semconv.OpInvokeAgent, semconv.KeyAgentName: "claude-code", semconv.KeyConversationID: "conv-1",
			semconv.KeyInputMessages: `[{"role":"user","parts":[{"type":"text","content":"Fix the build"}]}]`,
			semconv.KeySessionID:     "conv-1", semconv.KeyTurnNumber: int64(2), semconv.KeyCwd: "/src/app",
			semconv.KeyTurnFailed: false, semconv.KeyRedactions: []string{"api_key", "token"},
		},
	}
	chat := spans.Span{
		TraceID: spanid.TraceID{1, 2, 3}, SpanID: spanid.SpanID{2}, ParentSpanID: spanid.SpanID{1}, Name: "chat claude-opus-4-1",
		Kind: spans.KindClient, Start: base.Add(time.Second), End: base.Add(3 * time.Second), StatusCode: spans.StatusOK,
		Attributes: map[string]any{
			semconv.KeyOperationName: semconv.OpChat, semconv.KeyProviderName: "anthropic", semconv.KeyRequestModel: "claude-opus-4-1",
			semconv.KeyInputTokens: int64(1210), semconv.KeyOutputTokens: int64(40), semconv.KeyCacheReadTokens: int64(1000),
			semconv.KeyCacheCreateTokens: int64(200), semconv.KeyCacheWriteTokens: int64(200), semconv.KeyFinishReasons: []string{"end_turn"},
			semconv.KeyOutputMessages: `[{"role":"assistant","parts":[{"type":"text","content":"Done."}],"finish_reason":"stop"}]`,
		},
	}
	compaction := spans.Span{
		TraceID: spanid.TraceID{1, 2, 3}, SpanID: spanid.SpanID{3}, ParentSpanID: spanid.SpanID{1}, Name: "compaction",
		Kind: spans.KindInternal, Start: base.Add(4 * time.Second), End: base.Add(5 * time.Second),
		Attributes: map[string]any{
			semconv.KeyCompactionSummary: "Earlier work summarized.", semconv.KeyCompactionItemsBefore: int64(80),
			semconv.KeyCompactionItemsAfter: int64(3), semconv.KeyCompactionTrigger: "manual",
		},
		Events: []spans.Event{{Name: semconv.EventCompaction, Time: base.Add(4 * time.Second), Attributes: map[string]any{semconv.KeyCompactionPreTokens: int64(150000)}}},
	}
	target := export.Target{Endpoint: srv.URL, Project: "acme/agents", ServiceVersion: "test"}
	ctx := context.Background()
	exp, err := export.NewClient(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportSpans(ctx, []spans.Span{root, chat, compaction}); err != nil {
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
		{"session custom", r.CustomAttrsString[semconv.KeySessionID], "conv-1"},
		{"turn custom", r.CustomAttrsInt[semconv.KeyTurnNumber], int64(2)},
		{"failed custom", r.CustomAttrsBool[semconv.KeyTurnFailed], false},
		{"redactions custom", r.CustomAttrsString[semconv.KeyRedactions], `["api_key","token"]`},
		{"chat provider", c.ProviderName, "anthropic"},
		{"chat input tokens (already inclusive)", *c.InputTokens, int64(1210)},
		{"chat cache creation", *c.CacheCreationInputTokens, int64(200)},
		{"chat finish", c.FinishReasons[0], "stop"},
		{"chat output", firstText(c.OutputMessages), "Done."},
		{"chat parent", c.ParentSpanID, "0100000000000000"},
		{"compaction summary", k.CompactionSummary, "Earlier work summarized."},
		{"compaction before", k.CompactionItemsBefore, int64(80)},
		{"compaction after", k.CompactionItemsAfter, int64(3)},
		{"compaction trigger custom", k.CustomAttrsString[semconv.KeyCompactionTrigger], "manual"},
		{"compaction event", len(k.Events), 1},
		{"scope", k.CustomAttrsString["otel.scope.name"], "github.com/weavetrace/weave/spans"},
		{"resource", r.ResourceAttrs["service.name"], export.ServiceName},
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
