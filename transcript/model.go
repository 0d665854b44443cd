package transcript

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Session is what one main transcript file says, plus its subagent files
// and its place in a fork chain.
type Session struct {
	ID   string // session id (from the lines; else the file name)
	Path string // the main transcript file

	Cwd, Version, GitBranch, Entrypoint string

	// Agent is the coding agent that wrote the session (gen_ai.agent.name
	// of its turn roots): "" for Claude Code, "codex" for a Codex CLI
	// rollout (package rollout). Provider, when set, is gen_ai.provider.name
	// of every chat span (else it follows from the model).
	Agent, Provider string

	Turns     []*Turn
	Subagents []*Subagent // every subagent file found, linked or not

	// Fork chain (see fork.go). ParentSessionID is the session this one was
	// forked from ("" for a root); ConversationID is the root of the chain
	// (the session's own id for a root).
	ParentSessionID string
	ConversationID  string
	ForkKind        string // "" | ForkSDK | ForkCLI

	Stats Stats // decoder counts over the main and subagent files

	// lineUUIDs are the uuids of the file's message lines in file order,
	// origUUIDs the uuid each line was copied from (forkedFrom.messageUuid,
	// else its own), used to find the parent of a CLI fork.
	lineUUIDs []string
	// forkedFrom lists the distinct forkedFrom.sessionId values seen.
	forkedFrom []string
}

// Fork kinds.
const (
	ForkSDK = "sdk" // forkedFrom written on copied lines (Agent SDK forkSession)
	ForkCLI = "cli" // lines copied with the same uuids (--fork-session)
)

// Turn is one user prompt and everything that answered it.
type Turn struct {
	// Key identifies the turn across copies of it (forks): the promptId,
	// else the uuid of the prompt line as first written.
	Key      string
	PromptID string
	Number   int // 1-based position in this file
	Prompt   string
	// PromptUUID is the uuid of the prompt line in this file.
	PromptUUID     string
	PermissionMode string
	// Origin says who prompted: "user", or what Claude Code names a
	// system-made prompt ("task_notification" for a background agent's
	// completion).
	Origin     string
	Start, End time.Time

	Calls       []*LLMCall
	Tools       []*ToolCall
	Compactions []*Compaction
	// Subagents spawned in this turn (linked or orphaned), filled by linking.
	Subagents []*Subagent

	// Copied is set on a fork's turns that were copied from its parent
	// session; CopiedFrom names that session. Copied turns belong to the
	// parent: the fork does not emit them again.
	Copied     bool
	CopiedFrom string

	origUUID    string // the prompt line's uuid as first written
	copiedLines int    // lines of this turn that are copies
	lines       int
	rev         uint64
}

// Rev is the turn's revision. A Builder gives a turn a new revision, never
// given before in the process, whenever it changes the turn or anything
// the turn holds (its calls, tools and compactions, and what they hold):
// while Rev stays the same, so does all of that. A Turn no Builder made
// has revision 0. What is recomputed on a Builder's values from outside —
// Copied and CopiedFrom (Resolver), Subagents and ToolCall.Subagent (Link)
// — is not covered, nor are values a caller put into a copy of the turn.
func (t *Turn) Rev() uint64 { return t.rev }

// InTranscript reports whether the turn was read from a transcript (a
// Builder made it), rather than made up by a caller from what hooks said
// before the turn's lines landed.
func (t *Turn) InTranscript() bool { return t.lines > 0 }

// Model is the model of the turn's last real LLM call.
func (t *Turn) Model() string {
	for i := len(t.Calls) - 1; i >= 0; i-- {
		if t.Calls[i].APIError == nil && t.Calls[i].Model != "" {
			return t.Calls[i].Model
		}
	}
	return ""
}

// Failed reports the API error that ended the turn, if its last call failed.
func (t *Turn) Failed() *APIError {
	if n := len(t.Calls); n > 0 {
		return t.Calls[n-1].APIError
	}
	return nil
}

// LLMCall is one API response: the assistant lines sharing message.id.
type LLMCall struct {
	MessageID  string
	RequestID  string
	Model      string
	Start, End time.Time
	Blocks     []Block // content blocks in order
	Usage      Usage
	HasUsage   bool
	StopReason string
	// Input holds the messages added to the context since the previous call
	// of the same agent: the prompt, tool results, injected user text (after
	// a compaction: its summary and the messages it preserved).
	Input []InputMessage
	// Prev is the message id of the call this call's request continues:
	// the latest earlier call of the same agent (in the same transcript
	// file), "" for the first call and the first after a compaction. The
	// model saw Prev's request, then Prev's answer (unless Prev failed:
	// Claude Code does not send a failed call's error text), then Input.
	Prev string
	// System is the system prompt when the transcript records it (2.1.330+).
	System []string
	// APIError is set for the synthetic message Claude Code writes when the
	// API call failed (model "<synthetic>", isApiErrorMessage).
	APIError *APIError
}

// APIError describes a failed API call.
type APIError struct {
	Type    string // e.g. "invalid_request", or the HTTP status ("400") when Claude Code says "unknown"
	Message string // the error details, else the text Claude Code showed ("API Error: 400 ...")
	Status  int
}

