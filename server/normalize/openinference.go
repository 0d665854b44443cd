package normalize

import (
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// OpenInference (Arize): openinference.span.kind, llm.* (flattened
// messages, token counts, model, provider/system), input.value /
// output.value (whose meaning depends on the span kind), tool.*, agent.name
// and session.id. See arize-ai.github.io/openinference/spec.
var openInferenceMapping = mapping{
	name: "openinference",
	renames: []rename{
		{"openinference.span.kind", fOperation},
		{"llm.provider", fProvider},
		{"llm.system", fProvider},
		{"agent.name", fAgentName},
		{"session.id", fConversationID},
		{"llm.request.model_name", fRequestModel},
		{"llm.response.model_name", fResponseModel},
		{"llm.token_count.prompt", fInputTokens},
		{"llm.token_count.completion", fOutputTokens},
		{"llm.token_count.prompt_details.cache_read", fCacheRead},
		{"llm.token_count.prompt_details.cache_write", fCacheCreation},
		{"llm.cost.total", fCost},
		{"llm.token_count.completion_details.reasoning", fReasoning},
		{"llm.token_count.total", fTotalTokens},
		{"llm.invocation_parameters", fModelParameters},
		{"llm.finish_reason", fFinishReasons},
		{"tool.name", fToolName},
		{"tool_call.id", fToolCallID},
		{"tool_call.function.name", fToolName},
		{"tool_call.function.arguments", fToolCallArguments},
	},
	extract: extractOpenInference,
}

func extractOpenInference(c *spanCtx) {
	kind := strings.ToUpper(c.a.peekStr("openinference.span.kind"))
	hasFlat := c.a.hasPrefix("llm.input_messages.") || c.a.hasPrefix("llm.output_messages.")
	if kind == "" && !hasFlat && !c.a.has("llm.model_name") && !c.a.has("llm.invocation_parameters") {
		return
	}
	// input.value / output.value can be large (whole requests, LangChain
	// states): they are decoded only when a column still needs them.
	in := c.lazy("input.value")
	out := c.lazy("output.value")
	params, _ := c.a.jsonish("llm.invocation_parameters")

	openInferenceFlatMessages(c, in, out)
	openInferenceLangChain(c, kind)
	if !c.isSet(fSystemInstructions) && len(systemFromMessages(c.out.InputMessages)) == 0 && kind != "TOOL" {
		// Anthropic's and the Responses API's system prompt is not a message.
		c.setSystem(systemTexts(firstPresent(asMap(in.get()), "system", "instructions")))
	}
	openInferenceByKind(c, kind, in, out)
	openInferenceModels(c, params, in, out)
}

// openInferenceFlatMessages reads the flattened messages
// (llm.input_messages.N.…). Some instrumentations leave out a message's
// content (LangChain content blocks) or its tool-call ids, which
// input.value / output.value still carry.
func openInferenceFlatMessages(c *spanCtx, in, out *lazyJSON) {
	if t := c.a.tree("llm.input_messages"); t != nil && !c.isSet(fInputMessages) {
		msgs := parseEach(openInferenceMessages(t), dirInput)
		if hasGaps(msgs) {
			msgs = fillFrom(msgs, in.get(), dirInput)
		}
		c.setMessages(fInputMessages, compactMessages(msgs))
	}
	if t := c.a.tree("llm.output_messages"); t != nil && !c.isSet(fOutputMessages) {
		msgs := parseEach(openInferenceMessages(t), dirOutput)
		if hasGaps(msgs) {
			msgs = fillFrom(msgs, out.get(), dirOutput)
		}
		c.setMessages(fOutputMessages, compactMessages(msgs))
	}
}

// openInferenceLangChain reads LangChain's run metadata (LangSmith keys):
// provider, model, and the agent of a createAgent top run.
func openInferenceLangChain(c *spanCtx, kind string) {
	meta, _ := c.a.peekJSON("metadata") // LangChain run metadata (LangSmith keys)
	c.setStr(fProvider, mapStr(meta, "ls_provider"))
	c.setStr(fRequestModel, mapStr(meta, "ls_model_name"))
	if kind == "CHAIN" && c.out.ParentSpanID == "" && mapStr(meta, "lc_agent_name") != "" {
		// The top run of a LangChain agent (createAgent) is the agent.
		c.out.OperationName = model.OpInvokeAgent
		c.setStr(fAgentName, mapStr(meta, "lc_agent_name"))
	}
}

// openInferenceByKind reads a TOOL span's call and result, and the
// messages of the other kinds from input.value / output.value.
func openInferenceByKind(c *spanCtx, kind string, in, out *lazyJSON) {
	switch kind {
	case "TOOL":
		c.setStr(fToolCallArguments, textOf(in.get()))
		c.setStr(fToolCallResult, textOf(unwrapToolResult(out.get(), 0)))
		if !c.isSet(fToolName) {
			c.setStr(fToolName, c.out.SpanName)
		}
	case "AGENT":
		// The span name is the agent's name only if no mapping knows
		// better: OpenInference's Vercel AI SDK processor keeps the SDK's
		// attributes (read by a later mapping) and renames the span
		// "<operation> <functionId>".
		c.agentNameFallback = c.out.SpanName
		fallthrough
	default:
		if !c.isSet(fInputMessages) {
			c.setMessagesFrom(fInputMessages, in.get())
		}
		if !c.isSet(fOutputMessages) {
			c.setMessagesFrom(fOutputMessages, out.get())
		}
	}
}

// openInferenceModels reads the request and response models, the
// response id and the finish reason.
func openInferenceModels(c *spanCtx, params any, in, out *lazyJSON) {
	// llm.model_name is the request model for most instrumentations, but
	// openinference-instrumentation-openai overwrites it with the response
	// model; the request survives in the invocation parameters.
	c.setStr(fRequestModel, mapStr(params, "model"))
	if !c.isSet(fRequestModel) {
		c.setStr(fRequestModel, mapStr(in.get(), "model"))
	}
	meta := out.meta()
	c.setStr(fResponseModel, meta.Model)
	if name := c.a.str("llm.model_name"); name != "" {
		c.setStr(fRequestModel, name)
		if name != c.out.RequestModel {
			c.setStr(fResponseModel, name)
		}
	}
	if meta.isResponse() {
		c.setStr(fResponseID, meta.ID)
	}
	if meta.StopReason != "" {
		c.setFinishReasons([]string{meta.StopReason})
	}
	if fr := meta.finishReason(); fr != "" {
		c.setFinishReasons([]string{fr})
	}
}

// hasGaps reports messages that lack content or tool-call ids.
func hasGaps(msgs []model.Message) bool {
	for _, m := range msgs {
		if len(m.Parts) == 0 {
			return true
		}
		for _, p := range m.Parts {
			if (p.Type == model.PartToolCall || p.Type == model.PartToolCallResponse) && p.ID == "" {
				return true
			}
		}
	}
	return false
}

// isResponseObject reports whether v is a provider's response object
// (whose id is the response id).
func isResponseObject(v any) bool {
	m := asMap(v)
	if m == nil || mapStr(m, "id") == "" {
		return false
	}
	switch mapStr(m, "object") {
	case "chat.completion", "response", "text_completion", "chat.completion.chunk":
		return true
	}
	return mapStr(m, "type") == "message" || m["choices"] != nil || m["output"] != nil
}

// textOf renders a decoded value as text: strings as they are, others as
// JSON.
func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	return marshalJSON(v)
}

