package agentharness

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/weavetrace/weave/internal/serverproc"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spans"
)

// BuildWeave builds weave-hook, weave-agentd and weave-server into dir.
func BuildWeave(dir string) error {
	cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/weavetrace/weave/cmd/weave-hook",
		"github.com/weavetrace/weave/cmd/weave-agentd", "github.com/weavetrace/weave/cmd/weave-server")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// Server is a weave-server of a test, on a loopback port with its own data
// directory.
type Server struct {
	URL  string
	cmd  *exec.Cmd
	logs serverproc.LogBuffer
}

// StartServer starts binDir/weave-server and waits until it is ready; it
// stops at the end of the test (its log shown when the test failed). The
// server picks its port (port 0), read back from its log: a port found
// free, closed and passed on could be taken by another process first.
func StartServer(t *testing.T, binDir string) *Server {
	t.Helper()
	s := &Server{}
	s.cmd = exec.Command(filepath.Join(binDir, "weave-server"), "serve", "--addr", "127.0.0.1:0", "--grpc-addr", "off", "--data-dir", t.TempDir())
	s.cmd.Stdout, s.cmd.Stderr = &s.logs, &s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(os.Interrupt)
		s.cmd.Wait()
		if t.Failed() {
			t.Logf("weave-server log:\n%s", s.logs.String())
		}
	})
	// A hang guard, not the expected start time (a loaded CI machine).
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if addr, _, ok := serverproc.Started(s.logs.String()); ok && s.URL == "" {
			s.URL = "http://" + addr
		}
		if s.URL == "" {
			continue
		}
		if resp, err := http.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
	}
	t.Fatalf("weave-server did not become ready:\n%s", s.logs.String())
	return nil
}

// Post sends body as JSON to the read API and decodes the answer into out.
func (s *Server) Post(t *testing.T, path string, body, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(s.URL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatalf("POST %s: %v: %s", path, err, data)
	}
}

// APISpan is a span as the read API lists it.
type APISpan struct {
	TraceID       string  `json:"trace_id"`
	SpanID        string  `json:"span_id"`
	ParentSpanID  string  `json:"parent_span_id"`
	SpanName      string  `json:"span_name"`
	OperationName string  `json:"operation_name"`
	AgentName     string  `json:"agent_name"`
	ProviderName  string  `json:"provider_name"`
	ToolCallID    string  `json:"tool_call_id"`
	ResponseID    string  `json:"response_id"`
	StatusCode    string  `json:"status_code"`
	InputTokens   *int64  `json:"input_tokens"`
	OutputTokens  *int64  `json:"output_tokens"`
	CacheRead     *int64  `json:"cache_read_input_tokens"`
	StartedAt     string  `json:"started_at"`
	EndedAt       *string `json:"ended_at"`
	Conversation  string  `json:"conversation_id"`
}

// Key names a span for comparing two servers' spans: ids, name, status.
func (sp APISpan) Key() string {
	return sp.TraceID + "/" + sp.SpanID + " " + sp.SpanName + " " + sp.StatusCode
}

type spanList struct {
	Spans []APISpan `json:"spans"`
	Total int       `json:"total"`
}

