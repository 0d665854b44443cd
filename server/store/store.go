// Package store defines the storage contract of weave-server: the interfaces
// every backend implements (server/store/sqlite, server/store/clickhouse) and
// the query and result types of the read side. The conformance suite in
// server/store/storetest checks every backend against the contracts written
// here; a backend that cannot honour a clause says so in its
// storetest.Capabilities (opt-outs), never silently.
//
// General rules for every method:
//   - All methods are safe for concurrent use.
//   - A project_id is required on every call; data of one project is never
//     returned for another.
//   - Returned slices and maps belong to the caller.
//   - An empty result is a nil or empty slice and a nil error, never an error.
//   - ctx cancellation is honoured; a cancelled write may or may not have been
//     applied, and is safe to retry (writes are idempotent upserts).
package store

import (
	"context"
	"errors"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// ErrNotFound is returned by methods that look up one item by key.
var ErrNotFound = errors.New("store: not found")

// ErrInvalid wraps errors caused by a bad query (unknown field, bad operator).
// The API maps it to 400.
var ErrInvalid = errors.New("store: invalid query")

// Store is a complete backend.
type Store interface {
	Writer
	Reader
	Annotations
	// Close flushes anything buffered and releases resources. It is safe to
	// call once; after it returns no method may be called.
	Close() error
}

// SpanKey identifies one span.
type SpanKey struct {
	ProjectID string
	TraceID   string
	SpanID    string
}

// KeyedEvents are events (from OTLP log records) addressed to one span.
type KeyedEvents struct {
	Key    SpanKey
	Events []model.Event
}

// Writer is the ingest side.
type Writer interface {
	// WriteSpans upserts spans by (project_id, trace_id, span_id). It returns
	// nil only after the whole batch is durable (it survives a process crash).
	//
	// Upsert rule: a later write of the same key replaces the earlier one,
	// except that a finished span (EndedAt set) is never replaced by an
	// in-progress copy (EndedAt zero); such a write is ignored. Within one
	// batch the same rule applies in slice order.
	//
	// Derived data (message search, agent / version / conversation rollups,
	// token totals) reflect only the surviving version of each span: a span
	// written twice is never counted twice.
	WriteSpans(ctx context.Context, spans []model.Span) error

	// GetSpans returns the stored spans for the keys that exist, in no
	// particular order; missing keys are simply absent.
	GetSpans(ctx context.Context, keys []SpanKey) ([]model.Span, error)

	// WritePendingEvents durably parks events addressed to spans that are not
	// stored yet (OTLP log records can arrive before their span).
	WritePendingEvents(ctx context.Context, events []KeyedEvents) error

	// TakePendingEvents returns and removes the parked events for the given
	// keys. Keys with none are absent from the map. Events keep arrival order.
	TakePendingEvents(ctx context.Context, keys []SpanKey) (map[SpanKey][]model.Event, error)
}

// TimeRange bounds a query on started_at. Zero ends are open.
type TimeRange struct {
	From time.Time // inclusive
	To   time.Time // exclusive
}

// Filter is one condition on a canonical column (model.Span JSON name) or on
// a custom attribute ("custom_attrs_string.<key>", "custom_attrs_int.<key>",
// ...). Op is one of: eq, neq, in, contains (substring, case-insensitive),
// gt, gte, lt, lte, exists, not_exists. An unknown field or op is ErrInvalid.
type Filter struct {
	Field string `json:"field"`
	Op    string `json:"op"`
	Value any    `json:"value,omitempty"`
}

// Sort orders results by a canonical column.
type Sort struct {
	Field     string `json:"field"`
	Direction string `json:"direction"` // "asc" | "desc" (default desc)
}

// SpanQuery selects spans.
type SpanQuery struct {
	ProjectID string
	Filters   []Filter
	Range     TimeRange
	Sort      []Sort // default: started_at desc, span_id asc
	Limit     int    // 0 → backend default (100); capped at 10,000
	Offset    int
	// IncludeDetails returns the heavy columns (messages, system
	// instructions, tool arguments/results, events, raw_span). Without it
	// those are empty, which lets list pages stay cheap.
	IncludeDetails bool
}

// ConversationQuery lists conversations. A conversation is the set of spans
// sharing conversation_id; spans without one are grouped by thread_id, and
// spans with neither form a one-turn conversation whose id is
// "trace:<trace_id>". A turn is one trace_id.
type ConversationQuery struct {
	ProjectID string
	AgentName string    // only conversations in which this agent ran
	Range     TimeRange // on last activity
	Search    string    // full-text filter over the conversation's messages
	Sort      []Sort    // fields of ConversationSummary; default last_activity desc
	Limit     int
	Offset    int
}

// Usage is a token total. Totals never count usage twice: a span's usage
// counts only if no descendant span in the same trace reports usage.
type Usage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	ReasoningTokens          int64 `json:"reasoning_tokens"`
}

