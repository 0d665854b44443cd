package spans

import (
	"cmp"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/transcript"
)

// AgentName is gen_ai.agent.name of a Claude Code turn root.
const AgentName = "claude-code"

// agentName is gen_ai.agent.name of s's turn roots.
func agentName(s *transcript.Session) string {
	if s.Agent != "" {
		return s.Agent
	}
	return AgentName
}

// Options shape the spans built from a session.
type Options struct {
	Privacy Privacy
	// IntegrationVersion is weave's version (weave.integration.version).
	IntegrationVersion string
	// Live describes what hooks know that the transcript does not (the live
	// daemon); nil for a backfill import of finished sessions.
	Live *Live
	// Input says how a chat span carries what the model saw before its
	// newest messages (InputReference by default).
	Input InputMode
}

// InputMode is how chat spans carry their input history.
type InputMode int

const (
	// InputReference: a chat span's gen_ai.input.messages holds the
	// messages added since the previous call's request, and
	// weave.input.previous_trace_id / previous_span_id name that call's
	// span, whose full input and output come before them (weave-server
	// resolves it at ingest). A call with no earlier call to refer to —
	// the first, the first after a compaction, a fork's first own call,
	// whose history its parent's spans hold under other ids — carries its
	// whole input. Linear in messages on the wire.
	InputReference InputMode = iota
	// InputFull: every chat span carries its whole input, for backends
	// that do not resolve references (quadratic on the wire).
	InputFull
)

// ParseInputMode reads an input mode's name: "reference" or "full".
func ParseInputMode(s string) (InputMode, error) {
	switch s {
	case "reference":
		return InputReference, nil
	case "full":
		return InputFull, nil
	}
	return 0, fmt.Errorf("spans: input mode %q: want reference or full", s)
}

// String is the mode's name.
func (m InputMode) String() string {
	if m == InputFull {
		return "full"
	}
	return "reference"
}

// Live is the hook-time overlay the daemon supplies.
type Live struct {
	// Source is SessionStart's source (startup, resume, compact, fork...).
	Source string
	// Turns by turn key (prompt_id).
	Turns map[string]*LiveTurn
	// Tools by tool_use_id.
	Tools map[string]*LiveTool
	// Agents by agent_id (SubagentStart / SubagentStop).
	Agents map[string]*LiveAgent
}

// LiveTurn is what hooks said about one turn.
type LiveTurn struct {
	Prompt   string    // UserPromptSubmit's prompt (before the line lands)
	Start    time.Time // UserPromptSubmit receipt
	Stopped  time.Time // Stop / StopFailure receipt; zero while running
	Failure  *transcript.APIError
	Closed   string // orphan_reason when closed without Stop (session_ended, idle_timeout, ...)
	ClosedAt time.Time
	// Superseded: a later turn of the session started at this time while
	// this one had no Stop. Claude Code fires none for a turn the user
	// interrupts (Escape); the turn is over, and ends where its transcript
	// does.
	Superseded time.Time
	// Compaction from PreCompact / PostCompact when the transcript has none
	// yet. Only PostCompact (Compacted) confirms one: PreCompact alone may
	// end in a failed compaction (too_few_groups → StopFailure).
	Compacted      bool
	CompactTrigger string
	CompactSummary string
	CompactAt      time.Time
	// Events to put on the turn root (notifications).
	Events []Event
}

// Open reports whether hooks say the turn is still running: no Stop, not
// closed, not superseded by a later turn.
func (lt *LiveTurn) Open() bool {
	return lt.Stopped.IsZero() && lt.Closed == "" && lt.Superseded.IsZero()
}

// LiveTool is what hooks said about one tool call.
type LiveTool struct {
	Name, AgentID, PromptID string
	Input                   json.RawMessage
	Start, End              time.Time // PreToolUse / PostToolUse(Failure) receipt
	Failed                  bool
	Error                   string
	IsInterrupt             bool
	Response                json.RawMessage // PostToolUse tool_response
	Events                  []Event         // permission request / decision events
	Closed                  string          // orphan_reason
}

// LiveAgent is what hooks said about one subagent.
type LiveAgent struct {
	AgentType      string
	Start, Stopped time.Time
	LastMessage    string
	// Failure: the subagent ended with a failed API call (StopFailure
	// carrying its agent_id).
	Failure *transcript.APIError
}

