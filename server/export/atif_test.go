package export

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/chatview"
	"github.com/weavetrace/weave/server/model"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func msg(typ string, ms int, depth int, agentSpan string) chatview.Message {
	return chatview.Message{Type: typ, SpanID: "s" + strings.Repeat("0", 2) + typ[:2], AgentSpanID: agentSpan, Depth: depth,
		StartedAt: t0.Add(time.Duration(ms) * time.Millisecond), Status: model.StatusOK}
}

// conversation is a hand-built chat view with every case ATIF maps: a
// system prompt, tools asked for and run (one failing, one run without
// being asked, one with arguments that are no object), a subagent started
// by a tool call id, a subagent under a Task tool span (its result), a
// nested subagent, a subagent without a tool, a compaction, unpriced usage.
func conversation() chatview.Conversation {
	usage := &chatview.Usage{InputTokens: 1000, OutputTokens: 50, CacheReadInputTokens: 800, CacheCreationInputTokens: 100, CostUSD: 0.01}
	start := msg(chatview.TypeAgentStart, 0, 0, "root")
	start.AgentName, start.AgentVersion, start.Model, start.SystemInstructions = "coder", "1.2", "m1", "You are a coder."
	user := msg(chatview.TypeUserMessage, 0, 0, "")
	user.Text = "fix the bug"
	ask := msg(chatview.TypeAssistantMessage, 10, 0, "root")
	ask.Text, ask.Reasoning, ask.Model, ask.Usage = "Looking.", "think", "m1", usage
	ask.ToolCalls = []chatview.ToolRequest{{ID: "c1", Name: "Read"}, {ID: "c2", Name: "Bash"}, {ID: "c3", Name: "Agent"}}
	read := msg(chatview.TypeToolCall, 20, 0, "root")
	read.ToolName, read.ToolCallID, read.ToolArguments, read.ToolResult = "Read", "c1", `{"path":"a.go"}`, "package a"
	bash := msg(chatview.TypeToolCall, 21, 0, "root")
	bash.ToolName, bash.ToolCallID, bash.ToolArguments, bash.ToolResult = "Bash", "c2", `"ls"`, "exit 1"
	bash.Status, bash.StatusMessage, bash.ErrorType = model.StatusError, "exit 1", "nonzero_exit"
	sub := msg(chatview.TypeAgentStart, 30, 1, "subA")
	sub.AgentName, sub.AgentID, sub.ToolCallID, sub.Text = "explorer", "agent-a", "c3", "find the file"
	subAsk := msg(chatview.TypeAssistantMessage, 31, 1, "subA")
	subAsk.Text, subAsk.Model = "found it", "m2"
	subAsk.Usage = &chatview.Usage{InputTokens: 10, OutputTokens: 2, UnpricedCount: 1}
	task := msg(chatview.TypeToolCall, 40, 1, "subA")
	task.ToolName, task.ToolResult = "Task", "done" // no id, not asked for
	nested := msg(chatview.TypeAgentStart, 41, 2, "subB")
	nested.AgentName = "deep"
	nestedSay := msg(chatview.TypeAssistantMessage, 42, 2, "subB")
	nestedSay.Text = "deep answer"
	after := msg(chatview.TypeAssistantMessage, 50, 0, "root")
	after.Text, after.Model, after.Usage = "Fixed.", "m1", usage
	handoff := msg(chatview.TypeAgentStart, 60, 1, "subC")
	handoff.AgentName = "reviewer"
	compact := msg(chatview.TypeContextCompacted, 70, 0, "root")
	compact.CompactionSummary, compact.CompactionItemsBefore, compact.CompactionItemsAfter, compact.CompactionTrigger = "summary", 40, 2, "manual"

	return chatview.Conversation{
		ConversationID: "conv-1", TurnCount: 1, BackgroundCount: 1, FirstActivity: t0, LastActivity: t0.Add(time.Second),
		Usage: chatview.Usage{InputTokens: 2010, OutputTokens: 102, CacheReadInputTokens: 1600, CacheCreationInputTokens: 200, CostUSD: 0.02, UnpricedCount: 1},
		Turns: []chatview.Turn{{Trace: chatview.Trace{TraceID: "t1", Messages: []chatview.Message{
			user, start, ask, read, bash, sub, subAsk, task, nested, nestedSay, after, handoff, compact,
		}}}},
	}
}