// ConversationSummary is one row of the conversations list.
type ConversationSummary struct {
	ConversationID string    `json:"conversation_id"`
	TurnCount      int64     `json:"turn_count"`
	SpanCount      int64     `json:"span_count"`
	ErrorCount     int64     `json:"error_count"`
	RunningCount   int64     `json:"running_count"` // spans not ended yet
	FirstActivity  time.Time `json:"first_activity"`
	LastActivity   time.Time `json:"last_activity"`
	AgentNames     []string  `json:"agent_names"`
	Models         []string  `json:"models"`
	FirstPrompt    string    `json:"first_prompt"` // preview, ≤ 300 chars
	Usage
}

// ConversationPage is a page of conversations with the total match count.
type ConversationPage struct {
	Conversations []ConversationSummary `json:"conversations"`
	Total         int64                 `json:"total"`
}

// AgentQuery lists agents (spans with agent_name set).
type AgentQuery struct {
	ProjectID string
	Range     TimeRange
	Sort      []Sort
	Limit     int
	Offset    int
}

// AgentSummary is one row of the agents list.
type AgentSummary struct {
	AgentName       string    `json:"agent_name"`
	InvocationCount int64     `json:"invocation_count"` // invoke_agent spans
	SpanCount       int64     `json:"span_count"`
	ErrorCount      int64     `json:"error_count"`
	TotalDurationMs int64     `json:"total_duration_ms"` // over ended invoke_agent spans
	FirstSeen       time.Time `json:"first_seen"`
	LastSeen        time.Time `json:"last_seen"`
	VersionCount    int64     `json:"version_count"`
	Usage
}

// AgentVersionSummary is one row of an agent's versions.
type AgentVersionSummary struct {
	AgentName       string    `json:"agent_name"`
	AgentVersion    string    `json:"agent_version"`
	InvocationCount int64     `json:"invocation_count"`
	SpanCount       int64     `json:"span_count"`
	ErrorCount      int64     `json:"error_count"`
	TotalDurationMs int64     `json:"total_duration_ms"`
	FirstSeen       time.Time `json:"first_seen"`
	LastSeen        time.Time `json:"last_seen"`
	Usage
}

// MetricsQuery asks for time-bucketed agent activity.
type MetricsQuery struct {
	ProjectID string
	AgentName string // "" = all agents
	Range     TimeRange
	Bucket    time.Duration // bucket width; 0 → backend picks (≈ 60 buckets)
}

// MetricBucket is one bucket of agent activity.
type MetricBucket struct {
	Start           time.Time `json:"start"`
	AgentName       string    `json:"agent_name,omitempty"`
	InvocationCount int64     `json:"invocation_count"`
	ErrorCount      int64     `json:"error_count"`
	SpanCount       int64     `json:"span_count"`
	AvgDurationMs   float64   `json:"avg_duration_ms"`
	Usage
}