// Build returns the spans of every turn of s that s owns (turns a fork
// copied from its parent belong to the parent and are left out).
func Build(s *transcript.Session, o Options) []Span {
	var out []Span
	for _, t := range s.Turns {
		if t.Copied {
			continue
		}
		out = append(out, BuildTurn(s, t, o)...)
	}
	return out
}

// BuildTurn returns the span tree of one turn: the invoke_agent root first,
// then its descendants in start order.
func BuildTurn(s *transcript.Session, t *transcript.Turn, o Options) []Span {
	b := &builder{s: s, t: t, o: o, trace: spanid.TurnTraceID(t.Key), red: &redactor{p: o.Privacy}}
	return b.build()
}

type builder struct {
	s     *transcript.Session
	t     *transcript.Turn
	o     Options
	trace spanid.TraceID
	red   *redactor
	out   []Span
	ti    int  // the turn's index in s.Turns (turnIndex)
	tiSet bool // ti is known
}

func (b *builder) live() *LiveTurn {
	if b.o.Live == nil {
		return nil
	}
	return b.o.Live.Turns[b.t.Key]
}

// running reports whether the turn is still in progress (live only).
func (b *builder) running() bool {
	lt := b.live()
	return lt != nil && lt.Open()
}

func (b *builder) build() []Span {
	name := agentName(b.s)
	b.out = append(b.out, b.root(name))
	t := b.t
	b.agentChildren(b.out[0].SpanID, name, nil, t.Calls, t.Tools, t.Subagents)
	b.finishRoot(&b.out[0])
	sort.SliceStable(b.out[1:], func(i, j int) bool {
		a, c := b.out[1+i], b.out[1+j]
		if !a.Start.Equal(c.Start) {
			return a.Start.Before(c.Start)
		}
		return a.SpanID.String() < c.SpanID.String()
	})
	return b.out
}

// root returns the turn's invoke_agent span as the transcript and the
// hooks describe the turn itself; finishRoot completes it once its
// children are built.
func (b *builder) root(name string) Span {
	t := b.t
	root := Span{
		TraceID: b.trace, SpanID: spanid.RootSpanID(b.trace), Name: semconv.OpInvokeAgent + " " + name, Kind: KindInternal,
		Start: t.Start, End: t.End, StatusCode: StatusUnset,
	}
	lt := b.live()
	prompt := t.Prompt
	if prompt == "" && lt != nil {
		prompt = transcript.CleanPrompt(lt.Prompt)
	}
	// The transcript decides when a turn starts and ends once it shows the
	// turn, so that the live daemon and an import agree (a re-import
	// changes nothing): hook times stand in only until then.
	if lt != nil && !lt.Start.IsZero() && (root.Start.IsZero() || !t.InTranscript() && lt.Start.Before(root.Start)) {
		root.Start = lt.Start
	}
	b.common(&root, name)
	b.rootAttrs(&root)
	root.SetAttr(semconv.KeyDisplayName, b.displayName(fmt.Sprintf("Turn %d", t.Number), prompt))
	if !b.o.Privacy.OmitContent && prompt != "" {
		root.SetAttr(semconv.KeyInputMessages, b.messagesJSON([]message{{Role: "user", Parts: []part{{Type: "text", Content: b.red.text(prompt)}}}}))
	}
	if last := lastCall(t.Calls); last != nil {
		if out := b.outputMessage(last, true); out != nil && !b.o.Privacy.OmitContent {
			root.SetAttr(semconv.KeyOutputMessages, b.messagesJSON([]message{*out}))
		}
		root.SetAttr(semconv.KeyFinishReasons, nonEmptyList(last.StopReason))
	}
	b.compactions(&root)
	return root
}

