// Package rollout reads Codex CLI session files — the rollout JSONL that
// Codex writes under ~/.codex/sessions/YYYY/MM/DD/rollout-<time>-<thread
// id>.jsonl — into the session model of package transcript, so spans.Build
// makes the same span tree of them as of a Claude Code transcript: a turn
// per task_started … task_complete, a model call per token_usage_record
// (the response's output items written since the previous call, its usage
// with cached input), a tool call per function_call / custom_tool_call and
// its output, and the subagents a spawn_agent call started (their own
// rollout files, linked by thread id). testdata/codex/FINDINGS.md describes
// the format as Codex 0.169.0 writes it.
//
// Unknown line and item types are ignored; a line that is not JSON is
// skipped and counted; a trailing line without its newline is held back
// (the writer has not finished it).
package rollout

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weavetrace/weave/transcript"
)

// AgentName is gen_ai.agent.name of a Codex turn.
const AgentName = "codex"

// line is one rollout line.
type line struct {
	Timestamp string          `json:"timestamp"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
}

type sessionMeta struct {
	ID             string `json:"id"`
	SessionID      string `json:"session_id"`
	ParentThreadID string `json:"parent_thread_id"`
	Cwd            string `json:"cwd"`
	Originator     string `json:"originator"`
	CLIVersion     string `json:"cli_version"`
	ModelProvider  string `json:"model_provider"`
	AgentNickname  string `json:"agent_nickname"`
	Source         json.RawMessage
}

type item struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Namespace string          `json:"namespace"`
	CallID    string          `json:"call_id"`
	Arguments string          `json:"arguments"`
	Input     string          `json:"input"`
	Output    json.RawMessage `json:"output"`
	Content   []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	Summary []struct {
		Text string `json:"text"`
	} `json:"summary"`
	Meta *struct {
		ContentItemKinds []string `json:"content_item_kinds"`
	} `json:"internal_chat_message_metadata_passthrough"`
}

type event struct {
	Type            string `json:"type"`
	TurnID          string `json:"turn_id"`
	TurnAttribution *struct {
		ParentTurnID string `json:"parent_turn_id"`
	} `json:"turn_attribution"`
	Error *struct {
		Message        string          `json:"message"`
		CodexErrorInfo json.RawMessage `json:"codex_error_info"`
	} `json:"error"`
	Message string `json:"message"`
	Item    *struct {
		Type          string `json:"type"`
		ID            string `json:"id"`
		Status        string `json:"status"`
		ExitCode      *int   `json:"exit_code"`
		StartedAtMS   int64  `json:"started_at_ms"`
		CompletedAtMS int64  `json:"completed_at_ms"`
	} `json:"item"`
	StartedAtMS   int64  `json:"started_at_ms"`
	CompletedAtMS int64  `json:"completed_at_ms"`
	Reason        string `json:"reason"`
}

type usageRecord struct {
	TurnID     string `json:"turn_id"`
	ResponseID string `json:"response_id"`
	Usage      struct {
		InputTokens           int64 `json:"input_tokens"`
		CachedInputTokens     int64 `json:"cached_input_tokens"`
		CacheWriteInputTokens int64 `json:"cache_write_input_tokens"`
		OutputTokens          int64 `json:"output_tokens"`
		ReasoningOutputTokens int64 `json:"reasoning_output_tokens"`
	} `json:"usage"`
}

// compacted is a `compacted` line: the summary and the history that
// replaced the thread's context.
type compacted struct {
	Message            string `json:"message"`
	ReplacementHistory []item `json:"replacement_history"`
	ResponseID         string `json:"compaction_response_id"`
}

type turnContext struct {
	TurnID string `json:"turn_id"`
	Model  string `json:"model"`
	Cwd    string `json:"cwd"`
}

// Builder folds rollout lines, in file order, into a session.
type Builder struct {
	s    *transcript.Session
	turn *transcript.Turn
	// the model call being answered: output blocks and tool calls since the
	// last token_usage_record, and when its request went out.
	blocks    []transcript.Block
	callTools []*transcript.ToolCall
	callStart time.Time
	input     []transcript.InputMessage
	lastTime  time.Time
	model     string
	tools     map[string]*transcript.ToolCall
	turns     map[string]*transcript.Turn
	// lastCall is the message id of the latest model call of the thread
	// since its last compaction: the request the next one continues
	// (the Responses API request holds the whole history; a compaction
	// replaces it).
	lastCall string
	// history counts the items in the model's context: response items
	// since the thread began or since the last compaction's replacement
	// history.
	history int64
	// reqHistory is history when the response being read began (the
	// items its request carried), lastReqHistory that of the latest
	// response.
	reqHistory, lastReqHistory int64
	// ctxTokens is the context size (input + output tokens) the latest
	// response reported, ctxBefore the one before it.
	ctxTokens, ctxBefore int64
	lastResponse         string
	// userTask: the current turn was started by the user (task_started
	// with turn_attribution); a task Codex runs for a command such as the
	// TUI's /compact has none.
	userTask bool
	// ParentTurn maps a subagent thread's turn ids to the parent turn that
	// spawned it (task_started's turn_attribution.parent_turn_id).
	ParentTurn map[string]string
	// ParentThreadID is set for a subagent's rollout.
	ParentThreadID string
	Nickname       string
	errors         int
	Skipped        int // lines that were not JSON
}

// NewBuilder starts a session read from path.
func NewBuilder(path string) *Builder {
	s := &transcript.Session{Path: path, Agent: AgentName, ID: idFromPath(path)}
	s.ConversationID = s.ID
	return &Builder{s: s, tools: map[string]*transcript.ToolCall{}, turns: map[string]*transcript.Turn{}, ParentTurn: map[string]string{}}
}

// idFromPath is the thread id at the end of a rollout file's name.
func idFromPath(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), ".jsonl")
	if len(base) >= 36 {
		return base[len(base)-36:]
	}
	return base
}

// Session returns the session built so far (the builder keeps it).
func (b *Builder) Session() *transcript.Session { return b.s }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// Add folds one line (without its newline).
func (b *Builder) Add(raw []byte) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	var l line
	if err := json.Unmarshal(raw, &l); err != nil {
		b.Skipped++
		return
	}
	ts := parseTime(l.Timestamp)
	switch l.Type {
	case "session_meta":
		var m sessionMeta
		if json.Unmarshal(l.Payload, &m) == nil {
			b.meta(m)
		}
	case "turn_context":
		var c turnContext
		if json.Unmarshal(l.Payload, &c) == nil && c.Model != "" {
			b.model = c.Model
		}
	case "event_msg":
		var e event
		if json.Unmarshal(l.Payload, &e) == nil {
			b.event(e, ts)
		}
	case "response_item":
		var it item
		if json.Unmarshal(l.Payload, &it) == nil {
			b.item(it, ts)
		}
	case "token_usage_record":
		var u usageRecord
		if json.Unmarshal(l.Payload, &u) == nil {
			b.usage(u, ts)
		}
	case "compacted":
		var c compacted
		if json.Unmarshal(l.Payload, &c) == nil {
			b.compacted(c, ts)
		}
	}
	if !ts.IsZero() {
		b.lastTime = ts
	}
}

func (b *Builder) meta(m sessionMeta) {
	if m.ID != "" {
		b.s.ID = m.ID
	}
	b.s.Cwd = m.Cwd
	b.s.Version = m.CLIVersion
	b.s.Entrypoint = m.Originator
	b.s.Provider = Provider(m.ModelProvider)
	b.ParentThreadID = m.ParentThreadID
	b.Nickname = m.AgentNickname
	b.s.ParentSessionID = ""
	b.s.ConversationID = b.s.ID
	if m.ParentThreadID != "" && m.SessionID != "" {
		// A subagent's thread: its conversation is the session that spawned it.
		b.s.ConversationID = m.SessionID
	}
}

// Provider maps a Codex model_provider id to gen_ai.provider.name. Codex
// speaks the OpenAI Responses API to every provider; the ones it names
// itself map to their conventions' names, any other (a custom
// [model_providers.X] entry) is OpenAI's API.
func Provider(id string) string {
	switch strings.ToLower(id) {
	case "azure":
		return "azure.ai.openai"
	case "ollama":
		return "ollama"
	case "lmstudio":
		return "lmstudio"
	case "oss":
		return "ollama"
	case "amazon-bedrock", "bedrock":
		return "aws.bedrock"
	}
	return "openai"
}

func (b *Builder) event(e event, ts time.Time) {
	switch e.Type {
	case "task_started":
		t := &transcript.Turn{Key: e.TurnID, PromptID: e.TurnID, Number: len(b.s.Turns) + 1, Start: ts, Origin: "user"}
		b.userTask = e.TurnAttribution != nil
		if e.TurnAttribution != nil && e.TurnAttribution.ParentTurnID != "" {
			b.ParentTurn[e.TurnID] = e.TurnAttribution.ParentTurnID
		}
		b.s.Turns = append(b.s.Turns, t)
		b.turns[e.TurnID] = t
		b.turn = t
		b.resetCall(ts)
	case "task_complete", "turn_aborted":
		t := b.turnFor(e.TurnID)
		if t == nil {
			return
		}
		if e.Error != nil && (e.Error.Message != "" || len(e.Error.CodexErrorInfo) > 0) {
			b.failCall(t, errorType(e.Error.CodexErrorInfo), e.Error.Message, ts)
		} else if e.Type == "turn_aborted" {
			t.Origin = "user"
			if len(b.blocks) > 0 {
				b.closeCall(t, "", transcript.Usage{}, false, ts)
			}
		}
		t.End = ts
	case "item_completed":
		if e.Item == nil {
			return
		}
		tc := b.tools[e.Item.ID]
		if tc == nil || e.Item.Type != "CommandExecution" {
			return
		}
		if e.Item.Status == "failed" || (e.Item.ExitCode != nil && *e.Item.ExitCode != 0) {
			tc.IsError = true
		}
		if e.Item.StartedAtMS > 0 {
			tc.Start = time.UnixMilli(e.Item.StartedAtMS).UTC()
		}
		if e.Item.CompletedAtMS > 0 {
			tc.End = time.UnixMilli(e.Item.CompletedAtMS).UTC()
		}
	}
}

// errorType is Codex's codex_error_info (a string or a one-key object).
func errorType(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil && s != "" {
		return s
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) == nil {
		for k := range m {
			return k
		}
	}
	return "api_error"
}

func (b *Builder) turnFor(id string) *transcript.Turn {
	if t := b.turns[id]; t != nil {
		return t
	}
	return b.turn
}

func (b *Builder) resetCall(ts time.Time) {
	b.blocks, b.callTools, b.input = nil, nil, nil
	b.callStart = ts
}

// beginOutput marks the first output item of a response: its request went
// out at the last line before it.
func (b *Builder) beginOutput(ts time.Time) {
	if len(b.blocks) == 0 && len(b.callTools) == 0 {
		b.reqHistory = b.history - 1 // item counted the output item already
		if !b.lastTime.IsZero() {
			b.callStart = b.lastTime
		} else {
			b.callStart = ts
		}
	}
}

func (b *Builder) item(it item, ts time.Time) {
	b.history++
	t := b.turn
	if t == nil {
		return
	}
	switch it.Type {
	case "message":
		text := itemText(it)
		switch it.Role {
		case "assistant":
			b.beginOutput(ts)
			if text != "" {
				b.blocks = append(b.blocks, transcript.Block{Type: transcript.BlockText, Text: text})
			}
		case "user":
			if text == "" {
				return
			}
			if t.Prompt == "" && isUserPrompt(it) {
				t.Prompt = text
			}
			b.input = append(b.input, userMessage(text))
		}
	case "reasoning":
		b.beginOutput(ts)
		var parts []string
		for _, s := range it.Summary {
			parts = append(parts, s.Text)
		}
		if txt := strings.Join(parts, "\n"); txt != "" {
			b.blocks = append(b.blocks, transcript.Block{Type: transcript.BlockThinking, Thinking: txt})
		}
	case "function_call", "custom_tool_call", "local_shell_call":
		b.beginOutput(ts)
		input := json.RawMessage(it.Arguments)
		if it.Type == "custom_tool_call" {
			input, _ = json.Marshal(map[string]string{"input": it.Input})
		}
		if !json.Valid(input) {
			input, _ = json.Marshal(map[string]string{"arguments": it.Arguments})
		}
		tc := &transcript.ToolCall{ID: it.CallID, Name: it.Name, Input: input, Start: ts, Spawns: it.Name == "spawn_agent"}
		if tc.ID == "" {
			tc.ID = it.ID
		}
		b.blocks = append(b.blocks, transcript.Block{Type: transcript.BlockToolUse, ID: tc.ID, Name: tc.Name, Input: input})
		b.callTools = append(b.callTools, tc)
		if old := b.tools[tc.ID]; old == nil {
			t.Tools = append(t.Tools, tc)
		}
		b.tools[tc.ID] = tc
	case "function_call_output", "custom_tool_call_output":
		tc := b.tools[it.CallID]
		out := outputText(it.Output)
		if tc != nil {
			tc.HasResult = true
			tc.Result = out
			if tc.End.IsZero() || tc.End.Before(tc.Start) {
				tc.End = ts
			}
			if !tc.IsError && strings.Contains(strings.ToLower(out), "reject command") {
				tc.IsError = true
			}
		}
		b.input = append(b.input, toolMessage(it.CallID, out, tc != nil && tc.IsError))
	}
}

func userMessage(text string) transcript.InputMessage {
	return transcript.InputMessage{Role: "user", Blocks: []transcript.Block{{Type: transcript.BlockText, Text: text}}}
}

func toolMessage(callID, out string, isError bool) transcript.InputMessage {
	content, _ := json.Marshal(out)
	return transcript.InputMessage{Role: "tool", Blocks: []transcript.Block{{Type: transcript.BlockToolResult, ToolUseID: callID, Content: content, IsError: isError}}}
}

// compacted records a compaction on the current turn (its summary, the
// context's items before and after, the context size before: what the
// response before the compaction request reported) and starts the
// thread's history over from the replacement history: the next model
// call continues no earlier one, its input is that history.
func (b *Builder) compacted(c compacted, ts time.Time) {
	pre, before := b.ctxTokens, b.history
	if c.ResponseID != "" && c.ResponseID == b.lastResponse {
		// The compaction request's own response came first: the context
		// before is what the request carried, sized by the response before.
		pre, before = b.ctxBefore, b.lastReqHistory
	}
	if b.turn != nil {
		trigger := "auto"
		if !b.userTask {
			trigger = "manual" // the TUI's /compact: a task of its own
		}
		b.turn.Compactions = append(b.turn.Compactions, &transcript.Compaction{Time: ts, Trigger: trigger, Summary: c.Message,
			PreTokens: pre, ItemsBefore: before, ItemsAfter: int64(len(c.ReplacementHistory))})
	}
	b.lastCall, b.history = "", int64(len(c.ReplacementHistory))
	b.input = nil
	for _, it := range c.ReplacementHistory {
		switch {
		case it.Type == "message" && it.Role == "user":
			if text := itemText(it); text != "" {
				b.input = append(b.input, userMessage(text))
			}
		case it.Type == "message" && it.Role == "assistant":
			if text := itemText(it); text != "" {
				b.input = append(b.input, transcript.InputMessage{Role: "assistant", Blocks: []transcript.Block{{Type: transcript.BlockText, Text: text}}})
			}
		case it.Type == "function_call_output" || it.Type == "custom_tool_call_output":
			b.input = append(b.input, toolMessage(it.CallID, outputText(it.Output), false))
		}
	}
}

// isUserPrompt: a user message the user typed (not injected context such
// as <environment_context> or a subagent notification).
func isUserPrompt(it item) bool {
	if it.Meta != nil && len(it.Meta.ContentItemKinds) > 0 {
		for _, k := range it.Meta.ContentItemKinds {
			if k != "user.text" && k != "user.image" {
				return false
			}
		}
		return true
	}
	txt := strings.TrimSpace(itemText(it))
	return !strings.HasPrefix(txt, "<")
}

func itemText(it item) string {
	var parts []string
	for _, c := range it.Content {
		switch c.Type {
		case "input_text", "output_text", "text":
			parts = append(parts, c.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// outputText is a tool output: a string, or content items' text.
func outputText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var items []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &items) == nil {
		var parts []string
		for _, i := range items {
			if i.Text != "" {
				parts = append(parts, i.Text)
			}
		}
		return strings.Join(parts, "\n")
	}
	var obj struct {
		Content string `json:"content"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Content != "" {
		return obj.Content
	}
	return string(raw)
}

