package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// T0 is the base time of the suite's data.
var T0 = time.Date(2026, 5, 4, 9, 30, 0, 123456789, time.UTC)

const (
	projA = "acme/agents"
	projB = "acme/other"
)

// fullSpan sets every field of model.Span, with every message part type.
func fullSpan(project string) model.Span {
	traceID := TraceID("full", project)
	return model.Span{
		ProjectID: project, TraceID: traceID, SpanID: SpanID("full-chat"), ParentSpanID: SpanID("full-parent"),
		SpanName: "chat gpt-5", SpanKind: model.KindClient,
		StartedAt: T0, EndedAt: T0.Add(1500 * time.Millisecond),
		StatusCode: model.StatusError, StatusMessage: "rate limited, retried",
		OperationName: model.OpChat, ProviderName: "openai", AgentName: "planner", AgentID: "agent-7",
		AgentVersion: "3.1", ConversationID: "conv-full", RequestModel: "gpt-5", ResponseModel: "gpt-5-2026-01",
		ResponseID: "chatcmpl-1", InputTokens: i64(1200), OutputTokens: i64(0), CacheReadInputTokens: i64(800),
		CacheCreationInputTokens: i64(0), ReasoningTokens: i64(64), TotalTokens: i64(1200),
		CacheCreation5mInputTokens: i64(0), CacheCreation1hInputTokens: i64(0),
		CostUSD: model.CostPtr(1_234_567), CostSource: model.CostReported,
		ModelParameters: map[string]any{"temperature": 0.7, "max_tokens": int64(256), "stop": []any{"\n\n"}, "response_format": map[string]any{"type": "json_object"}},
		FinishReasons:   []string{"tool_calls", "stop"},
		InputMessages: []model.Message{
			{Role: "system", Parts: []model.Part{{Type: model.PartText, Content: "Be brief."}}},
			{Role: "user", Name: "dana", Parts: []model.Part{
				{Type: model.PartText, Content: "What is in this picture? Ünïcödé ✓ and\nnew lines"},
				{Type: model.PartBlob, MimeType: "image/png", Modality: "image", Content: "iVBORw0KGgo="},
				{Type: model.PartFile, FileID: "file-123", MimeType: "application/pdf", Modality: "document"},
				{Type: model.PartURI, URI: "https://example.com/a.png", Modality: "image"},
			}},
			{Role: "assistant", Parts: []model.Part{
				{Type: model.PartReasoning, Content: "The user wants a description."},
				{Type: model.PartToolCall, ID: "call_1", Name: "lookup", Arguments: json.RawMessage(`{"q":"cat","n":3}`)},
			}},
			{Role: "tool", Parts: []model.Part{{Type: model.PartToolCallResponse, ID: "call_1", Response: json.RawMessage(`"a cat on a mat"`)}}},
			{Role: "user", Parts: nil},
		},
		OutputMessages: []model.Message{{Role: "assistant", FinishReason: "stop", Parts: []model.Part{
			{Type: model.PartText, Content: "A cat sitting on a mat."},
			{Type: model.PartServerToolCall, ID: "srv_1", Name: "web_search", Arguments: json.RawMessage(`{"query":"cats"}`)},
			{Type: model.PartServerToolCallResponse, ID: "srv_1", Response: json.RawMessage(`{"results":[]}`)},
		}}},
		SystemInstructions: []string{"You are a vision assistant.", "", "Answer in English."},
		ToolName:           "lookup", ToolType: "function", ToolCallID: "call_1",
		ToolCallArguments: `{"q":"cat"}`, ToolCallResult: "plain text result",
		ErrorType:         "RateLimitError",
		CompactionSummary: "Earlier: the user uploaded two images.", CompactionItemsBefore: 42, CompactionItemsAfter: 3,
		ThreadID: "thread-9", IsTurn: true, DisplayName: "Describe the picture", WBRunID: "abc123", WBRunStep: i64(0),
		CustomAttrsString: map[string]string{"weave.claude_code.cwd": "/work", "with space": "x y", `quote"key`: "q"},
		CustomAttrsInt:    map[string]int64{"retries": 2, "big": 1 << 60},
		CustomAttrsFloat:  map[string]float64{"temperature": 0.7, "tiny": 1e-9},
		CustomAttrsBool:   map[string]bool{"stream": true, "cached": false},
		ResourceAttrs:     map[string]any{"service.name": "vision-svc", "host.cores": int64(8), "tags": []any{"a", "b"}, "nested": map[string]any{"k": true}},
		Events: []model.Event{
			{Name: "gen_ai.choice", Time: T0.Add(time.Second), Attributes: map[string]any{"index": int64(0), "finish_reason": "stop"}},
			{Name: "exception", Time: T0.Add(1200 * time.Millisecond).In(time.FixedZone("CET", 3600))},
		},
		RawSpan: json.RawMessage(`{"traceId":"` + traceID + `","name":"chat gpt-5","attributes":[{"key":"x","value":{"intValue":"1"}}]}`),
	}
}

