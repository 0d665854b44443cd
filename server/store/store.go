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
//   - A bad query (unknown field or operator, malformed value, negative
//     limit or offset, empty project_id) is an error wrapping ErrInvalid.
//   - Times come back in UTC. Empty slices and maps may come back as nil.
//     Values of the untyped maps (ResourceAttrs, Event.Attributes,
//     Annotation.Value) come back as encoding/json decodes them with
//     UseNumber: string, bool, json.Number, []any, map[string]any or nil.
//   - Limits: 0 means DefaultLimit; larger than MaxLimit means MaxLimit.
//
// Derived figures (rollups) follow four rules every backend implements the
// same way:
//
//   - Effective agent. A span belongs to the agent named by its own
//     agent_name, else by its nearest ancestor (same trace) that has one,
//     and to that span's agent_version. Chat and tool spans under an
//     invoke_agent span therefore count for that agent; spans under no
//     named agent count for none. The agent_name column itself is returned
//     as written.
//   - Effective conversation. A span's conversation is its own
//     conversation_id; else the conversation_id of its nearest ancestor that
//     has one; else that of the earliest-started span of its trace that has
//     one. Without any, the same chain applies to thread_id; without any
//     thread either, the conversation is "trace:<trace_id>" (one turn). The
//     conversation_id column itself is returned as written.
//   - Usage. A span's usage counts in totals only if no descendant in the
//     same trace reports usage (an agent span that sums its children's
//     usage is not counted twice), whatever order the spans arrive in.
//     Durations of spans with no end, or with end before start, count as 0.
//   - Turns. A turn span is a span with is_turn set none of whose ancestors
//     (the chain of the agent rule) has it: W&B's wandb.is_turn marks "a
//     row of the thread view", nested spans leave it unset. A conversation
//     with at least one turn span counts those as its turns; a trace of it
//     without any is background activity (an indexing job that shares the
//     thread), not a turn. A conversation without turn spans — weave-agentd
//     and most SDKs never set is_turn — has one turn per trace.
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// ErrNotFound is returned by methods that look up one item by key.
var ErrNotFound = errors.New("store: not found")

// ErrInvalid wraps errors caused by a bad query (unknown field, bad operator)
// or a span that fails ValidateSpan. The API maps it to 400.
var ErrInvalid = errors.New("store: invalid query")

// Limits applied by every list method.
const (
	DefaultLimit = 100
	MaxLimit     = 10_000
)

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
	// A batch is applied atomically: all of it or none of it, for readers
	// too — a read sees none of a batch or all of it (every derived figure
	// included), and never less than a read that returned before it began,
	// so a client that saw a span counted finds it in its conversation and
	// trace. A span that
	// fails ValidateSpan makes the whole call fail with an error wrapping
	// ErrInvalid before anything is written; callers that must not lose
	// the rest of a batch validate first.
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
	// stored yet (OTLP log records can arrive before their span). A backend
	// may drop parked events older than a configured age (at least one
	// hour); it says so in its documentation.
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
// ...) or resource attribute ("resource_attrs.<key>", compared as text).
// Op is one of: eq, neq, in, contains (substring, case-insensitive),
// gt, gte, lt, lte, exists, not_exists. An unknown field or op is ErrInvalid.
//
// Filterable columns are the scalar ones: strings, token counts and other
// integers, started_at / ended_at (RFC 3339 text or time.Time), is_turn,
// finish_reasons (eq/contains/in test one element), plus the derived
// duration_ms. The heavy columns (messages, system instructions, tool
// arguments and results, events, raw_span) are not filterable; use
// SearchMessages. Value types: in takes a list; exists and not_exists take
// none (for token counts: reported or not; for ended_at: ended or running;
// for strings: non-empty or empty; for attributes: present or absent).
// neq and not_exists match spans without the attribute.
type Filter struct {
	Field string `json:"field"`
	Op    string `json:"op"`
	Value any    `json:"value,omitempty"`
}