// Settle waits for want spans of project with none running, then returns
// them all.
func (s *Server) Settle(t *testing.T, project string, want int) []APISpan {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var all, active spanList
		s.Post(t, "/genai/spans/query", map[string]any{"project_id": project, "limit": 1000}, &all)
		s.Post(t, "/genai/spans/active", map[string]any{"project_id": project, "limit": 1000}, &active)
		if all.Total >= want && len(active.Spans) == 0 {
			return all.Spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("project %s did not settle: %d spans (want %d), %d running", project, all.Total, want, len(active.Spans))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// CheckViews: the conversations list filtered by agent holds the one
// session with its turns (and none of Claude Code's), and the chat view
// renders each turn: the prompt, a tool call message per tool span, and
// compactions context_compacted markers in all.
func (s *Server) CheckViews(t *testing.T, project, agent string, turns, compactions int, got []APISpan) {
	t.Helper()
	var list struct {
		Conversations []struct {
			ConversationID string `json:"conversation_id"`
			TurnCount      int    `json:"turn_count"`
		} `json:"conversations"`
	}
	s.Post(t, "/genai/conversations/query", map[string]any{"project_id": project, "agent_name": agent, "limit": 100}, &list)
	if len(list.Conversations) != 1 || list.Conversations[0].TurnCount != turns {
		t.Fatalf("conversations of agent %s: %+v, want one with %d turns", agent, list.Conversations, turns)
	}
	var other struct {
		Conversations []any `json:"conversations"`
	}
	s.Post(t, "/genai/conversations/query", map[string]any{"project_id": project, "agent_name": "claude-code", "limit": 100}, &other)
	if len(other.Conversations) != 0 {
		t.Errorf("conversations of agent claude-code: %d, want none", len(other.Conversations))
	}
	var view struct {
		Turns []struct {
			Messages []struct {
				Type string `json:"type"`
			} `json:"messages"`
		} `json:"turns"`
	}
	s.Post(t, "/genai/conversations/chat", map[string]any{"project_id": project, "conversation_id": list.Conversations[0].ConversationID}, &view)
	if len(view.Turns) != turns {
		t.Fatalf("chat view: %d turns, want %d", len(view.Turns), turns)
	}
	toolMsgs, toolSpans, compacted := 0, 0, 0
	for _, turn := range view.Turns {
		types := map[string]int{}
		for _, m := range turn.Messages {
			types[m.Type]++
		}
		toolMsgs += types["tool_call"]
		compacted += types["context_compacted"]
		if types["user_message"] == 0 {
			t.Errorf("chat view: a turn without its prompt: %v", types)
		}
	}
	for _, sp := range got {
		if sp.OperationName == "execute_tool" {
			toolSpans++
		}
	}
	if toolMsgs != toolSpans {
		t.Errorf("chat view: %d tool call messages for %d tool spans", toolMsgs, toolSpans)
	}
	if compacted != compactions {
		t.Errorf("chat view: %d compaction markers, want %d", compacted, compactions)
	}
}

// Continued names the spans (span id) of built whose input refers to an
// earlier call's span (weave.input.previous_span_id): their request
// continues that call's.
func Continued(built []spans.Span) map[string]bool {
	out := map[string]bool{}
	for _, sp := range built {
		if _, ok := sp.Attributes[semconv.KeyInputPreviousSpanID]; ok {
			out[sp.SpanID.String()] = true
		}
	}
	return out
}

// CheckInputs: each continued chat span is stored with its whole input,
// the history its reference named resolved by the server: new_messages_from
// set, and messages before it.
func (s *Server) CheckInputs(t *testing.T, what, project string, continued map[string]bool) {
	t.Helper()
	var list struct {
		Spans []struct {
			SpanID         string            `json:"span_id"`
			SpanName       string            `json:"span_name"`
			InputMessages  []json.RawMessage `json:"input_messages"`
			CustomAttrsInt map[string]int64  `json:"custom_attrs_int"`
		} `json:"spans"`
	}
	s.Post(t, "/genai/spans/query", map[string]any{"project_id": project, "limit": 1000, "include_details": true}, &list)
	n := 0
	for _, sp := range list.Spans {
		if !continued[sp.SpanID] {
			continue
		}
		n++
		from, ok := sp.CustomAttrsInt[semconv.KeyInputNewFrom]
		if !ok || from <= 0 || int(from) > len(sp.InputMessages) {
			t.Errorf("%s: %s %s: input not resolved: %d messages, new_messages_from %d (set %v)", what, sp.SpanName, sp.SpanID, len(sp.InputMessages), from, ok)
		}
	}
	if n != len(continued) {
		t.Errorf("%s: %d continued chat spans stored, want %d", what, n, len(continued))
	}
	t.Logf("%s: %d continued chat inputs resolved", what, n)
}
