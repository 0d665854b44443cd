package normalize

import "github.com/weavetrace/weave/server/model"

// Logfire and pydantic-ai's own instrumentation. pydantic-ai follows the
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
	extract: func(c *spanCtx) {
		c.a.use("logfire.json_schema") // display hints for Logfire's UI
		switch c.out.SpanName {
		case "agent run":
			c.setStr(fOperation, model.OpInvokeAgent)
		case "running tool":
			c.setStr(fOperation, model.OpExecuteTool)
		}
	},
}