// Sort orders results by a canonical column (any filterable scalar column
// except the attribute maps and finish_reasons). Spans that did not report
// a token count sort after the others in either direction.
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
// sharing an effective conversation (see the package doc): conversation_id,
// else thread_id, else a one-turn conversation whose id is
// "trace:<trace_id>". A turn is one trace_id, or one turn span where the
// conversation has them (the package doc's turn rule).
type ConversationQuery struct {
	ProjectID string
	AgentName string    // only conversations in which this agent ran (effective agent)
	Range     TimeRange // on last activity
	Search    string    // full-text filter over the conversation's messages (SearchQuery syntax)
	// Filters are span filters (as in SpanQuery): a conversation is kept
	// when one of its spans (effective conversation) matches all of them,
	// e.g. custom_attrs_string.weave.claude_code.cwd eq a working directory.
	Filters []Filter
	// ScoreFilters keep the conversations whose score summaries pass them
	// all (fields "score.<name>", see ParseScoreFilters).
	ScoreFilters []Filter
	// Sort is on the scalar fields of ConversationSummary (not agent_names,
	// models); default last_activity desc. Ties are broken by
	// conversation_id ascending.
	Sort   []Sort
	Limit  int
	Offset int
	// ExactTotal asks for the exact number of matches of a Search even
	// where counting them costs a read of every match (see
	// ConversationPage.TotalIsLowerBound).
	ExactTotal bool
}

// TraceQuery lists traces: one row per trace_id with spans in the project.
// A trace's start is its earliest started_at; Range applies to it.
// AgentName keeps the traces in which the agent ran (the effective agent
// of any of their spans), ConversationID those with a span in that
// (effective) conversation, Status those of that status ("ok", "error",
// "running": see TraceSummary). Filters are span filters (as in
// SpanQuery): a trace is kept when one of its spans matches all of them.
// Sort is on started_at, last_activity, duration_ms, span_count,
// error_count, running_count, the token counts, cost_usd,
// unpriced_count or trace_id; default
// started_at desc. Ties are broken by trace_id ascending.
type TraceQuery struct {
	ProjectID      string
	Range          TimeRange
	AgentName      string
	ConversationID string
	Status         string
	Filters        []Filter
	Sort           []Sort
	Limit          int
	Offset         int
}

// Trace statuses (TraceSummary.Status, TraceQuery.Status).
const (
	TraceOK      = "ok"
	TraceError   = "error"
	TraceRunning = "running"
)

// TraceSummary is one row of the traces list (a turn, where a trace is
// one).
//
// The trace's root is its span whose parent is not a span of the trace
// (no parent, itself, or a span not stored); where there are several, the
// one that ended last (a running one counts as ending last), then the
// earliest started, then span_id. RootSpanID, RootSpanName, AgentName (the
// root's effective agent) and ConversationID (the root's effective
// conversation) describe it; they are empty for a trace whose spans all
// sit on a parent cycle. StartedAt is the earliest started_at,
// LastActivity the latest started_at or ended_at, DurationMs the time
// between them once no span runs (0 while one does). Status is "error"
// when a span has status ERROR, else "running" when a span has not ended,
// else "ok". Usage follows the usage rule.
type TraceSummary struct {
	TraceID        string    `json:"trace_id"`
	RootSpanID     string    `json:"root_span_id"`
	RootSpanName   string    `json:"root_span_name"`
	AgentName      string    `json:"agent_name"`
	ConversationID string    `json:"conversation_id"`
	StartedAt      time.Time `json:"started_at"`
	LastActivity   time.Time `json:"last_activity"`
	DurationMs     int64     `json:"duration_ms"`
	Status         string    `json:"status"`
	SpanCount      int64     `json:"span_count"`
	ErrorCount     int64     `json:"error_count"`
	RunningCount   int64     `json:"running_count"`
	Usage
}

// ConversationSortFields are the fields a ConversationQuery may sort on,
// each with the name both backends give its column in their query.
var ConversationSortFields = map[string]string{
	"conversation_id": "conv_key", "turn_count": "c_turns", "background_count": "c_background", "span_count": "c_spans",
	"error_count": "c_errors", "running_count": "c_running",
	"first_activity": "c_first", "last_activity": "c_last", "first_prompt": "c_prompt",
	"working_dir": "c_working_dir", "git_branch": "c_git_branch",
	"input_tokens": "c_input", "output_tokens": "c_output",
	"cache_read_input_tokens": "c_cache_read", "cache_creation_input_tokens": "c_cache_creation",
	"reasoning_tokens": "c_reasoning", "cost_usd": "c_cost", "unpriced_count": "c_unpriced",
}