func testRoundTrip(h *harness) {
	full := fullSpan(projA)
	turns := BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "conv-rt", Start: T0, Turns: 2,
		CallsPerTurn: 3, Subagent: true, SystemPrompt: SystemPrompt(), FullHistory: true})
	spans := append(Flatten(turns), full)
	h.write(spans...)

	got := h.get(keysOf(spans)...)
	sortSpans(got)
	want := append([]model.Span(nil), spans...)
	sortSpans(want)
	h.equalSpans("GetSpans", got, want)

	// TraceSpans: every span of the trace, with details, by started_at then span_id.
	for _, turn := range turns {
		want := append([]model.Span(nil), turn.Spans...)
		sort.SliceStable(want, func(i, j int) bool {
			if !want[i].StartedAt.Equal(want[j].StartedAt) {
				return want[i].StartedAt.Before(want[j].StartedAt)
			}
			return want[i].SpanID < want[j].SpanID
		})
		h.equalSpans("TraceSpans", h.trace(projA, turn.TraceID), want)
	}
	h.equalSpans("TraceSpans(full)", h.trace(projA, full.TraceID), []model.Span{full})
}

func testGetSpans(h *harness) {
	turn := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "c", Turn: 1, Start: T0, Prompt: "hello", Calls: 2})
	h.write(turn.Spans...)
	missing := store.SpanKey{ProjectID: projA, TraceID: turn.TraceID, SpanID: "0000000000000000"}
	other := store.SpanKey{ProjectID: projB, TraceID: turn.TraceID, SpanID: turn.Root.SpanID}
	got := h.get(keyOf(turn.Root), missing, other, keyOf(turn.Root))
	h.equalSpans("GetSpans(root, missing, other project, root again)", got, []model.Span{*turn.Root})
	if got := h.get(); len(got) != 0 {
		h.t.Errorf("GetSpans(): got %d spans, want 0", len(got))
	}
}

func testInvalidSpans(h *harness) {
	good := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "c", Turn: 1, Start: T0, Prompt: "hello", Calls: 1})
	cases := []struct {
		name string
		mod  func(*model.Span)
	}{
		{"empty project", func(s *model.Span) { s.ProjectID = "" }},
		{"empty trace", func(s *model.Span) { s.TraceID = "" }},
		{"empty span", func(s *model.Span) { s.SpanID = "" }},
		{"zero start", func(s *model.Span) { s.StartedAt = time.Time{} }},
		{"start out of range", func(s *model.Span) { s.StartedAt = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"negative tokens", func(s *model.Span) { s.OutputTokens = i64(-1) }},
		{"bad raw span", func(s *model.Span) { s.RawSpan = json.RawMessage(`{"a":`) }},
		{"bad tool arguments", func(s *model.Span) {
			s.OutputMessages = []model.Message{{Role: "assistant", Parts: []model.Part{{Type: model.PartToolCall, Arguments: json.RawMessage(`{x}`)}}}}
		}},
		{"resource attr not encodable", func(s *model.Span) { s.ResourceAttrs = map[string]any{"f": func() {}} }},
		{"event attr not encodable", func(s *model.Span) {
			s.Events = []model.Event{{Name: "e", Time: T0, Attributes: map[string]any{"c": make(chan int)}}}
		}},
	}
	for _, tc := range cases {
		batch := append([]model.Span(nil), good.Spans...)
		bad := batch[len(batch)-1]
		tc.mod(&bad)
		batch[len(batch)-1] = bad
		err := h.s.WriteSpans(h.ctx, batch)
		h.expectInvalid("WriteSpans("+tc.name+")", err)
		if got := h.get(keysOf(good.Spans)...); len(got) != 0 {
			h.t.Errorf("WriteSpans(%s): got %d spans of the rejected batch stored, want 0", tc.name, len(got))
		}
	}
	if err := store.ValidateSpan(good.Root); err != nil {
		h.t.Errorf("ValidateSpan(good): got %v, want nil", err)
	}
	h.write(good.Spans...)
	if got := h.get(keysOf(good.Spans)...); len(got) != len(good.Spans) {
		h.t.Errorf("after rejected batches: got %d spans, want %d", len(got), len(good.Spans))
	}
}

func testDurability(h *harness) {
	h.skipIf(h.caps.NoReopen, "NoReopen")
	o := newOracle()
	turns := BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "conv-d", Start: T0, Turns: 3,
		CallsPerTurn: 3, Subagent: true, FullHistory: true})
	h.writeBoth(o, Flatten(turns)...)
	key := store.SpanKey{ProjectID: projA, TraceID: TraceID("later"), SpanID: SpanID("later")}
	ev := []model.Event{{Name: "gen_ai.user.message", Time: T0, Attributes: map[string]any{"content": "hi"}}}
	if err := h.s.WritePendingEvents(h.ctx, []store.KeyedEvents{{Key: key, Events: ev}}); err != nil {
		h.t.Fatalf("WritePendingEvents: %v", err)
	}
	ann, err := h.s.UpsertAnnotation(h.ctx, store.Annotation{ProjectID: projA, Ref: "agent_turn/" + turns[0].TraceID, Kind: "thumbs", Value: "up"})
	if err != nil {
		h.t.Fatalf("UpsertAnnotation: %v", err)
	}
	h.reopen()
	all := Flatten(turns)
	got := h.get(keysOf(all)...)
	sortSpans(got)
	sortSpans(all)
	h.equalSpans("GetSpans after reopen", got, all)
	h.checkModel(o, projA)
	pending, err := h.s.TakePendingEvents(h.ctx, []store.SpanKey{key})
	if err != nil {
		h.t.Fatalf("TakePendingEvents: %v", err)
	}
	if len(pending[key]) != 1 || pending[key][0].Name != "gen_ai.user.message" {
		h.t.Errorf("TakePendingEvents after reopen: got %v, want the parked event", pending)
	}
	anns, err := h.s.QueryAnnotations(h.ctx, store.AnnotationQuery{ProjectID: projA})
	if err != nil {
		h.t.Fatalf("QueryAnnotations: %v", err)
	}
	if len(anns) != 1 || anns[0].ID != ann.ID {
		h.t.Errorf("QueryAnnotations after reopen: got %v, want [%s]", anns, ann.ID)
	}
	// Writes after a reopen still upsert (no duplicate of re-sent spans).
	h.writeBoth(o, Flatten(turns)...)
	h.checkModel(o, projA)
}

