package api

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/chatview"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/sqlite"
)

const project = "local/default"

var base = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func ms(n int) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }
func n64(v int64) *int64 { return &v }

func textMsg(role, s string) []model.Message {
	return []model.Message{{Role: role, Parts: []model.Part{{Type: model.PartText, Content: s}}}}
}

// fixture is two Claude Code turns of one conversation — the second in a
// fork and still running — and one turn of another producer without a
// conversation id.
func fixture() []model.Span {
	tr1, tr2, tr3 := fmt.Sprintf("%032x", 0xa1), fmt.Sprintf("%032x", 0xa2), fmt.Sprintf("%032x", 0xa3)
	sess := func(id, parent string) map[string]string {
		m := map[string]string{semconv.KeySessionID: id}
		if parent != "" {
			m[semconv.KeyParentSessionID] = parent
		}
		return m
	}
	root := func(trace, id string, start, end int, prompt, out string, attrs map[string]string) model.Span {
		s := model.Span{ProjectID: project, TraceID: trace, SpanID: id, SpanName: "invoke_agent claude-code",
			SpanKind: model.KindInternal, StartedAt: ms(start), StatusCode: model.StatusUnset,
			OperationName: model.OpInvokeAgent, AgentName: "claude-code", AgentVersion: "2.1.197",
			ConversationID: "sess-a", RequestModel: "claude-sonnet-4-5", CustomAttrsString: attrs,
			InputMessages: textMsg("user", prompt)}
		if end >= 0 {
			s.EndedAt = ms(end)
		}
		if out != "" {
			s.OutputMessages = textMsg("assistant", out)
		}
		return s
	}
	chat := func(trace, id, parent string, start, end int, in, out int64, parts ...model.Part) model.Span {
		return model.Span{ProjectID: project, TraceID: trace, SpanID: id, ParentSpanID: parent,
			SpanName: "chat claude-sonnet-4-5", SpanKind: model.KindClient, StartedAt: ms(start), EndedAt: ms(end),
			StatusCode: model.StatusUnset, OperationName: model.OpChat, ProviderName: "anthropic",
			ConversationID: "sess-a", RequestModel: "claude-sonnet-4-5", ResponseModel: "claude-sonnet-4-5",
			InputTokens: n64(in), OutputTokens: n64(out),
			OutputMessages: []model.Message{{Role: "assistant", Parts: parts}}}
	}
	tool := func(trace, id, parent string, start, end int, name, args, result string) model.Span {
		s := model.Span{ProjectID: project, TraceID: trace, SpanID: id, ParentSpanID: parent,
			SpanName: "execute_tool " + name, SpanKind: model.KindInternal, StartedAt: ms(start),
			StatusCode: model.StatusUnset, OperationName: model.OpExecuteTool, ConversationID: "sess-a",
			ToolName: name, ToolCallID: "toolu_" + id, ToolCallArguments: args, ToolCallResult: result}
		if end >= 0 {
			s.EndedAt = ms(end)
		}
		return s
	}
	return []model.Span{
		root(tr1, "00000000000000b1", 0, 9000, "Run echo hello, then read notes.txt", "notes.txt says hi", sess("sess-a", "")),
		chat(tr1, "00000000000000b2", "00000000000000b1", 10, 1200, 100, 20,
			model.Part{Type: model.PartText, Content: "I'll run it."},
			model.Part{Type: model.PartToolCall, ID: "toolu_1", Name: "Bash", Arguments: json.RawMessage(`{"command":"echo hello"}`)}),
		tool(tr1, "00000000000000b3", "00000000000000b1", 1300, 1500, "Bash", `{"command":"echo hello"}`, "hello\n"),
		chat(tr1, "00000000000000b4", "00000000000000b1", 1600, 8900, 120, 30,
			model.Part{Type: model.PartText, Content: "notes.txt says hi"}),

		root(tr2, "00000000000000c1", 60000, -1, "Now try the other approach", "", sess("sess-b", "sess-a")),
		chat(tr2, "00000000000000c2", "00000000000000c1", 60010, 61000, 200, 15,
			model.Part{Type: model.PartToolCall, ID: "toolu_2", Name: "Bash", Arguments: json.RawMessage(`{"command":"make"}`)}),
		tool(tr2, "00000000000000c3", "00000000000000c1", 61100, -1, "Bash", `{"command":"make"}`, ""),

		{ProjectID: project, TraceID: tr3, SpanID: "00000000000000d1", SpanName: "invoke_agent Assistant",
			SpanKind: model.KindInternal, StartedAt: ms(120000), EndedAt: ms(121000), StatusCode: model.StatusError,
			ErrorType: "rate_limit", OperationName: model.OpInvokeAgent, AgentName: "Assistant", AgentVersion: "1.0",
			InputMessages: textMsg("user", "What is the capital of France?"), OutputMessages: textMsg("assistant", "Paris"),
			InputTokens: n64(30), OutputTokens: n64(2)},
	}
}

