package export

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/chatview"
	"github.com/weavetrace/weave/server/model"
)

// ATIFVersion is the version of the Agent Trajectory Interchange Format
// (harbor's RFC 0001) Trajectory writes.
const ATIFVersion = "ATIF-v1.4"

// Trajectory is an ATIF trajectory (RFC 0001, v1.4): the root object.
type Trajectory struct {
	SchemaVersion string         `json:"schema_version"`
	SessionID     string         `json:"session_id"`
	Agent         ATIFAgent      `json:"agent"`
	Steps         []Step         `json:"steps"`
	Notes         string         `json:"notes,omitempty"`
	FinalMetrics  *FinalMetrics  `json:"final_metrics,omitempty"`
	Extra         map[string]any `json:"extra,omitempty"`
}

// ATIFAgent is the RFC's AgentSchema.
type ATIFAgent struct {
	Name      string         `json:"name"`
	Version   string         `json:"version"`
	ModelName string         `json:"model_name,omitempty"`
	Extra     map[string]any `json:"extra,omitempty"`
}

// FinalMetrics is the RFC's FinalMetricsSchema.
type FinalMetrics struct {
	TotalPromptTokens     int64          `json:"total_prompt_tokens"`
	TotalCompletionTokens int64          `json:"total_completion_tokens"`
	TotalCachedTokens     int64          `json:"total_cached_tokens"`
	TotalCostUSD          *float64       `json:"total_cost_usd,omitempty"`
	TotalSteps            int            `json:"total_steps"`
	Extra                 map[string]any `json:"extra,omitempty"`
}

// Step is the RFC's StepObject.
type Step struct {
	StepID           int            `json:"step_id"`
	Timestamp        string         `json:"timestamp,omitempty"`
	Source           string         `json:"source"`
	ModelName        string         `json:"model_name,omitempty"`
	Message          string         `json:"message"`
	ReasoningContent string         `json:"reasoning_content,omitempty"`
	ToolCalls        []ToolCall     `json:"tool_calls,omitempty"`
	Observation      *Observation   `json:"observation,omitempty"`
	Metrics          *Metrics       `json:"metrics,omitempty"`
	Extra            map[string]any `json:"extra,omitempty"`
}

// Step sources.
const (
	SourceSystem = "system"
	SourceUser   = "user"
	SourceAgent  = "agent"
)

// ToolCall is the RFC's ToolCallSchema.
type ToolCall struct {
	ToolCallID   string         `json:"tool_call_id"`
	FunctionName string         `json:"function_name"`
	Arguments    map[string]any `json:"arguments"`
}

// Observation is the RFC's ObservationSchema.
type Observation struct {
	Results []ObservationResult `json:"results"`
}

// ObservationResult is the RFC's ObservationResultSchema.
type ObservationResult struct {
	SourceCallID          string        `json:"source_call_id,omitempty"`
	Content               string        `json:"content,omitempty"`
	SubagentTrajectoryRef []SubagentRef `json:"subagent_trajectory_ref,omitempty"`
}

// SubagentRef is the RFC's SubagentTrajectoryRefSchema.
type SubagentRef struct {
	SessionID      string         `json:"session_id"`
	TrajectoryPath string         `json:"trajectory_path,omitempty"`
	Extra          map[string]any `json:"extra,omitempty"`
}

// Metrics is the RFC's MetricsSchema.
type Metrics struct {
	PromptTokens     int64          `json:"prompt_tokens"`
	CompletionTokens int64          `json:"completion_tokens"`
	CachedTokens     int64          `json:"cached_tokens"`
	CostUSD          *float64       `json:"cost_usd,omitempty"`
	Extra            map[string]any `json:"extra,omitempty"`
}

// SubagentsKey is where a trajectory's root extra holds the trajectories of
// its subagents (every level, in the order they started); a delegating
// step's observation names each by session_id and by a JSON pointer into
// the document (trajectory_path "#/extra/subagent_trajectories/N").
const SubagentsKey = "subagent_trajectories"

// trajectoryNode is a trajectory being built: its steps, the tool calls
// still waiting for their result, and where it was delegated from.
type trajectoryNode struct {
	t       Trajectory
	pending map[string]toolRef // tool_call_id → the step that asked for it
	sys     string             // the last system prompt given a step
	last    *toolRef           // the latest tool result, not yet linked to a subagent
	models  map[string]int
}