func testUpsertNewestWins(h *harness) {
	o := newOracle()
	turn := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "c1", Turn: 1, Start: T0, Prompt: "first version prompt", Calls: 2})
	h.writeBoth(o, turn.Spans...)
	// Re-send the chat span with different content, usage, name and
	// conversation, and the root with another agent version.
	chat := turn.Spans[1]
	chat.SpanName = "chat renamed"
	chat.OutputMessages = []model.Message{{Role: "assistant", Parts: []model.Part{{Type: model.PartText, Content: "zebra replacement answer"}}}}
	chat.InputTokens, chat.OutputTokens = i64(7), i64(9)
	chat.ConversationID = "c2"
	chat.CustomAttrsString = map[string]string{"v": "2"}
	root := *turn.Root
	root.AgentVersion = "2.2.0"
	h.writeBoth(o, chat, root)
	got := h.get(keyOf(&chat), keyOf(&root))
	sortSpans(got)
	want := []model.Span{chat, root}
	sortSpans(want)
	h.equalSpans("GetSpans after re-write", got, want)
	h.checkModel(o, projA)
	if hits := h.search(store.SearchQuery{ProjectID: projA, Query: "zebra"}); len(hits) != 1 || hits[0].ConversationID != "c2" {
		h.t.Errorf("search for the new content: got %v, want one hit in c2", hitKeys(hits))
	}
	old := turn.Spans[1].OutputMessages[0].Parts[0].Content
	for _, hit := range h.search(store.SearchQuery{ProjectID: projA, Query: `"` + old + `"`}) {
		if hit.SpanID == chat.SpanID && hit.Role == "assistant" {
			h.t.Errorf("search for the replaced content: got a hit on the re-written span %v", hit)
		}
	}
}

func running(s model.Span) model.Span {
	s.EndedAt = time.Time{}
	s.OutputMessages = nil
	s.FinishReasons = nil
	s.OutputTokens = nil
	return s
}

func testUpsertFinishedKept(h *harness) {
	o := newOracle()
	turn := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "c", Turn: 1, Start: T0, Prompt: "keep me", Calls: 2})
	h.writeBoth(o, turn.Spans...)
	stale := running(*turn.Root)
	stale.SpanName = "stale in-progress copy"
	h.writeBoth(o, stale)
	h.equalSpans("finished root after an in-progress copy", h.get(keyOf(turn.Root)), []model.Span{*turn.Root})
	h.checkModel(o, projA)
	active, err := h.s.ActiveSpans(h.ctx, projA, store.TimeRange{}, 0)
	if err != nil {
		h.t.Fatalf("ActiveSpans: %v", err)
	}
	if len(active) != 0 {
		h.t.Errorf("ActiveSpans: got %v, want none", spanIDs(active))
	}
}

func testUpsertSameBatch(h *harness) {
	cases := []struct {
		name  string
		batch func(fin, run, fin2 model.Span) []model.Span
		want  func(fin, run, fin2 model.Span) model.Span
	}{
		{"finished then running", func(f, r, _ model.Span) []model.Span { return []model.Span{f, r} }, func(f, _, _ model.Span) model.Span { return f }},
		{"running then finished", func(f, r, _ model.Span) []model.Span { return []model.Span{r, f} }, func(f, _, _ model.Span) model.Span { return f }},
		{"finished then finished", func(f, _, f2 model.Span) []model.Span { return []model.Span{f, f2} }, func(_, _, f2 model.Span) model.Span { return f2 }},
		{"finished, running, finished", func(f, r, f2 model.Span) []model.Span { return []model.Span{f2, r, f} }, func(f, _, _ model.Span) model.Span { return f }},
		{"running then running", func(_, r, _ model.Span) []model.Span {
			r2 := r
			r2.SpanName = "second running copy"
			return []model.Span{r, r2}
		}, func(_, r, _ model.Span) model.Span { r.SpanName = "second running copy"; return r }},
	}
	o := newOracle()
	for i, tc := range cases {
		turn := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: fmt.Sprint("same-batch-", i), Turn: 1, Start: T0.Add(time.Duration(i) * time.Hour), Prompt: tc.name, Calls: 1})
		fin := *turn.Root
		run := running(fin)
		fin2 := fin
		fin2.SpanName = "second finished copy"
		fin2.EndedAt = fin.EndedAt.Add(time.Second)
		batch := append(append([]model.Span(nil), turn.Spans[1:]...), tc.batch(fin, run, fin2)...)
		h.writeBoth(o, batch...)
		h.equalSpans(tc.name, h.get(keyOf(&fin)), []model.Span{tc.want(fin, run, fin2)})
	}
	h.checkModel(o, projA)
}

