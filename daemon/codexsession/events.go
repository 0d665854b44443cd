package codexsession

import (
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spans"
)

// Event folds one hook event of a Codex session.
func (p *Processor) Event(ev hookproto.Event, replay bool) []spans.Span {
	now, ok := p.Arrive(&ev)
	if !ok {
		return nil
	}
	s := p.session(ev.SessionID)
	s.Seen(now, ev.HookEventName == hookproto.EventSessionEnd) // resumed: codex exec resume
	p.learnPath(s, &ev)
	if fold := eventFolds[ev.HookEventName]; fold != nil {
		fold(s, &ev, now)
	} else {
		p.Figures.IgnoredEvents++
	}
	return p.Update(s)
}

// learnPath records the rollout an event's transcript_path names: the
// main thread's, or a subagent thread's (agent_id).
func (p *Processor) learnPath(s *state, ev *hookproto.Event) {
	if ev.TranscriptPath == "" || !p.allowed(ev.TranscriptPath) {
		return
	}
	switch {
	case ev.AgentID == "" && ev.HookEventName != hookproto.EventSubagentStop:
		if s.path == "" {
			s.path = ev.TranscriptPath
			p.ByFile[s.path] = s
		}
	case ev.AgentID != "":
		if s.children[ev.AgentID] == "" {
			s.children[ev.AgentID] = ev.TranscriptPath
			p.ByFile[ev.TranscriptPath] = s
		}
	}
}

// foldFunc folds one hook event, received at now, into its session.
type foldFunc func(s *state, ev *hookproto.Event, now time.Time)

// eventFolds are the hook events a Codex session folds, by name; any
// other event is counted as ignored.
var eventFolds = map[string]foldFunc{
	hookproto.EventSessionStart:      foldSessionStart,
	hookproto.EventUserPromptSubmit:  foldUserPromptSubmit,
	hookproto.EventPreToolUse:        foldPreToolUse,
	hookproto.EventPermissionRequest: foldPermissionRequest,
	hookproto.EventPostToolUse:       foldPostToolUse,
	hookproto.EventSubagentStart:     foldSubagentStart,
	hookproto.EventSubagentStop:      foldSubagentStop,
	hookproto.EventStop:              foldStop,
	hookproto.EventPreCompact:        foldPreCompact,
	hookproto.EventPostCompact:       foldPostCompact,
	hookproto.EventSessionEnd:        foldSessionEnd,
}

func foldSessionStart(s *state, ev *hookproto.Event, _ time.Time) {
	if ev.Source != "" {
		s.Live.Source = ev.Source
	}
}

func foldUserPromptSubmit(s *state, ev *hookproto.Event, now time.Time) {
	if ev.AgentID != "" || ev.PromptID == "" {
		return
	}
	for _, key := range s.order {
		if lt := s.Live.Turns[key]; key != ev.PromptID && lt != nil && lt.Open() {
			lt.Superseded = now
		}
	}
	lt := s.Turn(ev.PromptID)
	lt.Prompt, lt.Start = ev.Prompt, now
	s.order = appendOnce(s.order, ev.PromptID)
}

func foldPreToolUse(s *state, ev *hookproto.Event, now time.Time) {
	if ev.ToolUseID == "" {
		return
	}
	lt := s.tool(ev.ToolUseID)
	lt.Name, lt.AgentID, lt.PromptID, lt.Input = ev.ToolName, ev.AgentID, ev.PromptID, ev.ToolInput
	if lt.Start.IsZero() {
		lt.Start = now
	}
	if ev.AgentID == "" && s.pendingTools[ev.ToolUseID] == nil {
		s.pendingTools[ev.ToolUseID] = &pendingTool{id: ev.ToolUseID, name: ev.ToolName, turn: ev.PromptID, input: ev.ToolInput, start: now}
	}
}

func foldPermissionRequest(s *state, ev *hookproto.Event, now time.Time) {
	if ev.ToolUseID != "" {
		lt := s.tool(ev.ToolUseID)
		lt.Events = append(lt.Events, spans.Event{Name: semconv.EventPermissionRequest, Time: now})
	}
}

func foldPostToolUse(s *state, ev *hookproto.Event, now time.Time) {
	if ev.ToolUseID == "" {
		return
	}
	lt := s.tool(ev.ToolUseID)
	if lt.Name == "" {
		lt.Name, lt.AgentID, lt.PromptID, lt.Input = ev.ToolName, ev.AgentID, ev.PromptID, ev.ToolInput
	}
	lt.End, lt.Response = now, ev.ToolResponse
}

func foldSubagentStart(s *state, ev *hookproto.Event, now time.Time) {
	if ev.AgentID != "" {
		la := s.agent(ev.AgentID)
		la.AgentType, la.Start = ev.AgentType, now
	}
}

func foldSubagentStop(s *state, ev *hookproto.Event, now time.Time) {
	if ev.AgentID == "" {
		return
	}
	la := s.agent(ev.AgentID)
	la.Stopped, la.LastMessage = now, ev.LastAssistantMessage
	if path := ev.AgentTranscriptPath; path != "" && s.children[ev.AgentID] == "" {
		s.children[ev.AgentID] = path
	}
}

func foldStop(s *state, ev *hookproto.Event, now time.Time) {
	if ev.AgentID != "" || ev.PromptID == "" {
		return
	}
	if lt := s.Turn(ev.PromptID); now.After(lt.Stopped) {
		lt.Stopped = now
	}
}

func foldPreCompact(s *state, ev *hookproto.Event, now time.Time) {
	if lt := s.Live.Turns[ev.PromptID]; lt != nil {
		lt.CompactTrigger, lt.CompactAt = ev.Trigger, now
	}
}

func foldPostCompact(s *state, ev *hookproto.Event, now time.Time) {
	lt := s.Live.Turns[ev.PromptID]
	if lt == nil {
		return
	}
	lt.Compacted, lt.CompactTrigger = true, ev.Trigger
	if lt.CompactAt.IsZero() {
		lt.CompactAt = now
	}
}

func foldSessionEnd(s *state, _ *hookproto.Event, now time.Time) {
	s.CloseOpen("session_ended", now)
	s.Ended = now
}
