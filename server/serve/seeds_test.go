package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weavetrace/weave/server/api"
	"github.com/weavetrace/weave/server/chatview"
	"github.com/weavetrace/weave/server/store"
)

// seedDir holds the seeds' example payloads (see its README).
const seedDir = "../testdata/seeds"

// startEmbedded runs a weave-server on the embedded store in a temporary
// directory.
func startEmbedded(t *testing.T) *running {
	t.Helper()
	cfg := testConfig(t)
	st, _, err := OpenStore(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return start(t, cfg, st)
}

// postFile sends a seed payload as OTLP/JSON to path and checks the answer.
func postFile(t *testing.T, r *running, path, file string) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join(seedDir, file))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(r.url+path, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(out), "rejected") {
		t.Fatalf("POST %s %s: got %d %s, want 200 with every span accepted", path, file, resp.StatusCode, out)
	}
}

// apiPost calls a read API endpoint and decodes the answer into out.
func apiPost(t *testing.T, r *running, path string, req, out any) {
	t.Helper()
	b, _ := json.Marshal(req)
	resp, err := http.Post(r.url+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s %s: got %d %s", path, b, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("POST %s: %v in %s", path, err, body)
	}
}

// TestSeedThreads replays the four thread examples of seed 004 ("Organize
// OTel traces into threads") through /otel/v1/traces and reads them back
// as the seed describes them: grouped by wandb.thread_id, each is_turn
// span a row (turn) of its thread, nested spans inside their turn, and
// example 4's background_indexing part of the thread but not a turn.
func TestSeedThreads(t *testing.T) {
	r := startEmbedded(t)
	for i := 1; i <= 4; i++ {
		postFile(t, r, "/otel/v1/traces", "threads_example_"+string(rune('0'+i))+".json")
	}
	const project = "seed-team/seed-threads"
	type turnWant struct {
		name, prompt, answer string
		spans                int
	}
	want := map[string]struct {
		turns      []turnWant
		background []string
	}{
		"thread_example_1": {turns: []turnWant{{"process_user_message", "Hello, help me with setup", "I'll help you get started with the setup process.", 2}}},
		"thread_conversation_123": {turns: []turnWant{
			{"process_message_turn1", "What programming languages do you recommend?", "I recommend Python for beginners and JavaScript for web development.", 2},
			{"process_message_turn2", "Can you explain Python vs JavaScript?", "Python excels at data science while JavaScript dominates web development.", 2}}},
		"thread_complex_456": {turns: []turnWant{{"handle_complex_request", "Analyze this code and suggest improvements", "Analysis complete with 2 improvement suggestions", 5}}},
		"thread_background_789": {turns: []turnWant{{"user_query", "Search my previous conversations", "Found 5 relevant conversations", 1}},
			background: []string{"background_indexing"}},
	}

	var page api.ConversationsPage
	apiPost(t, r, "/genai/conversations/query", map[string]any{"project_id": project, "sort": []store.Sort{{Field: "first_activity", Direction: "asc"}}}, &page)
	if page.Total != int64(len(want)) {
		t.Fatalf("conversations/query: got %d conversations, want %d: %+v", page.Total, len(want), page.Conversations)
	}
	for _, c := range page.Conversations {
		w, ok := want[c.ConversationID]
		if !ok {
			t.Errorf("conversations/query: unexpected conversation %q", c.ConversationID)
			continue
		}
		if c.TurnCount != int64(len(w.turns)) || c.BackgroundCount != int64(len(w.background)) || c.FirstPrompt != w.turns[0].prompt {
			t.Errorf("conversations/query %s: got %d turns, %d background, first prompt %q; want %d, %d, %q",
				c.ConversationID, c.TurnCount, c.BackgroundCount, c.FirstPrompt, len(w.turns), len(w.background), w.turns[0].prompt)
		}
	}

	for id, w := range want {
		var chat api.ConversationChat
		apiPost(t, r, "/genai/conversations/chat", map[string]any{"project_id": project, "conversation_id": id}, &chat)
		if chat.TurnCount != len(w.turns) || len(chat.Turns) != len(w.turns) || chat.BackgroundCount != len(w.background) {
			t.Errorf("conversations/chat %s: got %d turns (%d listed), %d background; want %d, %d", id, chat.TurnCount, len(chat.Turns),
				chat.BackgroundCount, len(w.turns), len(w.background))
			continue
		}
		for i, tw := range w.turns {
			turn := chat.Turns[i]
			if turn.RootSpanName != tw.name || turn.TurnSpanID != turn.RootSpanID || turn.SpanCount != tw.spans {
				t.Errorf("%s turn %d: got root %q (turn span %s, root %s), %d spans; want the is_turn span %q with %d spans",
					id, i, turn.RootSpanName, turn.TurnSpanID, turn.RootSpanID, turn.SpanCount, tw.name, tw.spans)
			}
			if got := messageText(turn.Messages, chatview.TypeUserMessage); got != tw.prompt {
				t.Errorf("%s turn %d: got prompt %q, want %q", id, i, got, tw.prompt)
			}
			if got := messageText(turn.Messages, chatview.TypeAssistantMessage); got != tw.answer {
				t.Errorf("%s turn %d: got answer %q, want %q", id, i, got, tw.answer)
			}
		}
		for i, name := range w.background {
			if b := chat.Background[i]; b.RootSpanName != name {
				t.Errorf("%s background %d: got %q, want %q", id, i, b.RootSpanName, name)
			}
		}
	}

	// traces/query: example 4's thread holds two traces, the background
	// operation first; the traces with a turn span are the five turns.
	var traces api.TracesPage
	apiPost(t, r, "/genai/traces/query", map[string]any{"project_id": project, "conversation_id": "thread_background_789",
		"sort": []store.Sort{{Field: "started_at", Direction: "asc"}}}, &traces)
	var names []string
	for _, tr := range traces.Traces {
		names = append(names, tr.RootSpanName)
		if tr.ConversationID != "thread_background_789" || tr.Status != store.TraceOK || tr.SpanCount != 1 {
			t.Errorf("traces/query %s: got conversation %q, status %q, %d spans", tr.RootSpanName, tr.ConversationID, tr.Status, tr.SpanCount)
		}
	}
	if strings.Join(names, ",") != "background_indexing,user_query" {
		t.Errorf("traces/query thread_background_789: got %v, want background_indexing then user_query", names)
	}
	apiPost(t, r, "/genai/traces/query", map[string]any{"project_id": project,
		"filters": []store.Filter{{Field: "is_turn", Op: "eq", Value: true}}}, &traces)
	if traces.Total != 5 {
		t.Errorf("traces/query with an is_turn span: got %d traces, want the 5 turns of the examples", traces.Total)
	}

	// spans/aggregate: the turn spans per thread, and the spans per thread
	// and is_turn (the nested spans leave it unset or false).
	var groups api.SpanGroups
	apiPost(t, r, "/genai/spans/aggregate", map[string]any{"project_id": project, "group_by": []string{"thread_id"},
		"filters": []store.Filter{{Field: "is_turn", Op: "eq", Value: true}}, "sort": []store.Sort{{Field: "thread_id", Direction: "asc"}}}, &groups)
	var got []string
	for _, g := range groups.Groups {
		got = append(got, fmt.Sprint(g.Key["thread_id"], "=", g.Count))
	}
	if want := "thread_background_789=1 thread_complex_456=1 thread_conversation_123=2 thread_example_1=1"; strings.Join(got, " ") != want {
		t.Errorf("spans/aggregate turns per thread: got %v, want %s", got, want)
	}
	apiPost(t, r, "/genai/spans/aggregate", map[string]any{"project_id": project, "group_by": []string{"thread_id", "is_turn"}}, &groups)
	counts := map[string]int64{}
	for _, g := range groups.Groups {
		counts[fmt.Sprint(g.Key["thread_id"], "/", g.Key["is_turn"])] = g.Count
	}
	if counts["thread_complex_456/false"] != 4 || counts["thread_complex_456/true"] != 1 || counts["thread_background_789/false"] != 1 || len(counts) != 8 {
		t.Errorf("spans/aggregate by thread and is_turn: got %v", counts)
	}
}