func testRunningThenFinished(h *harness) {
	o := newOracle()
	turn := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "live", Turn: 1, Start: T0, Prompt: "live turn", Calls: 2})
	root := running(*turn.Root)
	h.writeBoth(o, root)
	active, err := h.s.ActiveSpans(h.ctx, projA, store.TimeRange{}, 0)
	if err != nil {
		h.t.Fatalf("ActiveSpans: %v", err)
	}
	h.equalSpans("ActiveSpans while running", active, []model.Span{light(root)})
	page := h.conversations(store.ConversationQuery{ProjectID: projA})
	if len(page.Conversations) != 1 || page.Conversations[0].RunningCount != 1 {
		h.t.Errorf("running conversation: got %s, want one with running_count 1", jsonOf(page))
	}
	h.checkModel(o, projA)
	// Children arrive, then the finished root.
	h.writeBoth(o, turn.Spans[1:]...)
	h.checkModel(o, projA)
	h.writeBoth(o, *turn.Root)
	active, err = h.s.ActiveSpans(h.ctx, projA, store.TimeRange{}, 0)
	if err != nil {
		h.t.Fatalf("ActiveSpans: %v", err)
	}
	if len(active) != 0 {
		h.t.Errorf("ActiveSpans after finish: got %v, want none", spanIDs(active))
	}
	h.checkModel(o, projA)
}

func testActive(h *harness) {
	var runningSpans []model.Span
	for i := 0; i < 5; i++ {
		turn := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "a", Turn: i + 1, Start: T0.Add(time.Duration(i) * time.Minute), Prompt: fmt.Sprint("p", i), Calls: 1})
		r := running(*turn.Root)
		runningSpans = append(runningSpans, r)
		h.write(append(turn.Spans[1:], r)...)
	}
	other := BuildTurn(TurnSpec{ProjectID: projB, ConversationID: "b", Turn: 1, Start: T0, Prompt: "other", Calls: 1})
	h.write(running(*other.Root))
	newestFirst := func(spans []model.Span) []model.Span {
		out := make([]model.Span, len(spans))
		for i := range spans {
			out[len(spans)-1-i] = light(spans[i])
		}
		return out
	}
	cases := []struct {
		name  string
		r     store.TimeRange
		limit int
		want  []model.Span
	}{
		{"all", store.TimeRange{}, 0, newestFirst(runningSpans)},
		{"limit 2", store.TimeRange{}, 2, newestFirst(runningSpans)[:2]},
		{"range", store.TimeRange{From: T0.Add(time.Minute), To: T0.Add(3 * time.Minute)}, 0, newestFirst(runningSpans[1:3])},
	}
	for _, tc := range cases {
		got, err := h.s.ActiveSpans(h.ctx, projA, tc.r, tc.limit)
		if err != nil {
			h.t.Fatalf("ActiveSpans(%s): %v", tc.name, err)
		}
		h.equalSpans("ActiveSpans("+tc.name+")", got, tc.want)
	}
	_, err := h.s.ActiveSpans(h.ctx, projA, store.TimeRange{}, -1)
	h.expectInvalid("ActiveSpans(limit -1)", err)
}