// toolRef is a tool call (or result) of a step, by index.
type toolRef struct{ step, call int }

// ATIF builds the ATIF trajectory of a conversation from its chat view (see
// chatview.BuildConversation): a system step for each new system prompt, a
// user step per prompt, an agent step per assistant message (its text,
// reasoning, model, tool calls with their arguments, the tools' results as
// its observation, its usage as metrics), a system step per context
// compaction (the summary as its observation). A subagent's own steps make
// a trajectory of their own, embedded in the root's extra (SubagentsKey)
// and referenced from the observation of the tool call that started it.
// Turns the conversation ran outside (background traces) are left out and
// counted in the notes.
func ATIF(c chatview.Conversation, projectID string) Trajectory {
	b := &atifBuilder{conv: c.ConversationID}
	root := b.node(c.ConversationID)
	for _, turn := range c.Turns {
		t := &turnState{agents: map[string]*trajectoryNode{}, depth: []*trajectoryNode{root}}
		for _, m := range turn.Messages {
			b.message(t, turn, m)
		}
	}
	root.finish()
	root.t.Extra = map[string]any{"weave": map[string]any{
		"project_id": projectID, "conversation_id": c.ConversationID, "turn_count": c.TurnCount,
		"first_activity": c.FirstActivity.UTC().Format(time.RFC3339Nano), "last_activity": c.LastActivity.UTC().Format(time.RFC3339Nano),
	}}
	var sessions []map[string]any
	for _, s := range c.Sessions {
		e := map[string]any{"session_id": s.SessionID, "turn_count": s.TurnCount, "first_turn_index": s.FirstTurnIndex}
		if s.ParentSessionID != "" {
			e["parent_session_id"] = s.ParentSessionID
		}
		sessions = append(sessions, e)
	}
	if len(sessions) > 0 {
		root.t.Extra["weave"].(map[string]any)["sessions"] = sessions
	}
	// The conversation's own totals count every span once (subagents
	// included), which per-step sums cannot promise.
	u := c.Usage
	root.t.FinalMetrics = &FinalMetrics{
		TotalPromptTokens:     promptTokens(u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens),
		TotalCompletionTokens: u.OutputTokens, TotalCachedTokens: u.CacheReadInputTokens,
		TotalCostUSD: costOf(u), TotalSteps: len(root.t.Steps),
		Extra: usageExtra(u, map[string]any{"scope": "conversation, subagents included"}),
	}
	if len(b.subs) > 0 {
		subs := make([]Trajectory, len(b.subs))
		for i, n := range b.subs {
			n.finish()
			subs[i] = n.t
		}
		root.t.Extra[SubagentsKey] = subs
	}
	if c.BackgroundCount > 0 {
		root.t.Notes = strings.TrimSpace(root.t.Notes + " " + strconv.Itoa(c.BackgroundCount) + " background traces of the conversation (outside its turns) are not in the trajectory.")
	}
	return root.t
}

type atifBuilder struct {
	conv string
	subs []*trajectoryNode
	ids  map[string]bool
}

func (b *atifBuilder) node(sessionID string) *trajectoryNode {
	if b.ids == nil {
		b.ids = map[string]bool{}
	}
	b.ids[sessionID] = true
	return &trajectoryNode{
		t:       Trajectory{SchemaVersion: ATIFVersion, SessionID: sessionID, Steps: []Step{}},
		pending: map[string]toolRef{}, models: map[string]int{},
	}
}

// turnState is where a turn's messages go: the trajectory of each agent
// span, and of the latest agent started at each depth.
type turnState struct {
	agents map[string]*trajectoryNode
	depth  []*trajectoryNode
}

// at is the trajectory of the agent at depth d (the deepest one known).
func (t *turnState) at(d int) *trajectoryNode {
	return t.depth[min(max(d, 0), len(t.depth)-1)]
}

