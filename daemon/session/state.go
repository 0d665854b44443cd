package session

import (
	"encoding/json"
	"time"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

// session is one Claude Code session (one main transcript file).
type session struct {
	id      string
	path    string
	main    *fileState
	subs    map[string]*fileState // subagent transcript path → state
	live    spans.Live
	pending map[string]*pendingTool // hook tools not (yet) in the transcript
	// hookTurns are turns known from UserPromptSubmit, in order.
	hookTurns []string
	// dirty: changed while the processor was deferring (see Deferred).
	dirty bool
	// agentTurn is the turn (prompt_id of SubagentStart) that spawned each
	// subagent: a background subagent's tool hooks carry the prompt_id of
	// whatever turn is current when they fire, not of its own.
	agentTurn map[string]string
	lastSeen  time.Time
	ended     time.Time // SessionEnd receipt (zero while open)
	// exported is the hash of each span's last exported version.
	exported map[spanid.SpanID]uint64
	// built is the fingerprint (spans.Fingerprinter) of each turn, by key,
	// when its spans were last built and compared with exported: a turn
	// whose fingerprint is the same builds to the same spans, so diff
	// skips it.
	built map[string]uint64
	// running holds, by turn key, the spans the turn's last build exported
	// running, to close the ones a later build no longer produces (see
	// dropRunning).
	running map[string]map[spanid.SpanID]spans.Span
	// instructions are CLAUDE.md files InstructionsLoaded reported.
	instructions []string
}

// pendingTool is a tool call hooks reported that the transcript does not
// show yet.
type pendingTool struct {
	id, name, agentID, promptID string
	input                       json.RawMessage
	start                       time.Time
}

func (s *session) turn(key string) *spans.LiveTurn {
	lt := s.live.Turns[key]
	if lt == nil {
		lt = &spans.LiveTurn{}
		s.live.Turns[key] = lt
	}
	return lt
}

// ensureTurn makes sure a turn that hooks report (by prompt_id) is known,
// even when its UserPromptSubmit was missed (daemon started mid-turn).
func (s *session) ensureTurn(key string, now time.Time) {
	if key == "" {
		return
	}
	if s.live.Turns[key] == nil {
		s.turn(key).Start = now
		s.hookTurns = appendOnce(s.hookTurns, key)
	}
}

// currentTurn returns the live turn for prompt_id, else the newest one.
func (s *session) currentTurn(key string) *spans.LiveTurn {
	if key != "" {
		s.ensureTurn(key, time.Time{})
		return s.live.Turns[key]
	}
	if n := len(s.hookTurns); n > 0 {
		return s.live.Turns[s.hookTurns[n-1]]
	}
	return nil
}

func (s *session) tool(id string) *spans.LiveTool {
	lt := s.live.Tools[id]
	if lt == nil {
		lt = &spans.LiveTool{}
		s.live.Tools[id] = lt
	}
	return lt
}

func (s *session) agent(id string) *spans.LiveAgent {
	la := s.live.Agents[id]
	if la == nil {
		la = &spans.LiveAgent{}
		s.live.Agents[id] = la
	}
	return la
}

// matchPermission finds the open tool a PermissionRequest is about: it has
// no tool_use_id, so match by tool name and input, newest first.
func (s *session) matchPermission(name string, input json.RawMessage) *spans.LiveTool {
	var best *spans.LiveTool
	for _, lt := range s.live.Tools {
		if lt.Name != name || !lt.End.IsZero() || !jsonEqual(lt.Input, input) {
			continue
		}
		if best == nil || lt.Start.After(best.Start) {
			best = lt
		}
	}
	return best
}

func (s *session) hasOpen() bool {
	for _, lt := range s.live.Turns {
		if lt.Open() {
			return true
		}
	}
	for _, lt := range s.live.Tools {
		if lt.End.IsZero() && lt.Closed == "" {
			return true
		}
	}
	return false
}

// closeOpen ends every open turn and tool with an orphan reason.
func (s *session) closeOpen(reason string, now time.Time) {
	for _, lt := range s.live.Turns {
		if lt.Open() {
			lt.Closed, lt.ClosedAt = reason, now
		}
	}
	for _, lt := range s.live.Tools {
		if lt.End.IsZero() && lt.Closed == "" {
			lt.Closed = reason
			if hasEvent(lt.Events, semconv.EventPermissionRequest) && !hasEvent(lt.Events, semconv.EventPermissionResolved) {
				lt.Events = append(lt.Events, spans.Event{Name: semconv.EventPermissionResolved, Time: now,
					Attributes: map[string]any{semconv.KeyPermissionApproved: false}})
			}
		}
	}
	for _, la := range s.live.Agents {
		if la.Stopped.IsZero() {
			la.Stopped = now
		}
	}
}

func hasEvent(evs []spans.Event, name string) bool {
	for _, e := range evs {
		if e.Name == name {
			return true
		}
	}
	return false
}

func appendOnce(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(ax) == string(by)
}
