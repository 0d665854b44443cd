package storetest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

func convData(h *harness, o *oracle) [][]Turn {
	var convs [][]Turn
	for i, spec := range []ConversationSpec{
		{ConversationID: "conv-long", Turns: 4, CallsPerTurn: 3, Subagent: true, FullHistory: true},
		{ConversationID: "conv-short", Turns: 1, CallsPerTurn: 1},
		{ConversationID: "conv-mid", Turns: 2, CallsPerTurn: 2, Subagent: true},
	} {
		spec.ProjectID = projA
		spec.Start = T0.Add(time.Duration(i) * 20 * time.Minute)
		turns := BuildConversation(spec)
		h.writeBoth(o, Flatten(turns)...)
		convs = append(convs, turns)
	}
	// A thread without conversation_id, and a turn with neither.
	for i, thread := range []string{"thread-7", ""} {
		t := BuildTurn(TurnSpec{ProjectID: projA, Turn: 90 + i, Start: T0.Add(3*time.Hour + time.Duration(i)*time.Minute), Prompt: fmt.Sprint("ungrouped ", i), Calls: 2})
		for j := range t.Spans {
			t.Spans[j].ThreadID = thread
		}
		h.writeBoth(o, t.Spans...)
		convs = append(convs, []Turn{t})
	}
	return convs
}

func testConversations(h *harness) {
	o := newOracle()
	convs := convData(h, o)
	h.checkModel(o, projA)
	page := h.conversations(store.ConversationQuery{ProjectID: projA})
	byID := map[string]store.ConversationSummary{}
	for _, c := range page.Conversations {
		byID[c.ConversationID] = c
	}
	long := byID["conv-long"]
	var in int64
	for _, t := range convs[0] {
		in += t.InputTokens
	}
	if long.TurnCount != 4 || long.InputTokens != in || long.FirstPrompt != PromptPreview(convs[0][0].Root.InputMessages) ||
		strings.Join(long.AgentNames, ",") != "Explore,claude-code" || strings.Join(long.Models, ",") != "claude-haiku-4-5,claude-sonnet-4-5" {
		h.t.Errorf("conv-long: got %s, want 4 turns, %d input tokens, first prompt of turn 1, agents Explore,claude-code and both models", jsonOf(long), in)
	}
	if _, ok := byID["thread-7"]; !ok {
		h.t.Errorf("thread-only turn: no conversation thread-7 in %v", keysOfPage(page))
	}
	loose := "trace:" + convs[4][0].TraceID
	if _, ok := byID[loose]; !ok {
		h.t.Errorf("ungrouped turn: no conversation %s in %v", loose, keysOfPage(page))
	}
	// ConversationSpans: the spans of the conversation, with details, in order, bounded.
	var want []model.Span
	for _, t := range convs[0] {
		want = append(want, t.Spans...)
	}
	got, err := h.s.ConversationSpans(h.ctx, projA, "conv-long", store.TimeRange{})
	if err != nil {
		h.t.Fatalf("ConversationSpans: %v", err)
	}
	h.equalSpans("ConversationSpans(conv-long)", got, sortedByStart(want))
	from, to := convs[0][1].Root.StartedAt, convs[0][3].Root.StartedAt
	var bounded []model.Span
	for _, s := range sortedByStart(want) {
		if !s.StartedAt.Before(from) && s.StartedAt.Before(to) {
			bounded = append(bounded, s)
		}
	}
	got, err = h.s.ConversationSpans(h.ctx, projA, "conv-long", store.TimeRange{From: from, To: to})
	if err != nil {
		h.t.Fatalf("ConversationSpans: %v", err)
	}
	h.equalSpans("ConversationSpans(conv-long, turns 2-3)", got, bounded)
	got, err = h.s.ConversationSpans(h.ctx, projA, "thread-7", store.TimeRange{})
	if err != nil || len(got) != len(convs[3][0].Spans) {
		h.t.Errorf("ConversationSpans(thread-7): got %d spans, %v, want %d", len(got), err, len(convs[3][0].Spans))
	}
}

func keysOfPage(p store.ConversationPage) []string {
	var out []string
	for _, c := range p.Conversations {
		out = append(out, c.ConversationID)
	}
	return out
}