func sqliteHandler(t *testing.T) *Handler {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "weave.db"), sqlite.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.WriteSpans(ctx, fixture()); err != nil {
		t.Fatal(err)
	}
	return New(Settings{Store: st})
}

// call posts body to path and decodes the 200 answer into out.
func call(t *testing.T, h *Handler, path, body string, out any) {
	t.Helper()
	status, m := do(t, h, "POST", path, body)
	if status != 200 {
		t.Fatalf("%s %s: got %d %v, want 200", path, body, status, m)
	}
	b, _ := json.Marshal(m)
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: decode answer: %v", path, err)
	}
}

func TestSQLiteSpans(t *testing.T) {
	h := sqliteHandler(t)

	var page SpansPage
	call(t, h, "/genai/spans/query", `{"project_id":"local/default",
		"filters":[{"field":"operation_name","op":"eq","value":"execute_tool"}],
		"sort":[{"field":"started_at","direction":"asc"}]}`, &page)
	if page.Total != 2 || len(page.Spans) != 2 || page.Spans[0].SpanID != "00000000000000b3" {
		t.Fatalf("tools: got total %d, %d spans, want 2 starting with b3", page.Total, len(page.Spans))
	}
	if page.Spans[0].ToolCallResult != "" {
		t.Errorf("without include_details: got tool result %q, want empty", page.Spans[0].ToolCallResult)
	}
	call(t, h, "/genai/spans/query", `{"project_id":"local/default","include_details":true,
		"filters":[{"field":"custom_attrs_string.weave.claude_code.session.id","op":"eq","value":"sess-a"}]}`, &page)
	if page.Total != 1 || page.Spans[0].SpanID != "00000000000000b1" || len(page.Spans[0].InputMessages) != 1 {
		t.Errorf("session filter: got %d spans %v, want the sess-a root with details", page.Total, page.Spans)
	}
	call(t, h, "/genai/spans/query", `{"project_id":"local/default","limit":2,"offset":1,
		"filters":[{"field":"input_tokens","op":"gte","value":100}],"sort":[{"field":"input_tokens","direction":"desc"}]}`, &page)
	if page.Total != 3 || len(page.Spans) != 2 || *page.Spans[0].InputTokens != 120 || page.Limit != 2 || page.Offset != 1 {
		t.Errorf("token filter page: got total %d, %d spans, first %v", page.Total, len(page.Spans), page.Spans)
	}
	call(t, h, "/genai/spans/query", `{"project_id":"local/default","filters":[{"field":"ended_at","op":"not_exists"}]}`, &page)
	if page.Total != 2 {
		t.Errorf("running spans: got %d, want 2", page.Total)
	}
	call(t, h, "/genai/spans/query", `{"project_id":"other/project"}`, &page)
	if page.Total != 0 || page.Spans == nil {
		t.Errorf("other project: got %d spans (nil=%v), want 0 and an empty list", page.Total, page.Spans == nil)
	}

	var tr TraceSpans
	call(t, h, "/genai/spans/trace", `{"project_id":"local/default","trace_id":"`+fmt.Sprintf("%032x", 0xa1)+`"}`, &tr)
	if len(tr.Spans) != 4 || tr.Spans[2].ToolCallResult != "hello\n" {
		t.Errorf("trace: got %d spans, want 4 with details", len(tr.Spans))
	}

	var active ActiveSpans
	call(t, h, "/genai/spans/active", `{"project_id":"local/default"}`, &active)
	if len(active.Spans) != 2 || active.Spans[0].SpanID != "00000000000000c3" {
		t.Errorf("active: got %v, want c3 then c1", active.Spans)
	}
}