// rootAttrs sets the root's attributes that describe the session and the
// turn.
func (b *builder) rootAttrs(root *Span) {
	t := b.t
	root.SetAttr(semconv.KeySessionID, b.s.ID)
	root.SetAttr(semconv.KeyParentSessionID, b.s.ParentSessionID)
	root.SetAttr(semconv.KeyCwd, b.red.text(b.s.Cwd))
	root.SetAttr(semconv.KeyGitBranch, b.red.text(b.s.GitBranch))
	if b.s.Agent == "" {
		root.SetAttr(semconv.KeyEntrypoint, b.s.Entrypoint)
		root.SetAttr(semconv.KeyClaudeCodeVersion, b.s.Version)
	}
	root.SetAttr(semconv.KeyPromptID, t.PromptID)
	root.SetAttr(semconv.KeyTurnNumber, int64(t.Number))
	root.SetAttr(semconv.KeyPermissionMode, t.PermissionMode)
	root.SetAttr(semconv.KeyTurnOrigin, t.Origin)
	root.SetAttr(semconv.KeyIntegrationName, "weave")
	root.SetAttr(semconv.KeyIntegrationVersion, b.o.IntegrationVersion)
	if b.s.Agent == "" { // weave.claude_code.source is Claude Code's
		source := semconv.SourceImport
		if b.o.Live != nil {
			source = b.o.Live.Source
		}
		root.SetAttr(semconv.KeySource, source)
	}
	root.SetAttr(semconv.KeyRequestModel, t.Model())
	root.SetAttr(semconv.KeyTurnLLMCallCount, int64(len(t.Calls)))
	root.SetAttr(semconv.KeyTurnToolCount, int64(len(t.Tools)))
}

// finishRoot completes the root r once its children are in b.out: its
// time span covers theirs, then failures, live events and how the turn
// ended (live only), and the privacy figures.
func (b *builder) finishRoot(r *Span) {
	// The root spans its children: back-dated chat spans can start before
	// the prompt line's timestamp, and the last tool can end after it.
	for i := 1; i < len(b.out); i++ {
		c := &b.out[i]
		if !c.Start.IsZero() && (r.Start.IsZero() || c.Start.Before(r.Start)) {
			r.Start = c.Start
		}
		if c.End.After(r.End) {
			r.End = c.End
		}
	}
	if failed := b.t.Failed(); failed != nil {
		b.fail(r, failed.Type, failed.Message)
		r.SetAttr(semconv.KeyTurnFailed, true)
	}
	if lt := b.live(); lt != nil {
		r.Events = append(r.Events, b.liveEvents(lt.Events)...)
		if lt.Failure != nil {
			b.fail(r, lt.Failure.Type, lt.Failure.Message)
			r.SetAttr(semconv.KeyTurnFailed, true)
		}
		b.liveEnd(r, lt)
	}
	if !r.End.IsZero() && r.End.Before(r.Start) {
		r.End = r.Start
	}
	if b.red.count > 0 {
		r.SetAttr(semconv.KeyRedactions, b.red.count)
	}
	if b.o.Privacy.OmitContent {
		r.SetAttr(semconv.KeyContentOmitted, true)
	}
}

// liveEnd sets when the live turn ended, or that it has not yet.
func (b *builder) liveEnd(r *Span, lt *LiveTurn) {
	t := b.t
	switch {
	case !lt.Stopped.IsZero():
		// Stop / StopFailure: the turn ended, even when SessionEnd's
		// hook got in first (it does after an API error) and closed it.
		// It ends where its transcript says (its stop_hook_summary, else
		// its last line, which an import sees too); the hook's time only
		// while the transcript shows nothing of it.
		if !t.InTranscript() && lt.Stopped.After(r.End) || r.End.IsZero() {
			r.End = lt.Stopped
		}
	case lt.Closed != "" && t.Failed() != nil:
		// Closed without a Stop after its last call failed: Claude Code
		// 2.1.330 fires no StopFailure in print mode. It failed (above),
		// it was not left behind; it ends where its transcript does.
	case lt.Closed != "":
		r.SetAttr(semconv.KeyOrphanReason, lt.Closed)
		if lt.ClosedAt.After(r.End) {
			r.End = lt.ClosedAt
		}
	case !lt.Superseded.IsZero():
		if r.End.IsZero() {
			r.End = lt.Superseded
		}
	default:
		r.End = time.Time{} // still running
	}
}

