package mockapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Script is what the mock answers, per scenario. Only the main agent's and
// the subagents' requests consume it; side requests (compaction, the
// auto-mode classifier, title generation, anything without tools) are
// answered from the fields below without moving a cursor.
//
// The JSON form is decoded strictly: an unknown field is an error, so a
// misspelt key fails the scenario instead of being ignored.
type Script struct {
	// Main is answered in order to the main agent's requests, across all
	// the CLI runs that share this mock (resume, continue, fork).
	Main []Step `json:"main,omitempty"`
	// Subagents are the subagents' conversations. A request that starts a
	// subagent conversation (no assistant message yet) takes the first
	// unassigned Agent whose PromptContains its first user message
	// contains; later requests of that conversation continue its steps, so
	// parallel subagents each follow their own steps whatever the order
	// their requests arrive in.
	Subagents []Agent `json:"subagents,omitempty"`
	// CompactSummary answers compaction requests (manual /compact and
	// auto-compaction). Default: a short <summary>.
	CompactSummary string `json:"compact_summary,omitempty"`
	// Classifier is the auto-mode permission classifier's decision:
	// "block" (the default) or "allow". ClassifierReason is the <reason>
	// a block gives (Claude Code shows it and puts it in PermissionDenied).
	Classifier       string `json:"classifier,omitempty"`
	ClassifierReason string `json:"classifier_reason,omitempty"`
	// Title answers title generation (the TUI asks once per session).
	Title string `json:"title,omitempty"`
	// SideText answers any other request without tools. Default "OK".
	SideText string `json:"side_text,omitempty"`
}

// Agent is one subagent conversation of a Script.
type Agent struct {
	PromptContains string `json:"prompt_contains,omitempty"`
	Steps          []Step `json:"steps"`
}

// Step is one reply: an assistant message (Content) or an API error.
type Step struct {
	Content []Block `json:"content,omitempty"`
	// StopReason defaults to "tool_use" when Content has a tool_use block,
	// else "end_turn".
	StopReason   string `json:"stop_reason,omitempty"`
	StopSequence string `json:"stop_sequence,omitempty"`
	// Usage overrides fields of the estimated usage.
	Usage *Usage `json:"usage,omitempty"`
	// DelayMS holds the reply back (before the status line).
	DelayMS int `json:"delay_ms,omitempty"`
	// Expect is checked against the request and reported by Server.Check.
	Expect *Expect `json:"expect,omitempty"`
	// When makes the step conditional: a request that does not match it
	// skips the step (for good) and takes the next one. It covers what
	// differs between CLI versions, e.g. 2.1.330 runs every Agent call in
	// the background ("Async agent launched") and 2.1.197 waits for it.
	// A conditional step is never required.
	When *Expect `json:"when,omitempty"`
	// Error answers with an HTTP error instead of a message.
	Error *APIError `json:"error,omitempty"`
	// Repeat answers up to that many requests with this step (0 or 1:
	// once); used once, it counts as used. For an error a client retries
	// an unknown number of times (2.1.330 retries a 400 with fewer beta
	// features, 2.1.197 does not).
	Repeat int `json:"repeat,omitempty"`
	// Optional steps may be left unconsumed (a CLI version that retries
	// less); they must come after every required step of their track.
	Optional bool `json:"optional,omitempty"`
}

// Block is a content block of a scripted assistant message.
type Block struct {
	Type string `json:"type"` // text | thinking | tool_use
	Text string `json:"text,omitempty"`
	// Thinking and Signature (generated when empty) for thinking blocks.
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	// ID (generated when empty), Name and Input for tool_use blocks.
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
}

// Usage overrides usage fields; nil fields keep the estimate.
type Usage struct {
	InputTokens              *int64         `json:"input_tokens,omitempty"`
	OutputTokens             *int64         `json:"output_tokens,omitempty"`
	CacheCreationInputTokens *int64         `json:"cache_creation_input_tokens,omitempty"`
	CacheReadInputTokens     *int64         `json:"cache_read_input_tokens,omitempty"`
	CacheCreation            *CacheCreation `json:"cache_creation,omitempty"`
}

// CacheCreation splits cache writes by lifetime.
type CacheCreation struct {
	Ephemeral5mInputTokens *int64 `json:"ephemeral_5m_input_tokens,omitempty"`
	Ephemeral1hInputTokens *int64 `json:"ephemeral_1h_input_tokens,omitempty"`
}

// Expect is what a step's request should (or, in When, must) contain.
type Expect struct {
	LastUserContains string `json:"last_user_contains"`
}

// APIError is an HTTP error reply in the API's error envelope.
type APIError struct {
	Status int `json:"status"`
	// Type defaults by status (400 invalid_request_error, 429
	// rate_limit_error, 500 api_error, 529 overloaded_error, …).
	Type    string `json:"type,omitempty"`
	Message string `json:"message,omitempty"`
	// RetryAfter, when set, is sent as the retry-after header (seconds).
	RetryAfter *int `json:"retry_after,omitempty"`
	// ShouldRetry sets x-should-retry; default true for 408, 409, 429
	// and 5xx, false otherwise.
	ShouldRetry *bool `json:"should_retry,omitempty"`
}

// PromptTooLong is the message the API gives a request over the model's
// context window; Claude Code reacts to it with auto-compaction.
const PromptTooLong = "prompt is too long: 203456 tokens > 200000 maximum"

var stopReasons = map[string]bool{"": true, "end_turn": true, "tool_use": true, "max_tokens": true,
	"stop_sequence": true, "pause_turn": true, "refusal": true}