// message adds one chat view message to the trajectory of its agent.
func (b *atifBuilder) message(t *turnState, turn chatview.Turn, m chatview.Message) {
	n := t.agents[m.AgentSpanID]
	if n == nil || m.Type == chatview.TypeAgentStart {
		n = t.at(m.Depth)
	}
	extra := messageExtra(turn, m)
	ts := m.StartedAt.UTC().Format(time.RFC3339Nano)
	switch m.Type {
	case chatview.TypeUserMessage:
		n.add(Step{Timestamp: ts, Source: SourceUser, Message: m.Text, Extra: extra})
	case chatview.TypeAgentStart:
		b.agentStart(t, n, m, ts, extra)
	case chatview.TypeAssistantMessage:
		b.assistant(n, m, ts, extra)
	case chatview.TypeToolCall:
		b.toolCall(n, m, ts, extra)
	case chatview.TypeContextCompacted:
		compacted(n, m, ts, extra)
	}
}

// messageExtra is the extra of a message's step: its span, and its
// status when it failed or is still running.
func messageExtra(turn chatview.Turn, m chatview.Message) map[string]any {
	extra := map[string]any{"trace_id": turn.TraceID, "span_id": m.SpanID}
	if m.Status == model.StatusError || m.StatusMessage != "" || m.ErrorType != "" {
		extra["status"] = m.Status
		if m.StatusMessage != "" {
			extra["status_message"] = m.StatusMessage
		}
		if m.ErrorType != "" {
			extra["error_type"] = m.ErrorType
		}
	}
	if m.Running {
		extra["running"] = true
	}
	return extra
}

// agentStart starts a subagent's trajectory (or names the turn's agent in
// n) with its system instructions and task.
func (b *atifBuilder) agentStart(t *turnState, n *trajectoryNode, m chatview.Message, ts string, extra map[string]any) {
	if m.Depth > 0 {
		n = b.subagent(t.at(m.Depth-1), m)
		t.agents[m.AgentSpanID] = n
		t.depth = append(t.depth[:min(m.Depth, len(t.depth))], n)
	} else if m.AgentSpanID != "" {
		t.agents[m.AgentSpanID] = n
	}
	if n.t.Agent.Name == "" {
		n.t.Agent = ATIFAgent{Name: m.AgentName, Version: m.AgentVersion, ModelName: m.Model}
		if m.AgentID != "" {
			n.t.Agent.Extra = map[string]any{"agent_id": m.AgentID}
		}
	}
	if m.SystemInstructions != "" && m.SystemInstructions != n.sys {
		n.sys = m.SystemInstructions
		n.add(Step{Timestamp: ts, Source: SourceSystem, Message: m.SystemInstructions, Extra: extra})
	}
	if m.Text != "" && m.Depth > 0 {
		// The task the subagent was given.
		n.add(Step{Timestamp: ts, Source: SourceUser, Message: m.Text, Extra: extra})
	}
}

// assistant adds an assistant message's step, with its usage, and the
// tool calls it asks for.
func (b *atifBuilder) assistant(n *trajectoryNode, m chatview.Message, ts string, extra map[string]any) {
	if m.Provider != "" {
		extra["provider"] = m.Provider
	}
	if len(m.FinishReasons) > 0 {
		extra["finish_reasons"] = m.FinishReasons
	}
	if m.DurationMs > 0 {
		extra["duration_ms"] = m.DurationMs
	}
	st := Step{Timestamp: ts, Source: SourceAgent, ModelName: m.Model, Message: m.Text, ReasoningContent: m.Reasoning, Extra: extra}
	if m.Usage != nil {
		u := *m.Usage
		st.Metrics = &Metrics{
			PromptTokens:     promptTokens(u.InputTokens, u.CacheReadInputTokens, u.CacheCreationInputTokens),
			CompletionTokens: u.OutputTokens, CachedTokens: u.CacheReadInputTokens, CostUSD: costOf(u),
			Extra: usageExtra(u, nil),
		}
	}
	if m.Model != "" {
		n.models[m.Model]++
	}
	i := n.add(st)
	for _, tr := range m.ToolCalls {
		b.request(n, i, tr.ID, tr.Name)
	}
}