// common sets the attributes every span of the turn carries.
func (b *builder) common(s *Span, agentName string) {
	op := semconv.OpInvokeAgent
	switch {
	case s.Name == semconv.OpChat || strings.HasPrefix(s.Name, semconv.OpChat+" "):
		// "chat" alone: a failed call whose model no record names.
		op = semconv.OpChat
	case strings.HasPrefix(s.Name, semconv.OpExecuteTool+" "):
		op = semconv.OpExecuteTool
	}
	s.SetAttr(semconv.KeyOperationName, op)
	s.SetAttr(semconv.KeyAgentName, agentName)
	// Every span carries the agent version (Claude Code's), so per-version
	// rollups see the chat and tool spans' usage, not only the roots'.
	s.SetAttr(semconv.KeyAgentVersion, b.s.Version)
	s.SetAttr(semconv.KeyConversationID, b.s.ConversationID)
	s.SetAttr(semconv.KeySessionID, b.s.ID)
}

// agentChildren emits the chat, tool and subagent spans of one agent (the
// main agent of the turn, or the subagent sub) under parent.
func (b *builder) agentChildren(parent spanid.SpanID, agentName string, sub *transcript.Subagent, calls []*transcript.LLMCall, tools []*transcript.ToolCall, orphans []*transcript.Subagent) {
	for _, c := range calls {
		b.chat(parent, agentName, sub, c)
	}
	for _, tc := range tools {
		if tc.IsAgentCall() {
			b.subagent(parent, tc, tc.Subagent)
			continue
		}
		b.tool(parent, agentName, tc)
	}
	// Subagents of this turn not spawned by a call we emitted above:
	// orphans, and (for the root) linked ones whose spawning call lives in
	// another subagent are emitted by that subagent.
	for _, a := range orphans {
		if a.Parent == nil {
			b.subagent(parent, nil, a)
		}
	}
}

func (b *builder) chat(parent spanid.SpanID, agentName string, sub *transcript.Subagent, c *transcript.LLMCall) {
	model := c.Model
	if model == "" {
		model = b.sessionModel()
	}
	s := Span{
		TraceID: b.trace, SpanID: spanid.ChatSpanID(b.trace, c.MessageID), ParentSpanID: parent,
		Name: strings.TrimSpace(semconv.OpChat + " " + model), Kind: KindClient,
		Start: c.Start, End: c.End, StatusCode: StatusUnset,
	}
	b.common(&s, agentName)
	provider := b.s.Provider
	if provider == "" {
		provider = ProviderFromModel(model)
	}
	s.SetAttr(semconv.KeyProviderName, provider)
	s.SetAttr(semconv.KeyRequestModel, model)
	s.SetAttr(semconv.KeyRequestID, c.RequestID)
	if c.APIError != nil {
		b.fail(&s, c.APIError.Type, c.APIError.Message)
	} else {
		s.SetAttr(semconv.KeyResponseModel, c.Model)
		s.SetAttr(semconv.KeyResponseID, c.MessageID)
		s.SetAttr(semconv.KeyFinishReasons, nonEmptyList(c.StopReason))
		s.SetAttr(semconv.KeyStopReason, c.StopReason)
		s.SetAttr(semconv.KeyOutputType, "text")
	}
	if c.HasUsage {
		u := c.Usage
		s.SetAttr(semconv.KeyInputTokens, u.TotalInput())
		s.SetAttr(semconv.KeyOutputTokens, u.OutputTokens)
		s.SetAttr(semconv.KeyCacheReadTokens, u.CacheReadInputTokens)
		s.SetAttr(semconv.KeyCacheCreateTokens, u.CacheCreationInputTokens)
		s.SetAttr(semconv.KeyCacheWriteTokens, u.CacheCreationInputTokens)
		if cc := u.CacheCreation; cc != nil {
			s.SetAttr(semconv.KeyCacheCreate5mTokens, cc.Ephemeral5mInputTokens)
			s.SetAttr(semconv.KeyCacheCreate1hTokens, cc.Ephemeral1hInputTokens)
		}
		if n := u.WebSearchRequests(); n > 0 {
			s.SetAttr(semconv.KeyWebSearchRequests, n)
		}
		if r := u.ReasoningTokens(); r > 0 {
			s.SetAttr(semconv.KeyReasoningTokens, r)
		}
	}
	if !b.o.Privacy.OmitContent {
		b.chatInput(&s, sub, c)
		if out := b.outputMessage(c, false); out != nil {
			s.SetAttr(semconv.KeyOutputMessages, b.messagesJSON([]message{*out}))
		}
		if len(c.System) > 0 {
			parts := make([]part, 0, len(c.System))
			for _, sys := range c.System {
				parts = append(parts, part{Type: "text", Content: b.red.text(sys)})
			}
			s.SetAttr(semconv.KeySystemInstructions, b.partsJSON(parts))
		}
	}
	b.out = append(b.out, s)
}

