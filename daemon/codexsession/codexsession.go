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
	agentsession.Table[*state]
	log *slog.Logger
}

// state is one Codex session: its main thread and subagent threads.
type state struct {
	agentsession.Session
	path     string            // the main rollout ("" until a main-thread hook names it)
	children map[string]string // subagent thread id → rollout path
	order    []string          // turn ids from UserPromptSubmit, in order
	// pendingTools: PreToolUse of the main thread not (yet) in the rollout.
	pendingTools map[string]*pendingTool
}

func (s *state) Core() *agentsession.Session { return &s.Session }

type pendingTool struct {
	id, name, turn string
	input          []byte
	start          time.Time
}

// New returns an empty Processor.
func New(s Settings) *Processor {
	p := &Processor{}
	p.Init(s, "rollout", p.diff)
	p.log = p.Set.Logger
	return p
}

func (p *Processor) allowed(path string) bool { return p.Guard.Allowed(path) }

func (p *Processor) session(id string) *state {
	s := p.Sessions[id]
	if s == nil {
		s = &state{Session: agentsession.NewSession(id), children: map[string]string{}, pendingTools: map[string]*pendingTool{}}
		p.Sessions[id] = s
	}
	return s
}

func (s *state) tool(id string) *spans.LiveTool {
	lt := s.Live.Tools[id]
	if lt == nil {
		lt = &spans.LiveTool{}
		s.Live.Tools[id] = lt
	}
	return lt
}

func (s *state) agent(id string) *spans.LiveAgent {
	la := s.Live.Agents[id]
	if la == nil {
		la = &spans.LiveAgent{}
		s.Live.Agents[id] = la
	}
	return la
}

// Rebuild builds one session's spans from scratch: from its journaled
// events, or with none from its rollout alone, found under Roots.
func (p *Processor) Rebuild(sessionID string, events []hookproto.Event) []spans.Span {
	if len(events) == 0 {
		path := ""
		for _, root := range p.Set.Roots {
			if path = rollout.FindThread(root, root, sessionID); path != "" {
				break
			}
		}
		if path == "" {
			return nil
		}
		at := p.Set.Now()
		if fi, err := os.Stat(path); err == nil {
			at = fi.ModTime()
		}
		events = []hookproto.Event{{SessionID: sessionID, TranscriptPath: path, HookEventName: hookproto.EventSessionStart, ReceivedAt: at, Agent: hookproto.AgentCodex}}
	}
	q := New(p.Set)
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
			p.Figures.ReadErrors++
			p.log.Warn("codexsession: read rollout", "path", s.path, "err", err)
		}
		main = b
	}
	if main == nil {
		main = rollout.NewBuilder(filepath.Join(os.TempDir(), "rollout-"+s.ID+".jsonl"))
	}
	children := map[string]*rollout.Builder{}
	queue := main.SpawnedIDs()
	if !s.Ended.IsZero() {
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
		if children[id] != nil || id == s.ID {
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
				p.ByFile[path] = s
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
		ts.ID, ts.ConversationID = s.ID, s.ID
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
		if lt := s.Live.Turns[t.Key]; lt != nil && !t.End.IsZero() && lt.Stopped.IsZero() {
			// task_complete: the rollout says the turn is over.
			lt.Stopped = t.End
		}
	}
	for _, key := range s.order {
		if byKey[key] != nil {
			continue
		}
		lt := s.Live.Turns[key]
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
	ts := p.snapshot(s)
	live := s.Live
	return agentsession.Changed(ts, &live, p.Set, s.Exported)
}

func appendOnce(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}