func (b *Builder) usage(u usageRecord, ts time.Time) {
	t := b.turnFor(u.TurnID)
	if t == nil {
		return
	}
	us := transcript.Usage{
		InputTokens:              u.Usage.InputTokens - u.Usage.CachedInputTokens - u.Usage.CacheWriteInputTokens,
		OutputTokens:             u.Usage.OutputTokens,
		CacheReadInputTokens:     u.Usage.CachedInputTokens,
		CacheCreationInputTokens: u.Usage.CacheWriteInputTokens,
	}
	if us.InputTokens < 0 {
		us.InputTokens = 0
	}
	b.ctxBefore, b.ctxTokens, b.lastResponse = b.ctxTokens, u.Usage.InputTokens+u.Usage.OutputTokens, u.ResponseID
	b.lastReqHistory = b.reqHistory
	if u.Usage.ReasoningOutputTokens > 0 {
		us.OutputTokensDetails = &struct {
			ThinkingTokens int64 `json:"thinking_tokens"`
		}{u.Usage.ReasoningOutputTokens}
	}
	b.closeCall(t, u.ResponseID, us, true, ts)
}

func (b *Builder) closeCall(t *transcript.Turn, id string, us transcript.Usage, hasUsage bool, ts time.Time) {
	if id == "" {
		id = fmt.Sprintf("%s:call%d", t.Key, len(t.Calls)+1)
	}
	c := &transcript.LLMCall{MessageID: id, RequestID: id, Model: b.model, Start: b.callStart, End: ts, Blocks: b.blocks, Usage: us, HasUsage: hasUsage, Input: b.input, Prev: b.lastCall}
	b.lastCall = id
	if c.Start.IsZero() {
		c.Start = ts
	}
	c.StopReason = "stop"
	if len(b.callTools) > 0 {
		c.StopReason = "tool_calls"
	}
	for _, tc := range b.callTools {
		tc.CallMessageID = id
	}
	t.Calls = append(t.Calls, c)
	b.resetCall(ts)
}