// ParseScript decodes and validates a script. Every @NAME@ in the text
// whose NAME is a key of vars is replaced by the value (JSON-escaped, so a
// path with quotes stays valid), e.g. @WORK@ by the scenario's directory.
func ParseScript(data []byte, vars map[string]string) (*Script, error) {
	for k, v := range vars {
		esc, _ := json.Marshal(v)
		data = bytes.ReplaceAll(data, []byte("@"+k+"@"), esc[1:len(esc)-1])
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s Script
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("mockapi: script: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("mockapi: script: data after the JSON object")
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("mockapi: script: %w", err)
	}
	return &s, nil
}

func (s *Script) validate() error {
	// Empty lists read as absent ones, so a script equals its round trip.
	if len(s.Main) == 0 {
		s.Main = nil
	}
	if len(s.Subagents) == 0 {
		s.Subagents = nil
	}
	switch s.Classifier {
	case "", "block", "allow":
	default:
		return fmt.Errorf("classifier %q: want block or allow", s.Classifier)
	}
	if err := validateSteps("main", s.Main); err != nil {
		return err
	}
	for i, a := range s.Subagents {
		if len(a.Steps) == 0 {
			return fmt.Errorf("subagents[%d]: no steps", i)
		}
		if err := validateSteps(fmt.Sprintf("subagents[%d].steps", i), a.Steps); err != nil {
			return err
		}
	}
	return nil
}

func validateSteps(where string, steps []Step) error {
	optional := false
	for i := range steps {
		st := &steps[i]
		at := fmt.Sprintf("%s[%d]", where, i)
		if optional && !st.Optional && st.When == nil {
			return fmt.Errorf("%s: a required step after an optional one", at)
		}
		optional = optional || st.Optional
		if err := st.validate(); err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
	}
	return nil
}

func (st *Step) validate() error {
	if st.DelayMS < 0 || st.DelayMS > 600_000 {
		return fmt.Errorf("delay_ms %d: want 0..600000", st.DelayMS)
	}
	if st.Repeat < 0 || st.Repeat > 1000 {
		return fmt.Errorf("repeat %d: want 0..1000", st.Repeat)
	}
	if st.Error != nil {
		if len(st.Content) > 0 || st.Usage != nil || st.StopReason != "" || st.StopSequence != "" {
			return errors.New("an error step has no content, usage or stop reason")
		}
		if st.Error.Status < 400 || st.Error.Status > 599 {
			return fmt.Errorf("error status %d: want 400..599", st.Error.Status)
		}
		if st.Error.RetryAfter != nil && *st.Error.RetryAfter < 0 {
			return fmt.Errorf("retry_after %d: want >= 0", *st.Error.RetryAfter)
		}
		return nil
	}
	if len(st.Content) == 0 {
		st.Content = nil
		return errors.New("neither content nor error")
	}
	if !stopReasons[st.StopReason] {
		return fmt.Errorf("stop_reason %q", st.StopReason)
	}
	if st.StopSequence != "" && st.StopReason != "stop_sequence" {
		return errors.New("stop_sequence without stop_reason stop_sequence")
	}
	if err := st.Usage.validate(); err != nil {
		return err
	}
	for j := range st.Content {
		if err := st.Content[j].validate(); err != nil {
			return fmt.Errorf("content[%d]: %w", j, err)
		}
	}
	return nil
}

func (b *Block) validate() error {
	switch b.Type {
	case "text":
		if b.Text == "" {
			return errors.New("text block without text")
		}
		if b.Thinking != "" || b.Signature != "" || b.ID != "" || b.Name != "" || b.Input != nil {
			return errors.New("text block with fields of another block type")
		}
	case "thinking":
		if b.Thinking == "" {
			return errors.New("thinking block without thinking")
		}
		if b.Text != "" || b.ID != "" || b.Name != "" || b.Input != nil {
			return errors.New("thinking block with fields of another block type")
		}
	case "tool_use":
		if b.Name == "" {
			return errors.New("tool_use block without a name")
		}
		if b.Text != "" || b.Thinking != "" || b.Signature != "" {
			return errors.New("tool_use block with fields of another block type")
		}
		if b.ID != "" && !strings.HasPrefix(b.ID, "toolu_") {
			return fmt.Errorf("tool_use id %q: want toolu_…", b.ID)
		}
		if b.Input == nil {
			b.Input = json.RawMessage("{}")
		}
		var in map[string]any
		if err := json.Unmarshal(b.Input, &in); err != nil || in == nil {
			return fmt.Errorf("tool_use %s: input is not a JSON object", b.Name)
		}
		// The canonical form is what json.Marshal writes: compact, HTML
		// characters escaped (the same JSON value).
		var compact, escaped bytes.Buffer
		json.Compact(&compact, b.Input)
		json.HTMLEscape(&escaped, compact.Bytes())
		b.Input = escaped.Bytes()
	default:
		return fmt.Errorf("block type %q: want text, thinking or tool_use", b.Type)
	}
	return nil
}

func (u *Usage) validate() error {
	if u == nil {
		return nil
	}
	fields := []*int64{u.InputTokens, u.OutputTokens, u.CacheCreationInputTokens, u.CacheReadInputTokens}
	if u.CacheCreation != nil {
		fields = append(fields, u.CacheCreation.Ephemeral5mInputTokens, u.CacheCreation.Ephemeral1hInputTokens)
	}
	for _, f := range fields {
		if f != nil && *f < 0 {
			return fmt.Errorf("usage: negative token count %d", *f)
		}
	}
	return nil
}

// defaultErrorType is the API's error type for an HTTP status.
func defaultErrorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 504:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}