// sessionModel is the model of the last real call at or before this turn,
// for a failed call that has none of its own.
func (b *builder) sessionModel() string { return sessionModel(b.s, b.t.Key) }

// sessionModel is the model of the last real call of s at or before the
// (last) turn keyed key.
func sessionModel(s *transcript.Session, key string) string {
	seen := false
	for i := len(s.Turns) - 1; i >= 0; i-- {
		t := s.Turns[i]
		if t.Key == key {
			seen = true
		}
		if m := t.Model(); seen && m != "" {
			return m
		}
	}
	return ""
}

func (b *builder) liveTool(id string) *LiveTool {
	if b.o.Live == nil {
		return nil
	}
	return b.o.Live.Tools[id]
}

func (b *builder) tool(parent spanid.SpanID, agentName string, tc *transcript.ToolCall) {
	s := Span{
		TraceID: b.trace, SpanID: spanid.ToolSpanID(b.trace, tc.ID), ParentSpanID: parent,
		Name: semconv.OpExecuteTool + " " + tc.Name, Kind: KindInternal,
		Start: tc.Start, End: tc.End, StatusCode: StatusUnset,
	}
	b.common(&s, agentName)
	s.SetAttr(semconv.KeyToolName, tc.Name)
	s.SetAttr(semconv.KeyToolCallID, tc.ID)
	s.SetAttr(semconv.KeyToolType, toolType(tc.Name))
	s.SetAttr(semconv.KeyDisplayName, b.displayName(tc.Name, toolSubject(tc.Name, tc.Input)))
	if !b.o.Privacy.OmitContent {
		s.SetAttr(semconv.KeyToolCallArguments, string(b.red.json(compactJSON(tc.Input))))
		if tc.HasResult {
			s.SetAttr(semconv.KeyToolCallResult, b.red.text(tc.Result))
		}
	}
	lt := b.liveTool(tc.ID)
	b.toolOutcome(&s, tc, lt)
	b.out = append(b.out, s)
}

// toolOutcome sets status, error and end time of a tool or subagent span
// from the transcript's tool_result and the hooks.
func (b *builder) toolOutcome(s *Span, tc *transcript.ToolCall, lt *LiveTool) {
	if lt != nil {
		if !lt.Start.IsZero() && (s.Start.IsZero() || lt.Start.Before(s.Start)) {
			s.Start = lt.Start
		}
		s.Events = append(s.Events, b.liveEvents(lt.Events)...)
	}
	switch {
	case tc != nil && tc.HasResult:
		if tc.IsError {
			b.fail(s, toolErrorType(tc.Result), firstLine(b.red.text(tc.Result)))
		}
	case lt != nil && lt.Failed:
		typ := toolErrorType(lt.Error)
		if lt.IsInterrupt {
			typ = "interrupted"
		}
		b.fail(s, typ, firstLine(b.red.text(lt.Error)))
		s.End = lt.End
	case lt != nil && !lt.End.IsZero():
		s.End = lt.End
	case lt != nil && lt.Closed != "":
		s.SetAttr(semconv.KeyOrphanReason, lt.Closed)
		s.End = b.turnEnd()
	case b.running():
		s.End = time.Time{} // the tool is still running
	default:
		// A finished turn whose tool never got a result (interrupted).
		s.SetAttr(semconv.KeyOrphanReason, "no_tool_result")
		s.End = b.turnEnd()
	}
	if !s.End.IsZero() && s.End.Before(s.Start) {
		s.End = s.Start
	}
}

// turnEnd is when the turn ended, for a tool left without a result: where
// its transcript ends (see build), else when hooks said it stopped, and no
// earlier than it was closed as orphaned.
func (b *builder) turnEnd() time.Time {
	end := b.t.End
	if lt := b.live(); lt != nil {
		if !b.t.InTranscript() && lt.Stopped.After(end) || end.IsZero() {
			end = lt.Stopped
		}
		if lt.ClosedAt.After(end) {
			end = lt.ClosedAt
		}
	}
	return end
}