func testConversationQuery(h *harness) {
	o := newOracle()
	convs := convData(h, o)
	all := h.conversations(store.ConversationQuery{ProjectID: projA}).Conversations
	if len(all) != 5 {
		h.t.Fatalf("conversations: got %d, want 5", len(all))
	}
	cases := []struct {
		name string
		q    store.ConversationQuery
		want []string
	}{
		{"agent Explore", store.ConversationQuery{AgentName: "Explore"}, []string{"conv-mid", "conv-long"}},
		{"agent absent", store.ConversationQuery{AgentName: "nobody"}, nil},
		{"turn_count asc", store.ConversationQuery{Sort: []store.Sort{{Field: "turn_count", Direction: "asc"}, {Field: "conversation_id", Direction: "asc"}}},
			[]string{"conv-short", "thread-7", "trace:" + BuildTurn(TurnSpec{ProjectID: projA, Turn: 91, Prompt: "ungrouped 1"}).TraceID, "conv-mid", "conv-long"}},
		{"search prompt words", store.ConversationQuery{Search: `"ungrouped 0"`}, []string{"thread-7"}},
		{"range on last activity", store.ConversationQuery{Range: store.TimeRange{From: all[1].LastActivity, To: all[0].LastActivity}}, []string{all[1].ConversationID}},
	}
	// By cost (the figures themselves are checked against the model
	// elsewhere): dearest first, ties by conversation_id.
	byCost := slices.Clone(all)
	slices.SortStableFunc(byCost, func(a, b store.ConversationSummary) int {
		if a.CostUSD != b.CostUSD {
			return cmp.Compare(b.CostUSD, a.CostUSD)
		}
		return strings.Compare(a.ConversationID, b.ConversationID)
	})
	cases = append(cases, struct {
		name string
		q    store.ConversationQuery
		want []string
	}{"cost_usd desc", store.ConversationQuery{Sort: []store.Sort{{Field: "cost_usd", Direction: "desc"}}}, keysOfPage(store.ConversationPage{Conversations: byCost})})
	for _, tc := range cases {
		tc.q.ProjectID = projA
		page := h.conversations(tc.q)
		got := keysOfPage(page)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || page.Total != int64(len(tc.want)) {
			h.t.Errorf("QueryConversations(%s): got %v (total %d), want %v", tc.name, got, page.Total, tc.want)
		}
	}
	checkConversationSorts(h)
	checkConversationFilters(h, o, convs)

	// Paging.
	var paged []string
	for off := 0; off < 6; off += 2 {
		page := h.conversations(store.ConversationQuery{ProjectID: projA, Limit: 2, Offset: off})
		if page.Total != 5 {
			h.t.Errorf("QueryConversations page total: got %d, want 5", page.Total)
		}
		paged = append(paged, keysOfPage(page)...)
	}
	if strings.Join(paged, "|") != strings.Join(keysOfPage(store.ConversationPage{Conversations: all}), "|") {
		h.t.Errorf("QueryConversations pages: got %v, want %v", paged, keysOfPage(store.ConversationPage{Conversations: all}))
	}
	for _, q := range []store.ConversationQuery{
		{Sort: []store.Sort{{Field: "agent_names"}}},
		{Sort: []store.Sort{{Field: "turn_count", Direction: "sideways"}}},
		{Limit: -1},
		{Offset: -5},
		{Search: "!!!"},
	} {
		q.ProjectID = projA
		_, err := h.s.QueryConversations(h.ctx, q)
		h.expectInvalid(fmt.Sprintf("QueryConversations(%+v)", q), err)
	}
}

func testFirstPrompt(h *harness) {
	o := newOracle()
	long := "  Please   look at\n\nthe failing test in " + strings.Repeat("ünïcode-heavy words and more ", 30) + "  and fix it.  "
	turns := BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "fp", Start: T0, Turns: 3, CallsPerTurn: 2, FullHistory: true})
	// Make turn 1's prompt long and write the turns newest first.
	t1 := turns[0]
	for i := range t1.Spans {
		for j, m := range t1.Spans[i].InputMessages {
			if m.Role == "user" && m.Text() == turns[0].Added[0].Text() {
				t1.Spans[i].InputMessages[j] = model.Message{Role: "user", Parts: []model.Part{{Type: model.PartText, Content: long}}}
			}
		}
	}
	for i := len(turns) - 1; i >= 0; i-- {
		h.writeBoth(o, turns[i].Spans...)
	}
	page := h.conversations(store.ConversationQuery{ProjectID: projA})
	if len(page.Conversations) != 1 {
		h.t.Fatalf("conversations: got %d, want 1", len(page.Conversations))
	}
	got := page.Conversations[0].FirstPrompt
	if n := utf8.RuneCountInString(got); n > store.FirstPromptMaxRunes {
		h.t.Errorf("first prompt: got %d runes, want ≤ %d", n, store.FirstPromptMaxRunes)
	}
	if !strings.HasPrefix(got, "Please look at the failing test in ünïcode-heavy") || !strings.HasSuffix(got, "…") || strings.Contains(got, "\n") || strings.Contains(got, "  ") {
		h.t.Errorf("first prompt: got %q, want turn 1's prompt, whitespace collapsed, cut with …", got)
	}
	h.checkModel(o, projA)
	// Replacing turn 1's root with a copy without input keeps the prompt
	// (its first chat span carries the same prompt), then removing the
	// prompt from every turn-1 span moves it to turn 2.
	root := *t1.Root
	root.InputMessages = nil
	h.writeBoth(o, root)
	h.checkModel(o, projA)
	for _, s := range t1.Spans[1:] {
		s.InputMessages = nil
		h.writeBoth(o, s)
	}
	h.checkModel(o, projA)
	page = h.conversations(store.ConversationQuery{ProjectID: projA})
	if want := PromptPreview(turns[1].Root.InputMessages); page.Conversations[0].FirstPrompt != want {
		h.t.Errorf("first prompt after turn 1 lost its prompt: got %q, want %q", page.Conversations[0].FirstPrompt, want)
	}
}

