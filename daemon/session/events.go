package session

import (
	"path/filepath"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// Event folds one hook event and returns the spans that changed.
func (p *Processor) Event(ev hookproto.Event, replay bool) []spans.Span {
	p.stats.Events++
	if ev.SessionID == "" {
		p.stats.IgnoredEvents++
		return nil
	}
	s := p.session(ev.SessionID, ev.TranscriptPath)
	now := ev.ReceivedAt
	if now.IsZero() {
		now = p.set.Now()
	}
	s.lastSeen = now
	if ev.HookEventName == hookproto.EventSessionEnd {
		// The lines written before the end belong to the turns it closes.
		p.read(s)
		s.closeOpen("session_ended", now)
		s.ended = now
		return p.diff(s)
	}
	if fold := eventFolds[ev.HookEventName]; fold != nil {
		fold(p, s, &ev, now)
	} else {
		p.stats.IgnoredEvents++
	}
	p.read(s)
	return p.diff(s)
}

// foldFunc folds one hook event, received at now, into its session's
// state; Event then reads the session's transcripts and diffs.
type foldFunc func(p *Processor, s *session, ev *hookproto.Event, now time.Time)

// eventFolds are the hook events a Claude Code session folds, by name
// (SessionEnd aside, see Event); any other event is counted as ignored.
var eventFolds = map[string]foldFunc{
	hookproto.EventSessionStart:       foldSessionStart,
	hookproto.EventUserPromptSubmit:   foldUserPromptSubmit,
	hookproto.EventPreToolUse:         foldPreToolUse,
	hookproto.EventPermissionRequest:  foldPermissionRequest,
	hookproto.EventPermissionDenied:   foldPermissionDenied,
	hookproto.EventPostToolUse:        foldPostToolUse,
	hookproto.EventPostToolUseFailure: foldPostToolUse,
	hookproto.EventSubagentStart:      foldSubagentStart,
	hookproto.EventSubagentStop:       foldSubagentStop,
	hookproto.EventPreCompact:         foldPreCompact,
	hookproto.EventPostCompact:        foldPostCompact,
	hookproto.EventNotification:       foldNotification,
	hookproto.EventStop:               foldStop,
	hookproto.EventStopFailure:        foldStopFailure,
	hookproto.EventInstructionsLoaded: foldInstructionsLoaded,
}

func foldSessionStart(_ *Processor, s *session, ev *hookproto.Event, _ time.Time) {
	if ev.Source != "" {
		s.live.Source = ev.Source
	}
}

func foldUserPromptSubmit(_ *Processor, s *session, ev *hookproto.Event, now time.Time) {
	if ev.PromptID == "" {
		return
	}
	// Claude Code runs one turn at a time: one still open without a Stop
	// was interrupted.
	for _, key := range s.hookTurns {
		if lt := s.live.Turns[key]; key != ev.PromptID && lt != nil && lt.Open() {
			lt.Superseded = now
		}
	}
	lt := s.turn(ev.PromptID)
	lt.Prompt, lt.Start = ev.Prompt, now
	s.hookTurns = appendOnce(s.hookTurns, ev.PromptID)
}

func foldPreToolUse(_ *Processor, s *session, ev *hookproto.Event, now time.Time) {
	if ev.ToolUseID == "" {
		return
	}
	lt := s.tool(ev.ToolUseID)
	lt.Name, lt.AgentID, lt.PromptID, lt.Input = ev.ToolName, ev.AgentID, ev.PromptID, ev.ToolInput
	if lt.Start.IsZero() {
		lt.Start = now
	}
	if s.pending[ev.ToolUseID] == nil {
		s.pending[ev.ToolUseID] = newPendingTool(ev, now)
	}
	s.ensureTurn(ev.PromptID, now)
}

func foldPermissionRequest(_ *Processor, s *session, ev *hookproto.Event, now time.Time) {
	lt := s.matchPermission(ev.ToolName, ev.ToolInput)
	if lt == nil {
		return
	}
	attrs := map[string]any{}
	if len(ev.PermissionSuggestions) > 0 {
		attrs[semconv.KeyPermissionSuggest] = string(ev.PermissionSuggestions)
	}
	lt.Events = append(lt.Events, spans.Event{Name: semconv.EventPermissionRequest, Time: now, Attributes: attrs})
}

func foldPermissionDenied(_ *Processor, s *session, ev *hookproto.Event, now time.Time) {
	if ev.ToolUseID == "" {
		return
	}
	lt := s.tool(ev.ToolUseID)
	attrs := map[string]any{semconv.KeyPermissionApproved: false}
	if ev.Reason != "" {
		attrs[semconv.KeyPermissionReason] = ev.Reason
	}
	lt.Events = append(lt.Events, spans.Event{Name: semconv.EventPermissionDenied, Time: now, Attributes: attrs})
}

// foldPostToolUse folds PostToolUse and PostToolUseFailure.
func foldPostToolUse(_ *Processor, s *session, ev *hookproto.Event, now time.Time) {
	if ev.ToolUseID == "" {
		return
	}
	lt := s.tool(ev.ToolUseID)
	if lt.Name == "" {
		lt.Name, lt.AgentID, lt.PromptID, lt.Input = ev.ToolName, ev.AgentID, ev.PromptID, ev.ToolInput
	}
	lt.End = now
	if lt.Start.IsZero() && ev.DurationMS > 0 {
		lt.Start = now.Add(-time.Duration(ev.DurationMS) * time.Millisecond)
	}
	failed := ev.HookEventName == hookproto.EventPostToolUseFailure
	if failed {
		lt.Failed, lt.Error, lt.IsInterrupt = true, ev.Error, ev.IsInterrupt
	} else {
		lt.Response = ev.ToolResponse
	}
	if hasEvent(lt.Events, semconv.EventPermissionRequest) && !hasEvent(lt.Events, semconv.EventPermissionResolved) {
		lt.Events = append(lt.Events, spans.Event{Name: semconv.EventPermissionResolved, Time: now,
			Attributes: map[string]any{semconv.KeyPermissionApproved: !failed}})
	}
	if s.pending[ev.ToolUseID] == nil && ev.ToolName != "" {
		s.pending[ev.ToolUseID] = newPendingTool(ev, lt.Start)
	}
}

func newPendingTool(ev *hookproto.Event, start time.Time) *pendingTool {
	return &pendingTool{id: ev.ToolUseID, name: ev.ToolName, agentID: ev.AgentID,
		promptID: ev.PromptID, input: ev.ToolInput, start: start}
}

func foldSubagentStart(p *Processor, s *session, ev *hookproto.Event, now time.Time) {
	if ev.AgentID == "" {
		return
	}
	la := s.agent(ev.AgentID)
	la.AgentType, la.Start = ev.AgentType, now
	if s.agentTurn[ev.AgentID] == "" {
		s.agentTurn[ev.AgentID] = ev.PromptID
	}
	p.trackSubagent(s, subagentPath(s, ev.AgentID))
}

func foldSubagentStop(p *Processor, s *session, ev *hookproto.Event, now time.Time) {
	if ev.AgentID == "" {
		return
	}
	la := s.agent(ev.AgentID)
	la.Stopped, la.LastMessage = now, ev.LastAssistantMessage
	if la.AgentType == "" {
		la.AgentType = ev.AgentType
	}
	path := ev.AgentTranscriptPath
	if path == "" {
		path = subagentPath(s, ev.AgentID)
	}
	p.trackSubagent(s, path)
}

// subagentPath is where Claude Code writes a subagent's transcript.
func subagentPath(s *session, agentID string) string {
	return filepath.Join(transcript.SubagentDir(s.path), "agent-"+agentID+".jsonl")
}

func foldPreCompact(_ *Processor, s *session, ev *hookproto.Event, now time.Time) {
	if lt := s.currentTurn(ev.PromptID); lt != nil {
		lt.CompactTrigger, lt.CompactAt = ev.Trigger, now
	}
}

func foldPostCompact(_ *Processor, s *session, ev *hookproto.Event, now time.Time) {
	lt := s.currentTurn(ev.PromptID)
	if lt == nil {
		return
	}
	lt.Compacted, lt.CompactTrigger, lt.CompactSummary = true, ev.Trigger, ev.CompactSummary
	if lt.CompactAt.IsZero() {
		lt.CompactAt = now
	}
}

func foldNotification(_ *Processor, s *session, ev *hookproto.Event, now time.Time) {
	if lt := s.currentTurn(ev.PromptID); lt != nil {
		lt.Events = append(lt.Events, spans.Event{Name: semconv.EventNotification, Time: now, Attributes: map[string]any{
			semconv.KeyNotificationType: ev.NotificationType, semconv.KeyNotificationMessage: ev.Message}})
	}
}

func foldStop(_ *Processor, s *session, ev *hookproto.Event, now time.Time) {
	if lt := s.currentTurn(ev.PromptID); lt != nil && now.After(lt.Stopped) {
		lt.Stopped = now
	}
}

func foldStopFailure(_ *Processor, s *session, ev *hookproto.Event, now time.Time) {
	failure := transcript.NewAPIError(ev.Error, ev.ErrorDetails, 0, ev.LastAssistantMessage)
	if ev.AgentID != "" {
		// A subagent's failed API call ends the subagent, not the turn: the
		// main agent gets its Agent result and goes on.
		la := s.agent(ev.AgentID)
		la.Failure = failure
		if now.After(la.Stopped) {
			la.Stopped = now
		}
		return
	}
	if lt := s.currentTurn(ev.PromptID); lt != nil {
		lt.Failure = failure
		if now.After(lt.Stopped) {
			lt.Stopped = now
		}
	}
}

func foldInstructionsLoaded(_ *Processor, s *session, ev *hookproto.Event, _ time.Time) {
	if ev.FilePath != "" {
		s.instructions = appendOnce(s.instructions, ev.FilePath)
	}
}