// SearchQuery is a full-text search over message bodies: input and output
// messages, system instructions, tool arguments and results.
type SearchQuery struct {
	ProjectID      string
	Query          string // words, any order; "quoted phrases"
	Roles          []string
	AgentName      string
	ConversationID string
	Range          TimeRange
	Limit          int
	Offset         int
}

// SearchHit is one matching message occurrence. Hits with the same
// (conversation, role, content) are returned once, newest first.
type SearchHit struct {
	TraceID        string    `json:"trace_id"`
	SpanID         string    `json:"span_id"`
	ConversationID string    `json:"conversation_id"`
	AgentName      string    `json:"agent_name"`
	OperationName  string    `json:"operation_name"`
	Role           string    `json:"role"` // user|assistant|system|tool|tool_call|tool_result
	StartedAt      time.Time `json:"started_at"`
	// Snippet is a short excerpt around the match with matched terms wrapped
	// in « and » (the API turns them into markup-safe highlight ranges).
	Snippet string `json:"snippet"`
}

// Reader is the query side.
type Reader interface {
	// QuerySpans returns the spans matching q and the total match count.
	QuerySpans(ctx context.Context, q SpanQuery) ([]model.Span, int64, error)
	// TraceSpans returns every span of one trace, with details, ordered by
	// started_at then span_id.
	TraceSpans(ctx context.Context, projectID, traceID string) ([]model.Span, error)
	// ActiveSpans returns spans that have started and not ended, newest first.
	ActiveSpans(ctx context.Context, projectID string, r TimeRange, limit int) ([]model.Span, error)
	// ConversationSpans returns every span of one conversation (see
	// ConversationQuery for the grouping), with details, ordered by
	// started_at then span_id, bounded by r.
	ConversationSpans(ctx context.Context, projectID, conversationID string, r TimeRange) ([]model.Span, error)
	QueryConversations(ctx context.Context, q ConversationQuery) (ConversationPage, error)
	QueryAgents(ctx context.Context, q AgentQuery) ([]AgentSummary, int64, error)
	AgentVersions(ctx context.Context, projectID, agentName string) ([]AgentVersionSummary, error)
	AgentMetrics(ctx context.Context, q MetricsQuery) ([]MetricBucket, error)
	SearchMessages(ctx context.Context, q SearchQuery) ([]SearchHit, error)
	// Projects lists the projects that have at least one span, sorted.
	Projects(ctx context.Context) ([]string, error)
	// Stats reports sizes for /metrics.
	Stats(ctx context.Context) (Stats, error)
}

// Stats describes the store's size.
type Stats struct {
	Spans int64 `json:"spans"`
	Bytes int64 `json:"bytes"` // on-disk size where known
}

// Annotation is user feedback on a span, a turn or a conversation. Ref is
// "agent_span/<span_id>", "agent_turn/<trace_id>" or
// "agent_conversation/<url-encoded conversation_id>".
type Annotation struct {
	ID        string    `json:"id"`
	ProjectID string    `json:"project_id"`
	Ref       string    `json:"ref"`
	Kind      string    `json:"kind"`  // e.g. "thumbs", "note", "label"
	Value     any       `json:"value"` // JSON value: "up"/"down", text, ...
	Author    string    `json:"author,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// AnnotationQuery selects annotations.
type AnnotationQuery struct {
	ProjectID string
	Refs      []string // empty → all
	Kind      string
	Limit     int
	Offset    int
}

// Annotations stores feedback.
type Annotations interface {
	// UpsertAnnotation stores a; an empty ID gets a new one. With an ID, the
	// annotation of that ID is replaced (CreatedAt kept). Returns the stored
	// annotation.
	UpsertAnnotation(ctx context.Context, a Annotation) (Annotation, error)
	// DeleteAnnotation removes one; ErrNotFound if absent.
	DeleteAnnotation(ctx context.Context, projectID, id string) error
	// QueryAnnotations returns annotations newest first.
	QueryAnnotations(ctx context.Context, q AnnotationQuery) ([]Annotation, error)
}