func testAgents(h *harness) {
	o := newOracle()
	convData(h, o)
	// Another version of claude-code, and spans without a version.
	t := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "v3", Turn: 1, Start: T0.Add(5 * time.Hour), Prompt: "new version", Calls: 2})
	t.Spans[0].AgentVersion = "3.0.0"
	u := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "nov", Turn: 1, Start: T0.Add(6 * time.Hour), Prompt: "no version", Calls: 1})
	u.Spans[0].AgentVersion = ""
	h.writeBoth(o, append(t.Spans, u.Spans...)...)
	h.checkModel(o, projA)
	agents := o.agents(projA)
	if agents["claude-code"] == nil || agents["claude-code"].VersionCount != 3 {
		h.t.Fatalf("model: claude-code should have 3 versions")
	}
	if agents["Explore"].UnpricedCount == 0 || agents["claude-code"].UnpricedCount != 0 || agents["Explore"].CostUSD == 0 {
		h.t.Fatalf("model: Explore should have priced and unpriced calls, claude-code only priced ones")
	}
	cases := []struct {
		name string
		q    store.AgentQuery
		want []string
	}{
		{"span_count asc", store.AgentQuery{Sort: []store.Sort{{Field: "span_count", Direction: "asc"}}}, []string{"Explore", "claude-code"}},
		{"name desc", store.AgentQuery{Sort: []store.Sort{{Field: "agent_name", Direction: "desc"}}}, []string{"claude-code", "Explore"}},
		{"cost desc", store.AgentQuery{Sort: []store.Sort{{Field: "cost_usd", Direction: "desc"}}}, []string{"claude-code", "Explore"}},
		{"unpriced desc", store.AgentQuery{Sort: []store.Sort{{Field: "unpriced_count", Direction: "desc"}}}, []string{"Explore", "claude-code"}},
		{"limit 1", store.AgentQuery{Limit: 1}, []string{"claude-code"}},
		{"offset 1", store.AgentQuery{Offset: 1}, []string{"Explore"}},
		{"range after Explore was last seen", store.AgentQuery{Range: store.TimeRange{From: agents["Explore"].LastSeen.Add(time.Nanosecond)}}, []string{"claude-code"}},
		{"range before anything", store.AgentQuery{Range: store.TimeRange{To: T0}}, nil},
		{"range covering Explore's first span", store.AgentQuery{Range: store.TimeRange{From: agents["Explore"].FirstSeen, To: agents["Explore"].FirstSeen.Add(time.Nanosecond)}}, []string{"claude-code", "Explore"}},
	}
	for _, tc := range cases {
		tc.q.ProjectID = projA
		got, total, err := h.s.QueryAgents(h.ctx, tc.q)
		if err != nil {
			h.t.Fatalf("QueryAgents(%s): %v", tc.name, err)
		}
		var names []string
		for _, a := range got {
			names = append(names, a.AgentName)
		}
		wantTotal := len(tc.want)
		if tc.q.Limit > 0 || tc.q.Offset > 0 {
			wantTotal = 2
		}
		if strings.Join(names, ",") != strings.Join(tc.want, ",") || total != int64(wantTotal) {
			h.t.Errorf("QueryAgents(%s): got %v (total %d), want %v (total %d)", tc.name, names, total, tc.want, wantTotal)
		}
	}
	for _, q := range []store.AgentQuery{{Sort: []store.Sort{{Field: "colour"}}}, {Limit: -1}, {Range: store.TimeRange{From: T0, To: T0}}} {
		q.ProjectID = projA
		_, _, err := h.s.QueryAgents(h.ctx, q)
		h.expectInvalid(fmt.Sprintf("QueryAgents(%+v)", q), err)
	}
	if vs, err := h.s.AgentVersions(h.ctx, projA, "nobody"); err != nil || len(vs) != 0 {
		h.t.Errorf("AgentVersions(unknown agent): got %v, %v, want none", vs, err)
	}
}

func testMetrics(h *harness) {
	o := newOracle()
	convData(h, o)
	from, to := T0.Add(-time.Hour), T0.Add(5*time.Hour)
	cases := []struct {
		name   string
		q      store.MetricsQuery
		bucket time.Duration
	}{
		{"1 minute", store.MetricsQuery{Bucket: time.Minute, Range: store.TimeRange{From: from, To: to}}, time.Minute},
		{"7 minutes", store.MetricsQuery{Bucket: 7 * time.Minute, Range: store.TimeRange{From: from, To: to}}, 7 * time.Minute},
		{"30 seconds", store.MetricsQuery{Bucket: 30 * time.Second, Range: store.TimeRange{From: from, To: to}}, 30 * time.Second},
		{"90 seconds, one agent", store.MetricsQuery{Bucket: 90 * time.Second, AgentName: "Explore", Range: store.TimeRange{From: from, To: to}}, 90 * time.Second},
		{"1 hour, open range", store.MetricsQuery{Bucket: time.Hour}, time.Hour},
		{"1 day, open range", store.MetricsQuery{Bucket: 24 * time.Hour}, 24 * time.Hour},
		{"2 days, one agent", store.MetricsQuery{Bucket: 48 * time.Hour, AgentName: "Explore", Range: store.TimeRange{From: from, To: to}}, 48 * time.Hour},
		{"auto over 2h is 5m", store.MetricsQuery{Range: store.TimeRange{From: T0, To: T0.Add(2 * time.Hour)}}, 5 * time.Minute},
		{"auto over 6h is 15m", store.MetricsQuery{Range: store.TimeRange{From: T0, To: T0.Add(6 * time.Hour)}}, 15 * time.Minute},
		{"range inside a bucket is widened", store.MetricsQuery{Bucket: time.Hour, Range: store.TimeRange{From: T0.Add(10 * time.Minute), To: T0.Add(11 * time.Minute)}}, time.Hour},
	}
	for _, tc := range cases {
		tc.q.ProjectID = projA
		got, err := h.s.AgentMetrics(h.ctx, tc.q)
		if err != nil {
			h.t.Fatalf("AgentMetrics(%s): %v", tc.name, err)
		}
		f, t := store.MinTime, store.MaxTime
		if !tc.q.Range.From.IsZero() {
			f = tc.q.Range.From.Truncate(tc.bucket)
			if n := tc.q.Range.From.UnixNano(); n%int64(tc.bucket) != 0 {
				f = time.Unix(0, n-n%int64(tc.bucket)).UTC()
			}
			n := tc.q.Range.To.UnixNano()
			if r := n % int64(tc.bucket); r != 0 {
				n += int64(tc.bucket) - r
			}
			t = time.Unix(0, n).UTC()
		}
		want := o.metrics(projA, tc.q.AgentName, f, t, tc.bucket)
		if len(want) == 0 {
			h.t.Fatalf("AgentMetrics(%s): the model has no buckets; the test data is wrong", tc.name)
		}
		if jsonOf(got) != jsonOf(want) {
			h.t.Errorf("AgentMetrics(%s):\ngot  %s\nwant %s", tc.name, jsonOf(got), jsonOf(want))
		}
	}
	for _, q := range []store.MetricsQuery{
		{Bucket: -time.Minute},
		{Bucket: 1500 * time.Millisecond},
		{Bucket: time.Minute, Range: store.TimeRange{From: T0, To: T0.Add(365 * 24 * time.Hour)}},
		{Range: store.TimeRange{From: T0, To: T0.Add(-time.Hour)}},
	} {
		q.ProjectID = projA
		_, err := h.s.AgentMetrics(h.ctx, q)
		h.expectInvalid(fmt.Sprintf("AgentMetrics(%+v)", q), err)
	}
}

