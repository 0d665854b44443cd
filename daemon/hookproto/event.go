package hookproto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Hook event names (hook_event_name). Events lists all 30 that Claude Code
// 2.1.197 knows (its HOOK_EVENTS array, see testdata/claude-code/FINDINGS.md).
const (
	EventPreToolUse          = "PreToolUse"
	EventPostToolUse         = "PostToolUse"
	EventPostToolUseFailure  = "PostToolUseFailure"
	EventPostToolBatch       = "PostToolBatch"
	EventNotification        = "Notification"
	EventUserPromptSubmit    = "UserPromptSubmit"
	EventUserPromptExpansion = "UserPromptExpansion"
	EventSessionStart        = "SessionStart"
	EventSessionEnd          = "SessionEnd"
	EventStop                = "Stop"
	EventStopFailure         = "StopFailure"
	EventSubagentStart       = "SubagentStart"
	EventSubagentStop        = "SubagentStop"
	EventPreCompact          = "PreCompact"
	EventPostCompact         = "PostCompact"
	EventPermissionRequest   = "PermissionRequest"
	EventPermissionDenied    = "PermissionDenied"
	EventSetup               = "Setup"
	EventTeammateIdle        = "TeammateIdle"
	EventTaskCreated         = "TaskCreated"
	EventTaskCompleted       = "TaskCompleted"
	EventElicitation         = "Elicitation"
	EventElicitationResult   = "ElicitationResult"
	EventConfigChange        = "ConfigChange"
	EventWorktreeCreate      = "WorktreeCreate"
	EventWorktreeRemove      = "WorktreeRemove"
	EventInstructionsLoaded  = "InstructionsLoaded"
	EventCwdChanged          = "CwdChanged"
	EventFileChanged         = "FileChanged"
	EventMessageDisplay      = "MessageDisplay"
)

// Events is every hook event Claude Code knows, in its own order.
var Events = []string{
	EventPreToolUse, EventPostToolUse, EventPostToolUseFailure, EventPostToolBatch,
	EventNotification, EventUserPromptSubmit, EventUserPromptExpansion, EventSessionStart,
	EventSessionEnd, EventStop, EventStopFailure, EventSubagentStart, EventSubagentStop,
	EventPreCompact, EventPostCompact, EventPermissionRequest, EventPermissionDenied,
	EventSetup, EventTeammateIdle, EventTaskCreated, EventTaskCompleted, EventElicitation,
	EventElicitationResult, EventConfigChange, EventWorktreeCreate, EventWorktreeRemove,
	EventInstructionsLoaded, EventCwdChanged, EventFileChanged, EventMessageDisplay,
}

// IsObserveOnly reports whether registering a command hook for event is
// harmless, i.e. a hook that prints nothing and exits 0 leaves Claude Code's
// behaviour unchanged. WorktreeCreate and WorktreeRemove are not: a
// configured WorktreeCreate hook REPLACES Claude Code's own git worktree
// creation (the hook must print the new path), so registering weave-hook
// there would break `claude --worktree`. Installers register the others.
func IsObserveOnly(event string) bool {
	return event != EventWorktreeCreate && event != EventWorktreeRemove
}

// Event is one decoded hook event: the receipt metadata, the fields the
// daemon's state machines use, and the raw payload for everything else
// (Field). Values whose JSON type differs from what Claude Code sends today
// are converted leniently rather than rejected (a number where a string is
// expected becomes its JSON text, "true" becomes true), so a future Claude
// Code changing a type does not lose the event.
type Event struct {
	// Receipt metadata, from the Envelope.
	ID             EventID
	Proto          int
	ReceivedAt     time.Time
	TranscriptSize int64 // -1: unknown
	// Truncated: Raw was cut at MaxPayload; OriginalSize is the full size.
	// Only members entirely within the kept bytes were decoded.
	Truncated    bool
	OriginalSize int64
	// Raw is the payload as received (the hook's stdin).
	Raw []byte
	// Agent is the agent that ran the hook (one of Agents, never "").
	Agent string

	// Common fields.
	SessionID      string
	TranscriptPath string
	Cwd            string
	HookEventName  string
	PromptID       string
	PermissionMode string
	AgentID        string // set when the event fired inside a subagent
	AgentType      string
	EffortLevel    string // effort.level

	// Tool events.
	ToolName              string
	ToolInput             json.RawMessage
	ToolUseID             string
	ToolResponse          json.RawMessage
	ToolCalls             json.RawMessage // PostToolBatch
	Error                 string          // PostToolUseFailure, StopFailure
	ErrorDetails          string          // StopFailure
	IsInterrupt           bool
	DurationMS            int64
	PermissionSuggestions json.RawMessage // PermissionRequest

	// Prompt, turn, session and subagent events.
	Prompt               string // UserPromptSubmit, UserPromptExpansion
	CommandName          string // UserPromptExpansion
	CommandArgs          string
	Source               string // SessionStart: startup|resume|clear|compact; ConfigChange
	Model                string
	Reason               string // SessionEnd; PermissionDenied
	Trigger              string // PreCompact/PostCompact: manual|auto; Setup
	CustomInstructions   string // PreCompact
	CompactSummary       string // PostCompact
	LastAssistantMessage string // Stop, StopFailure, SubagentStop
	StopHookActive       bool
	StopReason           string
	AgentTranscriptPath  string // SubagentStop
	NotificationType     string // Notification
	Message              string
	Title                string
	FilePath             string // InstructionsLoaded, ConfigChange, FileChanged
	MemoryType           string // InstructionsLoaded
	LoadReason           string
	OldCwd               string // CwdChanged
	NewCwd               string
	TaskID               string // TaskCreated, TaskCompleted
	TaskSubject          string
	TaskDescription      string
}

