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
// tool_arguments / tool_response before version 3.
var logfireMapping = mapping{
	name: "logfire",
	renames: []rename{
		{"agent_name", fAgentName},
		{"model_name", fRequestModel},
		{"pydantic_ai.all_messages", fInputMessages},
		{"all_messages_events", fInputMessages},
		{"final_result", fOutputMessages},
		{"tool_arguments", fToolCallArguments},
		{"tool_response", fToolCallResult},
	},
	extract: extractLogfire,
}

func extractLogfire(c *spanCtx) {
	c.a.use("logfire.json_schema") // display hints for Logfire's UI
	switch c.out.SpanName {
	case "agent run":
		c.setStr(fOperation, model.OpInvokeAgent)
	case "running tool":
		c.setStr(fOperation, model.OpExecuteTool)
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
		c.setMessagesFrom(fOutputMessages, []any{m})
	} else {
		c.setMessagesFrom(fOutputMessages, resp)
	}
	if isResponseObject(resp) {
		c.setStr(fResponseID, mapStr(resp, "id"))
		c.setStr(fResponseModel, mapStr(resp, "model"))
	}
	u := mapGet(resp, "usage")
	c.setAnyInt(fInputTokens, firstPresent(asMap(u), "input_tokens", "prompt_tokens"))
	c.setAnyInt(fOutputTokens, firstPresent(asMap(u), "output_tokens", "completion_tokens"))
}