// searchData is a small conversation with known sentences.
func searchData(h *harness, o *oracle) model.Span {
	traceID := TraceID("search")
	result, _ := json.Marshal(map[string]any{"stdout": "line one\nPAYMENT gateway ok", "exit_code": 0})
	root := model.Span{ProjectID: projA, TraceID: traceID, SpanID: SpanID("s-root"), SpanName: "invoke_agent billing-bot",
		StartedAt: T0, EndedAt: T0.Add(10 * time.Second), OperationName: model.OpInvokeAgent, AgentName: "billing-bot",
		ConversationID: "search-conv",
		InputMessages:  []model.Message{{Role: "user", Parts: []model.Part{{Type: model.PartText, Content: "Please refactor the payment processor to use retries."}}}},
		OutputMessages: []model.Message{{Role: "assistant", Parts: []model.Part{{Type: model.PartText, Content: "I refactored the processor; retries now back off exponentially."}}}},
	}
	chat := model.Span{ProjectID: projA, TraceID: traceID, SpanID: SpanID("s-chat"), ParentSpanID: root.SpanID, SpanName: "chat m",
		StartedAt: T0.Add(time.Second), EndedAt: T0.Add(3 * time.Second), OperationName: model.OpChat, ConversationID: "search-conv",
		SystemInstructions: []string{"You are a senior engineer who writes careful code, and code reviews."},
		InputMessages:      root.InputMessages,
		OutputMessages: []model.Message{{Role: "assistant", Parts: []model.Part{
			{Type: model.PartReasoning, Content: "I should inspect the gateway module first."},
			{Type: model.PartToolCall, ID: "c1", Name: "Bash", Arguments: json.RawMessage(`{"command":"grep -rn payment ./gateway"}`)},
		}}},
	}
	tool := model.Span{ProjectID: projA, TraceID: traceID, SpanID: SpanID("s-tool"), ParentSpanID: root.SpanID, SpanName: "execute_tool Bash",
		StartedAt: T0.Add(4 * time.Second), EndedAt: T0.Add(5 * time.Second), OperationName: model.OpExecuteTool, ConversationID: "search-conv",
		ToolName: "Bash", ToolCallArguments: `{"command":"grep -rn payment ./gateway"}`, ToolCallResult: string(result)}
	h.writeBoth(o, root, chat, tool)
	return root
}

func testSearch(h *harness) {
	o := newOracle()
	searchData(h, o)
	h.writeBoth(o, Flatten(BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "noise", Start: T0.Add(time.Hour), Turns: 2, CallsPerTurn: 2}))...)
	cases := []struct {
		name  string
		q     store.SearchQuery
		roles []string // expected roles of the hits, in order
	}{
		{"words in any order", store.SearchQuery{Query: "processor payment"}, []string{"user"}},
		{"phrase", store.SearchQuery{Query: `"payment processor"`}, []string{"user"}},
		{"phrase in the wrong order", store.SearchQuery{Query: `"processor payment"`}, nil},
		{"word and phrase", store.SearchQuery{Query: `retries "back off"`}, []string{"assistant"}},
		{"phrase of three words", store.SearchQuery{Query: `"writes careful code"`}, []string{"system"}},
		// Each pair of the phrase is in the body ("careful code", "code
		// reviews"), not the three words in a row.
		{"phrase of three words, its pairs apart", store.SearchQuery{Query: `"careful code reviews"`}, nil},
		{"roles filter", store.SearchQuery{Query: "processor", Roles: []string{"assistant"}}, []string{"assistant"}},
		{"two roles", store.SearchQuery{Query: "payment", Roles: []string{"tool_call", "tool_result"}}, []string{"tool_result", "tool_call"}},
		{"tool result inside JSON escapes", store.SearchQuery{Query: "gateway ok"}, []string{"tool_result"}},
		{"system instructions", store.SearchQuery{Query: "senior engineer"}, []string{"system"}},
		{"reasoning", store.SearchQuery{Query: "inspect"}, []string{"assistant"}},
		{"agent filter", store.SearchQuery{Query: "payment", AgentName: "billing-bot"}, []string{"tool_result", "tool_call", "user"}},
		{"agent filter, other agent", store.SearchQuery{Query: "payment", AgentName: "claude-code"}, nil},
		{"conversation filter", store.SearchQuery{Query: "payment", ConversationID: "noise"}, nil},
		// The arguments' first occurrence is the chat span's tool_call part (T0+1s).
		{"range", store.SearchQuery{Query: "payment", Range: store.TimeRange{From: T0.Add(2 * time.Second)}}, []string{"tool_result"}},
		{"limit", store.SearchQuery{Query: "payment", Limit: 2}, []string{"tool_result", "tool_call"}},
		{"offset", store.SearchQuery{Query: "payment", Limit: 2, Offset: 2}, []string{"user"}},
		{"no match", store.SearchQuery{Query: "xylophone"}, nil},
	}
	for _, tc := range cases {
		tc.q.ProjectID = projA
		got := h.search(tc.q)
		var roles []string
		for _, hit := range got {
			roles = append(roles, hit.Role)
		}
		if strings.Join(roles, ",") != strings.Join(tc.roles, ",") {
			h.t.Errorf("SearchMessages(%s, %q): got roles %v, want %v", tc.name, tc.q.Query, roles, tc.roles)
		}
		h.checkSearch(o, tc.q)
	}
	hits := h.search(store.SearchQuery{ProjectID: projA, Query: "processor payment", Roles: []string{"user"}})
	if len(hits) == 1 {
		hit := hits[0]
		if hit.SpanID != SpanID("s-root") || hit.ConversationID != "search-conv" || hit.AgentName != "billing-bot" || hit.OperationName != model.OpInvokeAgent || !hit.StartedAt.Equal(T0) {
			h.t.Errorf("hit: got %s, want the root span of search-conv", jsonOf(hit))
		}
		if want := "Please refactor the «payment» «processor» to use retries."; hit.Snippet != want {
			h.t.Errorf("snippet: got %q, want %q", hit.Snippet, want)
		}
	}
	_, err := h.s.SearchMessages(h.ctx, store.SearchQuery{ProjectID: projA, Query: "   "})
	h.expectInvalid("SearchMessages(blank)", err)
	_, err = h.s.SearchMessages(h.ctx, store.SearchQuery{ProjectID: projA, Query: "x", Limit: -1})
	h.expectInvalid("SearchMessages(limit -1)", err)
}

