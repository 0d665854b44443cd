package chatview

import (
	"time"

	"github.com/weavetrace/weave/server/model"
)

// Message types.
const (
	TypeUserMessage      = "user_message"
	TypeAgentStart       = "agent_start"
	TypeToolCall         = "tool_call"
	TypeAssistantMessage = "assistant_message"
	TypeContextCompacted = "context_compacted"
)

// Usage is a token count and its cost. Its JSON names are those of the
// span columns; CostUSD sums the spans' cost_usd (whole nano-dollars) and
// UnpricedCount counts the spans that reported tokens but have no cost
// (a model without a price): CostUSD is then a lower bound.
type Usage struct {
	InputTokens              int64   `json:"input_tokens"`
	OutputTokens             int64   `json:"output_tokens"`
	CacheReadInputTokens     int64   `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64   `json:"cache_creation_input_tokens"`
	ReasoningTokens          int64   `json:"reasoning_tokens"`
	CostUSD                  float64 `json:"cost_usd"`
	UnpricedCount            int64   `json:"unpriced_count"`
}

// Add adds o to u.
func (u *Usage) Add(o Usage) {
	u.InputTokens += o.InputTokens
	u.OutputTokens += o.OutputTokens
	u.CacheReadInputTokens += o.CacheReadInputTokens
	u.CacheCreationInputTokens += o.CacheCreationInputTokens
	u.ReasoningTokens += o.ReasoningTokens
	u.CostUSD = model.USD(model.CostNanos(u.CostUSD) + model.CostNanos(o.CostUSD))
	u.UnpricedCount += o.UnpricedCount
}

// ToolRequest is a tool call an assistant message asked for (a tool_call
// part of the model's output). The matching tool_call message, when the tool
// ran, carries the same ToolCallID.
type ToolRequest struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
}

// Message is one entry of the chat view. Type says which fields are set:
//
//   - user_message: Text (the user's prompt).
//   - agent_start: AgentName, AgentID, AgentVersion, Model (request model),
//     SystemInstructions, Text (the agent's input when it differs from the
//     turn's user_message, e.g. the prompt a subagent was given),
//     ToolCallID (the tool call that started a subagent, when recorded).
//   - tool_call: ToolName, ToolType, ToolCallID, ToolArguments, ToolResult,
//     ParallelGroup (also on a subagent's agent_start).
//   - assistant_message: Text, Reasoning, Model, Provider, FinishReasons,
//     ToolCalls, Usage.
//   - context_compacted: CompactionSummary, CompactionItemsBefore/After,
//     CompactionTrigger, CompactionPreTokens.
//
// Every message carries the span it came from (SpanID), the agent it belongs
// to (AgentName, AgentSpanID) and that agent's nesting Depth (0 for the
// turn's own agent, 1 for a subagent it started, ...); an agent_start
// belongs to the agent it starts. Timing and status are the span's.
type Message struct {
	Type string `json:"type"`
	// SpanID is the span the message was projected from.
	SpanID string `json:"span_id"`
	// AgentSpanID is the span of the agent the message belongs to ("" when
	// outside any named agent).
	AgentSpanID string `json:"agent_span_id,omitempty"`
	AgentName   string `json:"agent_name,omitempty"`
	Depth       int    `json:"depth"`

	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at,omitempty"`
	DurationMs int64      `json:"duration_ms"`
	Running    bool       `json:"running"`
	Status     string     `json:"status,omitempty"`
	// StatusMessage and ErrorType describe a failure.
	StatusMessage string `json:"status_message,omitempty"`
	ErrorType     string `json:"error_type,omitempty"`

	Text          string        `json:"text,omitempty"`
	Reasoning     string        `json:"reasoning,omitempty"`
	Model         string        `json:"model,omitempty"`
	Provider      string        `json:"provider,omitempty"`
	FinishReasons []string      `json:"finish_reasons,omitempty"`
	ToolCalls     []ToolRequest `json:"tool_calls,omitempty"`
	// Usage is nil when the span (or, for an agent's own output, its
	// subtree) reported no usage.
	Usage *Usage `json:"usage,omitempty"`

	AgentID            string `json:"agent_id,omitempty"`
	AgentVersion       string `json:"agent_version,omitempty"`
	SystemInstructions string `json:"system_instructions,omitempty"`

	ToolName      string `json:"tool_name,omitempty"`
	ToolType      string `json:"tool_type,omitempty"`
	ToolCallID    string `json:"tool_call_id,omitempty"`
	ToolArguments string `json:"tool_arguments,omitempty"`
	ToolResult    string `json:"tool_result,omitempty"`

	// ParallelGroup marks calls that ran at the same time: tool calls and
	// subagents (their agent_start) of one agent whose time ranges overlap
	// (one starts before another ended, a running one has not ended) share
	// the span id of the group's first call; "" for a call that overlapped
	// none (see Build).
	ParallelGroup string `json:"parallel_group,omitempty"`

	CompactionSummary     string `json:"compaction_summary,omitempty"`
	CompactionItemsBefore int64  `json:"compaction_items_before,omitempty"`
	CompactionItemsAfter  int64  `json:"compaction_items_after,omitempty"`
	CompactionTrigger     string `json:"compaction_trigger,omitempty"`
	CompactionPreTokens   int64  `json:"compaction_pre_tokens,omitempty"`
}