func TestATIF(t *testing.T) {
	tr := ATIF(conversation(), "p/x")
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateATIF(b); err != nil {
		t.Fatalf("not valid ATIF: %v\n%s", err, b)
	}
	if tr.SessionID != "conv-1" || tr.Agent.Name != "coder" || tr.Agent.Version != "1.2" || tr.Agent.ModelName != "m1" {
		t.Errorf("root: %s %+v", tr.SessionID, tr.Agent)
	}
	var kinds []string
	for _, st := range tr.Steps {
		kinds = append(kinds, st.Source)
	}
	// user, system prompt, agent (asks 3), agent (Fixed.), system (handoff
	// to reviewer), system (compaction).
	if got := strings.Join(kinds, ","); got != "user,system,agent,agent,system,system" {
		t.Fatalf("steps %s", got)
	}
	ask := tr.Steps[2]
	if ask.ReasoningContent != "think" || ask.Metrics == nil || ask.Metrics.PromptTokens != 1000 || ask.Metrics.CachedTokens != 800 ||
		*ask.Metrics.CostUSD != 0.01 || ask.Metrics.Extra["cache_creation_input_tokens"] != int64(100) {
		t.Errorf("agent step: %+v metrics %+v", ask, ask.Metrics)
	}
	if len(ask.ToolCalls) != 3 || ask.ToolCalls[0].Arguments["path"] != "a.go" || ask.ToolCalls[1].Arguments["input"] != "ls" {
		t.Errorf("tool calls: %+v", ask.ToolCalls)
	}
	res := ask.Observation.Results
	if len(res) != 3 || res[0].Content != "package a" || res[1].SourceCallID != "c2" || res[2].SourceCallID != "c3" ||
		len(res[2].SubagentTrajectoryRef) != 1 || res[2].SubagentTrajectoryRef[0].SessionID != "agent-a" {
		t.Errorf("observation: %+v", res)
	}
	if tools := ask.Extra["tools"].(map[string]any); tools["c2"].(map[string]any)["error_type"] != "nonzero_exit" {
		t.Errorf("failed tool not on the step: %v", tools)
	}
	if tr.Steps[4].Observation.Results[0].SubagentTrajectoryRef[0].TrajectoryPath != "#/extra/subagent_trajectories/2" {
		t.Errorf("handoff step: %+v", tr.Steps[4])
	}
	if c := tr.Steps[5]; c.Extra["event"] != "context_compacted" || c.Observation.Results[0].Content != "summary" || c.Extra["items_before"] != int64(40) {
		t.Errorf("compaction step: %+v", c)
	}
	if tr.FinalMetrics.TotalCostUSD != nil || tr.FinalMetrics.TotalPromptTokens != 2010 || tr.FinalMetrics.Extra["unpriced_count"] != int64(1) {
		t.Errorf("final metrics %+v: an unpriced call leaves the total cost out", tr.FinalMetrics)
	}
	if !strings.Contains(tr.Notes, "1 background") {
		t.Errorf("notes %q, want the background traces counted", tr.Notes)
	}

	subs := tr.Extra[SubagentsKey].([]Trajectory)
	if len(subs) != 3 {
		t.Fatalf("%d subagent trajectories, want 3", len(subs))
	}
	a, deep := subs[0], subs[1]
	if a.SessionID != "agent-a" || a.Agent.Name != "explorer" || a.Agent.Version != "unknown" || a.Steps[0].Source != SourceUser || a.Steps[0].Message != "find the file" {
		t.Errorf("subagent: %+v", a)
	}
	// The Task tool ran without being asked: a step of its own, whose
	// result started the nested subagent.
	task := a.Steps[2]
	if len(task.ToolCalls) != 1 || task.ToolCalls[0].ToolCallID != "call_s00to" || task.Observation.Results[0].SubagentTrajectoryRef[0].SessionID != deep.SessionID {
		t.Errorf("Task step: %+v", task)
	}
	if deep.SessionID != "conv-1/subB" || deep.Steps[0].Message != "deep answer" {
		t.Errorf("nested subagent: %+v", deep)
	}
	if a.FinalMetrics.TotalCostUSD != nil || a.FinalMetrics.TotalPromptTokens != 10 {
		t.Errorf("subagent final metrics %+v", a.FinalMetrics)
	}
}

func TestValidateATIFRejects(t *testing.T) {
	good, _ := json.Marshal(ATIF(conversation(), "p/x"))
	if err := ValidateATIF(good); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, doc, want string }{
		{"no version", `{"session_id":"s","agent":{"name":"a","version":"1"},"steps":[]}`, "schema_version: required"},
		{"bad version", `{"schema_version":"ATIF-v9","session_id":"s","agent":{"name":"a","version":"1"},"steps":[]}`, "not an ATIF version"},
		{"unknown field", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[],"foo":1}`, "unknown field"},
		{"agent version", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a"},"steps":[]}`, "agent.version: required"},
		{"no steps", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"}}`, "steps: required"},
		{"step ids", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[{"step_id":2,"source":"user","message":""}]}`, "sequential"},
		{"source", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[{"step_id":1,"source":"tool","message":""}]}`, "source"},
		{"message", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[{"step_id":1,"source":"user"}]}`, "message: required"},
		{"agent only", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[{"step_id":1,"source":"user","message":"","model_name":"m"}]}`, "only on agent steps"},
		{"timestamp", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[{"step_id":1,"source":"user","message":"","timestamp":"yesterday"}]}`, "ISO 8601"},
		{"arguments", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[{"step_id":1,"source":"agent","message":"","tool_calls":[{"tool_call_id":"c","function_name":"f","arguments":"x"}]}]}`, "JSON object"},
		{"call ref", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[{"step_id":1,"source":"agent","message":"","observation":{"results":[{"source_call_id":"zz"}]}}]}`, "no tool call of the step"},
		{"sub ref", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[{"step_id":1,"source":"system","message":"","observation":{"results":[{"subagent_trajectory_ref":[{"session_id":"nope"}]}]}}]}`, "not among the embedded"},
		{"cached", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[{"step_id":1,"source":"agent","message":"","metrics":{"prompt_tokens":1,"cached_tokens":2}}]}`, "more than prompt_tokens"},
		{"trailing", `{"schema_version":"ATIF-v1.4","session_id":"s","agent":{"name":"a","version":"1"},"steps":[]} {}`, "after the trajectory"},
	} {
		err := ValidateATIF([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}