func testSearchDedup(h *harness) {
	o := newOracle()
	turns := BuildConversation(ConversationSpec{ProjectID: projA, ConversationID: "dedup", Start: T0, Turns: 4, CallsPerTurn: 3,
		FullHistory: true, SystemPrompt: SystemPrompt()})
	h.writeBoth(o, Flatten(turns)...)
	// The same conversation's first prompt, asked in another conversation.
	other := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: "dedup-2", Turn: 1, Start: T0.Add(2 * time.Hour),
		Prompt: turns[0].Added[0].Text(), Calls: 1})
	h.writeBoth(o, other.Spans...)
	prompt := turns[0].Added[0].Text()
	q := store.SearchQuery{ProjectID: projA, Query: `"` + prompt + `"`, Roles: []string{"user"}}
	hits := h.search(q)
	// Every chat span of every later turn repeats turn 1's prompt in its
	// input; each conversation still yields one hit, at the first occurrence.
	if len(hits) != 2 {
		h.t.Fatalf("search for a repeated prompt: got %d hits %s, want 2 (one per conversation)", len(hits), jsonOf(hitKeys(hits)))
	}
	if hits[0].ConversationID != "dedup-2" || hits[1].ConversationID != "dedup" || hits[1].SpanID != turns[0].Root.SpanID {
		h.t.Errorf("repeated prompt hits: got %s, want dedup-2 first, then dedup at turn 1's root", jsonOf(hitKeys(hits)))
	}
	h.checkSearch(o, q)
	h.checkSearch(o, store.SearchQuery{ProjectID: projA, Query: "Claude Code", Limit: store.MaxLimit})
	// Re-writing everything does not duplicate hits, and a conversation id
	// that becomes known later moves the hits.
	h.writeBoth(o, Flatten(turns)...)
	h.checkSearch(o, q)
	moved := other.Spans
	for i := range moved {
		moved[i].ConversationID = "dedup"
	}
	h.writeBoth(o, moved...)
	h.checkSearch(o, q)
	if hits := h.search(q); len(hits) != 1 {
		h.t.Errorf("after the second conversation merged into the first: got %d hits, want 1", len(hits))
	}
}

func testSearchSyntax(h *harness) {
	o := newOracle()
	searchData(h, o)
	for _, q := range []string{
		"NOT processor", "payment AND processor", "payment OR nothing", "hand*", "-payment", "payment:", `"unclosed phrase`,
		"(payment)", "NEAR(payment processor)", "body:payment", "^payment", "payment'", `payment""`, `"payment" "processor"`,
		"payment-processor", "payment.processor", "🙂 payment", "payment\x00processor", "ÉLÉPHANT",
	} {
		sq := store.SearchQuery{ProjectID: projA, Query: q, Limit: store.MaxLimit}
		if _, err := h.s.SearchMessages(h.ctx, sq); err != nil {
			h.t.Errorf("SearchMessages(%q): got error %v, want the words searched literally", q, err)
			continue
		}
		h.checkSearch(o, sq)
	}
	for _, q := range []string{"", "   ", "!!!", `""`, "* - :", strings.Repeat("a ", textsearch.MaxTerms+1), strings.Repeat("x", textsearch.MaxQueryBytes+1)} {
		_, err := h.s.SearchMessages(h.ctx, store.SearchQuery{ProjectID: projA, Query: q})
		h.expectInvalid(fmt.Sprintf("SearchMessages(%.20q)", q), err)
	}
}

func testSearchCase(h *harness) {
	h.skipIf(h.caps.CaseSensitiveSearch, "CaseSensitiveSearch")
	o := newOracle()
	searchData(h, o)
	h.writeBoth(o, fullSpan(projA))
	for _, tc := range []struct {
		q    string
		want int
	}{
		{"PAYMENT PROCESSOR", 1},
		{"payment gateway", 1},
		{"unicode", 1}, // "Ünïcödé" in fullSpan
		{"ÜNÏCÖDÉ", 1},
	} {
		hits := h.search(store.SearchQuery{ProjectID: projA, Query: tc.q, Roles: []string{"user", "tool_result"}})
		if len(hits) != tc.want {
			h.t.Errorf("SearchMessages(%q): got %d hits, want %d", tc.q, len(hits), tc.want)
		}
		h.checkSearch(o, store.SearchQuery{ProjectID: projA, Query: tc.q})
	}
}

// testSearchFresh checks the freshness clause of SearchMessages and of
// QueryConversations with Search: they see every write that returned
// before they were called, also while other writes are under way (a
// backend that indexes in the background catches up first).
func testSearchFresh(h *harness) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 12 {
				word := fmt.Sprintf("fresh%dx%dq", w, i) // one token
				conv := fmt.Sprintf("fresh-%d-%d", w, i)
				t := BuildTurn(TurnSpec{ProjectID: projA, ConversationID: conv, Turn: 1,
					Start: T0.Add(time.Duration(w*100+i) * time.Minute), Prompt: "please look at " + word, Calls: 2})
				if err := h.s.WriteSpans(h.ctx, t.Spans); err != nil {
					errs <- fmt.Errorf("WriteSpans: %w", err)
					return
				}
				hits, err := h.s.SearchMessages(h.ctx, store.SearchQuery{ProjectID: projA, Query: word})
				if err != nil || len(hits) != 1 || hits[0].ConversationID != conv {
					errs <- fmt.Errorf("SearchMessages(%q) right after its write: got %v, %v, want one hit in %s", word, jsonOf(hitKeys(hits)), err, conv)
					return
				}
				page, err := h.s.QueryConversations(h.ctx, store.ConversationQuery{ProjectID: projA, Search: word})
				if err != nil || page.Total != 1 || page.Conversations[0].ConversationID != conv {
					errs <- fmt.Errorf("QueryConversations(Search %q) right after its write: got %v (total %d), %v, want %s", word, keysOfPage(page), page.Total, err, conv)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		h.t.Error(err)
	}
}