func TestSQLiteChatViews(t *testing.T) {
	h := sqliteHandler(t)

	var tv chatview.Trace
	call(t, h, "/genai/traces/chat", `{"project_id":"local/default","trace_id":"`+fmt.Sprintf("%032x", 0xa1)+`"}`, &tv)
	var got []string
	for _, m := range tv.Messages {
		got = append(got, m.Type)
	}
	want := []string{"user_message", "agent_start", "assistant_message", "tool_call", "assistant_message"}
	if !slices.Equal(got, want) {
		t.Errorf("turn messages: got %v, want %v", got, want)
	}
	if tv.Usage.InputTokens != 220 || tv.Usage.OutputTokens != 50 || tv.Running || tv.SessionID != "sess-a" {
		t.Errorf("turn: got usage %+v running %v session %q", tv.Usage, tv.Running, tv.SessionID)
	}

	var cv ConversationChat
	call(t, h, "/genai/conversations/chat", `{"project_id":"local/default","conversation_id":"sess-a"}`, &cv)
	if cv.TurnCount != 2 || len(cv.Turns) != 2 || !cv.Running || len(cv.Sessions) != 2 {
		t.Fatalf("conversation: got %d turns, running %v, %d sessions", cv.TurnCount, cv.Running, len(cv.Sessions))
	}
	if s := cv.Sessions[1]; s.SessionID != "sess-b" || s.ParentSessionID != "sess-a" || s.FirstTurnIndex != 1 {
		t.Errorf("fork session: got %+v", s)
	}
	if t2 := cv.Turns[1]; !t2.Running || t2.Messages[0].Text != "Now try the other approach" || t2.Usage.InputTokens != 200 {
		t.Errorf("running turn: got running %v first %q usage %+v", t2.Running, t2.Messages[0].Text, t2.Usage)
	}

	var page ConversationsPage
	call(t, h, "/genai/conversations/query", `{"project_id":"local/default"}`, &page)
	if page.Total != 2 || len(page.Conversations) != 2 {
		t.Fatalf("conversations: got %d", page.Total)
	}
	var a *struct{}
	_ = a
	for _, c := range page.Conversations {
		if c.ConversationID == "sess-a" && (c.TurnCount != 2 || c.FirstPrompt != "Run echo hello, then read notes.txt" || c.InputTokens != 420) {
			t.Errorf("sess-a summary: got %+v", c)
		}
	}
	call(t, h, "/genai/conversations/query", `{"project_id":"local/default","agent_name":"Assistant"}`, &page)
	if page.Total != 1 || !strings.HasPrefix(page.Conversations[0].ConversationID, "trace:") {
		t.Errorf("conversations of Assistant: got %+v", page.Conversations)
	}
	call(t, h, "/genai/conversations/query", `{"project_id":"local/default","search":"capital France"}`, &page)
	if page.Total != 1 {
		t.Errorf("conversations matching a search: got %d, want 1", page.Total)
	}
}

func TestSQLiteAgentsAndSearch(t *testing.T) {
	h := sqliteHandler(t)

	var agents AgentsPage
	call(t, h, "/genai/agents/query", `{"project_id":"local/default","sort":[{"field":"agent_name","direction":"asc"}]}`, &agents)
	if len(agents.Agents) != 2 || agents.Agents[0].AgentName != "Assistant" || agents.Agents[1].InvocationCount != 2 {
		t.Errorf("agents: got %+v", agents.Agents)
	}
	var vs AgentVersions
	call(t, h, "/genai/agents/versions", `{"project_id":"local/default","agent_name":"claude-code"}`, &vs)
	if len(vs.Versions) != 1 || vs.Versions[0].AgentVersion != "2.1.197" {
		t.Errorf("versions: got %+v", vs.Versions)
	}
	var m AgentMetrics
	call(t, h, "/genai/agents/metrics", `{"project_id":"local/default","from":"2026-05-01T00:00:00Z","to":"2026-05-02T00:00:00Z"}`, &m)
	if m.BucketSeconds != 3600 || len(m.Buckets) == 0 {
		t.Errorf("metrics: got width %d, %d buckets", m.BucketSeconds, len(m.Buckets))
	}

	var res SearchResults
	call(t, h, "/genai/messages/search", `{"project_id":"local/default","query":"notes"}`, &res)
	if len(res.Hits) == 0 {
		t.Fatal("search notes: no hits")
	}
	hit := res.Hits[0]
	var matched bool
	for _, p := range hit.SnippetParts {
		matched = matched || (p.Match && strings.EqualFold(p.Text, "notes"))
	}
	if !matched || strings.ContainsAny(hit.Snippet, "«»") {
		t.Errorf("hit: got snippet %q parts %+v, want plain text with a match on notes", hit.Snippet, hit.SnippetParts)
	}
	call(t, h, "/genai/messages/search", `{"project_id":"local/default","query":"make","roles":["tool_call"]}`, &res)
	if len(res.Hits) != 1 || res.Hits[0].Role != "tool_call" {
		t.Errorf("search tool_call: got %+v", res.Hits)
	}
}