// subagent emits the invoke_agent span of a subagent and its subtree. tc is
// the spawning Agent call (nil for an orphan); a is the subagent (nil when
// the Agent call's transcript was not found).
func (b *builder) subagent(parent spanid.SpanID, tc *transcript.ToolCall, a *transcript.Subagent) {
	id, prompt, typ, desc := b.subagentIdentity(tc, a)
	s := Span{TraceID: b.trace, SpanID: id, ParentSpanID: parent, Name: semconv.OpInvokeAgent + " " + typ, Kind: KindInternal, StatusCode: StatusUnset}
	b.common(&s, typ)
	s.SetAttr(semconv.KeyDisplayName, b.displayName(typ, desc))
	if !b.o.Privacy.OmitContent {
		s.SetAttr(semconv.KeyAgentDescription, b.red.text(desc))
		if prompt != "" {
			s.SetAttr(semconv.KeyInputMessages, b.messagesJSON([]message{{Role: "user", Parts: []part{{Type: "text", Content: b.red.text(prompt)}}}}))
		}
	}
	if tc != nil {
		s.Start, s.End = tc.Start, tc.End
		s.SetAttr(semconv.KeySpawningToolCallID, tc.ID)
		s.SetAttr(semconv.KeyToolCallID, tc.ID)
	}
	if a != nil {
		b.subagentTranscript(&s, tc, a)
	} else if tc != nil {
		s.SetAttr(semconv.KeySubagentMatch, "none")
	}
	if tc != nil && tc.HasResult && !b.o.Privacy.OmitContent {
		s.SetAttr(semconv.KeyOutputMessages, b.messagesJSON([]message{{Role: "assistant", Parts: []part{{Type: "text", Content: b.red.text(tc.Result)}}}}))
	}
	b.subagentEnd(&s, tc, a)
	b.out = append(b.out, s)
	if a != nil {
		b.agentChildren(id, typ, a, a.Calls, a.Tools, nil)
	}
}

// subagentIdentity returns a subagent span's id and the prompt, type and
// description of the subagent: the spawning Agent call's, else its
// transcript's.
func (b *builder) subagentIdentity(tc *transcript.ToolCall, a *transcript.Subagent) (id spanid.SpanID, prompt, typ, desc string) {
	if tc != nil {
		id = spanid.AgentSpanID(b.trace, tc.ID)
		prompt, typ, desc = tc.AgentPrompt()
	} else {
		id = spanid.OrphanAgentSpanID(b.trace, a.AgentID)
	}
	if a != nil {
		typ = cmp.Or(typ, a.AgentType)
		prompt = cmp.Or(prompt, a.Prompt)
		desc = cmp.Or(desc, a.Description)
	}
	return id, prompt, cmp.Or(typ, "general-purpose"), desc
}

// subagentTranscript sets what the subagent's transcript a says: its
// id, how it was linked, its model and times, and its last answer when
// the Agent call tc has no result.
func (b *builder) subagentTranscript(s *Span, tc *transcript.ToolCall, a *transcript.Subagent) {
	s.SetAttr(semconv.KeyAgentID, a.AgentID)
	s.SetAttr(semconv.KeySubagentMatch, a.Match)
	s.SetAttr(semconv.KeyOrphanReason, a.OrphanReason)
	s.SetAttr(semconv.KeyRequestModel, a.Model())
	if !a.Start.IsZero() && (s.Start.IsZero() || a.Start.Before(s.Start)) {
		s.Start = a.Start
	}
	if a.End.After(s.End) {
		s.End = a.End
	}
	if !b.o.Privacy.OmitContent {
		if last := lastCall(a.Calls); last != nil && (tc == nil || !tc.HasResult) {
			if out := b.outputMessage(last, true); out != nil {
				s.SetAttr(semconv.KeyOutputMessages, b.messagesJSON([]message{*out}))
			}
		}
	}
}