// toolCall puts a tool run on the step that asked for it (or on a step of
// its own): its arguments, its result as an observation, and its span,
// type and failure in the step's extra, by call id.
func (b *atifBuilder) toolCall(n *trajectoryNode, m chatview.Message, ts string, extra map[string]any) {
	id := m.ToolCallID
	ref, ok := n.pending[id]
	if id == "" || !ok {
		// A tool run no assistant message asked for (or asked for
		// without an id): a step of its own.
		if id == "" || b.usedCallID(n, id) {
			id = "call_" + m.SpanID
		}
		i := n.add(Step{Timestamp: ts, Source: SourceAgent, Message: "", Extra: extra})
		ref = b.request(n, i, id, m.ToolName)
	}
	delete(n.pending, id)
	st := &n.t.Steps[ref.step]
	call := &st.ToolCalls[ref.call]
	call.Arguments = arguments(m.ToolArguments)
	if call.FunctionName == "" {
		call.FunctionName = m.ToolName
	}
	n.last = &toolRef{step: ref.step, call: n.observe(ref.step, ObservationResult{SourceCallID: id, Content: m.ToolResult})}
	tool := map[string]any{"span_id": m.SpanID}
	for _, k := range []string{"status", "status_message", "error_type", "running"} {
		if v, ok := extra[k]; ok {
			tool[k] = v
		}
	}
	if m.ToolType != "" {
		tool["tool_type"] = m.ToolType
	}
	tools, _ := st.Extra["tools"].(map[string]any)
	if tools == nil {
		tools = map[string]any{}
		st.Extra["tools"] = tools
	}
	tools[id] = tool
}

// compacted adds a context compaction's step, its summary as the
// observation.
func compacted(n *trajectoryNode, m chatview.Message, ts string, extra map[string]any) {
	extra["event"] = "context_compacted"
	if m.CompactionItemsBefore != 0 || m.CompactionItemsAfter != 0 {
		extra["items_before"], extra["items_after"] = m.CompactionItemsBefore, m.CompactionItemsAfter
	}
	if m.CompactionTrigger != "" {
		extra["trigger"] = m.CompactionTrigger
	}
	if m.CompactionPreTokens != 0 {
		extra["pre_tokens"] = m.CompactionPreTokens
	}
	st := Step{Timestamp: ts, Source: SourceSystem, Message: "", Extra: extra}
	if m.CompactionSummary != "" {
		st.Observation = &Observation{Results: []ObservationResult{{Content: m.CompactionSummary}}}
	}
	n.add(st)
}

// usedCallID reports a tool call id already on one of n's steps.
func (b *atifBuilder) usedCallID(n *trajectoryNode, id string) bool {
	for _, st := range n.t.Steps {
		for _, c := range st.ToolCalls {
			if c.ToolCallID == id {
				return true
			}
		}
	}
	return false
}

// request adds a tool call to step i of n and waits for its result.
func (b *atifBuilder) request(n *trajectoryNode, i int, id, name string) toolRef {
	st := &n.t.Steps[i]
	if id == "" || b.usedCallID(n, id) {
		id = "call_" + strconv.Itoa(i+1) + "_" + strconv.Itoa(len(st.ToolCalls)+1)
	}
	st.ToolCalls = append(st.ToolCalls, ToolCall{ToolCallID: id, FunctionName: name, Arguments: map[string]any{}})
	ref := toolRef{step: i, call: len(st.ToolCalls) - 1}
	n.pending[id] = ref
	return ref
}

// subagent starts the trajectory of a subagent (m is its agent_start) and
// links it from parent: from the tool result that started it, else from a
// system step of the parent.
func (b *atifBuilder) subagent(parent *trajectoryNode, m chatview.Message) *trajectoryNode {
	id := m.AgentID
	if id == "" || b.ids[id] {
		id = b.conv + "/" + m.AgentSpanID
	}
	n := b.node(id)
	b.subs = append(b.subs, n)
	ref := SubagentRef{SessionID: id, TrajectoryPath: "#/extra/" + SubagentsKey + "/" + strconv.Itoa(len(b.subs)-1)}
	if tr, ok := parent.pending[m.ToolCallID]; ok && m.ToolCallID != "" {
		// The tool call that started it (no tool span of its own: the
		// subagent is the tool's run).
		delete(parent.pending, m.ToolCallID)
		parent.observe(tr.step, ObservationResult{SourceCallID: m.ToolCallID, SubagentTrajectoryRef: []SubagentRef{ref}})
		return n
	}
	if l := parent.last; l != nil {
		r := &parent.t.Steps[l.step].Observation.Results[l.call]
		r.SubagentTrajectoryRef = append(r.SubagentTrajectoryRef, ref)
		parent.last = nil
		return n
	}
	parent.add(Step{
		Timestamp: m.StartedAt.UTC().Format(time.RFC3339Nano), Source: SourceSystem, Message: "",
		Observation: &Observation{Results: []ObservationResult{{SubagentTrajectoryRef: []SubagentRef{ref}}}},
		Extra:       map[string]any{"event": "subagent", "span_id": m.SpanID, "agent_name": m.AgentName},
	})
	return n
}

