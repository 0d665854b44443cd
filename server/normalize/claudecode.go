package normalize

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
)

// Claude Code's own OpenTelemetry export (CLAUDE_CODE_ENABLE_TELEMETRY=1):
// its log events, scope ClaudeCodeEventsScope, become spans shaped like
// those weave-agentd builds from the transcript, with the same ids where
// both sources know the key, so that a session traced both ways is stored
// once:
//
//	user_prompt      → the turn's invoke_agent root: trace id
//	                   spanid.TurnTraceID(prompt.id), span id
//	                   spanid.RootSpanID; input = the prompt (with
//	                   OTEL_LOG_USER_PROMPTS=1); it spans the turn's events
//	api_request      → a chat span, id NativeChatSpanID(trace, request_id),
//	(+ assistant_response, api_error)
//	                   from its end minus duration_ms: model, tokens
//	                   (input counts cache reads and writes, as the
//	                   transcript's), cost_usd, the response text
//	tool_result      → an execute_tool span, id spanid.ToolSpanID(trace,
//	                   tool_use_id): tool name, arguments (tool_input with
//	                   OTEL_LOG_TOOL_DETAILS=1), success, duration
//
// conversation = session.id; a subagent's calls (agent.name) carry its
// name as agent name under the turn's root (the native events do not say
// which Agent call spawned them). Other events (hooks, tool_decision,
// subagent_completed…) make no span. Every span carries
// KeyNativeTelemetry = "native".
const ClaudeCodeEventsScope = "com.anthropic.claude_code.events"

// ClaudeCodeTracingScope is the scope of Claude Code's beta spans
// (CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1), which ingest does not store.
const ClaudeCodeTracingScope = "com.anthropic.claude_code.tracing"

// KeyNativeTelemetry marks spans built from Claude Code's native
// telemetry (value "native").
const KeyNativeTelemetry = "weave.claude_code.telemetry"

// NativeChatSpanID is the id of the chat span of the API request
// requestID in trace, from native telemetry. A transcript chat span with
// that request id takes this id when the native span is stored first
// (ingest), so that the two are one.
func NativeChatSpanID(trace spanid.TraceID, requestID string) spanid.SpanID {
	return spanid.ToolSpanID(trace, "\x00request\x00"+requestID)
}

// IsClaudeCodeNative reports whether a scope holds Claude Code's native
// log events.
func IsClaudeCodeNative(scope pcommon.InstrumentationScope) bool {
	return scope.Name() == ClaudeCodeEventsScope
}

// nativeEvent is one log record of Claude Code's.
type nativeEvent struct {
	name  string
	t     time.Time
	attrs pcommon.Map
}

func (e nativeEvent) str(k string) string {
	if v, ok := e.attrs.Get(k); ok {
		return v.AsString()
	}
	return ""
}

func (e nativeEvent) int(k string) (int64, bool) {
	if v, ok := e.attrs.Get(k); ok {
		switch v.Type() {
		case pcommon.ValueTypeInt:
			return v.Int(), true
		case pcommon.ValueTypeDouble:
			return int64(v.Double()), true
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v.AsString()), 10, 64); err == nil {
			return n, true
		}
	}
	return 0, false
}

func (e nativeEvent) float(k string) (float64, bool) {
	if v, ok := e.attrs.Get(k); ok {
		if v.Type() == pcommon.ValueTypeDouble {
			return v.Double(), true
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(v.AsString()), 64); err == nil {
			return f, true
		}
	}
	return 0, false
}

// start is the event's time minus its duration_ms (the event is logged
// when the call ends).
func (e nativeEvent) start() time.Time {
	if d, ok := e.int("duration_ms"); ok && d > 0 && d < int64(24*time.Hour/time.Millisecond) {
		if s := e.t.Add(-time.Duration(d) * time.Millisecond); s.After(time.Unix(0, 0)) {
			return s
		}
	}
	return e.t
}