// Trace is the chat view of one trace (one turn).
type Trace struct {
	TraceID        string `json:"trace_id"`
	ConversationID string `json:"conversation_id,omitempty"`
	// SessionID and ParentSessionID are the Claude Code session the turn ran
	// in and, for a fork, the session it was forked from
	// (weave.claude_code.session.id / parent_session.id).
	SessionID       string `json:"session_id,omitempty"`
	ParentSessionID string `json:"parent_session_id,omitempty"`
	// WorkingDir and GitBranch are where the turn ran, as its root records
	// them (weave.claude_code.cwd / git_branch), else the first span that
	// does.
	WorkingDir string `json:"working_dir,omitempty"`
	GitBranch  string `json:"git_branch,omitempty"`

	// RootSpanID, RootSpanName and AgentName describe the root span: the one
	// span without a parent or, when there is not exactly one, the root that
	// ended last.
	RootSpanID   string `json:"root_span_id"`
	RootSpanName string `json:"root_span_name"`
	AgentName    string `json:"agent_name,omitempty"`
	// Provider is the root's provider, else the first one in the walk.
	Provider string `json:"provider,omitempty"`
	// StartedAt is the earliest start of any span in the trace; EndedAt is
	// the root's end, null while it runs.
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at"`
	// TotalDurationMs is the root's wall-clock duration (not a sum over
	// spans); 0 while the root runs.
	TotalDurationMs int64 `json:"total_duration_ms"`
	// Running is true when any span of the trace has not ended.
	Running    bool `json:"running"`
	SpanCount  int  `json:"span_count"`
	ErrorCount int  `json:"error_count"`
	// Usage is the turn's token total, each span's usage counted only if no
	// descendant reports usage.
	Usage    Usage     `json:"usage"`
	Messages []Message `json:"messages"`
}

// Turn is one turn of a conversation: its trace's chat view and its
// position.
type Turn struct {
	// Index is the turn's 0-based position in the whole conversation, in
	// started_at order.
	Index int `json:"index"`
	// TurnSpanID is the turn span (is_turn) the turn is, in a conversation
	// that marks its turns; "" where a turn is a trace.
	TurnSpanID string `json:"turn_span_id,omitempty"`
	// SharedTrace: the turn is one of several turn spans of its trace, and
	// its chat view covers the turn span's subtree only.
	SharedTrace bool `json:"shared_trace,omitempty"`
	Trace
}

// Session is one Claude Code session that contributed turns to a
// conversation (the root session, and each fork or resumed copy with its
// own id).
type Session struct {
	SessionID       string    `json:"session_id"`
	ParentSessionID string    `json:"parent_session_id,omitempty"`
	TurnCount       int       `json:"turn_count"`
	FirstTurnIndex  int       `json:"first_turn_index"`
	FirstActivity   time.Time `json:"first_activity"`
}

// Conversation is the conversation view: every turn, in started_at order
// (ties by trace_id), and the background activity (BuildConversation).
type Conversation struct {
	ConversationID string `json:"conversation_id"`
	TurnCount      int    `json:"turn_count"`
	// BackgroundCount is the number of entries of Background.
	BackgroundCount int       `json:"background_count"`
	FirstActivity   time.Time `json:"first_activity"`
	// LastActivity is the latest start or end of any span.
	LastActivity time.Time `json:"last_activity"`
	Running      bool      `json:"running"`
	Usage        Usage     `json:"usage"`
	Sessions     []Session `json:"sessions"`
	Turns        []Turn    `json:"turns"`
	// Background is what runs in the conversation outside its turns, in
	// a conversation that marks turns with is_turn: the chat view of each
	// trace without a turn span, and of the spans of a trace with several
	// turn spans that are under none of them; in started_at order.
	Background []Trace `json:"background"`
}