// TraceSortFields are the fields a TraceQuery may sort on, each with the
// name both backends give its column in their grouped query.
var TraceSortFields = map[string]string{
	"trace_id": "trace_id", "started_at": "t_start", "last_activity": "t_last", "duration_ms": "t_duration",
	"span_count": "t_spans", "error_count": "t_errors", "running_count": "t_running",
	"input_tokens": "t_in", "output_tokens": "t_out", "cache_read_input_tokens": "t_cache_read",
	"cache_creation_input_tokens": "t_cache_creation", "reasoning_tokens": "t_reasoning",
	"cost_usd": "t_cost", "unpriced_count": "t_unpriced",
}

// Usage is a token and cost total. Totals never count usage twice: a
// span's usage counts only if no descendant span in the same trace reports
// usage (tokens or a cost). CostUSD sums the cost_usd of the spans whose
// usage counts, in whole nano-dollars (exact whatever the order); an
// UnpricedCount above zero says it is a lower bound: that many of those
// spans reported tokens but have no cost (a model the price table does not
// know, and no cost from the producer).
type Usage struct {
	InputTokens              int64   `json:"input_tokens"`
	OutputTokens             int64   `json:"output_tokens"`
	CacheReadInputTokens     int64   `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64   `json:"cache_creation_input_tokens"`
	ReasoningTokens          int64   `json:"reasoning_tokens"`
	CostUSD                  float64 `json:"cost_usd"`
	UnpricedCount            int64   `json:"unpriced_count"`
}

// SpanCost is a span's contribution to the cost figures of Usage when its
// usage counts: its cost in nano-dollars, and whether it is unpriced
// (tokens reported, no cost).
func SpanCost(s *model.Span) (nanos int64, unpriced bool) {
	if s.CostUSD != nil {
		return model.CostNanos(*s.CostUSD), false
	}
	return 0, s.HasTokens()
}

// ConversationSummary is one row of the conversations list.
//
// TurnCount follows the package doc's turn rule; BackgroundCount is the
// number of the conversation's traces that hold no turn span when it has
// turn spans (0 otherwise). FirstActivity is the earliest started_at, LastActivity the latest
// started_at or ended_at. AgentNames are the effective agents, Models the
// response_model (else request_model) of the spans, both sorted. FirstPrompt
// is the text of the last user message in the input_messages of the
// conversation's first span that has one (earliest started_at; invoke_agent
// spans before others at the same instant; then span_id), whitespace runs
// collapsed to one space, cut to at most FirstPromptMaxRunes runes (a cut
// preview ends with "…"). WorkingDir and GitBranch are where the
// conversation last ran: the custom_attrs_string weave.claude_code.cwd and
// weave.claude_code.git_branch of its latest-started span that carries a
// non-empty one of them (then greatest span_id), both from that span;
// weave-agentd sets them on each turn's root span, so they are those of the
// latest turn's root. Empty when no span carries them.
type ConversationSummary struct {
	ConversationID  string    `json:"conversation_id"`
	TurnCount       int64     `json:"turn_count"`
	BackgroundCount int64     `json:"background_count"`
	SpanCount       int64     `json:"span_count"`
	ErrorCount      int64     `json:"error_count"`
	RunningCount    int64     `json:"running_count"` // spans not ended yet
	FirstActivity   time.Time `json:"first_activity"`
	LastActivity    time.Time `json:"last_activity"`
	AgentNames      []string  `json:"agent_names"`
	Models          []string  `json:"models"`
	FirstPrompt     string    `json:"first_prompt"` // preview, ≤ 300 chars
	WorkingDir      string    `json:"working_dir,omitempty"`
	GitBranch       string    `json:"git_branch,omitempty"`
	Usage
	// Scores summarizes the scores on the conversation, its turns and its
	// spans, by name; nil without any.
	Scores map[string]ScoreSummary `json:"scores,omitempty"`
}

// Custom attributes the conversations list reads where a conversation ran
// (ConversationSummary.WorkingDir, GitBranch); the same keys as
// semconv.KeyCwd and semconv.KeyGitBranch.
const (
	AttrWorkingDir = "weave.claude_code.cwd"
	AttrGitBranch  = "weave.claude_code.git_branch"
)

// Place returns the working directory and git branch a span records
// (AttrWorkingDir, AttrGitBranch) and whether it records either.
func Place(attrs map[string]string) (workingDir, gitBranch string, ok bool) {
	workingDir, gitBranch = attrs[AttrWorkingDir], attrs[AttrGitBranch]
	return workingDir, gitBranch, workingDir != "" || gitBranch != ""
}

// FirstPromptMaxRunes bounds ConversationSummary.FirstPrompt.
const FirstPromptMaxRunes = 300

// ConversationPage is a page of conversations with the total match count.
//
// With a Search and without ExactTotal, a store may stop counting once it
// has the page: Total is then a lower bound (TotalIsLowerBound), the
// number of matching conversations it met, and still tells whether a page
// follows — Total > Offset + len(Conversations) exactly when more matches
// come after this page. Without a Search, or with ExactTotal, Total is
// exact and TotalIsLowerBound false.
type ConversationPage struct {
	Conversations     []ConversationSummary `json:"conversations"`
	Total             int64                 `json:"total"`
	TotalIsLowerBound bool                  `json:"total_is_lower_bound,omitempty"`
}

// AgentQuery lists agents: the effective agents of the project's spans (see
// the package doc). Range keeps the agents whose activity
// [first_seen, last_seen] overlaps it; the figures are all-time. Sort is on
// the scalar fields of AgentSummary; default last_seen desc, ties broken by
// agent_name ascending.
type AgentQuery struct {
	ProjectID string
	Range     TimeRange
	// ScoreFilters keep the agents whose score summaries pass them all.
	ScoreFilters []Filter
	Sort         []Sort
	Limit        int
	Offset       int
}

// AgentSummary is one row of the agents list. Counts are over the spans
// whose effective agent it is; InvocationCount counts its invoke_agent
// spans, TotalDurationMs sums their durations (see the package doc for
// unfinished spans), FirstSeen/LastSeen are the earliest/latest started_at.
// VersionCount is the number of rows AgentVersions returns for it (spans
// without an agent_version form the version "").
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
	// Scores summarizes the scores on the agent and on the spans it ran
	// (their effective agent), by name; nil without any.
	Scores map[string]ScoreSummary `json:"scores,omitempty"`
}

// AgentVersionSummary is one row of an agent's versions. AgentVersions
// returns them sorted by last_seen desc, then agent_version.
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

// MetricsQuery asks for time-bucketed agent activity, by span started_at.
// Buckets start at multiples of Bucket since the Unix epoch; Range is
// widened to whole buckets. Bucket 0 picks a width from a fixed ladder
// (1m, 5m, 15m, 1h, 3h, 6h, 12h, 1d, 7d, then whole weeks: AutoBucket)
// giving at most about 60 buckets over Range (over the data's span for an
// open Range), whatever its length. A Bucket that is
// negative or not a whole number of seconds is ErrInvalid, and so is a
// query that would return more than MaxLimit buckets.
type MetricsQuery struct {
	ProjectID string
	AgentName string // "" = all agents
	Range     TimeRange
	Bucket    time.Duration // bucket width; 0 → backend picks (≈ 60 buckets)
}

// MetricBucket is one bucket of agent activity: one row per (bucket,
// effective agent) with activity, sorted by start then agent_name; empty
// buckets are absent. AvgDurationMs is the mean duration of the
// invoke_agent spans that have ended.
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
//
// Query syntax: whole words in any order, all of which must occur in one
// message; "double-quoted phrases" match consecutive words. Matching is
// case-insensitive and ignores diacritics; punctuation separates words and
// has no other meaning (operators such as AND, OR, NOT, *, -, : are plain
// words or separators). A query with no words is ErrInvalid.
//
// Roles are the message's role for text and reasoning parts (user,
// assistant, system, tool, ...), "tool_call" for tool-call arguments
// (message parts and the tool_call_arguments column), "tool_result" for
// tool results (message parts and tool_call_result, and the output text of
// an invoke_agent span that answers a tool call: see SearchHit), "system"
// for system instructions. AgentName and Range apply to the hit (see
// SearchHit).
//
// Freshness: a search sees every WriteSpans that returned before it was
// called. A backend that indexes asynchronously (off the write path)
// brings its index up to date first, or also searches what it has not
// indexed yet; the same holds for ConversationQuery.Search.
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

// SearchHit is one matching message. Hits with the same (conversation,
// role, content) are returned once, as their first occurrence: the
// earliest-started span that carries that content in that role (ties by
// trace_id, then span_id) — where the message was said, not every later
// call that repeats it as history. So that one text said once is one hit:
//   - a message part's tool response that is a JSON string (the form a
//     tool's text output takes in the next model call's input) is the
//     string it encodes, the same content as the tool_call_result of the
//     execute_tool span that produced it, which started first: the tool
//     span is where a tool result is said;
//   - the output text of an invoke_agent span that answers a tool call
//     (tool_call_id set: a subagent run by a tool, as Claude Code's Agent
//     tool does) has the role tool_result: it is that call's result, said
//     by the invoke_agent span, and repeated in the next call's input.
//
// Hits are ordered newest first
// (started_at desc, then trace_id, span_id, role ascending); hits equal
// on all four (two messages first said in the same span and role) come in
// an order of the backend's that is the same on every call, so paging
// with Offset neither repeats nor skips one.
// ConversationID is the effective conversation, LastActivity that
// conversation's last activity (ConversationSummary.LastActivity: the
// latest start or end of any of its spans), so that hits can be ranked or
// grouped by how recent their conversation is.
type SearchHit struct {
	TraceID        string    `json:"trace_id"`
	SpanID         string    `json:"span_id"`
	ConversationID string    `json:"conversation_id"`
	LastActivity   time.Time `json:"last_activity"`
	AgentName      string    `json:"agent_name"`
	OperationName  string    `json:"operation_name"`
	Role           string    `json:"role"` // user|assistant|system|tool|tool_call|tool_result
	StartedAt      time.Time `json:"started_at"`
	// Snippet is a short excerpt around the match with matched terms wrapped
	// in « and » (the API turns them into markup-safe highlight ranges).
	// Cut ends are marked with "…".
	Snippet string `json:"snippet"`
}

// Reader is the query side.
type Reader interface {
	// QuerySpans returns the spans matching q and the total match count
	// (ignoring Limit and Offset).
	QuerySpans(ctx context.Context, q SpanQuery) ([]model.Span, int64, error)
	// TraceSpans returns every span of one trace, with details, ordered by
	// started_at then span_id.
	TraceSpans(ctx context.Context, projectID, traceID string) ([]model.Span, error)
	// ActiveSpans returns spans that have started (within r) and not ended,
	// newest first (started_at desc, then span_id), without details.
	ActiveSpans(ctx context.Context, projectID string, r TimeRange, limit int) ([]model.Span, error)
	// ConversationSpans returns every span of one conversation (see
	// ConversationQuery for the grouping), with details, ordered by
	// started_at then span_id, bounded by r.
	ConversationSpans(ctx context.Context, projectID, conversationID string, r TimeRange) ([]model.Span, error)
	// TraceChatSpans returns the spans TraceSpans returns, in the same
	// order, with only the fields the chat view reads (ChatSpan).
	TraceChatSpans(ctx context.Context, projectID, traceID string) ([]model.Span, error)
	// ConversationChatSpans returns the spans ConversationSpans returns,
	// in the same order, with only the fields the chat view reads
	// (ChatSpan).
	ConversationChatSpans(ctx context.Context, projectID, conversationID string, r TimeRange) ([]model.Span, error)
	QueryConversations(ctx context.Context, q ConversationQuery) (ConversationPage, error)
	// QueryTraces returns the traces matching q and the total match count
	// (ignoring Limit and Offset).
	QueryTraces(ctx context.Context, q TraceQuery) ([]TraceSummary, int64, error)
	// AggregateSpans returns the groups of q and the total number of groups
	// (ignoring Limit and Offset).
	AggregateSpans(ctx context.Context, q AggregateQuery) ([]SpanGroup, int64, error)
	QueryAgents(ctx context.Context, q AgentQuery) ([]AgentSummary, int64, error)
	AgentVersions(ctx context.Context, projectID, agentName string) ([]AgentVersionSummary, error)
	AgentMetrics(ctx context.Context, q MetricsQuery) ([]MetricBucket, error)
	SearchMessages(ctx context.Context, q SearchQuery) ([]SearchHit, error)
	// Projects lists the projects that have at least one span, sorted.
	Projects(ctx context.Context) ([]string, error)
	// Stats reports sizes for /metrics (all projects).
	Stats(ctx context.Context) (Stats, error)
}

// Stats describes the store's size, and how its writes are going where
// the backend knows.
type Stats struct {
	Spans int64 `json:"spans"`
	Bytes int64 `json:"bytes"` // on-disk size where known
	// WriteTransactions counts the write transactions committed since the
	// store was opened (a backend that merges concurrent batches commits
	// fewer than it gets WriteSpans calls); 0 where not counted.
	WriteTransactions int64 `json:"write_transactions"`
	// SearchBacklog is the number of span changes written but not yet
	// searchable, for a backend that indexes off the write path (a search
	// applies them first, so it is how long a search may wait); 0 otherwise.
	SearchBacklog int64 `json:"search_backlog"`
}

// Pruner is implemented by backends that delete old data on request (the
// embedded store; a backend with native TTLs may not implement it). The
// server type-asserts it to apply a retention setting.
type Pruner interface {
	// DeleteBefore deletes, in every project, the spans that started
	// before t, with their contribution to every derived figure (rollups,
	// search), as if they had never been written; spans that remain are
	// re-derived (a child whose parent was deleted becomes a root). Content
	// no remaining span references is freed, and the annotations on what no
	// longer exists are deleted (as Deleter.Delete). It returns the number
	// of spans deleted. It may run a while on a large store; writes and reads keep
	// working meanwhile.
	DeleteBefore(ctx context.Context, t time.Time) (int64, error)
}

// SpanScanner is implemented by backends that stream a project's spans
// (export).
type SpanScanner interface {
	// ScanSpans calls fn with every span of q.ProjectID that started in
	// q.Range, with details, ordered by (started_at, span_id, trace_id), in
	// batches of at most ScanBatch spans; an error from fn stops the scan
	// and is returned. Each batch is read on its own, so a span written or
	// deleted during the scan may or may not be seen; none is seen twice.
	// fn owns the batch.
	ScanSpans(ctx context.Context, q ScanQuery, fn func([]model.Span) error) error
}

// ScanQuery selects the spans ScanSpans streams.
type ScanQuery struct {
	ProjectID string
	Range     TimeRange
}

// ScanBatch bounds the batches of ScanSpans.
const ScanBatch = 500

// Deleter is implemented by backends that delete on request: retention per
// project, and the deletion of traces and conversations a user asks for.
type Deleter interface {
	// Delete removes the spans d selects in one project, as DeleteBefore
	// does (contributions to every derived figure and search entry gone,
	// the remaining spans of a touched trace re-derived), and the
	// annotations on what no longer exists: on a deleted span (its
	// span ref, naming its trace or no trace), on a trace left without
	// spans (its turn ref), on a conversation left without spans (its
	// conversation ref). Content (message bodies) no remaining span
	// references is freed, by the time Delete returns or, where the
	// backend says so, by a collection it starts. Deleting what does not
	// exist deletes nothing and is no error. Spans written again after a
	// delete are new data: they are stored (and counted) again.
	Delete(ctx context.Context, d Deletion) (Deleted, error)
}

// Deletion selects what Delete removes in ProjectID: exactly one of
// TraceIDs (every span of those traces), ConversationIDs (every span whose
// effective conversation is one of them) or Before (every span that
// started before it: retention). Anything else is ErrInvalid.
type Deletion struct {
	ProjectID       string
	TraceIDs        []string
	ConversationIDs []string
	Before          time.Time
}

// Check reports a Deletion Delete refuses.
func (d Deletion) Check() error {
	n := 0
	for _, set := range []bool{len(d.TraceIDs) > 0, len(d.ConversationIDs) > 0, !d.Before.IsZero()} {
		if set {
			n++
		}
	}
	switch {
	case d.ProjectID == "":
		return fmt.Errorf("%w: delete: project_id is empty", ErrInvalid)
	case n != 1:
		return fmt.Errorf("%w: delete: select exactly one of trace ids, conversation ids or a time", ErrInvalid)
	}
	return nil
}

// Deleted is what a Delete removed.
type Deleted struct {
	Spans       int64 `json:"spans"`
	Traces      int64 `json:"traces"`      // traces left without spans
	Annotations int64 `json:"annotations"` // annotations on what no longer exists
}

// Add adds o to d.
func (d *Deleted) Add(o Deleted) {
	d.Spans += o.Spans
	d.Traces += o.Traces
	d.Annotations += o.Annotations
}

// Annotation is user feedback on a span, a turn, a conversation or an
// agent. Ref is "agent_span/<span_id>", "agent_turn/<trace_id>",
// "agent_conversation/<url-encoded conversation_id>" or
// "agent/<url-encoded agent_name>".
//
// A score is an annotation of Kind "score" (KindScore): a named value of a
// DataType — "numeric" (a number, within Min and Max when they are set),
// "boolean" (true or false) or "categorical" (a category name). There is one
// current value per (ref, name, author): its ID is derived from them
// (ScoreID), so writing it again replaces it. A score counts in the
// ScoreSummaries of the conversations of its target (the conversation
// itself, a turn's trace, a span's trace) and of an agent (the agent
// itself, or a span's effective agent); a score on a span names the span's
// trace in TraceID. Other kinds (thumbs, notes, labels) are free-form.
type Annotation struct {
	ID        string    `json:"id"`
	ProjectID string    `json:"project_id"`
	Ref       string    `json:"ref"`
	Kind      string    `json:"kind"`  // e.g. "thumbs", "note", "label", "score"
	Value     any       `json:"value"` // JSON value: "up"/"down", text, a score's value, ...
	Author    string    `json:"author,omitempty"`
	Name      string    `json:"name,omitempty"`      // a score's name
	DataType  string    `json:"data_type,omitempty"` // a score's type: numeric, boolean, categorical
	Min       *float64  `json:"min,omitempty"`       // a numeric score's bounds, when set
	Max       *float64  `json:"max,omitempty"`
	TraceID   string    `json:"trace_id,omitempty"` // the trace of a span ref's span, when given
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Annotation refs and their kinds.
const (
	RefSpanPrefix         = "agent_span/"
	RefTurnPrefix         = "agent_turn/"
	RefConversationPrefix = "agent_conversation/"
	RefAgentPrefix        = "agent/"
)

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
	// UpsertAnnotation stores a; an empty ID gets a new one (a score's is
	// derived, ScoreID). With an ID, the annotation of that ID in
	// a.ProjectID is replaced (CreatedAt kept) or, if there is none,
	// created with that ID. Returns the stored annotation. IDs are scoped
	// to a project. What CheckAnnotation refuses (a Ref that is not one of
	// the four forms, an empty Kind, a Value that is not JSON-encodable, a
	// score without a name, of an unknown type, with a value of another
	// type or out of its bounds, on a span without its trace) is
	// ErrInvalid. The store sets CreatedAt and UpdatedAt.
	UpsertAnnotation(ctx context.Context, a Annotation) (Annotation, error)
	// DeleteAnnotation removes one; ErrNotFound if absent.
	DeleteAnnotation(ctx context.Context, projectID, id string) error
	// QueryAnnotations returns annotations newest first (created_at desc,
	// then id desc).
	QueryAnnotations(ctx context.Context, q AnnotationQuery) ([]Annotation, error)
}