// subagentEnd sets the subagent span's outcome and end: the Agent call's
// (tool_result / PostToolUse), no earlier than its own transcript's; a
// failure its last model call or a StopFailure reported.
func (b *builder) subagentEnd(s *Span, tc *transcript.ToolCall, a *transcript.Subagent) {
	if tc != nil {
		// The Agent call's outcome (tool_result / PostToolUse) is the
		// subagent's outcome; it ends no earlier than its own transcript.
		b.toolOutcome(s, tc, b.liveTool(tc.ID))
		if a != nil && !s.End.IsZero() && a.End.After(s.End) {
			s.End = a.End
		}
	} else if b.running() && (a == nil || b.agentRunning(a)) {
		s.End = time.Time{}
	}
	// A subagent whose last model call failed failed, even when the Agent
	// call reports it completed (its result is then the error text).
	if f := b.agentFailure(a); f != nil && s.StatusCode != StatusError {
		b.fail(s, f.Type, f.Message)
	}
	if s.Start.IsZero() {
		s.Start = b.t.Start
	}
	if !s.End.IsZero() && s.End.Before(s.Start) {
		s.End = s.Start
	}
}

// agentFailure is the failed API call a subagent ended with: its
// transcript's last call, else what a StopFailure hook said.
func (b *builder) agentFailure(a *transcript.Subagent) *transcript.APIError {
	if a == nil {
		return nil
	}
	if last := lastCall(a.Calls); last != nil {
		return last.APIError
	}
	if b.o.Live != nil {
		if la := b.o.Live.Agents[a.AgentID]; la != nil {
			return la.Failure
		}
	}
	return nil
}

// agentRunning reports whether hooks say an orphan subagent has not stopped.
func (b *builder) agentRunning(a *transcript.Subagent) bool {
	if b.o.Live == nil {
		return false
	}
	la := b.o.Live.Agents[a.AgentID]
	return la != nil && la.Stopped.IsZero()
}

// fail marks a span as an error. The message is redacted: API errors and
// hook error texts can quote what was sent.
func (b *builder) fail(s *Span, typ, msg string) {
	if typ == "" {
		typ = "_OTHER"
	}
	s.StatusCode = StatusError
	s.StatusMessage = b.red.text(msg)
	s.SetAttr(semconv.KeyErrorType, typ)
}

// liveEvents copies hook-time events with their string attributes
// redacted (permission suggestions and reasons, notification messages):
// the hooks' payloads get the same rules as the transcript.
func (b *builder) liveEvents(evs []Event) []Event {
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = e
		if len(e.Attributes) == 0 {
			continue
		}
		attrs := make(map[string]any, len(e.Attributes))
		for k, v := range e.Attributes {
			if str, ok := v.(string); ok {
				v = b.red.text(str)
			}
			attrs[k] = v
		}
		out[i].Attributes = attrs
	}
	return out
}

// compactions puts the turn's compactions on the root: the last one as
// weave.compaction.* attributes (what the chat view renders), each one as a
// weave.compaction event.
func (b *builder) compactions(root *Span) {
	cs := b.t.Compactions
	if lt := b.live(); lt != nil && len(cs) == 0 && lt.Compacted {
		cs = []*transcript.Compaction{{Time: lt.CompactAt, Trigger: lt.CompactTrigger, Summary: lt.CompactSummary}}
	}
	for _, c := range cs {
		summary := ""
		if !b.o.Privacy.OmitContent {
			summary = b.red.text(c.Summary)
		}
		ev := Event{Name: semconv.EventCompaction, Time: c.Time}
		ev.Attributes = map[string]any{semconv.KeyCompactionTrigger: c.Trigger, semconv.KeyCompactionPreTokens: c.PreTokens,
			semconv.KeyCompactionItemsBefore: c.ItemsBefore, semconv.KeyCompactionItemsAfter: c.ItemsAfter}
		if summary != "" {
			ev.Attributes[semconv.KeyCompactionSummary] = summary
		}
		root.Events = append(root.Events, ev)
		root.SetAttr(semconv.KeyCompactionSummary, summary)
		root.SetAttr(semconv.KeyCompactionItemsBefore, c.ItemsBefore)
		root.SetAttr(semconv.KeyCompactionItemsAfter, c.ItemsAfter)
		root.SetAttr(semconv.KeyCompactionTrigger, c.Trigger)
		root.SetAttr(semconv.KeyCompactionPreTokens, c.PreTokens)
	}
}

func lastCall(calls []*transcript.LLMCall) *transcript.LLMCall {
	if len(calls) == 0 {
		return nil
	}
	return calls[len(calls)-1]
}

