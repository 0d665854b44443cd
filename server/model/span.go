// Package model defines the canonical span row that weave-server stores and
// serves: one row per OTel span, whatever instrumentation produced it.
//
// The JSON names of the fields are the column names of ARCHITECTURE §5 and the
// field names of the read API. Normalization (server/normalize) fills a Span
// from OTLP; the stores (server/store/...) persist it; the read API and the
// chat view (server/chatview) read it back.
package model

import (
	"encoding/json"
	"math"
	"strings"
	"time"
)

// Span kinds, as OTLP names them without the SPAN_KIND_ prefix.
const (
	KindUnspecified = "UNSPECIFIED"
	KindInternal    = "INTERNAL"
	KindServer      = "SERVER"
	KindClient      = "CLIENT"
	KindProducer    = "PRODUCER"
	KindConsumer    = "CONSUMER"
)

// Status codes.
const (
	StatusUnset = "UNSET"
	StatusOK    = "OK"
	StatusError = "ERROR"
)

// Operation names the read side gives meaning to (gen_ai.operation.name).
const (
	OpChat            = "chat"
	OpGenerateContent = "generate_content"
	OpTextCompletion  = "text_completion"
	OpEmbeddings      = "embeddings"
	OpInvokeAgent     = "invoke_agent"
	OpCreateAgent     = "create_agent"
	OpExecuteTool     = "execute_tool"
	OpInvokeWorkflow  = "invoke_workflow"
	OpRetrieval       = "retrieval"
)

// IsLLMOperation reports whether op names one model inference call.
func IsLLMOperation(op string) bool {
	switch op {
	case OpChat, OpGenerateContent, OpTextCompletion:
		return true
	}
	return false
}

// Span is the canonical row. A zero EndedAt means the span is still running
// (an in-progress copy exported at start); the JSON form then carries
// "ended_at": null.
//
// Token counts are pointers: nil means the producer reported no usage (a
// streaming call without usage stays without usage; it is never estimated),
// which is different from a reported 0.
type Span struct {
	ProjectID     string    `json:"project_id"`
	TraceID       string    `json:"trace_id"`       // 32 lowercase hex digits
	SpanID        string    `json:"span_id"`        // 16 lowercase hex digits
	ParentSpanID  string    `json:"parent_span_id"` // "" for a root
	SpanName      string    `json:"span_name"`
	SpanKind      string    `json:"span_kind"`
	StartedAt     time.Time `json:"started_at"`
	EndedAt       time.Time `json:"ended_at"`
	StatusCode    string    `json:"status_code"`
	StatusMessage string    `json:"status_message"`

	OperationName  string `json:"operation_name"`
	ProviderName   string `json:"provider_name"`
	AgentName      string `json:"agent_name"`
	AgentID        string `json:"agent_id"`
	AgentVersion   string `json:"agent_version"`
	ConversationID string `json:"conversation_id"`
	RequestModel   string `json:"request_model"`
	ResponseModel  string `json:"response_model"`
	ResponseID     string `json:"response_id"`
	// ModelParameters are the request's generation parameters
	// (temperature, max_tokens, top_p, …), nil when none were sent.
	// Values are as encoding/json decodes them with UseNumber.
	ModelParameters map[string]any `json:"model_parameters"`

	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	ReasoningTokens          *int64 `json:"reasoning_tokens"`
	// CacheCreation5mInputTokens and CacheCreation1hInputTokens split
	// cache_creation_input_tokens by the cache entry's lifetime (Anthropic
	// prices a 1-hour write at twice the input price, a 5-minute one at
	// 1.25 times): when reported, the two add up to
	// cache_creation_input_tokens.
	CacheCreation5mInputTokens *int64 `json:"cache_creation_5m_input_tokens"`
	CacheCreation1hInputTokens *int64 `json:"cache_creation_1h_input_tokens"`
	// TotalTokens is the total the producer reported, else input + output
	// when either was reported.
	TotalTokens *int64 `json:"total_tokens"`

	// CostUSD is what the call cost in US dollars, nil when unknown:
	// the producer's own figure (CostSource "reported") or the server's
	// price table applied to the usage (CostSource "price_table"). Values
	// are whole nano-dollars (see CostNanos).
	CostUSD    *float64 `json:"cost_usd"`
	CostSource string   `json:"cost_source"`

	FinishReasons      []string  `json:"finish_reasons"`
	InputMessages      []Message `json:"input_messages"`
	OutputMessages     []Message `json:"output_messages"`
	SystemInstructions []string  `json:"system_instructions"`

	ToolName          string `json:"tool_name"`
	ToolType          string `json:"tool_type"`
	ToolCallID        string `json:"tool_call_id"`
	ToolCallArguments string `json:"tool_call_arguments"` // JSON text as sent (or plain text)
	ToolCallResult    string `json:"tool_call_result"`

	ErrorType string `json:"error_type"`

	CompactionSummary     string `json:"compaction_summary"`
	CompactionItemsBefore int64  `json:"compaction_items_before"`
	CompactionItemsAfter  int64  `json:"compaction_items_after"`

	ThreadID string `json:"thread_id"`
	IsTurn   bool   `json:"is_turn"`

	// DisplayName is the name the producer wants shown for the span
	// (wandb.display_name), "" when it sent none.
	DisplayName string `json:"display_name"`
	// WBRunID and WBRunStep tie the span to a W&B run and its step.
	WBRunID   string `json:"wb_run_id"`
	WBRunStep *int64 `json:"wb_run_step"`

	CustomAttrsString map[string]string  `json:"custom_attrs_string"`
	CustomAttrsInt    map[string]int64   `json:"custom_attrs_int"`
	CustomAttrsFloat  map[string]float64 `json:"custom_attrs_float"`
	CustomAttrsBool   map[string]bool    `json:"custom_attrs_bool"`
	ResourceAttrs     map[string]any     `json:"resource_attrs"`
	Events            []Event            `json:"events"`
	// RawSpan is the span as received, in OTLP/JSON form (one element of
	// scopeSpans[].spans), kept so nothing the normalizer did not understand
	// is lost.
	RawSpan json.RawMessage `json:"raw_span"`
}