// ErrNotEvent is wrapped by Decode errors for payloads that are not a hook
// event at all (the daemon answers 400).
var ErrNotEvent = errors.New("hookproto: not a hook event")

// Decode decodes an envelope's payload. It fails only when the payload is
// not a JSON object or names no hook_event_name. A truncated payload (see
// MaxPayload) yields every top-level member that lies entirely within the
// kept bytes and has a valid value.
func Decode(env Envelope) (Event, error) {
	ev := Event{
		ID:             env.ID,
		Proto:          env.Proto,
		ReceivedAt:     env.ReceivedAt,
		TranscriptSize: env.TranscriptSize,
		Truncated:      env.Truncated(),
		OriginalSize:   env.OriginalSize,
		Raw:            env.Body,
		Agent:          env.AgentName(),
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(env.Body, &m); err != nil || m == nil {
		if !ev.Truncated {
			if err == nil {
				err = errors.New("null")
			}
			return ev, fmt.Errorf("%w: payload is not a JSON object: %v", ErrNotEvent, err)
		}
		m = salvage(env.Body)
	}
	ev.fill(m)
	if ev.HookEventName == "" {
		return ev, fmt.Errorf("%w: no hook_event_name", ErrNotEvent)
	}
	return ev, nil
}

// salvage collects the complete, valid top-level members of a cut payload.
func salvage(b []byte) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	scanObject(b, func(key, val []byte) bool {
		if !json.Valid(val) {
			return true
		}
		var k string
		q := append(append(append(make([]byte, 0, len(key)+2), '"'), key...), '"')
		if json.Unmarshal(q, &k) == nil {
			m[k] = json.RawMessage(val)
		}
		return true
	})
	return m
}

func (ev *Event) fill(m map[string]json.RawMessage) {
	s := func(k string) string { return str(m[k]) }
	ev.SessionID = s("session_id")
	ev.TranscriptPath = s("transcript_path")
	ev.Cwd = s("cwd")
	ev.HookEventName = s("hook_event_name")
	ev.PromptID = s("prompt_id")
	ev.PermissionMode = s("permission_mode")
	ev.AgentID = s("agent_id")
	ev.AgentType = s("agent_type")
	if eff := m["effort"]; len(eff) > 0 {
		var e map[string]json.RawMessage
		if json.Unmarshal(eff, &e) == nil {
			ev.EffortLevel = str(e["level"])
		} else {
			ev.EffortLevel = str(eff)
		}
	}

	ev.ToolName = s("tool_name")
	ev.ToolInput = raw(m["tool_input"])
	ev.ToolUseID = s("tool_use_id")
	ev.ToolResponse = raw(m["tool_response"])
	ev.ToolCalls = raw(m["tool_calls"])
	ev.Error = s("error")
	ev.ErrorDetails = s("error_details")
	ev.IsInterrupt = boolean(m["is_interrupt"])
	ev.DurationMS = integer(m["duration_ms"])
	ev.PermissionSuggestions = raw(m["permission_suggestions"])

	ev.Prompt = s("prompt")
	ev.CommandName = s("command_name")
	ev.CommandArgs = s("command_args")
	ev.Source = s("source")
	ev.Model = s("model")
	ev.Reason = s("reason")
	ev.Trigger = s("trigger")
	ev.CustomInstructions = s("custom_instructions")
	ev.CompactSummary = s("compact_summary")
	ev.LastAssistantMessage = s("last_assistant_message")
	ev.StopHookActive = boolean(m["stop_hook_active"])
	ev.StopReason = s("stop_reason")
	ev.AgentTranscriptPath = s("agent_transcript_path")
	ev.NotificationType = s("notification_type")
	ev.Message = s("message")
	ev.Title = s("title")
	ev.FilePath = s("file_path")
	ev.MemoryType = s("memory_type")
	ev.LoadReason = s("load_reason")
	ev.OldCwd = s("old_cwd")
	ev.NewCwd = s("new_cwd")
	ev.TaskID = s("task_id")
	ev.TaskSubject = s("task_subject")
	ev.TaskDescription = s("task_description")
}

// Field returns the raw JSON of a top-level payload member this type does
// not name (e.g. "background_tasks"), or nil.
func (ev *Event) Field(name string) json.RawMessage {
	var out json.RawMessage
	scanObject(ev.Raw, func(key, val []byte) bool {
		if keyIs(key, name) {
			out = raw(val)
			return false
		}
		return true
	})
	return out
}

var jsonNull = []byte("null")

// str: a JSON string's value; null or absent ""; any other value its JSON
// text (a changed type keeps its information).
func str(r json.RawMessage) string {
	if len(r) == 0 || bytes.Equal(r, jsonNull) {
		return ""
	}
	if r[0] == '"' {
		var s string
		if json.Unmarshal(r, &s) == nil {
			return s
		}
	}
	return string(r)
}

func raw(r []byte) json.RawMessage {
	if len(r) == 0 || bytes.Equal(r, jsonNull) {
		return nil
	}
	return json.RawMessage(r)
}

func boolean(r json.RawMessage) bool {
	switch str(r) {
	case "true", "1":
		return true
	}
	return false
}

func integer(r json.RawMessage) int64 {
	t := str(r)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) < 1<<63 {
		return int64(f)
	}
	return 0
}