func nonEmptyList(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// displayName renders "<label>: <subject>" with the subject redacted,
// shortened to one line, or just the label when content is omitted.
func (b *builder) displayName(label, subject string) string {
	subject = strings.TrimSpace(subject)
	if subject == "" || b.o.Privacy.OmitContent {
		return label
	}
	return label + ": " + truncate(firstLine(b.red.text(subject)), 80)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return strings.TrimSpace(s[:i]) + " …"
	}
	return s
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// toolSubject picks the argument that says what a tool call was about.
func toolSubject(name string, input json.RawMessage) string {
	var in map[string]any
	if json.Unmarshal(input, &in) != nil {
		return ""
	}
	str := func(k string) string { v, _ := in[k].(string); return v }
	switch name {
	case "Bash":
		return str("command")
	case "Read", "Write", "Edit", "MultiEdit", "NotebookEdit":
		if p := str("file_path"); p != "" {
			return p
		}
		return str("notebook_path")
	case "Grep", "Glob":
		return str("pattern")
	case "WebFetch":
		return str("url")
	case "WebSearch":
		return str("query")
	case "Agent", "Task":
		return str("description")
	case "TodoWrite":
		if todos, ok := in["todos"].([]any); ok {
			return fmt.Sprintf("%d todos", len(todos))
		}
	case "TaskCreate", "TaskUpdate":
		if s := str("subject"); s != "" {
			return s
		}
		return str("taskId")
	}
	for _, k := range []string{"command", "cmd", "file_path", "path", "url", "query", "pattern", "description", "prompt", "message"} {
		if s := str(k); s != "" {
			return s
		}
	}
	return ""
}

func toolType(name string) string {
	if strings.HasPrefix(name, "mcp__") {
		return "extension"
	}
	return "function"
}

var exceptionName = regexp.MustCompile(`^([A-Z][A-Za-z_]*(?:Error|Exception))\b`)

// toolErrorType classifies a failed tool's result into a low-cardinality
// error.type.
func toolErrorType(result string) string {
	r := strings.TrimSpace(result)
	low := strings.ToLower(r)
	switch {
	case strings.HasPrefix(r, "<tool_use_error>"):
		return "tool_use_error"
	case strings.HasPrefix(r, "[Request interrupted"):
		return "interrupted"
	case strings.Contains(low, "permission") && strings.Contains(low, "denied"),
		strings.Contains(low, "was blocked"), strings.Contains(low, "needs approval"),
		strings.Contains(low, "doesn't want to proceed"), strings.Contains(low, "auto mode is unavailable"),
		strings.Contains(low, "reject command"):
		return "permission_denied"
	case strings.HasPrefix(r, "Exit code "):
		return "nonzero_exit"
	}
	if m := exceptionName.FindStringSubmatch(r); m != nil {
		return m[1]
	}
	return "tool_error"
}

// bedrockRegionRe matches Bedrock's cross-region inference profile ids
// ("us.anthropic.claude-…").
var bedrockRegionRe = regexp.MustCompile(`^[a-z]{2,4}\.anthropic\.`)

// ProviderFromModel maps a model id to gen_ai.provider.name.
func ProviderFromModel(model string) string {
	m := strings.ToLower(model)
	switch {
	case m == "" || strings.HasPrefix(m, "<"):
		return ""
	case strings.HasPrefix(m, "anthropic.") || bedrockRegionRe.MatchString(m) || strings.HasPrefix(m, "arn:aws:bedrock"):
		return "aws.bedrock"
	case strings.HasPrefix(m, "claude-") && strings.Contains(m, "@"):
		return "gcp.vertex_ai"
	case strings.HasPrefix(m, "claude"):
		return "anthropic"
	case strings.HasPrefix(m, "gpt-") || strings.HasPrefix(m, "o1") || strings.HasPrefix(m, "o3") || strings.HasPrefix(m, "o4"):
		return "openai"
	case strings.HasPrefix(m, "gemini"):
		return "gcp.gemini"
	}
	return ""
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return raw
	}
	var buf strings.Builder
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(json.RawMessage(raw)); err != nil {
		return raw
	}
	return json.RawMessage(strings.TrimSuffix(buf.String(), "\n"))
}