// IsRunning reports whether the span has not ended yet.
func (s *Span) IsRunning() bool { return s.EndedAt.IsZero() }

// DurationMs is the span's wall-clock duration, 0 while it runs.
func (s *Span) DurationMs() int64 {
	if s.IsRunning() || s.EndedAt.Before(s.StartedAt) {
		return 0
	}
	return s.EndedAt.Sub(s.StartedAt).Milliseconds()
}

// HasUsage reports whether the span reports usage: any token count, or a
// cost (a producer may report the cost of a call without its tokens).
func (s *Span) HasUsage() bool {
	return s.HasTokens() || s.CostUSD != nil
}

// HasTokens reports whether the producer reported any token count.
func (s *Span) HasTokens() bool {
	return s.InputTokens != nil || s.OutputTokens != nil ||
		s.CacheReadInputTokens != nil || s.CacheCreationInputTokens != nil ||
		s.ReasoningTokens != nil
}

// Cost sources (Span.CostSource).
const (
	CostReported   = "reported"    // the producer's own figure
	CostPriceTable = "price_table" // the server's price table applied to the usage
)

// CostNanos converts a cost in US dollars to whole nano-dollars, the unit
// every total is summed in (so that sums are exact whatever the order).
func CostNanos(usd float64) int64 { return int64(math.Round(usd * 1e9)) }

// USD converts nano-dollars back to dollars.
func USD(nanos int64) float64 { return float64(nanos) / 1e9 }

// CostPtr returns a cost of nanos nano-dollars as a CostUSD value.
func CostPtr(nanos int64) *float64 {
	v := USD(nanos)
	return &v
}

// MarshalJSON writes ended_at as null for a running span and times as
// RFC 3339 with nanoseconds.
func (s Span) MarshalJSON() ([]byte, error) {
	type plain Span
	var ended *time.Time
	if !s.EndedAt.IsZero() {
		t := s.EndedAt.UTC()
		ended = &t
	}
	return json.Marshal(struct {
		plain
		StartedAt time.Time  `json:"started_at"`
		EndedAt   *time.Time `json:"ended_at"`
	}{plain(s), s.StartedAt.UTC(), ended})
}

// UnmarshalJSON accepts null for ended_at.
func (s *Span) UnmarshalJSON(b []byte) error {
	type plain Span
	aux := struct {
		*plain
		EndedAt *time.Time `json:"ended_at"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	if aux.EndedAt != nil {
		s.EndedAt = *aux.EndedAt
	} else {
		s.EndedAt = time.Time{}
	}
	return nil
}

// Message is one message in the OTel GenAI parts schema
// (gen-ai-input-messages.json / gen-ai-output-messages.json).
type Message struct {
	Role         string `json:"role"`
	Parts        []Part `json:"parts"`
	Name         string `json:"name,omitempty"`
	FinishReason string `json:"finish_reason,omitempty"`
}

// Part types of the parts schema.
const (
	PartText                   = "text"
	PartToolCall               = "tool_call"
	PartToolCallResponse       = "tool_call_response"
	PartReasoning              = "reasoning"
	PartServerToolCall         = "server_tool_call"
	PartServerToolCallResponse = "server_tool_call_response"
	PartBlob                   = "blob"
	PartFile                   = "file"
	PartURI                    = "uri"
)

// Part is one part of a message. Which fields are set depends on Type:
// text and reasoning use Content; tool_call uses ID, Name, Arguments;
// tool_call_response uses ID and Response; blob/file/uri use MimeType,
// Modality and Content (base64) / FileID / URI. Arguments and Response hold
// JSON values (an object, or a JSON string for text).
type Part struct {
	Type      string          `json:"type"`
	Content   string          `json:"content,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Response  json.RawMessage `json:"response,omitempty"`
	MimeType  string          `json:"mime_type,omitempty"`
	Modality  string          `json:"modality,omitempty"`
	FileID    string          `json:"file_id,omitempty"`
	URI       string          `json:"uri,omitempty"`
}

// Text joins the message's text parts with "\n\n".
func (m Message) Text() string {
	var b strings.Builder
	for _, p := range m.Parts {
		if p.Type != PartText || p.Content == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(p.Content)
	}
	return b.String()
}

// Reasoning joins the message's reasoning parts with "\n\n".
func (m Message) Reasoning() string {
	var b strings.Builder
	for _, p := range m.Parts {
		if p.Type != PartReasoning || p.Content == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(p.Content)
	}
	return b.String()
}

// Event is a span event (or an OTLP log record attached to the span).
type Event struct {
	Name       string         `json:"name"`
	Time       time.Time      `json:"time"`
	Attributes map[string]any `json:"attributes,omitempty"`
}
