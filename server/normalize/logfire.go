package normalize

import "github.com/weavetrace/weave/server/model"

// Logfire and pydantic-ai's own instrumentation. Logfire's own LLM
// client instrumentation (instrument_openai / instrument_anthropic) keeps
// the request and response bodies in request_data / response_data. pydantic-ai follows the
// GenAI conventions (read by the gen_ai mapping) with some keys of its
// own: the agent run span ("agent run", or "invoke_agent <name>" with
// instrumentation version 3) carries the whole conversation in
// pydantic_ai.all_messages (all_messages_events in version 1) and the
// answer in final_result; tool spans ("running tool") carry
// tool_arguments / tool_response before version 3. Usage extras come as
// gen_ai.usage.details.<key>. Version 1 keeps a model request's messages
// in an "events" attribute: a JSON list of GenAI event bodies, each with
// its event.name (Logfire's Responses API spans use the same form).
var logfireMapping = mapping{
	name: "logfire",
	renames: []rename{
		{"agent_name", fAgentName},
		{"model_name", fRequestModel},
		{"pydantic_ai.all_messages", fInputMessages},
		{"final_result", fOutputMessages},
		{"tool_arguments", fToolCallArguments},
		{"tool_response", fToolCallResult},
		{"gen_ai.usage.details.cache_read_tokens", fCacheRead},
		{"gen_ai.usage.details.cache_write_tokens", fCacheCreation},
		{"gen_ai.usage.details.reasoning_tokens", fReasoning},
	},
	extract: extractLogfire,
}

func extractLogfire(c *spanCtx) {
	c.a.use("logfire.json_schema") // display hints for Logfire's UI
	switch c.out.SpanName {
	case "agent run":
		c.setStr(fOperation, model.OpInvokeAgent)
	case "running tool", "running output function":
		c.setStr(fOperation, model.OpExecuteTool)
	}
	if in, out, ok := eventListMessages(c, "all_messages_events"); ok {
		// The whole run, the final answer included (as in
		// pydantic_ai.all_messages).
		c.setMessages(fInputMessages, compactMessages(append(in, out...)))
	}
	if in, out, ok := eventListMessages(c, "events"); ok {
		if len(out) == 0 {
			// No gen_ai.choice: Logfire's Responses API span appends the
			// response's output items as assistant messages.
			i := len(in)
			for i > 0 && in[i-1].Role == "assistant" {
				i--
			}
			in, out = in[:i], in[i:]
		}
		c.setMessages(fInputMessages, compactMessages(in))
		c.setMessages(fOutputMessages, compactMessages(out))
	}
	if !c.a.has("request_data") && !c.a.has("response_data") {
		return
	}
	req, _ := c.a.jsonish("request_data")
	resp, _ := c.a.jsonish("response_data")
	switch {
	case mapGet(req, "messages") != nil:
		c.setStr(fOperation, model.OpChat)
	case mapGet(req, "input") != nil && mapGet(req, "model") != nil:
		c.setStr(fOperation, model.OpChat) // Responses API
	case mapGet(req, "prompt") != nil:
		c.setStr(fOperation, model.OpTextCompletion)
	}
	c.setMessagesFrom(fInputMessages, req)
	c.setSystem(systemTexts(firstPresent(asMap(req), "system", "instructions")))
	c.setStr(fRequestModel, mapStr(req, "model"))
	if m := asMap(mapGet(resp, "message")); m != nil {
		// {"message": {...}, "usage": {...}}: Logfire's digest of a response.
		if c.scope.Name() == "logfire.anthropic" || c.a.peekStr("gen_ai.system") == "anthropic" {
			unwrapAnthropicDigestArgs(m)
		}
		c.setMessagesFrom(fOutputMessages, []any{m})
	} else {
		c.setMessagesFrom(fOutputMessages, resp)
	}
	if isResponseObject(resp) {
		c.setStr(fResponseID, mapStr(resp, "id"))
		c.setStr(fResponseModel, mapStr(resp, "model"))
	}
	u := asMap(mapGet(resp, "usage"))
	c.setAnyInt(fInputTokens, firstPresent(u, "input_tokens", "prompt_tokens"))
	c.setAnyInt(fOutputTokens, firstPresent(u, "output_tokens", "completion_tokens"))
	if u["cache_read_input_tokens"] != nil || u["cache_creation_input_tokens"] != nil {
		// Anthropic's usage: input_tokens leaves the cached tokens out.
		c.setAnyInt(fCacheRead, u["cache_read_input_tokens"])
		c.setAnyInt(fCacheCreation, u["cache_creation_input_tokens"])
		c.inputsDisjoint = true
	}
	c.setAnyInt(fCacheRead, firstPresent(asMap(firstPresent(u, "prompt_tokens_details", "input_tokens_details")), "cached_tokens"))
	c.setAnyInt(fReasoning, firstPresent(asMap(firstPresent(u, "completion_tokens_details", "output_tokens_details")), "reasoning_tokens"))
}

// unwrapAnthropicDigestArgs undoes a quirk of Logfire's Anthropic digest:
// a tool call's arguments are block.model_dump_json(include={'input'}),
// i.e. {"input": {…}} around the actual arguments.
func unwrapAnthropicDigestArgs(msg map[string]any) {
	calls, _ := msg["tool_calls"].([]any)
	for _, call := range calls {
		fn := asMap(mapGet(call, "function"))
		s, ok := fn["arguments"].(string)
		if !ok {
			continue
		}
		if d, ok := decodeMaybeJSON(s); ok {
			if m := asMap(d); len(m) == 1 && m["input"] != nil {
				fn["arguments"] = m["input"]
			}
		}
	}
}

// eventListMessages reads an attribute holding a JSON list of event dicts
// ({"event.name": "gen_ai.user.message", "role": …, "content": …}, the
// event body merged with its attributes): the messages of the
// gen_ai.{system,user,assistant,tool}.message events, then the
// gen_ai.choice ones. ok is false, and the key left alone, when the value
// is not such a list.
func eventListMessages(c *spanCtx, key string) (in, out []model.Message, ok bool) {
	v, _ := c.a.peekJSON(key)
	list, _ := v.([]any)
	if len(list) == 0 {
		return nil, nil, false
	}
	evs := make([]model.Event, 0, len(list))
	for _, e := range list {
		m := asMap(e)
		name := mapStr(m, "event.name")
		if name == "" {
			return nil, nil, false
		}
		evs = append(evs, model.Event{Name: name, Attributes: m})
	}
	c.a.use(key)
	for _, e := range evs {
		appendEventMessage(e, &in, &out)
	}
	return in, out, true
}