// ClaudeCodeNativeSpans builds the spans of the native log events of rl
// (the scopes IsClaudeCodeNative accepts) as one ResourceSpans of its own
// resource, ready for Normalize; used counts the records that made or
// filled a span. Records without a prompt.id or a time make none.
func ClaudeCodeNativeSpans(rl plog.ResourceLogs) (td ptrace.Traces, used int) {
	td = ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rl.Resource().CopyTo(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(ClaudeCodeEventsScope)
	version := ""
	if v, ok := rl.Resource().Attributes().Get("service.version"); ok {
		version = v.AsString()
	}
	// The events of each turn, in order.
	byPrompt := map[string][]nativeEvent{}
	var prompts []string
	for _, sl := range rl.ScopeLogs().All() {
		if !IsClaudeCodeNative(sl.Scope()) {
			continue
		}
		for _, lr := range sl.LogRecords().All() {
			e := nativeEvent{attrs: lr.Attributes()}
			e.name = strings.TrimPrefix(e.str("event.name"), "claude_code.")
			if e.name == "" {
				e.name = strings.TrimPrefix(lr.Body().AsString(), "claude_code.")
			}
			ts := lr.Timestamp()
			if ts == 0 {
				ts = lr.ObservedTimestamp()
			}
			if t, err := time.Parse(time.RFC3339Nano, e.str("event.timestamp")); ts == 0 && err == nil {
				ts = pcommon.NewTimestampFromTime(t)
			}
			pid := e.str("prompt.id")
			if ts == 0 || uint64(ts) > uint64(maxTimeNanos) || pid == "" || e.str("session.id") == "" {
				continue
			}
			e.t = time.Unix(0, int64(ts)).UTC()
			if _, ok := byPrompt[pid]; !ok {
				prompts = append(prompts, pid)
			}
			byPrompt[pid] = append(byPrompt[pid], e)
		}
	}
	for _, pid := range prompts {
		used += nativeTurn(ss.Spans(), pid, byPrompt[pid], version)
	}
	return td, used
}

var maxTimeNanos = time.Date(2262, 4, 11, 23, 47, 16, 0, time.UTC).UnixNano() - 1

// nativeTurn appends the spans of one turn's events.
func nativeTurn(out ptrace.SpanSlice, promptID string, evs []nativeEvent, version string) int {
	trace := spanid.TurnTraceID(promptID)
	b := &nativeTurnBuilder{out: out, trace: trace, root: spanid.RootSpanID(trace),
		session: evs[0].str("session.id"), version: version, agents: nativeSubagents(evs)}
	b.rootSpan(promptID, evs)
	used := 0
	for _, e := range evs {
		agent := "claude-code"
		if a := e.str("agent.name"); a != "" {
			agent = a
		}
		switch e.name {
		case "user_prompt", "assistant_response":
			used++
		case "api_request", "api_error":
			used++
			b.chatSpan(e, agent)
		case "tool_result":
			id := e.str("tool_use_id")
			if id == "" {
				continue
			}
			used++
			if name := e.str("tool_name"); isAgentTool(name) {
				b.agentSpan(e, id, agent)
			} else {
				b.toolSpan(e, id, name, agent)
			}
		}
	}
	return used
}

// nativeTurnBuilder appends the spans of one turn.
type nativeTurnBuilder struct {
	out              ptrace.SpanSlice
	trace            spanid.TraceID
	root             spanid.SpanID
	session, version string
	responses        map[string]string   // request_id → the response's text
	agents           map[string][]string // subagent type → spawning tool_use_ids
}

// nativeSubagents maps each subagent type to the tool_use_ids of the Agent
// (Task) calls that spawned it in the turn: each call becomes the
// subagent's invoke_agent span (the transcript's id), and the calls of a
// subagent (agent.name) go under it when its type spawned once.
func nativeSubagents(evs []nativeEvent) map[string][]string {
	agents := map[string][]string{}
	for _, e := range evs {
		if id := e.str("tool_use_id"); e.name == "tool_result" && id != "" && isAgentTool(e.str("tool_name")) {
			typ := agentCall(e).typ
			agents[typ] = append(agents[typ], id)
		}
	}
	return agents
}

// parentOf is the span the calls of agent go under.
func (b *nativeTurnBuilder) parentOf(agent string) spanid.SpanID {
	if ids := b.agents[agent]; agent != "claude-code" && len(ids) == 1 {
		return spanid.AgentSpanID(b.trace, ids[0])
	}
	return b.root
}

// newSpan appends a span of the turn with the attributes every span has.
func (b *nativeTurnBuilder) newSpan(id, parent spanid.SpanID, name, agent string, kind ptrace.SpanKind, start, end time.Time) (ptrace.Span, pcommon.Map) {
	sp := b.out.AppendEmpty()
	sp.SetTraceID(pcommon.TraceID(b.trace))
	sp.SetSpanID(pcommon.SpanID(id))
	if parent != (spanid.SpanID{}) {
		sp.SetParentSpanID(pcommon.SpanID(parent))
	}
	sp.SetName(name)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(end))
	sp.SetKind(kind)
	a := sp.Attributes()
	a.PutStr(semconv.KeyAgentName, agent)
	if b.version != "" {
		a.PutStr(semconv.KeyAgentVersion, b.version)
	}
	a.PutStr(semconv.KeyConversationID, b.session)
	a.PutStr(semconv.KeySessionID, b.session)
	a.PutStr(KeyNativeTelemetry, "native")
	return sp, a
}