func testEmpty(h *harness) {
	ctx := h.ctx
	check := func(what string, n int, err error) {
		h.t.Helper()
		if err != nil {
			h.t.Errorf("%s on an empty store: got error %v, want nil", what, err)
		}
		if n != 0 {
			h.t.Errorf("%s on an empty store: got %d results, want 0", what, n)
		}
	}
	spans, total, err := h.s.QuerySpans(ctx, store.SpanQuery{ProjectID: projA})
	check("QuerySpans", len(spans)+int(total), err)
	spans, err = h.s.TraceSpans(ctx, projA, TraceID("none"))
	check("TraceSpans", len(spans), err)
	spans, err = h.s.ActiveSpans(ctx, projA, store.TimeRange{}, 0)
	check("ActiveSpans", len(spans), err)
	spans, err = h.s.ConversationSpans(ctx, projA, "none", store.TimeRange{})
	check("ConversationSpans", len(spans), err)
	page, err := h.s.QueryConversations(ctx, store.ConversationQuery{ProjectID: projA})
	check("QueryConversations", len(page.Conversations)+int(page.Total), err)
	page, err = h.s.QueryConversations(ctx, store.ConversationQuery{ProjectID: projA, Search: "hello", AgentName: "x"})
	check("QueryConversations(search, agent)", len(page.Conversations)+int(page.Total), err)
	agents, total, err := h.s.QueryAgents(ctx, store.AgentQuery{ProjectID: projA})
	check("QueryAgents", len(agents)+int(total), err)
	versions, err := h.s.AgentVersions(ctx, projA, "claude-code")
	check("AgentVersions", len(versions), err)
	buckets, err := h.s.AgentMetrics(ctx, store.MetricsQuery{ProjectID: projA})
	check("AgentMetrics", len(buckets), err)
	buckets, err = h.s.AgentMetrics(ctx, store.MetricsQuery{ProjectID: projA, Range: store.TimeRange{From: T0, To: T0.Add(time.Hour)}})
	check("AgentMetrics(range)", len(buckets), err)
	hits, err := h.s.SearchMessages(ctx, store.SearchQuery{ProjectID: projA, Query: "hello"})
	check("SearchMessages", len(hits), err)
	projects, err := h.s.Projects(ctx)
	check("Projects", len(projects), err)
	anns, err := h.s.QueryAnnotations(ctx, store.AnnotationQuery{ProjectID: projA})
	check("QueryAnnotations", len(anns), err)
	pending, err := h.s.TakePendingEvents(ctx, []store.SpanKey{{ProjectID: projA, TraceID: "t", SpanID: "s"}})
	check("TakePendingEvents", len(pending), err)
	got, err := h.s.GetSpans(ctx, []store.SpanKey{{ProjectID: projA, TraceID: "t", SpanID: "s"}})
	check("GetSpans", len(got), err)
	st, err := h.s.Stats(ctx)
	check("Stats", int(st.Spans), err)
	if err := h.s.WriteSpans(ctx, nil); err != nil {
		h.t.Errorf("WriteSpans(nil): got %v, want nil", err)
	}
	if err := h.s.WritePendingEvents(ctx, nil); err != nil {
		h.t.Errorf("WritePendingEvents(nil): got %v, want nil", err)
	}
	err = h.s.DeleteAnnotation(ctx, projA, "nope")
	if !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("DeleteAnnotation(absent): got %v, want ErrNotFound", err)
	}

	// A project_id is required everywhere.
	_, _, err = h.s.QuerySpans(ctx, store.SpanQuery{})
	h.expectInvalid("QuerySpans without project", err)
	_, err = h.s.TraceSpans(ctx, "", "t")
	h.expectInvalid("TraceSpans without project", err)
	_, err = h.s.ActiveSpans(ctx, "", store.TimeRange{}, 0)
	h.expectInvalid("ActiveSpans without project", err)
	_, err = h.s.ConversationSpans(ctx, "", "c", store.TimeRange{})
	h.expectInvalid("ConversationSpans without project", err)
	_, err = h.s.QueryConversations(ctx, store.ConversationQuery{})
	h.expectInvalid("QueryConversations without project", err)
	_, _, err = h.s.QueryAgents(ctx, store.AgentQuery{})
	h.expectInvalid("QueryAgents without project", err)
	_, err = h.s.AgentVersions(ctx, "", "a")
	h.expectInvalid("AgentVersions without project", err)
	_, err = h.s.AgentMetrics(ctx, store.MetricsQuery{})
	h.expectInvalid("AgentMetrics without project", err)
	_, err = h.s.SearchMessages(ctx, store.SearchQuery{Query: "x"})
	h.expectInvalid("SearchMessages without project", err)
	_, err = h.s.QueryAnnotations(ctx, store.AnnotationQuery{})
	h.expectInvalid("QueryAnnotations without project", err)
	_, err = h.s.UpsertAnnotation(ctx, store.Annotation{Ref: "agent_span/x", Kind: "note"})
	h.expectInvalid("UpsertAnnotation without project", err)
}

