package normalize

import (
	"github.com/weavetrace/weave/semconv"
)

// Weave's own conventions: every column's weave.* key, which Weave's
// semantic conventions make the canonical name of the gen_ai.* attribute
// (and error.type) it aliases, so it comes first in every fallback chain;
// weave.span.kind (the W&B mapping's span kind, like
// openinference.span.kind) after weave.operation.name; weave.request.*
// as the model parameters; and weave-agentd's compaction keys. Its other
// weave.* keys (weave.claude_code.*, weave.integration.*, …) are kept whole
// in the custom maps, exempt from the caps.
var weaveMapping = mapping{
	name: "weave",
	renames: []rename{
		{"weave.operation.name", fOperation},
		{"weave.span.kind", fOperation},
		{"weave.provider.name", fProvider},
		{"weave.system", fProvider},
		{"weave.agent.name", fAgentName},
		{"weave.agent.id", fAgentID},
		{"weave.agent.version", fAgentVersion},
		{"weave.conversation.id", fConversationID},
		{"weave.request.model", fRequestModel},
		{"weave.response.model", fResponseModel},
		{"weave.response.id", fResponseID},
		{"weave.usage.input_tokens", fInputTokens},
		{"weave.usage.output_tokens", fOutputTokens},
		{"weave.usage.cache_read.input_tokens", fCacheRead},
		{"weave.usage.cache_creation.input_tokens", fCacheCreation},
		{"weave.usage.reasoning_tokens", fReasoning},
		{semconv.KeyCacheCreate5mTokens, fCacheCreation5m},
		{semconv.KeyCacheCreate1hTokens, fCacheCreation1h},
		{"weave.usage.cost_usd", fCost},
		{"weave.response.finish_reasons", fFinishReasons},
		{"weave.input.messages", fInputMessages},
		{"weave.prompt", fInputMessages},
		{"weave.output.messages", fOutputMessages},
		{"weave.completion", fOutputMessages},
		{"weave.system_instructions", fSystemInstructions},
		{"weave.tool.name", fToolName},
		{"weave.tool.type", fToolType},
		{"weave.tool.call.id", fToolCallID},
		{"weave.tool.call.arguments", fToolCallArguments},
		{"weave.tool.call.result", fToolCallResult},
		{"weave.error.type", fErrorType},
		{semconv.KeyCompactionSummary, fCompactionSummary},
		{semconv.KeyCompactionItemsBefore, fCompactionBefore},
		{semconv.KeyCompactionItemsAfter, fCompactionAfter},
	},
	extract: func(c *spanCtx) {
		if c.scope.Name() == weaveScope {
			c.inputsInclusive = true // input = input + cache_read + cache_creation
		}
		c.setParams(c.a.prefixed("weave.request", "model"))
	},
}

// weaveScope is the instrumentation scope of weave-agentd's spans.
const weaveScope = semconv.ScopeName

// W&B keys (seed 004's mapping table): wandb.thread_id groups traces into a
// thread, wandb.is_turn marks the span that is one row of it;
// wandb.display_name names the span for display; wb_run_id / wb_run_step
// (also under wandb.) tie it to a W&B run.
var wandbMapping = mapping{
	name: "wandb",
	renames: []rename{
		{"wandb.thread_id", fThreadID},
		{"wandb.is_turn", fIsTurn},
		{"wandb.display_name", fDisplayName},
		{"wb_run_id", fWBRunID},
		{"wandb.wb_run_id", fWBRunID},
		{"wb_run_step", fWBRunStep},
		{"wandb.wb_run_step", fWBRunStep},
	},
}