// testSearchOnePerOccurrence: a text said once is one hit, however many
// spans carry it. A tool's output is said by its execute_tool span and
// repeated, as a JSON string, in the next call's input; a subagent's result
// is said by its invoke_agent span (which answers the Agent tool call) and
// repeated in the next call's input — the shape of a Claude Code turn.
func testSearchOnePerOccurrence(h *harness) {
	o := newOracle()
	traceID := TraceID("occurrence")
	at := func(ms int) time.Time { return T0.Add(time.Duration(ms) * time.Millisecond) }
	span := func(id, parent, op string, start, end int) model.Span {
		s := model.Span{ProjectID: projA, TraceID: traceID, SpanID: SpanID(id), SpanName: op, OperationName: op,
			StartedAt: at(start), EndedAt: at(end), ConversationID: "occ"}
		if parent != "" {
			s.ParentSpanID = SpanID(parent)
		}
		return s
	}
	text := func(role, s string) []model.Message {
		return []model.Message{{Role: role, Parts: []model.Part{{Type: model.PartText, Content: s}}}}
	}
	call := func(id, name, args string) []model.Message {
		return []model.Message{{Role: "assistant", Parts: []model.Part{{Type: model.PartToolCall, ID: id, Name: name, Arguments: json.RawMessage(args)}}}}
	}
	response := func(id, raw string) []model.Message {
		return []model.Message{{Role: "tool", Parts: []model.Part{{Type: model.PartToolCallResponse, ID: id, Response: json.RawMessage(raw)}}}}
	}
	const bashOut = "line one of notes\nline two of notes"
	const agentOut = "line one of notes\nagentId: a6f7 (use SendMessage to continue this agent)"
	root := span("o-root", "", model.OpInvokeAgent, 0, 1000)
	root.AgentName = "claude-code"
	root.InputMessages = text("user", "Use a subagent to find the first line of notes.txt")
	root.OutputMessages = text("assistant", "The subagent says: line one of notes")
	ask := span("o-chat1", "o-root", model.OpChat, 0, 100)
	ask.InputMessages = root.InputMessages
	ask.OutputMessages = call("toolu_agent", "Agent", `{"prompt":"Run cat notes.txt"}`)
	sub := span("o-sub", "o-root", model.OpInvokeAgent, 100, 800)
	sub.AgentName, sub.ToolCallID = "general-purpose", "toolu_agent"
	sub.InputMessages = text("user", "Run cat notes.txt")
	sub.OutputMessages = text("assistant", agentOut)
	subAsk := span("o-sub-chat1", "o-sub", model.OpChat, 150, 300)
	subAsk.InputMessages = sub.InputMessages
	subAsk.OutputMessages = call("toolu_bash", "Bash", `{"command":"cat notes.txt"}`)
	tool := span("o-bash", "o-sub", model.OpExecuteTool, 300, 400)
	tool.ToolName, tool.ToolCallID = "Bash", "toolu_bash"
	tool.ToolCallArguments, tool.ToolCallResult = `{"command":"cat notes.txt"}`, bashOut
	subAnswer := span("o-sub-chat2", "o-sub", model.OpChat, 400, 500)
	enc, _ := json.Marshal(bashOut)
	subAnswer.InputMessages = response("toolu_bash", string(enc))
	subAnswer.OutputMessages = text("assistant", "line one of notes")
	answer := span("o-chat2", "o-root", model.OpChat, 800, 1000)
	// Written with escapes the store's own encoding would not use: the
	// response comes back as written and still counts as its string.
	answer.InputMessages = response("toolu_agent", `"line one of n\u006ftes\nagentId: a6f7 (use SendMessage to continue this agent)"`)
	answer.OutputMessages = root.OutputMessages
	h.writeBoth(o, root, ask, sub, subAsk, tool, subAnswer, answer)
	q := store.SearchQuery{ProjectID: projA, Query: "line two of notes"}
	hits := h.search(q)
	if len(hits) != 1 || hits[0].SpanID != tool.SpanID || hits[0].Role != "tool_result" {
		h.t.Errorf("a tool's output (tool span, then the next call's input): got hits %s, want one, the execute_tool span's tool_result", jsonOf(hitKeys(hits)))
	}
	h.checkSearch(o, q)
	q = store.SearchQuery{ProjectID: projA, Query: "agentId SendMessage"}
	hits = h.search(q)
	if len(hits) != 1 || hits[0].SpanID != sub.SpanID || hits[0].Role != "tool_result" || hits[0].OperationName != model.OpInvokeAgent {
		h.t.Errorf("a subagent's result (its invoke_agent span, then the next call's input): got hits %s, want one, the invoke_agent span's tool_result", jsonOf(hitKeys(hits)))
	}
	h.checkSearch(o, q)
	h.checkSearch(o, store.SearchQuery{ProjectID: projA, Query: "notes", Limit: store.MaxLimit})
	h.checkSearch(o, store.SearchQuery{ProjectID: projA, Query: "notes", Roles: []string{"assistant"}})
	// The responses come back exactly as written.
	got := h.get(store.SpanKey{ProjectID: projA, TraceID: traceID, SpanID: answer.SpanID}, store.SpanKey{ProjectID: projA, TraceID: traceID, SpanID: subAnswer.SpanID})
	h.equalSpans("responses as written", sortedByStart(got), sortedByStart([]model.Span{subAnswer, answer}))
}

