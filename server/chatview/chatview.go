package chatview

import (
	"cmp"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
)

// Build returns the chat view of one trace. trace holds the trace's spans in
// any order; they should all share one trace_id (the first span's is the
// view's). An empty slice gives an empty view with no messages.
func Build(trace []model.Span) Trace {
	out := Trace{Messages: []Message{}}
	if len(trace) == 0 {
		return out
	}
	t := buildTree(trace)
	out.TraceID = t.preorder[0].span.TraceID

	root := primaryRoot(t.roots)
	rs := root.span
	out.RootSpanID = rs.SpanID
	out.RootSpanName = rs.SpanName
	out.AgentName = rs.AgentName
	out.Provider = rs.ProviderName
	out.ConversationID = rs.ConversationID
	out.SessionID = rs.CustomAttrsString[semconv.KeySessionID]
	out.ParentSessionID = rs.CustomAttrsString[semconv.KeyParentSessionID]
	out.WorkingDir = rs.CustomAttrsString[semconv.KeyCwd]
	out.GitBranch = rs.CustomAttrsString[semconv.KeyGitBranch]
	out.EndedAt = endPtr(rs)
	out.TotalDurationMs = rs.DurationMs()

	for _, n := range t.preorder {
		s := n.span
		if out.StartedAt.IsZero() || (!s.StartedAt.IsZero() && s.StartedAt.Before(out.StartedAt)) {
			out.StartedAt = s.StartedAt
		}
		if s.IsRunning() {
			out.Running = true
		}
		if s.StatusCode == model.StatusError {
			out.ErrorCount++
		}
		if out.Provider == "" {
			out.Provider = s.ProviderName
		}
		if out.ConversationID == "" {
			out.ConversationID = s.ConversationID
		}
		if out.WorkingDir == "" && out.GitBranch == "" {
			out.WorkingDir = s.CustomAttrsString[semconv.KeyCwd]
			out.GitBranch = s.CustomAttrsString[semconv.KeyGitBranch]
		}
		if out.SessionID == "" && s.CustomAttrsString[semconv.KeySessionID] != "" {
			out.SessionID = s.CustomAttrsString[semconv.KeySessionID]
			out.ParentSessionID = s.CustomAttrsString[semconv.KeyParentSessionID]
		}
	}
	out.SpanCount = len(t.preorder)
	for _, r := range t.roots {
		out.Usage.Add(r.usage)
	}

	w := walker{out: out.Messages, callerOf: map[string]string{}}
	w.userMessage(t.preorder)
	w.walk(t.roots)
	out.Messages = w.out
	markParallel(out.Messages, w.callerOf)
	return out
}

// markParallel sets ParallelGroup on the calls that ran at the same time.
// A call is a tool_call, or the agent_start of a subagent (an agent started
// inside another named agent: a call of that agent's Agent tool). Calls of
// one agent are swept in start order (the walk's order); a call that starts
// before every earlier call of its group has ended (a running one never
// has) joins the group, else it starts a new one. Groups of two or more
// calls get the span id of their first call. callerOf maps a subagent's
// span to the agent it runs in.
func markParallel(ms []Message, callerOf map[string]string) {
	type group struct {
		members []int
		end     time.Time // latest end; zero: one still runs
		running bool
	}
	open := map[string]*group{} // by calling agent
	flush := func(g *group) {
		if g == nil || len(g.members) < 2 {
			return
		}
		id := ms[g.members[0]].SpanID
		for _, i := range g.members {
			ms[i].ParallelGroup = id
		}
	}
	for i := range ms {
		m := &ms[i]
		var caller string
		switch {
		case m.Type == TypeToolCall:
			caller = m.AgentSpanID
		case m.Type == TypeAgentStart && m.Depth > 0:
			caller = callerOf[m.SpanID]
		default:
			continue
		}
		if m.StartedAt.IsZero() {
			continue
		}
		g := open[caller]
		if g == nil || (!g.running && !m.StartedAt.Before(g.end)) {
			flush(g)
			g = &group{}
			open[caller] = g
		}
		g.members = append(g.members, i)
		switch {
		case m.Running || m.EndedAt == nil:
			g.running = true
		case m.EndedAt.After(g.end):
			g.end = *m.EndedAt
		}
	}
	for _, g := range open {
		flush(g)
	}
}

// primaryRoot picks the root that describes the trace: the only span
// without a parent when there is exactly one, else the root that ended last
// (a running root counts as ending last), ties to the earliest start.
func primaryRoot(roots []*node) *node {
	var real []*node
	for _, r := range roots {
		if r.span.ParentSpanID == "" {
			real = append(real, r)
		}
	}
	if len(real) == 1 {
		return real[0]
	}
	best := roots[0]
	for _, r := range roots[1:] {
		if laterEnd(r.span, best.span) {
			best = r
		}
	}
	return best
}