// rootSpan appends the turn's invoke_agent span, which spans the turn's
// events, and notes the responses' texts for the chat spans.
func (b *nativeTurnBuilder) rootSpan(promptID string, evs []nativeEvent) {
	first, last := evs[0].t, evs[0].t
	var prompt string
	b.responses = map[string]string{}
	for _, e := range evs {
		if s := e.start(); s.Before(first) {
			first = s
		}
		if e.t.After(last) {
			last = e.t
		}
		switch e.name {
		case "user_prompt":
			prompt = e.str("prompt")
			first = e.t
		case "assistant_response":
			b.responses[e.str("request_id")] = e.str("response")
		}
	}
	_, ra := b.newSpan(b.root, spanid.SpanID{}, semconv.OpInvokeAgent+" claude-code", "claude-code", ptrace.SpanKindInternal, first, last)
	ra.PutStr(semconv.KeyOperationName, semconv.OpInvokeAgent)
	ra.PutStr(semconv.KeyPromptID, promptID)
	if prompt != "" && prompt != "<REDACTED>" {
		ra.PutStr(semconv.KeyInputMessages, messagesJSON("user", prompt))
	}
}

// chatSpan appends the chat span of an api_request or api_error event.
func (b *nativeTurnBuilder) chatSpan(e nativeEvent, agent string) {
	rid := e.str("request_id")
	if rid == "" {
		rid = "event:" + e.str("event.sequence")
	}
	model := e.str("model")
	sp, a := b.newSpan(NativeChatSpanID(b.trace, rid), b.parentOf(agent), strings.TrimSpace(semconv.OpChat+" "+model), agent, ptrace.SpanKindClient, e.start(), e.t)
	a.PutStr(semconv.KeyOperationName, semconv.OpChat)
	a.PutStr(semconv.KeyProviderName, "anthropic")
	if model != "" {
		a.PutStr(semconv.KeyRequestModel, model)
	}
	if r := e.str("request_id"); r != "" {
		a.PutStr(semconv.KeyRequestID, r)
	}
	if e.name == "api_error" {
		sp.Status().SetCode(ptrace.StatusCodeError)
		sp.Status().SetMessage(e.str("error"))
		a.PutStr(semconv.KeyErrorType, firstNonEmpty(e.str("status_code"), "api_error"))
		return
	}
	if model != "" {
		a.PutStr(semconv.KeyResponseModel, model)
	}
	in, _ := e.int("input_tokens")
	cr, _ := e.int("cache_read_tokens")
	cc, _ := e.int("cache_creation_tokens")
	a.PutInt(semconv.KeyInputTokens, in+cr+cc)
	if out, ok := e.int("output_tokens"); ok {
		a.PutInt(semconv.KeyOutputTokens, out)
	}
	a.PutInt(semconv.KeyCacheReadTokens, cr)
	a.PutInt(semconv.KeyCacheCreateTokens, cc)
	if c, ok := e.float("cost_usd"); ok {
		a.PutDouble("weave.claude_code.cost_usd", c)
	}
	if text, ok := b.responses[e.str("request_id")]; ok && text != "" {
		a.PutStr(semconv.KeyOutputMessages, messagesJSON("assistant", text))
	}
}