func testIsolation(h *harness) {
	o := newOracle()
	// The same ids in two projects, with different content.
	a := BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "shared-id", Start: T0, Turns: 2, CallsPerTurn: 2, Subagent: true})
	b := BuildConversation(ConversationSpec{ProjectID: projB, ConversationID: "shared-id", Start: T0.Add(time.Hour), Turns: 1, CallsPerTurn: 3})
	for i := range b[0].Spans {
		b[0].Spans[i].TraceID = a[0].TraceID
		if i < len(a[0].Spans) {
			b[0].Spans[i].SpanID = a[0].Spans[i].SpanID
		}
		if b[0].Spans[i].ParentSpanID != "" {
			b[0].Spans[i].ParentSpanID = a[0].Spans[0].SpanID
		}
		b[0].Spans[i].AgentName = "other-agent"
	}
	h.writeBoth(o, Flatten(a)...)
	h.writeBoth(o, b[0].Spans...)
	h.equalSpans("TraceSpans(A)", h.trace(projA, a[0].TraceID), sortedByStart(a[0].Spans))
	h.equalSpans("TraceSpans(B)", h.trace(projB, a[0].TraceID), sortedByStart(b[0].Spans))
	h.checkModel(o, projA, projB)
	for _, p := range []string{projA, projB} {
		spans, total, err := h.s.QuerySpans(h.ctx, store.SpanQuery{ProjectID: p, Limit: store.MaxLimit})
		if err != nil {
			h.t.Fatalf("QuerySpans: %v", err)
		}
		want := len(o.project(p))
		if int(total) != want || len(spans) != want {
			h.t.Errorf("QuerySpans(%s): got %d (total %d), want %d", p, len(spans), total, want)
		}
		for _, s := range spans {
			if s.ProjectID != p {
				h.t.Errorf("QuerySpans(%s): got a span of %s", p, s.ProjectID)
			}
		}
	}
	ann, err := h.s.UpsertAnnotation(h.ctx, store.Annotation{ProjectID: projA, Ref: "agent_span/x", Kind: "note", Value: "a"})
	if err != nil {
		h.t.Fatalf("UpsertAnnotation: %v", err)
	}
	anns, err := h.s.QueryAnnotations(h.ctx, store.AnnotationQuery{ProjectID: projB})
	if err != nil || len(anns) != 0 {
		h.t.Errorf("QueryAnnotations(B): got %v, %v, want none", anns, err)
	}
	if err := h.s.DeleteAnnotation(h.ctx, projB, ann.ID); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("DeleteAnnotation(B, A's id): got %v, want ErrNotFound", err)
	}
	// The same annotation id in another project is another annotation.
	annB, err := h.s.UpsertAnnotation(h.ctx, store.Annotation{ID: ann.ID, ProjectID: projB, Ref: "agent_span/y", Kind: "note", Value: "b"})
	if err != nil {
		h.t.Fatalf("UpsertAnnotation(B): %v", err)
	}
	anns, err = h.s.QueryAnnotations(h.ctx, store.AnnotationQuery{ProjectID: projA})
	if err != nil || len(anns) != 1 || anns[0].Value != "a" || annB.Value != "b" {
		h.t.Errorf("annotations after same id in B: got A=%v B=%v, err %v", anns, annB, err)
	}
	key := store.SpanKey{ProjectID: projA, TraceID: "t", SpanID: "s"}
	keyB := store.SpanKey{ProjectID: projB, TraceID: "t", SpanID: "s"}
	if err := h.s.WritePendingEvents(h.ctx, []store.KeyedEvents{{Key: key, Events: []model.Event{{Name: "a", Time: T0}}}}); err != nil {
		h.t.Fatal(err)
	}
	got, err := h.s.TakePendingEvents(h.ctx, []store.SpanKey{keyB})
	if err != nil || len(got) != 0 {
		h.t.Errorf("TakePendingEvents(B): got %v, %v, want none", got, err)
	}
}

func sortedByStart(spans []model.Span) []model.Span {
	out := append([]model.Span(nil), spans...)
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].StartedAt.Equal(out[j].StartedAt) {
			return out[i].StartedAt.Before(out[j].StartedAt)
		}
		return out[i].SpanID < out[j].SpanID
	})
	return out
}

func testPending(h *harness) {
	k1 := store.SpanKey{ProjectID: projA, TraceID: TraceID(1), SpanID: SpanID(1)}
	k2 := store.SpanKey{ProjectID: projA, TraceID: TraceID(1), SpanID: SpanID(2)}
	ev := func(name string, sec int) model.Event {
		return model.Event{Name: name, Time: T0.Add(time.Duration(sec) * time.Second), Attributes: map[string]any{"n": int64(sec), "s": name}}
	}
	if err := h.s.WritePendingEvents(h.ctx, []store.KeyedEvents{{Key: k1, Events: []model.Event{ev("first", 3), ev("second", 1)}}}); err != nil {
		h.t.Fatalf("WritePendingEvents: %v", err)
	}
	if err := h.s.WritePendingEvents(h.ctx, []store.KeyedEvents{{Key: k1, Events: []model.Event{ev("third", 2)}}}); err != nil {
		h.t.Fatalf("WritePendingEvents: %v", err)
	}
	got, err := h.s.TakePendingEvents(h.ctx, []store.SpanKey{k1, k2})
	if err != nil {
		h.t.Fatalf("TakePendingEvents: %v", err)
	}
	want := map[store.SpanKey][]model.Event{k1: {ev("first", 3), ev("second", 1), ev("third", 2)}}
	for k, evs := range want {
		for i := range evs {
			evs[i].Attributes = normAnyMap(evs[i].Attributes)
		}
		want[k] = evs
	}
	if !reflect.DeepEqual(got, want) {
		h.t.Errorf("TakePendingEvents: got %s, want %s (arrival order, k2 absent)", jsonOf(got), jsonOf(want))
	}
	got, err = h.s.TakePendingEvents(h.ctx, []store.SpanKey{k1})
	if err != nil || len(got) != 0 {
		h.t.Errorf("TakePendingEvents again: got %v, %v, want none (taken)", got, err)
	}
	err = h.s.WritePendingEvents(h.ctx, []store.KeyedEvents{{Key: store.SpanKey{ProjectID: projA}, Events: []model.Event{ev("x", 1)}}})
	h.expectInvalid("WritePendingEvents(incomplete key)", err)
}