// checkConversationFilters: a conversation is kept when one of its spans
// matches the span filters (conv-short moves to another working directory
// and branch meanwhile).
func checkConversationFilters(h *harness, o *oracle, convs [][]Turn) {
	other := convs[1][0].Root
	moved := *other
	moved.CustomAttrsString = map[string]string{"weave.claude_code.cwd": "/home/dev/other", "weave.claude_code.git_branch": "feature/x"}
	h.writeBoth(o, moved)
	cwd := func(v string) []store.Filter {
		return []store.Filter{{Field: "custom_attrs_string.weave.claude_code.cwd", Op: "eq", Value: v}}
	}
	attrIs := func(k, v string) func(model.Span) bool {
		return func(s model.Span) bool { return s.CustomAttrsString[k] == v }
	}
	for _, tc := range []struct {
		name    string
		filters []store.Filter
		match   func(model.Span) bool
		want    int
	}{
		{"working directory", cwd("/home/dev/other"), attrIs("weave.claude_code.cwd", "/home/dev/other"), 1},
		{"the other working directory", cwd("/home/dev/project"), attrIs("weave.claude_code.cwd", "/home/dev/project"), 4},
		{"git branch", []store.Filter{{Field: "custom_attrs_string.weave.claude_code.git_branch", Op: "eq", Value: "feature/x"}},
			attrIs("weave.claude_code.git_branch", "feature/x"), 1},
		{"both on one span", append(cwd("/home/dev/project"), store.Filter{Field: "custom_attrs_string.weave.claude_code.git_branch", Op: "exists"}),
			func(s model.Span) bool { return false }, 0},
		{"a column: the subagent's spans", []store.Filter{{Field: "agent_name", Op: "eq", Value: "Explore"}},
			func(s model.Span) bool { return s.AgentName == "Explore" }, 2},
	} {
		h.checkConversationFilter(o, tc.name, store.ConversationQuery{ProjectID: projA, Filters: tc.filters}, tc.match, tc.want)
	}
	// With the agent filter and paging.
	h.checkConversationFilter(o, "cwd, agent Explore, page 2", store.ConversationQuery{ProjectID: projA, Filters: cwd("/home/dev/project"),
		AgentName: "Explore", Limit: 1, Offset: 1}, attrIs("weave.claude_code.cwd", "/home/dev/project"), 2)
	h.expectInvalid("QueryConversations(bad filter)", func() error {
		_, err := h.s.QueryConversations(h.ctx, store.ConversationQuery{ProjectID: projA, Filters: []store.Filter{{Field: "nope", Op: "eq", Value: "x"}}})
		return err
	}())
	h.writeBoth(o, *other)
}

