package spans

import (
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
)

// The one pinned OTel semantic-conventions version weave emits. Every
// attribute key weave writes is declared in this file: gen_ai.* keys come
// from the pinned semconv package, weave's own extensions are weave.*.
const (
	SemconvVersion   = "1.41.0"
	SemconvSchemaURL = semconv.SchemaURL
)

// GenAI keys (semconv v1.41.0).
const (
	KeyOperationName      = string(semconv.GenAIOperationNameKey)
	KeyProviderName       = string(semconv.GenAIProviderNameKey)
	KeyAgentName          = string(semconv.GenAIAgentNameKey)
	KeyAgentID            = string(semconv.GenAIAgentIDKey)
	KeyAgentVersion       = string(semconv.GenAIAgentVersionKey)
	KeyAgentDescription   = string(semconv.GenAIAgentDescriptionKey)
	KeyConversationID     = string(semconv.GenAIConversationIDKey)
	KeyRequestModel       = string(semconv.GenAIRequestModelKey)
	KeyResponseModel      = string(semconv.GenAIResponseModelKey)
	KeyResponseID         = string(semconv.GenAIResponseIDKey)
	KeyFinishReasons      = string(semconv.GenAIResponseFinishReasonsKey)
	KeyOutputType         = string(semconv.GenAIOutputTypeKey)
	KeyInputTokens        = string(semconv.GenAIUsageInputTokensKey)
	KeyOutputTokens       = string(semconv.GenAIUsageOutputTokensKey)
	KeyCacheReadTokens    = string(semconv.GenAIUsageCacheReadInputTokensKey)
	KeyCacheCreateTokens  = string(semconv.GenAIUsageCacheCreationInputTokensKey)
	KeyReasoningTokens    = string(semconv.GenAIUsageReasoningOutputTokensKey)
	KeyInputMessages      = string(semconv.GenAIInputMessagesKey)
	KeyOutputMessages     = string(semconv.GenAIOutputMessagesKey)
	KeySystemInstructions = string(semconv.GenAISystemInstructionsKey)
	KeyToolName           = string(semconv.GenAIToolNameKey)
	KeyToolType           = string(semconv.GenAIToolTypeKey)
	KeyToolCallID         = string(semconv.GenAIToolCallIDKey)
	KeyToolCallArguments  = string(semconv.GenAIToolCallArgumentsKey)
	KeyToolCallResult     = string(semconv.GenAIToolCallResultKey)
	KeyErrorType          = string(semconv.ErrorTypeKey)

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