func testAnnotations(h *harness) {
	ctx := h.ctx
	a1, err := h.s.UpsertAnnotation(ctx, store.Annotation{ProjectID: projA, Ref: "agent_turn/" + TraceID(1), Kind: "thumbs", Value: "up", Author: "dana"})
	if err != nil {
		h.t.Fatalf("UpsertAnnotation: %v", err)
	}
	if a1.ID == "" || a1.CreatedAt.IsZero() || !a1.CreatedAt.Equal(a1.UpdatedAt) {
		h.t.Errorf("new annotation: got id %q created %s updated %s, want an id and equal timestamps", a1.ID, a1.CreatedAt, a1.UpdatedAt)
	}
	a2, err := h.s.UpsertAnnotation(ctx, store.Annotation{ProjectID: projA, Ref: "agent_conversation/conv%2F1", Kind: "note", Value: map[string]any{"text": "nice", "stars": 4, "ok": true}})
	if err != nil {
		h.t.Fatalf("UpsertAnnotation: %v", err)
	}
	a3, err := h.s.UpsertAnnotation(ctx, store.Annotation{ID: "client-chosen-id", ProjectID: projA, Ref: "agent_span/" + SpanID(1), Kind: "label", Value: []any{"bug", "ui"}})
	if err != nil {
		h.t.Fatalf("UpsertAnnotation(with new id): %v", err)
	}
	if a3.ID != "client-chosen-id" {
		h.t.Errorf("UpsertAnnotation(with new id): got id %q, want client-chosen-id", a3.ID)
	}
	// Replace a1: CreatedAt kept.
	upd, err := h.s.UpsertAnnotation(ctx, store.Annotation{ID: a1.ID, ProjectID: projA, Ref: a1.Ref, Kind: "thumbs", Value: "down"})
	if err != nil {
		h.t.Fatalf("UpsertAnnotation(replace): %v", err)
	}
	if !upd.CreatedAt.Equal(a1.CreatedAt) || upd.UpdatedAt.Before(a1.UpdatedAt) || upd.Value != "down" {
		h.t.Errorf("replaced annotation: got created %s updated %s value %v, want created %s, updated ≥ it, value down", upd.CreatedAt, upd.UpdatedAt, upd.Value, a1.CreatedAt)
	}
	checkAnnotationQueries(h, a1, a2, a3)
	checkAnnotationDeletes(h, a2)
	checkAnnotationRefusals(h)
}

// checkAnnotationQueries: the project's three annotations newest first,
// their values as written, by ref, by kind and by page.
func checkAnnotationQueries(h *harness, a1, a2, a3 store.Annotation) {
	ctx := h.ctx
	all, err := h.s.QueryAnnotations(ctx, store.AnnotationQuery{ProjectID: projA})
	if err != nil {
		h.t.Fatalf("QueryAnnotations: %v", err)
	}
	if len(all) != 3 {
		h.t.Fatalf("QueryAnnotations: got %d, want 3", len(all))
	}
	for i := 1; i < len(all); i++ {
		x, y := all[i-1], all[i]
		if x.CreatedAt.Before(y.CreatedAt) || (x.CreatedAt.Equal(y.CreatedAt) && x.ID < y.ID) {
			h.t.Errorf("QueryAnnotations order: %s (%s) before %s (%s), want newest first", x.ID, x.CreatedAt, y.ID, y.CreatedAt)
		}
	}
	for _, a := range all {
		if a.ID == a2.ID && !reflect.DeepEqual(a.Value, NormalizeAny(a2.Value)) {
			h.t.Errorf("annotation value: got %#v, want %#v", a.Value, NormalizeAny(a2.Value))
		}
	}
	byRef, err := h.s.QueryAnnotations(ctx, store.AnnotationQuery{ProjectID: projA, Refs: []string{a1.Ref, a3.Ref}})
	if err != nil || len(byRef) != 2 {
		h.t.Errorf("QueryAnnotations(refs): got %d, %v, want 2", len(byRef), err)
	}
	byKind, err := h.s.QueryAnnotations(ctx, store.AnnotationQuery{ProjectID: projA, Kind: "note"})
	if err != nil || len(byKind) != 1 || byKind[0].ID != a2.ID {
		h.t.Errorf("QueryAnnotations(kind note): got %v, %v, want [%s]", byKind, err, a2.ID)
	}
	p1, err1 := h.s.QueryAnnotations(ctx, store.AnnotationQuery{ProjectID: projA, Limit: 2})
	p2, err2 := h.s.QueryAnnotations(ctx, store.AnnotationQuery{ProjectID: projA, Limit: 2, Offset: 2})
	if err1 != nil || err2 != nil || len(p1) != 2 || len(p2) != 1 || p2[0].ID != all[2].ID {
		h.t.Errorf("QueryAnnotations paging: got %d+%d (%v %v), want 2+1", len(p1), len(p2), err1, err2)
	}
}