// failCall records the model call a turn ended with when Codex reports an
// error for it (task_complete.error: the request failed, no response).
func (b *Builder) failCall(t *transcript.Turn, typ, msg string, ts time.Time) {
	b.errors++
	start := b.lastTime
	if start.IsZero() || start.After(ts) {
		start = ts
	}
	c := &transcript.LLMCall{
		MessageID: fmt.Sprintf("%s:error%d", t.Key, b.errors), Model: b.model, Start: start, End: ts, Input: b.input,
		Blocks: b.blocks, APIError: &transcript.APIError{Type: typ, Message: msg}, Prev: b.lastCall,
	}
	b.lastCall = c.MessageID
	t.Calls = append(t.Calls, c)
	b.resetCall(ts)
}

// Tail reads the complete lines of r (a rollout file from offset on) into
// b and returns the offset after the last complete line: a line still
// being written (no newline yet) is left for the next read.
func (b *Builder) Tail(r io.Reader, offset int64) (int64, error) {
	return transcript.TailLines(r, offset, b.Add)
}

// ReadFile builds the session of one rollout file (no subagent linking).
func ReadFile(path string) (*Builder, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := NewBuilder(path)
	if _, err := b.Tail(f, 0); err != nil {
		return nil, fmt.Errorf("rollout: %s: %w", path, err)
	}
	return b, nil
}