// checkConversationSorts sorts on every field of
// store.ConversationSortFields both ways: each page comes in that field's
// order (ties in conversation_id order).
func checkConversationSorts(h *harness) {
	value := func(c store.ConversationSummary, field string) any {
		b, err := json.Marshal(c)
		if err != nil {
			h.t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			h.t.Fatal(err)
		}
		return m[field]
	}
	compare := func(a, b any) int {
		if a == nil || b == nil { // omitted when empty: the smallest
			return cmp.Compare(boolInt(a != nil), boolInt(b != nil))
		}
		switch x := a.(type) {
		case float64:
			return cmp.Compare(x, b.(float64))
		case string:
			ta, errA := time.Parse(time.RFC3339Nano, x)
			tb, errB := time.Parse(time.RFC3339Nano, b.(string))
			if errA == nil && errB == nil {
				return ta.Compare(tb)
			}
			return strings.Compare(x, b.(string))
		}
		h.t.Fatalf("conversation sort: cannot compare %T", a)
		return 0
	}
	for _, field := range slices.Sorted(maps.Keys(store.ConversationSortFields)) {
		for _, dir := range []string{"asc", "desc"} {
			page := h.conversations(store.ConversationQuery{ProjectID: projA,
				Sort: []store.Sort{{Field: field, Direction: dir}, {Field: "conversation_id", Direction: "asc"}}})
			if len(page.Conversations) != 5 {
				h.t.Errorf("QueryConversations(sort %s %s): got %d conversations, want 5", field, dir, len(page.Conversations))
			}
			for i := 1; i < len(page.Conversations); i++ {
				a, b := page.Conversations[i-1], page.Conversations[i]
				c := compare(value(a, field), value(b, field))
				if dir == "desc" {
					c = -c
				}
				if c > 0 || c == 0 && a.ConversationID > b.ConversationID {
					h.t.Errorf("QueryConversations(sort %s %s): %s (%v) before %s (%v)", field, dir,
						a.ConversationID, value(a, field), b.ConversationID, value(b, field))
				}
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// testConversationSearch checks the conversations page with a search, the
// page a store may answer newest first without grouping every match: the
// order by last activity (not by when the match was said), ties by
// conversation id, a conversation matching through several bodies listed
// once, fewer matches than a page, an offset past them, the total on every
// page, the figures those of the unfiltered page; a conversation whose
// only matching body was sent again without the words, and one that lost
// a matching trace to a delete but keeps another.
func testConversationSearch(h *harness) {
	turn := func(conv string, n int, start time.Duration, prompt string) []model.Span {
		return BuildTurn(TurnSpec{ProjectID: projA, ConversationID: conv, Turn: n, Start: T0.Add(start), Prompt: prompt, Calls: 2}).Spans
	}
	// s-e matched long ago and is the newest conversation; s-a matches
	// through two prompts; s-b and s-c end at the same time (same shape,
	// same start); s-d never matches; s-f matches only through its first
	// turn's prompt, rewritten below; s-g matches "walrus narwhal" only
	// through its middle turn, deleted below (its other turns stay, so the
	// deleted turn's time is still within the conversation's activity;
	// s-h says the same prompt, so the body stays stored).
	rewritten := turn("s-f", 1, 2*time.Minute, "quokka zephyr gone")
	gMiddle := turn("s-g", 2, 6*time.Minute, "walrus narwhal middle")
	aFirst := turn("s-a", 1, 0, "quokka zephyr one")
	for _, spans := range [][]model.Span{
		aFirst, turn("s-a", 2, 10*time.Minute, "quokka zephyr two"),
		turn("s-b", 1, 5*time.Minute, "quokka zephyr bravo"), turn("s-c", 1, 5*time.Minute, "quokka zephyr delta"),
		turn("s-d", 1, 20*time.Minute, "nothing of note here"),
		turn("s-e", 1, time.Minute, "the quokka zephyr first"), turn("s-e", 2, 30*time.Minute, "later words only"),
		rewritten, turn("s-f", 2, 3*time.Minute, "other words"),
		turn("s-g", 1, 4*time.Minute, "mellow opening"), gMiddle, turn("s-g", 3, 8*time.Minute, "mellow closing"),
		turn("s-h", 1, 9*time.Minute, "walrus narwhal middle"),
	} {
		h.write(spans...)
	}
	var all map[string]store.ConversationSummary // the unfiltered page's
	reread := func() {
		all = map[string]store.ConversationSummary{}
		for _, c := range h.conversations(store.ConversationQuery{ProjectID: projA}).Conversations {
			all[c.ConversationID] = c
		}
	}
	reread()
	if len(all) != 8 || !all["s-b"].LastActivity.Equal(all["s-c"].LastActivity) {
		h.t.Fatalf("test data: got %d conversations, s-b last %s, s-c last %s; want 8 and a tie", len(all), all["s-b"].LastActivity, all["s-c"].LastActivity)
	}
	// Each page is asked for with the exact total and without: a store may
	// then count only what it met (a lower bound that still says whether
	// a page follows).
	check := func(when, search string, limit, offset int, want []string, total int64) {
		h.t.Helper()
		for _, exact := range []bool{true, false} {
			page := h.conversations(store.ConversationQuery{ProjectID: projA, Search: search, Limit: limit, Offset: offset, ExactTotal: exact})
			end := int64(offset + len(page.Conversations))
			totalOK := page.Total == total && !page.TotalIsLowerBound
			if page.TotalIsLowerBound && !exact {
				totalOK = page.Total >= end && page.Total <= total && (page.Total > end) == (total > end)
			}
			if got := keysOfPage(page); strings.Join(got, "|") != strings.Join(want, "|") || !totalOK {
				h.t.Errorf("QueryConversations(%s, %q, limit %d, offset %d, exact total %t): got %v (total %d, lower bound %t), want %v (total %d)",
					when, search, limit, offset, exact, got, page.Total, page.TotalIsLowerBound, want, total)
			}
			for _, c := range page.Conversations {
				if w := all[c.ConversationID]; !reflect.DeepEqual(c, w) {
					h.t.Errorf("QueryConversations(%s, %q) %s:\ngot  %s\nwant %s", when, search, c.ConversationID, jsonOf(c), jsonOf(w))
				}
			}
		}
	}
	for _, q := range []string{"quokka zephyr", `"quokka zephyr"`, "zephyr"} {
		check("as written", q, 50, 0, []string{"s-e", "s-a", "s-b", "s-c", "s-f"}, 5)
	}
	check("as written", `"zephyr quokka"`, 50, 0, nil, 0)
	check("as written", "walrus narwhal", 50, 0, []string{"s-h", "s-g"}, 2)

	// s-f's first turn sent again, its prompt reworded: the body that
	// matched is no longer said in s-f.
	for i := range rewritten {
		for _, msgs := range []*[]model.Message{&rewritten[i].InputMessages, &rewritten[i].OutputMessages} {
			*msgs = slices.Clone(*msgs)
			for j, m := range *msgs {
				parts := slices.Clone(m.Parts)
				for k := range parts {
					parts[k].Content = strings.ReplaceAll(parts[k].Content, "quokka zephyr gone", "plain words gone")
				}
				(*msgs)[j].Parts = parts
			}
		}
	}
	h.write(rewritten...)
	if reread(); len(all) != 8 {
		h.t.Fatalf("test data: got %d conversations after the rewrite, want 8", len(all))
	}
	check("after a rewrite", "quokka zephyr", 50, 0, []string{"s-e", "s-a", "s-b", "s-c"}, 4)
	check("after a rewrite", "plain words", 50, 0, []string{"s-f"}, 1)
	if del, ok := h.s.(store.Deleter); ok {
		if _, err := del.Delete(h.ctx, store.Deletion{ProjectID: projA, TraceIDs: []string{aFirst[0].TraceID, gMiddle[0].TraceID}}); err != nil {
			h.t.Fatalf("Delete(s-a's first turn, s-g's middle turn): %v", err)
		}
		reread()
		check("after a delete", "walrus narwhal", 50, 0, []string{"s-h"}, 1)
	}
	check("all", "quokka zephyr", 50, 0, []string{"s-e", "s-a", "s-b", "s-c"}, 4)
	check("first page", "quokka zephyr", 2, 0, []string{"s-e", "s-a"}, 4)
	check("second page, a tie", "quokka zephyr", 2, 2, []string{"s-b", "s-c"}, 4)
	for i, want := range []string{"s-e", "s-a", "s-b", "s-c"} {
		check("one a page", "quokka zephyr", 1, i, []string{want}, 4)
	}
	check("offset past the matches", "quokka zephyr", 2, 4, nil, 4)
	check("far past the matches", "quokka zephyr", 10, 100, nil, 4)
	check("one match", "bravo", 10, 0, []string{"s-b"}, 1)
	check("no match", "quokka xylophone", 10, 0, nil, 0)
}