// messageText is the text of the last chat-view message of a type.
func messageText(ms []chatview.Message, typ string) string {
	text := ""
	for _, m := range ms {
		if m.Type == typ {
			text = m.Text
		}
	}
	return text
}

// TestSeedPaths posts seed 004's uninstrumented example to every path a
// seed names for OTLP traces — W&B's /otel/v1/traces and, on dedicated
// deployments, /traces/otel/v1/traces (seed 004), the spike's
// /otel/v1/genai/traces (seed 000), the Claude Code tracer's
// /agents/otel/v1/traces (seed 002) — and the OTLP default /v1/traces,
// and reads the span back as the seed describes it: the messages of
// input.value as its input, output.value's content as its answer, openai
// as its provider (gen_ai.system).
func TestSeedPaths(t *testing.T) {
	r := startEmbedded(t)
	const project = "seed-team/seed-otel"
	for _, path := range []string{"/otel/v1/traces", "/traces/otel/v1/traces", "/otel/v1/genai/traces", "/agents/otel/v1/traces", "/v1/traces"} {
		t.Run(path, func(t *testing.T) {
			postFile(t, r, path, "without_instrumentation.json")
			var page api.SpansPage
			apiPost(t, r, "/genai/spans/query", map[string]any{"project_id": project, "include_details": true}, &page)
			if page.Total != 1 || len(page.Spans) != 1 {
				t.Fatalf("spans/query: got %d spans, want the one outer_span", page.Total)
			}
			s := page.Spans[0]
			if s.SpanName != "outer_span" || s.ProviderName != "openai" || len(s.InputMessages) != 1 || s.InputMessages[0].Role != "user" ||
				s.InputMessages[0].Text() != "Describe OTel in a single sentence." || len(s.OutputMessages) != 1 ||
				s.OutputMessages[0].Text() != "OpenTelemetry is an open standard for collecting traces, metrics and logs." {
				t.Errorf("outer_span: got %s, provider %q, input %+v, output %+v", s.SpanName, s.ProviderName, s.InputMessages, s.OutputMessages)
			}
		})
	}
}