// agentSpan appends the invoke_agent span of a subagent an Agent (Task)
// call (the tool_result event e, tool_use_id id) spawned.
func (b *nativeTurnBuilder) agentSpan(e nativeEvent, id, agent string) {
	c := agentCall(e)
	_, a := b.newSpan(spanid.AgentSpanID(b.trace, id), b.parentOf(agent), semconv.OpInvokeAgent+" "+c.typ, c.typ, ptrace.SpanKindInternal, e.start(), e.t)
	a.PutStr(semconv.KeyOperationName, semconv.OpInvokeAgent)
	a.PutStr(semconv.KeySpawningToolCallID, id)
	a.PutStr(semconv.KeyToolCallID, id)
	if c.description != "" {
		a.PutStr(semconv.KeyAgentDescription, c.description)
	}
	if c.prompt != "" {
		a.PutStr(semconv.KeyInputMessages, messagesJSON("user", c.prompt))
	}
}

// toolSpan appends the execute_tool span of a tool_result event.
func (b *nativeTurnBuilder) toolSpan(e nativeEvent, id, name, agent string) {
	sp, a := b.newSpan(spanid.ToolSpanID(b.trace, id), b.parentOf(agent), semconv.OpExecuteTool+" "+name, agent, ptrace.SpanKindInternal, e.start(), e.t)
	a.PutStr(semconv.KeyOperationName, semconv.OpExecuteTool)
	a.PutStr(semconv.KeyToolName, name)
	a.PutStr(semconv.KeyToolCallID, id)
	if args := firstNonEmpty(e.str("tool_input"), e.str("tool_parameters")); args != "" {
		a.PutStr(semconv.KeyToolCallArguments, args)
	}
	if e.str("success") == "false" {
		sp.Status().SetCode(ptrace.StatusCodeError)
		sp.Status().SetMessage(e.str("error"))
		a.PutStr(semconv.KeyErrorType, "tool_error")
	}
}

func isAgentTool(name string) bool { return name == "Agent" || name == "Task" }

type nativeAgentCall struct{ prompt, typ, description string }

// agentCall reads an Agent call's input (tool_input with
// OTEL_LOG_TOOL_DETAILS=1, else tool_parameters).
func agentCall(e nativeEvent) nativeAgentCall {
	var in struct {
		Prompt       string `json:"prompt"`
		SubagentType string `json:"subagent_type"`
		Description  string `json:"description"`
	}
	if json.Unmarshal([]byte(e.str("tool_input")), &in) != nil || in.SubagentType == "" {
		_ = json.Unmarshal([]byte(e.str("tool_parameters")), &in)
	}
	if in.SubagentType == "" {
		in.SubagentType = "general-purpose"
	}
	return nativeAgentCall{prompt: in.Prompt, typ: in.SubagentType, description: in.Description}
}

func messagesJSON(role, text string) string {
	b, _ := json.Marshal([]map[string]any{{"role": role, "parts": []map[string]string{{"type": "text", "content": text}}}})
	return string(b)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
