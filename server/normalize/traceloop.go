package normalize

import (
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// Traceloop / OpenLLMetry: gen_ai.* (read by the gen_ai mapping, including
// the flattened gen_ai.prompt.{i}.* form of older versions), the older
// llm.* usage keys, traceloop.span.kind, traceloop.entity.* and the SDK's
// association properties.
var traceloopMapping = mapping{
	name: "traceloop",
	renames: []rename{
		{"traceloop.span.kind", fOperation},
		{"llm.request.type", fOperation},
		{"llm.usage.prompt_tokens", fInputTokens},
		{"llm.usage.completion_tokens", fOutputTokens},
		{"llm.usage.cache_read_input_tokens", fCacheRead},
		{"llm.usage.cache_creation_input_tokens", fCacheCreation},
		{"llm.usage.total_tokens", fTotalTokens},
		{"traceloop.association.properties.session_id", fConversationID},
		{"traceloop.association.properties.conversation_id", fConversationID},
		{"traceloop.association.properties.thread_id", fConversationID},
	},
	extract: extractTraceloop,
}

func isTraceloopScope(name string) bool {
	return strings.HasPrefix(name, "@traceloop/") || strings.HasPrefix(name, "traceloop") ||
		strings.HasPrefix(name, "opentelemetry.instrumentation.anthropic")
}

func extractTraceloop(c *spanCtx) {
	if isTraceloopScope(c.scope.Name()) && isAnthropic(c) {
		// Traceloop passes Anthropic's input_tokens through: they exclude
		// the cached tokens.
		c.inputsDisjoint = true
	}
	kind := strings.ToLower(c.a.peekStr("traceloop.span.kind"))
	if kind == "" && !c.a.has("traceloop.entity.input") && !c.a.has("traceloop.entity.output") {
		return
	}
	in, _ := c.a.jsonish("traceloop.entity.input")
	out, _ := c.a.jsonish("traceloop.entity.output")
	entity := c.a.peekStr("traceloop.entity.name")
	switch {
	case kind == "tool" || canonicalOperation(c.op()) == model.OpExecuteTool:
		c.setStr(fToolCallArguments, textOf(traceloopArgs(in)))
		c.setStr(fToolCallResult, textOf(unwrapToolResult(out, 0)))
		if kind == "tool" {
			c.setStr(fToolName, entity)
			c.setStr(fToolName, strings.TrimSuffix(c.out.SpanName, ".tool")) // openai-agents: "<tool>.tool"
		}
	default:
		if kind == "agent" {
			c.setStr(fAgentName, entity)
			c.setStr(fAgentName, strings.TrimSuffix(c.out.SpanName, ".agent")) // openai-agents: "<agent>.agent"
		}
		c.setMessagesFrom(fInputMessages, in)
		c.setMessagesFrom(fOutputMessages, out)
	}
}

// traceloopArgs unwraps the SDK's {"args":[…],"kwargs":{…}} record of a
// call: to the one positional argument when there is exactly one and no
// keyword, to the keywords when there is no positional one (the JS SDK
// writes "args":[] beside them).
func traceloopArgs(v any) any {
	m := asMap(v)
	if m == nil {
		return v
	}
	args, hasArgs := m["args"].([]any)
	kw := asMap(m["kwargs"])
	_, hasKw := m["kwargs"]
	if hasArgs && len(args) == 1 && len(kw) == 0 && len(m) == 1+b2i(hasKw) {
		return args[0]
	}
	if len(args) == 0 && len(kw) > 0 && len(m) == 1+b2i(hasArgs) {
		return kw
	}
	return v
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// isAnthropic reports whether the span's provider is Anthropic.
func isAnthropic(c *spanCtx) bool {
	for _, k := range []string{"gen_ai.provider.name", "gen_ai.system", "llm.system", "llm.provider"} {
		if strings.EqualFold(c.a.peekStr(k), "anthropic") {
			return true
		}
	}
	return strings.EqualFold(c.out.ProviderName, "anthropic")
}

// op returns the operation known so far (attribute or span-name prefix),
// not yet canonical.
func (c *spanCtx) op() string {
	if c.out.OperationName != "" {
		return c.out.OperationName
	}
	return operationFromSpanName(c.out.SpanName)
}