func TestSQLiteAnnotationsAndProjects(t *testing.T) {
	h := sqliteHandler(t)
	var up AnnotationResponse
	call(t, h, "/genai/annotations/upsert",
		`{"project_id":"local/default","ref":"agent_conversation/trace:abc","kind":"note","value":"ok","author":"me"}`, &up)
	if up.Annotation.ID == "" || up.Annotation.Ref != "agent_conversation/trace%3Aabc" || up.Annotation.CreatedAt.IsZero() {
		t.Fatalf("upsert: got %+v", up.Annotation)
	}
	call(t, h, "/genai/annotations/upsert",
		`{"project_id":"local/default","id":"`+up.Annotation.ID+`","ref":"agent_conversation/trace%3aabc","kind":"note","value":"better"}`, &up)
	var q Annotations
	call(t, h, "/genai/annotations/query", `{"project_id":"local/default","refs":["agent_conversation/trace:abc"]}`, &q)
	if len(q.Annotations) != 1 || q.Annotations[0].Value != "better" {
		t.Errorf("query after replace: got %+v", q.Annotations)
	}
	var del AnnotationDeleted
	call(t, h, "/genai/annotations/delete", `{"project_id":"local/default","id":"`+up.Annotation.ID+`"}`, &del)
	status, body := do(t, h, "POST", "/genai/annotations/delete", `{"project_id":"local/default","id":"`+up.Annotation.ID+`"}`)
	if code, field, _ := errOf(t, body); status != 404 || code != CodeNotFound || field != "id" {
		t.Errorf("second delete: got %d %s %s, want 404 not_found id", status, code, field)
	}

	status, body = do(t, h, "GET", "/genai/projects", "")
	if status != 200 || fmt.Sprint(body["projects"]) != "[local/default]" {
		t.Errorf("projects: got %d %v", status, body)
	}

	// A query the store rejects is a 400 carrying the store's reason.
	status, body = do(t, h, "POST", "/genai/spans/query",
		`{"project_id":"local/default","filters":[{"field":"input_tokens","op":"contains","value":"x"}]}`)
	if code, _, msg := errOf(t, body); status != 400 || code != CodeInvalidArgument {
		t.Errorf("store-rejected filter: got %d %s %q, want 400", status, code, msg)
	}
}