// NewAPIError builds the APIError of a failed call from what Claude Code
// wrote: its error classification (the transcript line's "error", the
// StopFailure hook's "error"), error details, HTTP status (transcript only)
// and the text it showed. Where Claude Code could not classify the error
// ("unknown"), the HTTP status is the type, read from the text ("API
// Error: 400 …") when the status is not given, so that the transcript and
// the hook describe one failure alike.
func NewAPIError(typ, details string, status int, text string) *APIError {
	e := &APIError{Type: typ, Message: details, Status: status}
	if e.Message == "" {
		e.Message = strings.TrimSpace(text)
	}
	if e.Status == 0 {
		if rest, ok := strings.CutPrefix(e.Message, "API Error: "); ok {
			if code, _, _ := strings.Cut(rest, " "); len(code) == 3 {
				if n, err := strconv.Atoi(code); err == nil && n >= 100 {
					e.Status = n
				}
			}
		}
	}
	if (e.Type == "" || e.Type == "unknown") && e.Status != 0 {
		e.Type = strconv.Itoa(e.Status)
	}
	if e.Type == "" {
		e.Type = "api_error"
	}
	return e
}

// InputMessage is a message sent to the model.
type InputMessage struct {
	Role   string // "user" | "tool" | "assistant" (an earlier answer a compaction preserved)
	Blocks []Block
}

// ToolCall is one tool_use and its tool_result.
type ToolCall struct {
	ID            string
	Name          string
	Input         json.RawMessage
	CallMessageID string    // the LLM call that issued it
	Start         time.Time // the tool_use line
	End           time.Time // the tool_result line (zero: no result yet)
	HasResult     bool
	Result        string          // the result as the model saw it
	IsError       bool            // tool_result is_error
	ToolUseResult json.RawMessage // Claude Code's structured result
	// Subagent is the subagent an Agent/Task call spawned, when linked.
	Subagent *Subagent
	// Spawns marks a call of another agent's spawning tool (Codex's
	// spawn_agent), which IsAgentCall does not know by name.
	Spawns bool

	rev uint64
}

// Rev is the call's revision: like Turn.Rev, changed by the Builder with
// the call (its result landing), 0 for a call no Builder made.
func (c *ToolCall) Rev() uint64 { return c.rev }

// IsAgentCall reports whether the call spawns a subagent.
func (c *ToolCall) IsAgentCall() bool { return c.Spawns || c.Name == "Agent" || c.Name == "Task" }

// AgentPrompt returns tool_input.prompt and subagent_type of an Agent call.
func (c *ToolCall) AgentPrompt() (prompt, subagentType, description string) {
	var in struct {
		Prompt       string `json:"prompt"`
		SubagentType string `json:"subagent_type"`
		Description  string `json:"description"`
	}
	_ = json.Unmarshal(c.Input, &in)
	return in.Prompt, in.SubagentType, in.Description
}

// Compaction is one context compaction.
type Compaction struct {
	Time        time.Time
	Trigger     string // manual | auto
	PreTokens   int64
	PostTokens  int64
	Summary     string
	ItemsBefore int64 // messages in context before
	ItemsAfter  int64 // messages kept after (summary + preserved)
	promptID    string
}

// Subagent is one `<session>/subagents/agent-<id>.jsonl` transcript.
type Subagent struct {
	AgentID     string
	AgentType   string
	Description string
	// ToolUseID is the spawning Agent call's id from the .meta.json ("" when
	// the meta file is missing or lacks it).
	ToolUseID  string
	SpawnDepth int
	Path       string
	Prompt     string // the first plain user prompt
	PromptID   string // the parent turn's promptId (on the subagent's lines)
	Start, End time.Time
	Calls      []*LLMCall
	Tools      []*ToolCall

	// Linking outcome: Match is MatchMeta, MatchPrompt, MatchAmbiguous or
	// MatchOrphan. Parent is the spawning Agent call (nil for orphans);
	// Turn is the main turn it belongs to (nil if none could be found).
	Match        string
	OrphanReason string
	Parent       *ToolCall
	Turn         *Turn
	// ParentAgent is the subagent whose transcript holds Parent (nested
	// subagents); nil when Parent is in the main transcript.
	ParentAgent *Subagent

	rev uint64
}

// Rev is the revision of the subagent's transcript when SubagentFrom made
// the value (its Builder's Rev): while it stays the same, so do Prompt,
// PromptID, Start, End, Calls and Tools. 0 for a Subagent made otherwise.
func (a *Subagent) Rev() uint64 { return a.rev }

// Subagent match outcomes.
const (
	MatchMeta      = "meta"
	MatchPrompt    = "prompt_hash"
	MatchAmbiguous = "ambiguous"
	MatchOrphan    = "orphan"
)

// Model is the model of the subagent's last real call.
func (a *Subagent) Model() string {
	for i := len(a.Calls) - 1; i >= 0; i-- {
		if a.Calls[i].APIError == nil && a.Calls[i].Model != "" {
			return a.Calls[i].Model
		}
	}
	return ""
}