// parseEach parses message objects one by one, keeping empty ones so that
// indexes still line up with another source.
func parseEach(items []any, dir direction) []model.Message {
	msgs := make([]model.Message, 0, len(items))
	for _, it := range items {
		m, _ := parseMessageObj(asMap(it), dir, 0)
		msgs = append(msgs, m)
	}
	return msgs
}

// fillFrom completes msgs from another rendering of the same messages
// (alt, e.g. input.value): an empty message takes alt's parts, and tool
// calls / results without an id take the id of alt's matching part. It
// does nothing unless both list the same number of messages with the same
// roles.
func fillFrom(msgs []model.Message, alt any, dir direction) []model.Message {
	if alt == nil {
		return msgs
	}
	other := parseAny(alt, dir, 0)
	if len(other) != len(msgs) {
		return msgs
	}
	for i := range msgs {
		if msgs[i].Role != other[i].Role {
			return msgs
		}
	}
	for i := range msgs {
		m, o := &msgs[i], other[i]
		if len(m.Parts) == 0 {
			m.Parts = o.Parts
			continue
		}
		var ids []model.Part
		for _, p := range o.Parts {
			if p.ID != "" && (p.Type == model.PartToolCall || p.Type == model.PartToolCallResponse) {
				ids = append(ids, p)
			}
		}
		k := 0
		for j := range m.Parts {
			p := &m.Parts[j]
			if p.Type != model.PartToolCall && p.Type != model.PartToolCallResponse {
				continue
			}
			for k < len(ids) && ids[k].Type != p.Type {
				k++
			}
			if k == len(ids) {
				break
			}
			if p.ID == "" && (p.Name == "" || ids[k].Name == "" || p.Name == ids[k].Name) {
				p.ID = ids[k].ID
			}
			k++
		}
		if m.FinishReason == "" {
			m.FinishReason = o.FinishReason
		}
	}
	return msgs
}
