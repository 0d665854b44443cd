package transcript

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// Line kinds (the "type" field) weave gives meaning to. Every other kind is
// decoded, counted and otherwise ignored.
const (
	TypeUser             = "user"
	TypeAssistant        = "assistant"
	TypeSystem           = "system"
	TypeAttachment       = "attachment"
	TypeAPIRequest       = "api-request"
	TypeAPIRequestShape  = "api-request-shape"
	SubtypeCompactBound  = "compact_boundary"
	SubtypeStopHookSumm  = "stop_hook_summary"
	SubtypeTurnDuration  = "turn_duration"
	syntheticModel       = "<synthetic>"
	interruptedPrefix    = "[Request interrupted by user"
	localCommandStdout   = "<local-command-stdout>"
	localCommandStderr   = "<local-command-stderr>"
	localCommandCaveat   = "<local-command-caveat>"
	commandNameOpen      = "<command-name>"
	commandMessageOpen   = "<command-message>"
	compactSummaryPrefix = "This session is being continued from a previous conversation"
)

// Line is one decoded transcript line. Only the fields weave uses are
// decoded; unknown fields and kinds are ignored, never an error.
type Line struct {
	// Offset is the byte offset of the line in its file; End is the offset
	// just past its newline.
	Offset, End int64

	Type              string      `json:"type"`
	Subtype           string      `json:"subtype"`
	UUID              string      `json:"uuid"`
	ParentUUID        string      `json:"parentUuid"`
	LogicalParentUUID string      `json:"logicalParentUuid"`
	SessionID         string      `json:"sessionId"`
	PromptID          string      `json:"promptId"`
	Timestamp         time.Time   `json:"-"`
	TimestampRaw      string      `json:"timestamp"`
	IsSidechain       bool        `json:"isSidechain"`
	IsMeta            bool        `json:"isMeta"`
	IsCompactSummary  bool        `json:"isCompactSummary"`
	AgentID           string      `json:"agentId"`
	Cwd               string      `json:"cwd"`
	Version           string      `json:"version"`
	GitBranch         string      `json:"gitBranch"`
	Entrypoint        string      `json:"entrypoint"`
	PermissionMode    string      `json:"permissionMode"`
	PromptSource      string      `json:"promptSource"` // "sdk", "system", ...
	TurnOrigin        string      `json:"turnOrigin"`   // 2.1.330+: "task_notification", ...
	Origin            *LineOrigin `json:"origin"`       // 2.1.x: {"kind":"task-notification"}, {"kind":"human"}
	ForkedFrom        *ForkedFrom `json:"forkedFrom"`
	Message           *Message    `json:"message"`
	RequestID         string      `json:"requestId"`
	RequestRef        string      `json:"requestRef"`

	ToolUseResult           json.RawMessage `json:"toolUseResult"`
	SourceToolAssistantUUID string          `json:"sourceToolAssistantUUID"`

	// Synthetic assistant lines written for a failed API call.
	IsAPIErrorMessage bool   `json:"isApiErrorMessage"`
	Error             string `json:"error"`
	ErrorDetails      string `json:"errorDetails"`
	APIErrorStatus    int    `json:"apiErrorStatus"`

	CompactMetadata *CompactMetadata `json:"compactMetadata"`

	// api-request / api-request-shape (2.1.330+): the request's id and the
	// hash of its shape; the shape carries the system prompt.
	ID        string        `json:"id"`
	ShapeHash string        `json:"shapeHash"`
	Shape     *RequestShape `json:"shape"`
}

// LineOrigin is the origin object of a prompt line: who made it.
type LineOrigin struct {
	Kind string `json:"kind"`
}

// ForkedFrom is written by the Agent SDK's forkSession() on each copied line.
type ForkedFrom struct {
	SessionID   string `json:"sessionId"`
	MessageUUID string `json:"messageUuid"`
}

// Message is the API message a user or assistant line carries.
type Message struct {
	ID         string          `json:"id"`
	Role       string          `json:"role"`
	Model      string          `json:"model"`
	Content    json.RawMessage `json:"content"`
	StopReason string          `json:"stop_reason"`
	Usage      *Usage          `json:"usage"`
}

// Usage is Anthropic's usage block. The input figures are disjoint.
type Usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	OutputTokensDetails      *struct {
		ThinkingTokens int64 `json:"thinking_tokens"`
	} `json:"output_tokens_details"`
	// CacheCreation splits the cache writes by the cache entry's lifetime
	// (absent before the 1-hour cache existed: all writes are 5-minute).
	CacheCreation *CacheCreation `json:"cache_creation"`
	ServerToolUse *struct {
		WebSearchRequests int64 `json:"web_search_requests"`
	} `json:"server_tool_use"`
}

// CacheCreation is Anthropic's cache_creation usage breakdown.
type CacheCreation struct {
	Ephemeral5mInputTokens int64 `json:"ephemeral_5m_input_tokens"`
	Ephemeral1hInputTokens int64 `json:"ephemeral_1h_input_tokens"`
}

// WebSearchRequests is the number of server-side web searches the call made.
func (u Usage) WebSearchRequests() int64 {
	if u.ServerToolUse == nil {
		return 0
	}
	return u.ServerToolUse.WebSearchRequests
}

