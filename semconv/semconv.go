// Package semconv names what weave's spans carry: every attribute key,
// span event and operation name weave-agentd writes and weave-server reads,
// the resource keys that route a batch to a project, and the
// instrumentation scope that marks weave-agentd's spans. GenAI keys follow
// the one pinned OTel semantic-conventions version (Version); weave's own
// extensions are weave.*.
//
// It is a leaf (standard library only), so weave-server reads the names
// without linking the span builder or the OTel SDK exporter.
package semconv

// Version is the OTel semantic-conventions version weave emits.
const Version = "1.41.0"

// ScopeName is the instrumentation scope of every span weave-agentd
// exports; weave-server recognizes weave-agentd's spans by it. The value
// names the package that built them when it was chosen and must not change.
const ScopeName = "github.com/weavetrace/weave/spans"

// GenAI keys (semconv v1.41.0; semconv_test.go checks each against
// go.opentelemetry.io/otel/semconv/v1.41.0).
const (
	KeyOperationName      = "gen_ai.operation.name"
	KeyProviderName       = "gen_ai.provider.name"
	KeyAgentName          = "gen_ai.agent.name"
	KeyAgentID            = "gen_ai.agent.id"
	KeyAgentVersion       = "gen_ai.agent.version"
	KeyAgentDescription   = "gen_ai.agent.description"
	KeyConversationID     = "gen_ai.conversation.id"
	KeyRequestModel       = "gen_ai.request.model"
	KeyResponseModel      = "gen_ai.response.model"
	KeyResponseID         = "gen_ai.response.id"
	KeyFinishReasons      = "gen_ai.response.finish_reasons"
	KeyOutputType         = "gen_ai.output.type"
	KeyInputTokens        = "gen_ai.usage.input_tokens"
	KeyOutputTokens       = "gen_ai.usage.output_tokens"
	KeyCacheReadTokens    = "gen_ai.usage.cache_read.input_tokens"
	KeyCacheCreateTokens  = "gen_ai.usage.cache_creation.input_tokens"
	KeyReasoningTokens    = "gen_ai.usage.reasoning.output_tokens"
	KeyInputMessages      = "gen_ai.input.messages"
	KeyOutputMessages     = "gen_ai.output.messages"
	KeySystemInstructions = "gen_ai.system_instructions"
	KeyToolName           = "gen_ai.tool.name"
	KeyToolType           = "gen_ai.tool.type"
	KeyToolCallID         = "gen_ai.tool.call.id"
	KeyToolCallArguments  = "gen_ai.tool.call.arguments"
	KeyToolCallResult     = "gen_ai.tool.call.result"
	KeyErrorType          = "error.type"

	// KeyCacheWriteTokens is the post-1.41 name of cache_creation
	// (semantic-conventions-genai #440). Sent next to the pinned name so a
	// backend on either revision reads it.
	KeyCacheWriteTokens = "gen_ai.usage.cache_write.input_tokens"
)

// Operation names.
const (
	OpInvokeAgent = "invoke_agent"
	OpChat        = "chat"
	OpExecuteTool = "execute_tool"
)

// weave.* extension keys.
const (
	KeySessionID          = "weave.claude_code.session.id"
	KeyParentSessionID    = "weave.claude_code.parent_session.id"
	KeyCwd                = "weave.claude_code.cwd"
	KeySource             = "weave.claude_code.source" // SessionStart's source live; SourceImport for an import
	KeyPromptID           = "weave.claude_code.prompt.id"
	KeyTurnNumber         = "weave.claude_code.turn.number"
	KeyTurnOrigin         = "weave.claude_code.turn.origin"
	KeyTurnToolCount      = "weave.claude_code.turn.tool_count"
	KeyTurnLLMCallCount   = "weave.claude_code.turn.llm_call_count"
	KeyDisplayName        = "weave.claude_code.display_name"
	KeySpawningToolCallID = "weave.claude_code.subagent.spawning_tool_call_id"
	KeySubagentMatch      = "weave.claude_code.subagent.match" // meta | prompt_hash | orphan | ambiguous
	KeyOrphanReason       = "weave.claude_code.orphan_reason"
	KeyPermissionMode     = "weave.claude_code.permission_mode"
	KeyClaudeCodeVersion  = "weave.claude_code.version"
	KeyGitBranch          = "weave.claude_code.git_branch"
	KeyEntrypoint         = "weave.claude_code.entrypoint"
	KeyRequestID          = "weave.claude_code.request_id"
	KeyStopReason         = "weave.claude_code.stop_reason"
	KeyTurnFailed         = "weave.claude_code.turn.failed"
	KeyIntegrationName    = "weave.integration.name"
	KeyIntegrationVersion = "weave.integration.version"
	KeyContentOmitted     = "weave.content.omitted"

	// A chat span's input history (docs/API.md, "What the model saw"):
	// with a previous call, gen_ai.input.messages holds only the messages
	// added since that call's request; the full input is the previous
	// span's full input, its gen_ai.output.messages, then these.
	KeyInputPreviousTraceID = "weave.input.previous_trace_id"
	KeyInputPreviousSpanID  = "weave.input.previous_span_id"
	// KeyInputNewFrom is the index, in the full input, of the first
	// message the call's request added (what came before is history).
	KeyInputNewFrom = "weave.input.new_messages_from"
	KeyRedactions   = "weave.redactions"

	// The cache writes split by cache lifetime (Anthropic's usage
	// cache_creation.ephemeral_5m/1h_input_tokens: a 1-hour write costs
	// more), and the server-side web searches of a call, which are billed
	// per search.
	KeyCacheCreate5mTokens = "weave.usage.cache_creation.ephemeral_5m.input_tokens"
	KeyCacheCreate1hTokens = "weave.usage.cache_creation.ephemeral_1h.input_tokens"
	KeyWebSearchRequests   = "weave.usage.web_search.requests"

	KeyCompactionSummary     = "weave.compaction.summary"
	KeyCompactionItemsBefore = "weave.compaction.items_before"
	KeyCompactionItemsAfter  = "weave.compaction.items_after"
	KeyCompactionTrigger     = "weave.compaction.trigger"
	KeyCompactionPreTokens   = "weave.compaction.pre_tokens"

	// Span events and their attributes.
	EventPermissionRequest  = "weave.permission_request"
	EventPermissionResolved = "weave.permission_resolved"
	EventPermissionDenied   = "weave.permission_denied"
	EventCompaction         = "weave.compaction"
	EventNotification       = "weave.notification"
	KeyPermissionSuggest    = "weave.permission.suggestions"
	KeyPermissionApproved   = "weave.permission.approved"
	KeyPermissionReason     = "weave.permission.reason"
	KeyNotificationType     = "weave.notification.type"
	KeyNotificationMessage  = "weave.notification.message"
)

// SourceImport is weave.claude_code.source on turns built by an import
// (weave-agentd import): no SessionStart hook told how the session began,
// so the value says where the turn came from instead. Live turns carry
// SessionStart's source (startup, resume, clear, compact, fork).
const SourceImport = "import"

// Resource attribute keys read by weave-server for project routing.
const (
	ResourceWandbEntity  = "wandb.entity"
	ResourceWandbProject = "wandb.project"
)