// observe adds a result to the observation of step i and returns its
// index.
func (n *trajectoryNode) observe(i int, r ObservationResult) int {
	st := &n.t.Steps[i]
	if st.Observation == nil {
		st.Observation = &Observation{}
	}
	st.Observation.Results = append(st.Observation.Results, r)
	return len(st.Observation.Results) - 1
}

// add appends a step (numbered) and returns its index.
func (n *trajectoryNode) add(st Step) int {
	n.last = nil // a subagent starting after another step was not started by that tool
	st.StepID = len(n.t.Steps) + 1
	n.t.Steps = append(n.t.Steps, st)
	return len(n.t.Steps) - 1
}

// finish fills what the steps decide: the agent's name and version when no
// agent_start named them, its main model, and (for a subagent) the sums of
// its steps' metrics.
func (n *trajectoryNode) finish() {
	if n.t.Agent.Name == "" {
		n.t.Agent.Name = "unknown"
	}
	if n.t.Agent.Version == "" {
		n.t.Agent.Version = "unknown"
	}
	if n.t.Agent.ModelName == "" {
		best := 0
		for m, c := range n.models {
			if c > best || c == best && m < n.t.Agent.ModelName {
				n.t.Agent.ModelName, best = m, c
			}
		}
	}
	var fm FinalMetrics
	var nanos int64
	priced := true
	for _, st := range n.t.Steps {
		if st.Metrics == nil {
			continue
		}
		fm.TotalPromptTokens += st.Metrics.PromptTokens
		fm.TotalCompletionTokens += st.Metrics.CompletionTokens
		fm.TotalCachedTokens += st.Metrics.CachedTokens
		if st.Metrics.CostUSD == nil {
			priced = false
		} else {
			nanos += model.CostNanos(*st.Metrics.CostUSD)
		}
	}
	if priced {
		usd := model.USD(nanos)
		fm.TotalCostUSD = &usd
	}
	fm.TotalSteps = len(n.t.Steps)
	n.t.FinalMetrics = &fm
}

// promptTokens is the RFC's prompt_tokens (all input, cached included)
// from weave's usage, whose input_tokens follows the GenAI conventions
// (cache included) unless the producer counted the cache apart (input
// smaller than the cache figures; the pricing rule).
func promptTokens(input, read, write int64) int64 {
	if input < read+write {
		return input + read + write
	}
	return input
}

// costOf is a usage's cost, nil when some call in it had no price.
func costOf(u chatview.Usage) *float64 {
	if u.UnpricedCount > 0 {
		return nil
	}
	c := u.CostUSD
	return &c
}

// usageExtra holds what ATIF's metrics have no field for.
func usageExtra(u chatview.Usage, extra map[string]any) map[string]any {
	if extra == nil {
		extra = map[string]any{}
	}
	if u.CacheCreationInputTokens != 0 {
		extra["cache_creation_input_tokens"] = u.CacheCreationInputTokens
	}
	if u.ReasoningTokens != 0 {
		extra["reasoning_tokens"] = u.ReasoningTokens
	}
	if u.UnpricedCount != 0 {
		extra["unpriced_count"] = u.UnpricedCount
	}
	if len(extra) == 0 {
		return nil
	}
	return extra
}

// arguments is a tool call's arguments as the RFC's JSON object: the
// recorded arguments when they are one, else under "input".
func arguments(s string) map[string]any {
	if strings.TrimSpace(s) == "" {
		return map[string]any{}
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err == nil && m != nil {
		return m
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err == nil {
		return map[string]any{"input": v}
	}
	return map[string]any{"input": s}
}