// TestSQLiteAgentMetricsAllTime: a project whose spans lie centuries apart
// (the extremes weave stores) still gets its "All time" chart, as the
// Agents page asks for it (from the first to the last span, no bucket
// width): the server picks whole weeks giving at most 60 buckets instead
// of refusing 7-day buckets past 10,000 of them.
func TestSQLiteAgentMetricsAllTime(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "weave.db"), sqlite.Settings{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	first := time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC) // 250 years: past 10,000 weeks
	last := time.Date(2050, 6, 1, 0, 0, 0, 0, time.UTC)
	var spans []model.Span
	for i, at := range []time.Time{first, base, last} {
		spans = append(spans, model.Span{ProjectID: project, TraceID: fmt.Sprintf("%032x", 0xe0+i), SpanID: fmt.Sprintf("%016x", 0xe0+i),
			SpanName: "invoke_agent far", OperationName: model.OpInvokeAgent, AgentName: "far", StartedAt: at, EndedAt: at.Add(time.Second)})
	}
	if err := st.WriteSpans(ctx, spans); err != nil {
		t.Fatal(err)
	}
	h := New(Settings{Store: st})
	var agents struct {
		Agents []struct {
			FirstSeen time.Time `json:"first_seen"`
			LastSeen  time.Time `json:"last_seen"`
		} `json:"agents"`
	}
	call(t, h, "/genai/agents/query", `{"project_id":"`+project+`"}`, &agents)
	if len(agents.Agents) != 1 {
		t.Fatalf("%d agents, want 1", len(agents.Agents))
	}
	a := agents.Agents[0]
	for _, body := range []string{
		// What the page sends for "All time": the agent's first and last activity.
		fmt.Sprintf(`{"project_id":%q,"from":%q,"to":%q}`, project, a.FirstSeen.Format(time.RFC3339Nano), a.LastSeen.Add(time.Second).Format(time.RFC3339Nano)),
		fmt.Sprintf(`{"project_id":%q,"agent_name":"far","from":%q,"to":%q}`, project, a.FirstSeen.Format(time.RFC3339Nano), a.LastSeen.Format(time.RFC3339Nano)),
		// The widest window there is.
		fmt.Sprintf(`{"project_id":%q,"from":"1690-01-01T00:00:00Z","to":"2260-01-01T00:00:00Z"}`, project),
		// No window at all: the data's extent.
		fmt.Sprintf(`{"project_id":%q}`, project),
	} {
		var m AgentMetrics
		call(t, h, "/genai/agents/metrics", body, &m)
		const week = 7 * 24 * 3600
		if body != fmt.Sprintf(`{"project_id":%q}`, project) && (m.BucketSeconds <= 0 || m.BucketSeconds%week != 0) {
			t.Errorf("%s: bucket_seconds %d, want whole weeks", body, m.BucketSeconds)
		}
		var invocations int64
		for _, b := range m.Buckets {
			invocations += b.InvocationCount
		}
		if len(m.Buckets) == 0 || len(m.Buckets) > 61 || invocations != 3 {
			t.Errorf("%s: %d buckets holding %d invocations, want 1..61 holding 3", body, len(m.Buckets), invocations)
		}
	}
	// An explicit width that would make more than 10,000 buckets is still
	// refused, with a message saying what to do.
	status, out := do(t, h, "POST", "/genai/agents/metrics", fmt.Sprintf(`{"project_id":%q,"bucket_seconds":604800,"from":"1700-01-01T00:00:00Z","to":"2250-01-01T00:00:00Z"}`, project))
	if code, field, msg := errOf(t, out); status != 400 || field != "bucket_seconds" || !strings.Contains(msg, "use wider buckets") {
		t.Errorf("explicit 7-day buckets over 550 years: got %d %s %s %q, want 400 on bucket_seconds", status, code, field, msg)
	}
}

// TestSQLiteThumbsReplace: one current thumbs per (ref, author). A second
// thumbs on a target replaces the author's first, whatever id it comes
// with; another author's thumbs stays (issue 16 item 6).
func TestSQLiteThumbsReplace(t *testing.T) {
	h := sqliteHandler(t)
	ref := "agent_span/00000000000000b2"
	up := func(body string) AnnotationResponse {
		t.Helper()
		var r AnnotationResponse
		call(t, h, "/genai/annotations/upsert", body, &r)
		return r
	}
	first := up(`{"project_id":"local/default","ref":"` + ref + `","kind":"thumbs","value":"up","author":"ann"}`)
	second := up(`{"project_id":"local/default","ref":"` + ref + `","kind":"thumbs","value":"down","author":"ann"}`)
	if second.Annotation.ID != first.Annotation.ID {
		t.Errorf("second thumbs without an id: got id %s, want the first's %s (replaced)", second.Annotation.ID, first.Annotation.ID)
	}
	up(`{"project_id":"local/default","id":"my-own-id","ref":"` + ref + `","kind":"thumbs","value":"up","author":"ann"}`)
	up(`{"project_id":"local/default","ref":"` + ref + `","kind":"thumbs","value":"down","author":"bob"}`)
	up(`{"project_id":"local/default","ref":"` + ref + `","kind":"note","value":"a note is not a thumbs","author":"ann"}`)
	var q Annotations
	call(t, h, "/genai/annotations/query", `{"project_id":"local/default","refs":["`+ref+`"],"kind":"thumbs"}`, &q)
	got := map[string]string{}
	for _, a := range q.Annotations {
		if _, dup := got[a.Author]; dup {
			t.Errorf("author %s has more than one thumbs: %+v", a.Author, q.Annotations)
		}
		got[a.Author] = fmt.Sprintf("%s=%v", a.ID, a.Value)
	}
	if want := map[string]string{"ann": "my-own-id=up", "bob": got["bob"]}; len(got) != 2 || got["ann"] != want["ann"] || !strings.HasSuffix(got["bob"], "=down") {
		t.Errorf("thumbs after ann's three and bob's one: got %v, want ann's latest (my-own-id=up) and bob's down", got)
	}
}