// laterEnd reports whether a ended after b (running counts as latest).
func laterEnd(a, b *model.Span) bool {
	switch {
	case a.IsRunning() && b.IsRunning():
		return false
	case a.IsRunning():
		return true
	case b.IsRunning():
		return false
	}
	return a.EndedAt.After(b.EndedAt)
}

func endPtr(s *model.Span) *time.Time {
	if s.IsRunning() {
		return nil
	}
	t := s.EndedAt.UTC()
	return &t
}

// agentScope is the agent a message belongs to.
type agentScope struct {
	name   string
	spanID string
	depth  int
	named  bool // an agent_start was emitted for it
}

// step is one unit of work of the walk: entering a span, leaving it, or a
// compaction event placed among a span's children.
type step struct {
	n          *node
	exit       bool
	compaction *compaction
	scope      agentScope
}

type walker struct {
	out        []Message
	userSource *node             // the span the user_message came from
	callerOf   map[string]string // a subagent's span id → the agent it runs in
}

// userMessage emits the trace's one user_message: the last user text of the
// first span that has one. Agents that are true roots (no parent id) come
// first — the turn root holds the prompt as sent; then every other span by
// start time, an invoke_agent before other spans starting at the same time,
// shallower before deeper. When the turn root is missing this picks the
// earliest call's prompt rather than a subagent's.
func (w *walker) userMessage(all []*node) {
	cands := slices.Clone(all)
	rootAgent := func(n *node) bool {
		return n.span.OperationName == model.OpInvokeAgent && n.span.ParentSpanID == ""
	}
	slices.SortStableFunc(cands, func(a, b *node) int {
		if ar, br := rootAgent(a), rootAgent(b); ar != br {
			if ar {
				return -1
			}
			return 1
		}
		if c := compareTime(a.span.StartedAt, b.span.StartedAt); c != 0 {
			return c
		}
		ai, bi := a.span.OperationName == model.OpInvokeAgent, b.span.OperationName == model.OpInvokeAgent
		if ai != bi {
			if ai {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(a.level, b.level); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	for _, n := range cands {
		text := userText(n.span.InputMessages)
		if text == "" {
			continue
		}
		w.userSource = n
		w.out = append(w.out, Message{
			Type:      TypeUserMessage,
			SpanID:    n.span.SpanID,
			StartedAt: n.span.StartedAt.UTC(),
			Text:      text,
		})
		return
	}
}

// walk emits the messages of the trees under roots in preorder.
func (w *walker) walk(roots []*node) {
	stack := make([]step, 0, 2*len(roots))
	for i := len(roots) - 1; i >= 0; i-- {
		stack = append(stack, step{n: roots[i]})
	}
	for len(stack) > 0 {
		st := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch {
		case st.compaction != nil:
			w.emitCompaction(st.n, st.scope, *st.compaction)
		case st.exit:
			w.leave(st.n, st.scope)
		default:
			stack = w.enter(st.n, st.scope, stack)
		}
	}
}

// enter emits what a span shows before its children and pushes its exit
// step and its children (with its compaction events) onto the stack.
func (w *walker) enter(n *node, scope agentScope, stack []step) []step {
	s := n.span
	childScope := scope
	events := compactionEvents(s)
	switch s.OperationName {
	case model.OpInvokeAgent:
		if s.AgentName != "" {
			depth := 0
			if scope.named {
				depth = scope.depth + 1
			}
			childScope = agentScope{name: s.AgentName, spanID: s.SpanID, depth: depth, named: true}
			if scope.named {
				w.callerOf[s.SpanID] = scope.spanID
			}
			m := w.base(TypeAgentStart, s, childScope)
			m.Model = s.RequestModel
			m.AgentID = s.AgentID
			m.AgentVersion = s.AgentVersion
			m.ToolCallID = s.ToolCallID
			m.SystemInstructions = strings.Join(s.SystemInstructions, "\n")
			if n != w.userSource {
				m.Text = userText(s.InputMessages)
			}
			w.out = append(w.out, m)
		} else if childScope.name == "" {
			childScope.name = strings.TrimSpace(strings.TrimPrefix(s.SpanName, model.OpInvokeAgent))
		}
	case model.OpExecuteTool:
		m := w.base(TypeToolCall, s, scope)
		m.ToolName = s.ToolName
		if m.ToolName == "" {
			m.ToolName = strings.TrimSpace(strings.TrimPrefix(s.SpanName, model.OpExecuteTool))
		}
		m.ToolType = s.ToolType
		m.ToolCallID = s.ToolCallID
		m.ToolArguments = s.ToolCallArguments
		m.ToolResult = s.ToolCallResult
		w.out = append(w.out, m)
		if len(events) == 0 && hasCompactionColumns(s) {
			w.emitCompaction(n, scope, columnsCompaction(s))
		}
	default:
		if len(events) == 0 && hasCompactionColumns(s) {
			w.emitCompaction(n, scope, columnsCompaction(s))
		}
	}

	if s.OperationName != model.OpExecuteTool {
		stack = append(stack, step{n: n, exit: true, scope: childScope})
	}
	// Children and compaction events, in time order, pushed in reverse.
	items := make([]step, 0, len(n.children)+len(events))
	for _, c := range n.children {
		items = append(items, step{n: c, scope: childScope})
	}
	for i := range events {
		items = append(items, step{n: n, compaction: &events[i], scope: childScope})
	}
	if len(events) > 0 {
		slices.SortStableFunc(items, func(a, b step) int {
			return compareTime(itemTime(a), itemTime(b))
		})
	}
	for i := len(items) - 1; i >= 0; i-- {
		stack = append(stack, items[i])
	}
	return stack
}

func itemTime(st step) time.Time {
	if st.compaction != nil {
		return st.compaction.at
	}
	return st.n.span.StartedAt
}

// compareTime orders times with the zero time last.
func compareTime(a, b time.Time) int {
	az, bz := a.IsZero(), b.IsZero()
	switch {
	case az && bz:
		return 0
	case az:
		return 1
	case bz:
		return -1
	}
	return a.Compare(b)
}

// leave emits what a span shows after its children.
func (w *walker) leave(n *node, scope agentScope) {
	s := n.span
	if s.OperationName == model.OpInvokeAgent {
		// The mirroring guard: an agent's output repeats its last child
		// chat span's; show it only when nothing beneath it did.
		if n.ownText && !n.textBelow {
			m := w.assistant(s, scope)
			m.Usage = nil
			if n.hasUsage {
				u := n.usage
				m.Usage = &u
			}
			w.out = append(w.out, m)
		}
		if len(compactionEvents(s)) == 0 && hasCompactionColumns(s) {
			w.emitCompaction(n, scope, columnsCompaction(s))
		}
		return
	}
	if n.ownText || (model.IsLLMOperation(s.OperationName) &&
		(s.IsRunning() || s.StatusCode == model.StatusError || hasToolCalls(s.OutputMessages))) {
		w.out = append(w.out, w.assistant(s, scope))
	}
}

// base fills the fields every message takes from its span.
func (w *walker) base(typ string, s *model.Span, scope agentScope) Message {
	return Message{
		Type:          typ,
		SpanID:        s.SpanID,
		AgentSpanID:   scope.spanID,
		AgentName:     scope.name,
		Depth:         scope.depth,
		StartedAt:     s.StartedAt.UTC(),
		EndedAt:       endPtr(s),
		DurationMs:    s.DurationMs(),
		Running:       s.IsRunning(),
		Status:        s.StatusCode,
		StatusMessage: s.StatusMessage,
		ErrorType:     s.ErrorType,
	}
}

// assistant builds the assistant_message of a span's own output.
func (w *walker) assistant(s *model.Span, scope agentScope) Message {
	m := w.base(TypeAssistantMessage, s, scope)
	m.Text, m.Reasoning = outputText(s.OutputMessages)
	m.Model = cmp.Or(s.ResponseModel, s.RequestModel)
	m.Provider = s.ProviderName
	m.FinishReasons = slices.Clone(s.FinishReasons)
	if len(m.FinishReasons) == 0 {
		for _, om := range s.OutputMessages {
			if om.FinishReason != "" {
				m.FinishReasons = append(m.FinishReasons, om.FinishReason)
			}
		}
	}
	m.ToolCalls = toolRequests(s.OutputMessages)
	if s.HasUsage() {
		u := spanUsage(s)
		m.Usage = &u
	}
	return m
}

// compaction is one context compaction to show.
type compaction struct {
	at        time.Time
	summary   string
	before    int64
	after     int64
	trigger   string
	preTokens int64
}

func hasCompactionColumns(s *model.Span) bool {
	return s.CompactionSummary != "" || s.CompactionItemsBefore > 0
}

func columnsCompaction(s *model.Span) compaction {
	return compaction{
		at:        s.StartedAt,
		summary:   s.CompactionSummary,
		before:    s.CompactionItemsBefore,
		after:     s.CompactionItemsAfter,
		trigger:   s.CustomAttrsString[semconv.KeyCompactionTrigger],
		preTokens: s.CustomAttrsInt[semconv.KeyCompactionPreTokens],
	}
}

// compactionEvents returns one compaction per "weave.compaction" event of
// the span, in time order. The last one falls back to the span's
// compaction columns for what its event does not carry.
func compactionEvents(s *model.Span) []compaction {
	var out []compaction
	for _, e := range s.Events {
		if e.Name != semconv.EventCompaction {
			continue
		}
		out = append(out, compaction{
			at:        e.Time,
			summary:   attrString(e.Attributes[semconv.KeyCompactionSummary]),
			before:    attrInt(e.Attributes[semconv.KeyCompactionItemsBefore]),
			after:     attrInt(e.Attributes[semconv.KeyCompactionItemsAfter]),
			trigger:   attrString(e.Attributes[semconv.KeyCompactionTrigger]),
			preTokens: attrInt(e.Attributes[semconv.KeyCompactionPreTokens]),
		})
	}
	if len(out) == 0 {
		return nil
	}
	slices.SortStableFunc(out, func(a, b compaction) int { return compareTime(a.at, b.at) })
	last := &out[len(out)-1]
	col := columnsCompaction(s)
	last.summary = cmp.Or(last.summary, col.summary)
	last.before = cmp.Or(last.before, col.before)
	last.after = cmp.Or(last.after, col.after)
	last.trigger = cmp.Or(last.trigger, col.trigger)
	last.preTokens = cmp.Or(last.preTokens, col.preTokens)
	return out
}

func (w *walker) emitCompaction(n *node, scope agentScope, c compaction) {
	s := n.span
	m := Message{
		Type:                  TypeContextCompacted,
		SpanID:                s.SpanID,
		AgentSpanID:           scope.spanID,
		AgentName:             scope.name,
		Depth:                 scope.depth,
		StartedAt:             c.at.UTC(),
		CompactionSummary:     c.summary,
		CompactionItemsBefore: c.before,
		CompactionItemsAfter:  c.after,
		CompactionTrigger:     c.trigger,
		CompactionPreTokens:   c.preTokens,
	}
	if m.StartedAt.IsZero() {
		m.StartedAt = s.StartedAt.UTC()
	}
	w.out = append(w.out, m)
}

// userText returns the text of the last user message, or, when no message
// has role user, of the last message whose role is not one of the model's,
// the system's or a tool's.
func userText(msgs []model.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			if t := msgs[i].Text(); t != "" {
				return t
			}
		}
	}
	for i := len(msgs) - 1; i >= 0; i-- {
		switch msgs[i].Role {
		case "user", "assistant", "system", "developer", "tool", "tool_call", "tool_result", "model":
			continue
		}
		if t := msgs[i].Text(); t != "" {
			return t
		}
	}
	return ""
}

// outputText joins the text and the reasoning of every non-user output
// message with blank lines.
func outputText(msgs []model.Message) (text, reasoning string) {
	var tb, rb strings.Builder
	for _, m := range msgs {
		if m.Role == "user" {
			continue
		}
		if t := m.Text(); t != "" {
			if tb.Len() > 0 {
				tb.WriteString("\n\n")
			}
			tb.WriteString(t)
		}
		if r := m.Reasoning(); r != "" {
			if rb.Len() > 0 {
				rb.WriteString("\n\n")
			}
			rb.WriteString(r)
		}
	}
	return tb.String(), rb.String()
}

func hasToolCalls(msgs []model.Message) bool {
	for _, m := range msgs {
		for _, p := range m.Parts {
			if p.Type == model.PartToolCall || p.Type == model.PartServerToolCall {
				return true
			}
		}
	}
	return false
}

func toolRequests(msgs []model.Message) []ToolRequest {
	var out []ToolRequest
	for _, m := range msgs {
		if m.Role == "user" {
			continue
		}
		for _, p := range m.Parts {
			if p.Type == model.PartToolCall || p.Type == model.PartServerToolCall {
				out = append(out, ToolRequest{ID: p.ID, Name: p.Name})
			}
		}
	}
	return out
}

// attrString reads a string-valued event attribute.
func attrString(v any) string {
	s, _ := v.(string)
	return s
}

// attrInt reads an integer event attribute in any of the forms a decoder
// produces (OTLP/JSON sends int64 as a string).
func attrInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case int32:
		return int64(x)
	case float64:
		if x >= math.MinInt64 && x <= math.MaxInt64 && !math.IsNaN(x) {
			return int64(x)
		}
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil {
			return n
		}
	}
	return 0
}
