package normalize

import (
	"strings"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
)

// OpenTelemetry GenAI semantic conventions: the current names (pinned in
// package spans), then the names before v1.37 and the later renames
// (cache_creation → cache_write), then the flattened gen_ai.prompt.{i}.* /
// gen_ai.completion.{i}.* form and the event forms: gen_ai.*.message /
// gen_ai.choice (≤ 1.36), gen_ai.content.prompt / gen_ai.content.completion
// (OpenLLMetry, OpenLIT), gen_ai.client.inference.operation.details
// (≥ 1.37), gen_ai.tool.input / gen_ai.tool.output.
var genAIMapping = mapping{
	name: "gen_ai",
	renames: []rename{
		{semconv.KeyOperationName, fOperation},
		{semconv.KeyProviderName, fProvider},
		{"gen_ai.system", fProvider}, // deprecated in 1.37
		{semconv.KeyAgentName, fAgentName},
		{semconv.KeyAgentID, fAgentID},
		{semconv.KeyAgentVersion, fAgentVersion},
		{semconv.KeyConversationID, fConversationID},
		{semconv.KeyRequestModel, fRequestModel},
		{semconv.KeyResponseModel, fResponseModel},
		{semconv.KeyResponseID, fResponseID},
		{semconv.KeyInputTokens, fInputTokens},
		{"gen_ai.usage.prompt_tokens", fInputTokens},
		{semconv.KeyOutputTokens, fOutputTokens},
		{"gen_ai.usage.completion_tokens", fOutputTokens},
		{semconv.KeyCacheReadTokens, fCacheRead},
		{"gen_ai.usage.cache_read_input_tokens", fCacheRead},
		{semconv.KeyCacheCreateTokens, fCacheCreation},
		{semconv.KeyCacheWriteTokens, fCacheCreation},
		{"gen_ai.usage.cache_creation_input_tokens", fCacheCreation},
		{semconv.KeyReasoningTokens, fReasoning},
		{"gen_ai.usage.total_tokens", fTotalTokens},
		{"gen_ai.usage.reasoning_tokens", fReasoning},
		{"gen_ai.usage.output_tokens_details.reasoning_tokens", fReasoning},
		// The call's cost as OpenLIT and OpenLLMetry report it (USD; OpenLIT
		// writes 0 when it has no price: see finishCost).
		{"gen_ai.usage.cost", fCost},
		{semconv.KeyFinishReasons, fFinishReasons},
		{semconv.KeyInputMessages, fInputMessages},
		{"gen_ai.prompt", fInputMessages}, // ≤ 1.36 JSON form
		{semconv.KeyOutputMessages, fOutputMessages},
		{"gen_ai.completion", fOutputMessages},
		// OpenLIT's (and OpenLLMetry's) content attributes, whoever sends
		// them: the W&B mapping reads them as the span's input and output.
		{"gen_ai.content.prompt", fInputMessages},
		{"gen_ai.content.completion", fOutputMessages},
		{semconv.KeySystemInstructions, fSystemInstructions},
		{semconv.KeyToolName, fToolName},
		{semconv.KeyToolType, fToolType},
		{semconv.KeyToolCallID, fToolCallID},
		{semconv.KeyToolCallArguments, fToolCallArguments},
		{semconv.KeyToolCallResult, fToolCallResult},
		{semconv.KeyErrorType, fErrorType},
	},
	extract: extractGenAI,
}

func extractGenAI(c *spanCtx) {
	c.setParams(requestParams(c, "gen_ai.request"))
	if t := c.a.tree("gen_ai.prompt"); t != nil {
		c.setMessagesFrom(fInputMessages, flatMessages(t))
	}
	if t := c.a.tree("gen_ai.completion"); t != nil {
		c.setMessagesFrom(fOutputMessages, flatMessages(t))
	}
	genAIEvents(c)
}

// Event names of the GenAI conventions.
const (
	evSystemMessage    = "gen_ai.system.message"
	evUserMessage      = "gen_ai.user.message"
	evAssistantMessage = "gen_ai.assistant.message"
	evToolMessage      = "gen_ai.tool.message"
	evChoice           = "gen_ai.choice"
	evOperationDetails = "gen_ai.client.inference.operation.details"
	evContentPrompt    = "gen_ai.content.prompt"
	evContentComplete  = "gen_ai.content.completion"
	evToolInput        = "gen_ai.tool.input"
	evToolOutput       = "gen_ai.tool.output"
)

// EventBodyKey is the attribute under which an event built from an OTLP
// log record keeps the record's body.
const EventBodyKey = "body"