// TestSQLiteAnnotationTarget: an annotation on a target not stored (yet) is
// kept, and the answer says so (target_found), for every ref kind; so does
// a query that asks (with_target).
func TestSQLiteAnnotationTarget(t *testing.T) {
	h := sqliteHandler(t)
	want := map[string]bool{} // ref → target found
	for _, tc := range []struct {
		ref   string
		found bool
	}{
		{"agent_span/00000000000000b3", true},
		{"agent_span/00000000000000ff", false},
		{"agent_turn/" + fmt.Sprintf("%032x", 0xa2), true},
		{"agent_turn/" + fmt.Sprintf("%032x", 0xff), false},
		{"agent_conversation/sess-a", true},
		{"agent_conversation/sess-zz", false},
		{"agent/claude-code", true},
		{"agent/nobody", false},
	} {
		var r AnnotationResponse
		call(t, h, "/genai/annotations/upsert", `{"project_id":"local/default","ref":"`+tc.ref+`","kind":"note","value":"x"}`, &r)
		if r.TargetFound != tc.found || r.Annotation.ID == "" {
			t.Errorf("note on %s: got target_found %v (id %q), want %v and the note kept", tc.ref, r.TargetFound, r.Annotation.ID, tc.found)
		}
		want[tc.ref] = tc.found
	}
	// Later, a query says which annotations wait for their target
	// (with_target), and only when asked.
	var q struct {
		Annotations []map[string]any `json:"annotations"`
	}
	call(t, h, "/genai/annotations/query", `{"project_id":"local/default","with_target":true}`, &q)
	if len(q.Annotations) != len(want) {
		t.Fatalf("query with_target: %d annotations, want %d", len(q.Annotations), len(want))
	}
	for _, a := range q.Annotations {
		if got, ok := a["target_found"].(bool); !ok || got != want[a["ref"].(string)] {
			t.Errorf("query with_target: %s has target_found %v, want %v", a["ref"], a["target_found"], want[a["ref"].(string)])
		}
	}
	var plain struct {
		Annotations []map[string]any `json:"annotations"`
	}
	call(t, h, "/genai/annotations/query", `{"project_id":"local/default"}`, &plain)
	if _, ok := plain.Annotations[0]["target_found"]; ok {
		t.Errorf("query without with_target: got target_found in %v", plain.Annotations[0])
	}
}

