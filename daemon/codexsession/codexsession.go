// Package codexsession is weave-agentd's live path for Codex CLI sessions:
// hook events (`weave-hook --agent codex`) and the session's rollout files
// (package rollout) → the same span trees as for Claude Code. The rollout
// is the ground truth; hooks bring liveness (a turn or tool seen running
// before its lines land) and the session's end.
//
// Each change rebuilds the session from its files (the main rollout and
// the subagent threads its spawn_agent calls started, found by thread id
// or named by subagent hooks), overlays what only hooks know, and returns
// the spans whose content changed (spans.Span.Hash), so a running turn's
// root goes out at once without an end time and again when it ends, under
// the same ids an import gives.
package codexsession

import (
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/weavetrace/weave/daemon/agentsession"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/rollout"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// Settings configure a Processor; Roots are the directories session
// files may be read from.
type Settings = agentsession.Settings

// Stats describe the processor for `weave-agentd status`.
type Stats = agentsession.Stats

// Processor tracks every Codex session weave-agentd has heard of.
type Processor struct {
	set       Settings
	log       *slog.Logger
	sessions  map[string]*state
	byFile    map[string]*state
	stats     Stats
	deferring bool
	guard     agentsession.Guard
}

// state is one Codex session: its main thread and subagent threads.
type state struct {
	id       string
	path     string            // the main rollout ("" until a main-thread hook names it)
	children map[string]string // subagent thread id → rollout path
	live     spans.Live
	order    []string // turn ids from UserPromptSubmit, in order
	// pendingTools: PreToolUse of the main thread not (yet) in the rollout.
	pendingTools map[string]*pendingTool
	exported     map[spans.SpanID]uint64
	lastSeen     time.Time
	ended        time.Time
	dirty        bool
	sizes        map[string]int64
}

type pendingTool struct {
	id, name, turn string
	input          []byte
	start          time.Time
}

// New returns an empty Processor.
func New(s Settings) *Processor {
	s = s.WithDefaults()
	p := &Processor{set: s, log: s.Logger, sessions: map[string]*state{}, byFile: map[string]*state{}}
	p.guard = agentsession.Guard{Roots: s.Roots, What: "rollout", Log: s.Logger, Stats: &p.stats}
	return p
}

// Stats returns the processor's figures.
func (p *Processor) Stats() Stats {
	st := p.stats
	st.LiveSessions = 0
	for _, s := range p.sessions {
		if s.ended.IsZero() {
			st.LiveSessions++
		}
	}
	return st
}

// Has reports whether the processor tracks a session (the router asks).
func (p *Processor) Has(sessionID string) bool { return p.sessions[sessionID] != nil }

// Owns reports whether path is a rollout file of a tracked session.
func (p *Processor) Owns(path string) bool { return p.byFile[path] != nil }

// SessionClosed reports whether a session has ended (SessionEnd).
func (p *Processor) SessionClosed(id string) bool {
	s := p.sessions[id]
	return s == nil || !s.ended.IsZero()
}

// Watches lists the rollout files of live sessions.
func (p *Processor) Watches() []string {
	var out []string
	for path, s := range p.byFile {
		if s.ended.IsZero() {
			out = append(out, path)
		}
	}
	sort.Strings(out)
	return out
}

func (p *Processor) allowed(path string) bool { return p.guard.Allowed(path) }

func (p *Processor) session(id string) *state {
	s := p.sessions[id]
	if s == nil {
		s = &state{id: id, children: map[string]string{}, pendingTools: map[string]*pendingTool{}, exported: map[spans.SpanID]uint64{},
			live:  spans.Live{Turns: map[string]*spans.LiveTurn{}, Tools: map[string]*spans.LiveTool{}, Agents: map[string]*spans.LiveAgent{}},
			sizes: map[string]int64{}}
		p.sessions[id] = s
	}
	return s
}

func (s *state) turn(key string) *spans.LiveTurn {
	lt := s.live.Turns[key]
	if lt == nil {
		lt = &spans.LiveTurn{}
		s.live.Turns[key] = lt
	}
	return lt
}

func (s *state) tool(id string) *spans.LiveTool {
	lt := s.live.Tools[id]
	if lt == nil {
		lt = &spans.LiveTool{}
		s.live.Tools[id] = lt
	}
	return lt
}

// Event folds one hook event of a Codex session.
func (p *Processor) Event(ev hookproto.Event, replay bool) []spans.Span {
	p.stats.Events++
	if ev.SessionID == "" {
		p.stats.IgnoredEvents++
		return nil
	}
	s := p.session(ev.SessionID)
	now := ev.ReceivedAt
	if now.IsZero() {
		now = p.set.Now()
	}
	s.lastSeen = now
	if !s.ended.IsZero() && ev.HookEventName != hookproto.EventSessionEnd {
		s.ended = time.Time{} // resumed (codex exec resume)
	}
	if ev.TranscriptPath != "" && p.allowed(ev.TranscriptPath) {
		if ev.AgentID == "" && ev.HookEventName != hookproto.EventSubagentStop {
			if s.path == "" {
				s.path = ev.TranscriptPath
				p.byFile[s.path] = s
			}
		} else if ev.AgentID != "" {
			if s.children[ev.AgentID] == "" {
				s.children[ev.AgentID] = ev.TranscriptPath
				p.byFile[ev.TranscriptPath] = s
			}
		}
	}
	switch ev.HookEventName {
	case hookproto.EventSessionStart:
		if ev.Source != "" {
			s.live.Source = ev.Source
		}
	case hookproto.EventUserPromptSubmit:
		if ev.AgentID == "" && ev.PromptID != "" {
			for _, key := range s.order {
				if lt := s.live.Turns[key]; key != ev.PromptID && lt != nil && lt.Open() {
					lt.Superseded = now
				}
			}
			lt := s.turn(ev.PromptID)
			lt.Prompt, lt.Start = ev.Prompt, now
			s.order = appendOnce(s.order, ev.PromptID)
		}
	case hookproto.EventPreToolUse:
		if ev.ToolUseID != "" {
			lt := s.tool(ev.ToolUseID)
			lt.Name, lt.AgentID, lt.PromptID, lt.Input = ev.ToolName, ev.AgentID, ev.PromptID, ev.ToolInput
			if lt.Start.IsZero() {
				lt.Start = now
			}
			if ev.AgentID == "" && s.pendingTools[ev.ToolUseID] == nil {
				s.pendingTools[ev.ToolUseID] = &pendingTool{id: ev.ToolUseID, name: ev.ToolName, turn: ev.PromptID, input: ev.ToolInput, start: now}
			}
		}
	case hookproto.EventPermissionRequest:
		if ev.ToolUseID != "" {
			lt := s.tool(ev.ToolUseID)
			lt.Events = append(lt.Events, spans.Event{Name: spans.EventPermissionRequest, Time: now})
		}
	case hookproto.EventPostToolUse:
		if ev.ToolUseID != "" {
			lt := s.tool(ev.ToolUseID)
			if lt.Name == "" {
				lt.Name, lt.AgentID, lt.PromptID, lt.Input = ev.ToolName, ev.AgentID, ev.PromptID, ev.ToolInput
			}
			lt.End, lt.Response = now, ev.ToolResponse
		}
	case hookproto.EventSubagentStart:
		if ev.AgentID != "" {
			la := s.agent(ev.AgentID)
			la.AgentType, la.Start = ev.AgentType, now
		}
	case hookproto.EventSubagentStop:
		if ev.AgentID != "" {
			la := s.agent(ev.AgentID)
			la.Stopped, la.LastMessage = now, ev.LastAssistantMessage
			if p := ev.AgentTranscriptPath; p != "" && s.children[ev.AgentID] == "" {
				s.children[ev.AgentID] = p
			}
		}
	case hookproto.EventStop:
		if ev.AgentID == "" && ev.PromptID != "" {
			if lt := s.turn(ev.PromptID); now.After(lt.Stopped) {
				lt.Stopped = now
			}
		}
	case hookproto.EventPreCompact:
		if lt := s.live.Turns[ev.PromptID]; lt != nil {
			lt.CompactTrigger, lt.CompactAt = ev.Trigger, now
		}
	case hookproto.EventPostCompact:
		if lt := s.live.Turns[ev.PromptID]; lt != nil {
			lt.Compacted, lt.CompactTrigger = true, ev.Trigger
			if lt.CompactAt.IsZero() {
				lt.CompactAt = now
			}
		}
	case hookproto.EventSessionEnd:
		s.closeOpen("session_ended", now)
		s.ended = now
	default:
		p.stats.IgnoredEvents++
	}
	return p.diff(s)
}

func (s *state) agent(id string) *spans.LiveAgent {
	la := s.live.Agents[id]
	if la == nil {
		la = &spans.LiveAgent{}
		s.live.Agents[id] = la
	}
	return la
}

// closeOpen ends every open turn and tool with reason.
func (s *state) closeOpen(reason string, now time.Time) {
	for _, lt := range s.live.Turns {
		if lt.Open() {
			lt.Closed, lt.ClosedAt = reason, now
		}
	}
	for _, lt := range s.live.Tools {
		if lt.End.IsZero() && lt.Closed == "" {
			lt.Closed = reason
		}
	}
}

func (s *state) hasOpen() bool {
	for _, lt := range s.live.Turns {
		if lt.Open() {
			return true
		}
	}
	return false
}

// FileChanged handles growth of a watched rollout file.
func (p *Processor) FileChanged(path string) []spans.Span {
	s := p.byFile[path]
	if s == nil {
		return nil
	}
	s.lastSeen = p.set.Now()
	return p.diff(s)
}

// Tick closes turns idle past IdleTimeout and forgets ended sessions.
func (p *Processor) Tick(now time.Time) []spans.Span {
	var out []spans.Span
	for id, s := range p.sessions {
		if !s.ended.IsZero() {
			if now.Sub(s.ended) > p.set.ForgetAfter {
				p.forget(id, s)
			}
			continue
		}
		if now.Sub(s.lastSeen) > p.set.IdleTimeout && s.hasOpen() {
			s.closeOpen("idle_timeout", now)
			out = append(out, p.diff(s)...)
		}
	}
	return out
}

func (p *Processor) forget(id string, s *state) {
	delete(p.sessions, id)
	for path, o := range p.byFile {
		if o == s {
			delete(p.byFile, path)
		}
	}
}

// Close ends everything still open with reason.
func (p *Processor) Close(reason string) []spans.Span {
	now := p.set.Now()
	var out []spans.Span
	ids := make([]string, 0, len(p.sessions))
	for id := range p.sessions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s := p.sessions[id]
		if s.ended.IsZero() && s.hasOpen() {
			s.closeOpen(reason, now)
			out = append(out, p.diff(s)...)
		}
	}
	return out
}