// genAIEvents reads messages and tool data from the span's events (and
// the log records attached to it), in time order.
func genAIEvents(c *spanCtx) {
	var in, out []model.Message
	var system []string
	var detailsIn, detailsOut []model.Message
	for _, e := range c.events {
		if appendEventMessage(e, &in, &out) {
			continue
		}
		switch e.Name {
		case evOperationDetails:
			if v, ok := e.Attributes[semconv.KeyInputMessages]; ok {
				detailsIn = append(detailsIn, parseMessages(v, dirInput)...)
			}
			if v, ok := e.Attributes[semconv.KeyOutputMessages]; ok {
				detailsOut = append(detailsOut, parseMessages(v, dirOutput)...)
			}
			if v, ok := e.Attributes[semconv.KeySystemInstructions]; ok && len(system) == 0 {
				system = systemTexts(v)
			}
		case evContentPrompt:
			c.setMessagesFrom(fInputMessages, e.Attributes["gen_ai.prompt"])
		case evContentComplete:
			c.setMessagesFrom(fOutputMessages, e.Attributes["gen_ai.completion"])
		case evToolInput:
			c.setStr(fToolCallArguments, eventText(e))
		case evToolOutput:
			c.setStr(fToolCallResult, eventText(e))
		}
	}
	c.setMessages(fInputMessages, detailsIn)
	c.setMessages(fOutputMessages, detailsOut)
	c.setMessages(fInputMessages, compactMessages(in))
	c.setMessages(fOutputMessages, compactMessages(out))
	c.setSystem(system)
}

// appendEventMessage appends the message of a GenAI message event: to in
// for gen_ai.{system,user,assistant,tool}.message, to out for
// gen_ai.choice. It reports whether e is one of those events.
func appendEventMessage(e model.Event, in, out *[]model.Message) bool {
	switch e.Name {
	case evSystemMessage, evUserMessage, evAssistantMessage, evToolMessage:
		if m, ok := eventMessage(e); ok {
			*in = append(*in, m)
		}
	case evChoice:
		if m, ok := choiceMessage(e); ok {
			*out = append(*out, m)
		}
	default:
		return false
	}
	return true
}

// eventFields returns the event's payload: the log body when it is an
// object, else the attributes (span-event form).
func eventFields(e model.Event) map[string]any {
	if b, ok := e.Attributes[EventBodyKey].(map[string]any); ok && len(b) > 0 {
		return b
	}
	if s, ok := e.Attributes["gen_ai.event.content"].(string); ok {
		if d, ok := decodeMaybeJSON(s); ok {
			if m, ok := d.(map[string]any); ok {
				return m
			}
		}
	}
	return e.Attributes
}

// eventMessage reads a gen_ai.{system,user,assistant,tool}.message event.
func eventMessage(e model.Event) (model.Message, bool) {
	f := eventFields(e)
	role := strings.TrimSuffix(strings.TrimPrefix(e.Name, "gen_ai."), ".message")
	m := map[string]any{"role": role}
	if r := mapStr(f, "role"); r != "" {
		m["role"] = r
	}
	m["content"] = contentValue(f["content"])
	if calls, ok := f["tool_calls"]; ok {
		m["tool_calls"] = decodeIfString(calls)
	}
	if id := firstStr(f, "id", "tool_call_id"); id != "" && role == "tool" {
		m["tool_call_id"] = id
	}
	if body, ok := e.Attributes[EventBodyKey].(string); ok && m["content"] == nil {
		m["content"] = body
	}
	return parseMessageObj(m, dirInput, 0)
}

// choiceMessage reads a gen_ai.choice event: {index, finish_reason,
// message{role?, content, tool_calls}}.
func choiceMessage(e model.Event) (model.Message, bool) {
	f := eventFields(e)
	inner := asMap(decodeIfString(f["message"]))
	m := map[string]any{"role": "assistant"}
	if inner != nil {
		if r := mapStr(inner, "role"); r != "" {
			m["role"] = r
		}
		m["content"] = contentValue(inner["content"])
		if calls, ok := inner["tool_calls"]; ok {
			m["tool_calls"] = decodeIfString(calls)
		}
	} else if l, ok := decodeIfString(f["message"]).([]any); ok {
		m["content"] = l // Bedrock / Strands content blocks
	}
	if fr := mapStr(f, "finish_reason"); fr != "" {
		m["finish_reason"] = fr
	}
	msg, ok := parseMessageObj(m, dirOutput, 0)
	return msg, ok && len(msg.Parts) > 0
}

// contentValue decodes content sent as a JSON string of content blocks.
func contentValue(v any) any {
	if s, ok := v.(string); ok {
		if d, ok := decodeMaybeJSON(s); ok {
			if l, isList := d.([]any); isList {
				return l
			}
		}
	}
	return v
}

func decodeIfString(v any) any {
	if s, ok := v.(string); ok {
		if d, ok := decodeMaybeJSON(s); ok {
			return d
		}
	}
	return v
}

// eventText returns an event's payload as text.
func eventText(e model.Event) string {
	for _, k := range []string{EventBodyKey, "gen_ai.tool.input", "gen_ai.tool.output", "input", "output", "content"} {
		switch v := e.Attributes[k].(type) {
		case string:
			if v != "" {
				return v
			}
		case nil:
		default:
			return marshalJSON(v)
		}
	}
	return ""
}