// TotalInput is the OTel input_tokens figure: input + cache read + cache
// creation (the conventions' rule for Anthropic).
func (u Usage) TotalInput() int64 {
	return u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens
}

// ReasoningTokens reports thinking tokens where the transcript has them.
func (u Usage) ReasoningTokens() int64 {
	if u.OutputTokensDetails == nil {
		return 0
	}
	return u.OutputTokensDetails.ThinkingTokens
}

// CompactMetadata is carried by compact_boundary lines.
type CompactMetadata struct {
	Trigger           string `json:"trigger"`
	PreTokens         int64  `json:"preTokens"`
	PostTokens        int64  `json:"postTokens"`
	DurationMs        int64  `json:"durationMs"`
	PreservedMessages *struct {
		UUIDs    []string `json:"uuids"`
		AllUUIDs []string `json:"allUuids"`
	} `json:"preservedMessages"`
}

// RequestShape is the de-duplicated shape of an API request (2.1.330+).
type RequestShape struct {
	System []Block `json:"system"`
}

// Block is one content block of a message.
type Block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
	Source    *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
	} `json:"source"`
}

// Block types.
const (
	BlockText             = "text"
	BlockThinking         = "thinking"
	BlockRedactedThinking = "redacted_thinking"
	BlockToolUse          = "tool_use"
	BlockToolResult       = "tool_result"
	BlockImage            = "image"
	BlockDocument         = "document"
	BlockServerToolUse    = "server_tool_use"
)

// Blocks returns the message content as blocks; a plain string becomes one
// text block. isString reports that the content was a plain string.
func (m *Message) Blocks() (blocks []Block, isString bool) {
	if m == nil {
		return nil, false
	}
	c := bytes.TrimSpace(m.Content)
	if len(c) == 0 || bytes.Equal(c, []byte("null")) {
		return nil, false
	}
	if c[0] == '"' {
		var s string
		if json.Unmarshal(c, &s) != nil {
			return nil, false
		}
		return []Block{{Type: BlockText, Text: s}}, true
	}
	if json.Unmarshal(c, &blocks) != nil {
		return nil, false
	}
	return blocks, false
}

// ContentText renders a tool_result's content (a string or a list of
// blocks) as the text the model saw; images become a placeholder.
func ContentText(raw json.RawMessage) string {
	c := bytes.TrimSpace(raw)
	if len(c) == 0 || bytes.Equal(c, []byte("null")) {
		return ""
	}
	if c[0] == '"' {
		var s string
		_ = json.Unmarshal(c, &s)
		return s
	}
	var blocks []Block
	if json.Unmarshal(c, &blocks) != nil {
		return string(c)
	}
	var b strings.Builder
	for _, bl := range blocks {
		var part string
		switch bl.Type {
		case BlockText:
			part = bl.Text
		case BlockImage, BlockDocument:
			part = "[" + bl.Type + "]"
		default:
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(part)
	}
	return b.String()
}

// promptText reports whether a user line's content is a prompt: a plain
// string, or a list of only text blocks (--input-format stream-json sends
// prompts that way; images beside the text are allowed). It returns the text.
func promptText(m *Message) (string, bool) {
	blocks, isString := m.Blocks()
	if isString {
		return blocks[0].Text, true
	}
	if len(blocks) == 0 {
		return "", false
	}
	var texts []string
	for _, b := range blocks {
		switch b.Type {
		case BlockText:
			texts = append(texts, b.Text)
		case BlockImage, BlockDocument:
		default:
			return "", false
		}
	}
	if len(texts) == 0 {
		return "", false
	}
	return strings.Join(texts, "\n"), true
}

// isLocalCommandEcho reports text Claude Code writes as a user line for a
// local command's output or caveat; it continues the current turn.
func isLocalCommandEcho(s string) bool {
	t := strings.TrimSpace(s)
	return strings.HasPrefix(t, localCommandStdout) || strings.HasPrefix(t, localCommandStderr) ||
		strings.HasPrefix(t, localCommandCaveat) || strings.HasPrefix(t, interruptedPrefix)
}

// CleanPrompt turns a slash command's markup into what the user typed
// ("/greet world") and a background task's notification into its summary;
// other prompts are returned unchanged.
func CleanPrompt(s string) string {
	if strings.HasPrefix(strings.TrimSpace(s), "<task-notification>") {
		if sum := between(s, "<summary>", "</summary>"); sum != "" {
			return "Task notification: " + sum
		}
	}
	if !strings.Contains(s, commandNameOpen) {
		return s
	}
	name := between(s, commandNameOpen, "</command-name>")
	if name == "" {
		return s
	}
	if args := strings.TrimSpace(between(s, "<command-args>", "</command-args>")); args != "" {
		return name + " " + args
	}
	return name
}

func between(s, open, close string) string {
	i := strings.Index(s, open)
	if i < 0 {
		return ""
	}
	rest := s[i+len(open):]
	j := strings.Index(rest, close)
	if j < 0 {
		return ""
	}
	return strings.TrimSpace(rest[:j])
}