// checkAnnotationDeletes: feedback on an agent, then deletes (a second
// delete finds nothing).
func checkAnnotationDeletes(h *harness, a2 store.Annotation) {
	ctx := h.ctx
	agentAnn, err := h.s.UpsertAnnotation(ctx, store.Annotation{ProjectID: projA, Ref: "agent/claude-code", Kind: "thumbs", Value: "up"})
	if err != nil {
		h.t.Fatalf("UpsertAnnotation(agent ref): %v", err)
	}
	byAgent, err := h.s.QueryAnnotations(ctx, store.AnnotationQuery{ProjectID: projA, Refs: []string{"agent/claude-code"}})
	if err != nil || len(byAgent) != 1 || byAgent[0].ID != agentAnn.ID {
		h.t.Errorf("QueryAnnotations(agent ref): got %v, %v, want [%s]", byAgent, err, agentAnn.ID)
	}
	if err := h.s.DeleteAnnotation(ctx, projA, agentAnn.ID); err != nil {
		h.t.Errorf("DeleteAnnotation(agent ref): %v", err)
	}
	if err := h.s.DeleteAnnotation(ctx, projA, a2.ID); err != nil {
		h.t.Errorf("DeleteAnnotation: %v", err)
	}
	if err := h.s.DeleteAnnotation(ctx, projA, a2.ID); !errors.Is(err, store.ErrNotFound) {
		h.t.Errorf("DeleteAnnotation twice: got %v, want ErrNotFound", err)
	}
}

// checkAnnotationRefusals: annotations that break the rules, and a
// negative offset, are refused.
func checkAnnotationRefusals(h *harness) {
	ctx := h.ctx
	for _, tc := range []struct {
		name string
		a    store.Annotation
	}{
		{"bad ref", store.Annotation{ProjectID: projA, Ref: "span/1", Kind: "note"}},
		{"empty ref id", store.Annotation{ProjectID: projA, Ref: "agent_turn/", Kind: "note"}},
		{"empty agent name", store.Annotation{ProjectID: projA, Ref: "agent/", Kind: "note"}},
		{"empty kind", store.Annotation{ProjectID: projA, Ref: "agent_turn/1"}},
		{"value not JSON", store.Annotation{ProjectID: projA, Ref: "agent_turn/1", Kind: "note", Value: func() {}}},
	} {
		_, err := h.s.UpsertAnnotation(ctx, tc.a)
		h.expectInvalid("UpsertAnnotation("+tc.name+")", err)
	}
	_, err := h.s.QueryAnnotations(ctx, store.AnnotationQuery{ProjectID: projA, Offset: -1})
	h.expectInvalid("QueryAnnotations(offset -1)", err)
}

func testStats(h *harness) {
	o := newOracle()
	turns := BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "s", Start: T0, Turns: 2, CallsPerTurn: 2})
	h.writeBoth(o, Flatten(turns)...)
	h.writeBoth(o, Flatten(turns)...)
	st, err := h.s.Stats(h.ctx)
	if err != nil {
		h.t.Fatalf("Stats: %v", err)
	}
	if st.Spans != int64(len(o.spans)) {
		h.t.Errorf("Stats.Spans after writing twice: got %d, want %d", st.Spans, len(o.spans))
	}
	if st.Bytes < 0 {
		h.t.Errorf("Stats.Bytes: got %d, want ≥ 0", st.Bytes)
	}
}

func testConcurrency(h *harness) {
	o := newOracle()
	var convs [][]Turn
	for i := 0; i < 4; i++ {
		convs = append(convs, BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: fmt.Sprint("conc-", i),
			Start: T0.Add(time.Duration(i) * time.Minute), Turns: 3, CallsPerTurn: 2, Subagent: true, FullHistory: true}))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for _, c := range convs {
		wg.Add(1)
		go func(turns []Turn) {
			defer wg.Done()
			for _, t := range turns {
				for _, s := range t.Spans { // span by span, as live ingest does
					if err := h.s.WriteSpans(h.ctx, []model.Span{s}); err != nil {
						errs <- err
						return
					}
				}
			}
		}(c)
	}
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if _, err := h.s.QueryConversations(h.ctx, store.ConversationQuery{ProjectID: projA}); err != nil {
					errs <- err
					return
				}
				if _, err := h.s.SearchMessages(h.ctx, store.SearchQuery{ProjectID: projA, Query: "file"}); err != nil {
					errs <- err
					return
				}
				if _, _, err := h.s.QuerySpans(h.ctx, store.SpanQuery{ProjectID: projA, IncludeDetails: true}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		h.t.Errorf("concurrent use: %v", err)
	}
	for _, c := range convs {
		o.write(Flatten(c))
	}
	h.checkModel(o, projA)
}

func testCancellation(h *harness) {
	turn := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "c", Turn: 1, Start: T0, Prompt: "cancel me", Calls: 2})
	ctx, cancel := context.WithCancel(h.ctx)
	cancel()
	if err := h.s.WriteSpans(ctx, turn.Spans); err == nil {
		h.t.Errorf("WriteSpans(cancelled ctx): got nil, want an error")
	} else if !errors.Is(err, context.Canceled) {
		h.t.Errorf("WriteSpans(cancelled ctx): got %v, want one wrapping context.Canceled", err)
	}
	if _, _, err := h.s.QuerySpans(ctx, store.SpanQuery{ProjectID: projA}); err == nil {
		h.t.Errorf("QuerySpans(cancelled ctx): got nil, want an error")
	}
	// The store still works, and a retry applies the batch once.
	o := newOracle()
	h.writeBoth(o, turn.Spans...)
	h.writeBoth(o, turn.Spans...)
	h.checkModel(o, projA)
}