// TestSQLiteConversationWorkplace: the list says where each conversation
// ran (working directory and git branch of its latest turn) and filters on
// both (issue 16 item 9).
func TestSQLiteConversationWorkplace(t *testing.T) {
	h := sqliteHandler(t)
	st := h.s.Store.(interface {
		WriteSpans(context.Context, []model.Span) error
	})
	turn := func(conv, trace, cwd, branch string, start int) model.Span {
		return model.Span{ProjectID: project, TraceID: trace, SpanID: trace[16:], SpanName: "invoke_agent claude-code",
			SpanKind: model.KindInternal, StartedAt: ms(start), EndedAt: ms(start + 1000), StatusCode: model.StatusUnset,
			OperationName: model.OpInvokeAgent, AgentName: "claude-code", ConversationID: conv,
			InputMessages:     textMsg("user", "Same prompt everywhere"),
			CustomAttrsString: map[string]string{semconv.KeyCwd: cwd, semconv.KeyGitBranch: branch}}
	}
	if err := st.WriteSpans(context.Background(), []model.Span{
		turn("w-1", fmt.Sprintf("%032x", 0xe1), "/src/weave", "main", 200000),
		turn("w-1", fmt.Sprintf("%032x", 0xe2), "/src/weave", "fix-search", 210000), // the latest turn
		turn("w-2", fmt.Sprintf("%032x", 0xe3), "/src/other", "main", 220000),
	}); err != nil {
		t.Fatal(err)
	}
	var page ConversationsPage
	call(t, h, "/genai/conversations/query", `{"project_id":"local/default"}`, &page)
	got := map[string]string{}
	for _, c := range page.Conversations {
		got[c.ConversationID] = c.WorkingDir + "@" + c.GitBranch
	}
	if got["w-1"] != "/src/weave@fix-search" || got["w-2"] != "/src/other@main" || got["sess-a"] != "@" {
		t.Errorf("workplaces: got %v, want w-1 at its latest turn's /src/weave@fix-search, w-2 at /src/other@main, sess-a none", got)
	}
	for _, tc := range []struct {
		body string
		want string
	}{
		{`"working_dir":"/src/weave"`, "w-1"},
		{`"git_branch":"main"`, "w-2,w-1"},
		{`"working_dir":"/src/other","git_branch":"main"`, "w-2"},
		{`"working_dir":"/src/weave","git_branch":"nope"`, ""},
	} {
		call(t, h, "/genai/conversations/query", `{"project_id":"local/default",`+tc.body+`}`, &page)
		var ids []string
		for _, c := range page.Conversations {
			ids = append(ids, c.ConversationID)
		}
		if strings.Join(ids, ",") != tc.want || page.Total != int64(len(ids)) {
			t.Errorf("filter %s: got %v (total %d), want %s", tc.body, ids, page.Total, tc.want)
		}
	}
}

// lookupsCounted counts the trace and span reads made through it.
type lookupsCounted struct {
	Backend
	n atomic.Int64
}

func (c *lookupsCounted) QueryTraces(ctx context.Context, q store.TraceQuery) ([]store.TraceSummary, int64, error) {
	c.n.Add(1)
	return c.Backend.QueryTraces(ctx, q)
}

func (c *lookupsCounted) QuerySpans(ctx context.Context, q store.SpanQuery) ([]model.Span, int64, error) {
	c.n.Add(1)
	return c.Backend.QuerySpans(ctx, q)
}

// TestConversationPlacesNoLookups: where each conversation ran comes with
// its summary from the store, with no trace or span read per row, and a
// new turn in another place shows at once.
func TestConversationPlacesNoLookups(t *testing.T) {
	counted := &lookupsCounted{Backend: sqliteHandler(t).s.Store}
	h := New(Settings{Store: counted})
	st := counted.Backend.(interface {
		WriteSpans(context.Context, []model.Span) error
	})
	turn := func(trace int, branch string, start int) model.Span {
		id := fmt.Sprintf("%032x", trace)
		return model.Span{ProjectID: project, TraceID: id, SpanID: id[16:], SpanName: "invoke_agent claude-code",
			StartedAt: ms(start), EndedAt: ms(start + 1000), OperationName: model.OpInvokeAgent, AgentName: "claude-code", ConversationID: "c-1",
			CustomAttrsString: map[string]string{semconv.KeyCwd: "/src/weave", semconv.KeyGitBranch: branch}}
	}
	list := func() (branch string, lookups int64) {
		t.Helper()
		before := counted.n.Load()
		var page ConversationsPage
		call(t, h, "/genai/conversations/query", `{"project_id":"local/default"}`, &page)
		for _, c := range page.Conversations {
			if c.ConversationID == "c-1" {
				branch = c.GitBranch
			}
		}
		return branch, counted.n.Load() - before
	}
	if err := st.WriteSpans(context.Background(), []model.Span{turn(0xf1, "main", 300000)}); err != nil {
		t.Fatal(err)
	}
	if got, n := list(); got != "main" || n != 0 {
		t.Errorf("first load: got %q with %d lookups, want main with none", got, n)
	}
	if err := st.WriteSpans(context.Background(), []model.Span{turn(0xf2, "later", 400000)}); err != nil {
		t.Fatal(err)
	}
	if got, n := list(); got != "later" || n != 0 {
		t.Errorf("after a new turn: got %q with %d lookups, want later with none", got, n)
	}
}