// Deferred runs f with rebuilds postponed, then rebuilds each touched
// session once.
func (p *Processor) Deferred(f func()) []spans.Span {
	p.deferring = true
	defer func() { p.deferring = false }()
	f()
	p.deferring = false
	ids := make([]string, 0, len(p.sessions))
	for id, s := range p.sessions {
		if s.dirty {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []spans.Span
	for _, id := range ids {
		out = append(out, p.diff(p.sessions[id])...)
	}
	return out
}

// Rebuild builds one session's spans from scratch: from its journaled
// events, or with none from its rollout alone, found under Roots.
func (p *Processor) Rebuild(sessionID string, events []hookproto.Event) []spans.Span {
	if len(events) == 0 {
		path := ""
		for _, root := range p.set.Roots {
			if path = rollout.FindThread(root, root, sessionID); path != "" {
				break
			}
		}
		if path == "" {
			return nil
		}
		at := p.set.Now()
		if fi, err := os.Stat(path); err == nil {
			at = fi.ModTime()
		}
		events = []hookproto.Event{{SessionID: sessionID, TranscriptPath: path, HookEventName: hookproto.EventSessionStart, ReceivedAt: at, Agent: hookproto.AgentCodex}}
	}
	q := New(p.set)
	return q.Deferred(func() {
		for _, ev := range events {
			if ev.SessionID == sessionID {
				q.Event(ev, true)
			}
		}
	})
}

// snapshot reads the session's rollout files and overlays what only hooks
// know. Nil when no rollout has been named yet and no hook turn is known.
func (p *Processor) snapshot(s *state) *transcript.Session {
	var main *rollout.Builder
	if s.path != "" {
		b, err := rollout.ReadFile(s.path)
		if err != nil && !os.IsNotExist(err) {
			p.stats.ReadErrors++
			p.log.Warn("codexsession: read rollout", "path", s.path, "err", err)
		}
		main = b
	}
	if main == nil {
		main = rollout.NewBuilder(filepath.Join(os.TempDir(), "rollout-"+s.id+".jsonl"))
	}
	children := map[string]*rollout.Builder{}
	queue := main.SpawnedIDs()
	if !s.ended.IsZero() {
		// A subagent thread hooks named whose spawn_agent output never
		// landed in the parent: an orphan, shown once the session is over.
		// While it runs, the output follows the SubagentStart hook within
		// moments, and linking early would emit the subagent under an id
		// (orphan) it then leaves.
		for id := range s.children {
			queue = append(queue, id)
		}
	}
	for len(queue) > 0 && len(children) < 1000 {
		id := queue[0]
		queue = queue[1:]
		if children[id] != nil || id == s.id {
			continue
		}
		path := s.children[id]
		if path == "" && s.path != "" {
			path = rollout.FindThread(filepath.Dir(s.path), rollout.SessionsRoot(s.path), id)
			if path != "" && !p.allowed(path) {
				path = ""
			}
			if path != "" {
				s.children[id] = path
				p.byFile[path] = s
			}
		}
		if path == "" {
			continue
		}
		cb, err := rollout.ReadFile(path)
		if err != nil {
			continue
		}
		children[id] = cb
		queue = append(queue, cb.SpawnedIDs()...)
	}
	rollout.Link(main, children)
	ts := main.Session()
	if ts.ID == "" || s.path == "" {
		ts.ID, ts.ConversationID = s.id, s.id
	}
	s.overlay(ts)
	return ts
}

// overlay adds the turns and main-thread tools hooks announced that the
// rollout does not hold yet, and marks turns the rollout shows complete
// as stopped.
func (s *state) overlay(ts *transcript.Session) {
	byKey := map[string]*transcript.Turn{}
	for _, t := range ts.Turns {
		byKey[t.Key] = t
		if lt := s.live.Turns[t.Key]; lt != nil && !t.End.IsZero() && lt.Stopped.IsZero() {
			// task_complete: the rollout says the turn is over.
			lt.Stopped = t.End
		}
	}
	for _, key := range s.order {
		if byKey[key] != nil {
			continue
		}
		lt := s.live.Turns[key]
		t := &transcript.Turn{Key: key, PromptID: key, Number: len(ts.Turns) + 1, Prompt: lt.Prompt, Start: lt.Start, Origin: "user"}
		ts.Turns = append(ts.Turns, t)
		byKey[key] = t
	}
	known := map[string]bool{}
	for _, t := range ts.Turns {
		for _, tc := range t.Tools {
			known[tc.ID] = true
		}
	}
	ids := make([]string, 0, len(s.pendingTools))
	for id := range s.pendingTools {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		pt := s.pendingTools[id]
		if known[id] {
			delete(s.pendingTools, id)
			continue
		}
		t := byKey[pt.turn]
		if t == nil {
			continue
		}
		t.Tools = append(t.Tools, &transcript.ToolCall{ID: pt.id, Name: pt.name, Input: pt.input, Start: pt.start})
	}
}

// diff rebuilds s and returns the spans that changed since last returned.
func (p *Processor) diff(s *state) []spans.Span {
	if p.deferring {
		s.dirty = true
		return nil
	}
	s.dirty = false
	ts := p.snapshot(s)
	live := s.live
	out := agentsession.Changed(ts, &live, p.set, s.exported)
	p.stats.SpansEmitted += int64(len(out))
	return out
}

func appendOnce(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}
