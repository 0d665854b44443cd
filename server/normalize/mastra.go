package normalize

import "github.com/weavetrace/weave/server/model"

// Mastra AI tracing (@mastra/otel-exporter): gen_ai.* on its chat and
// tool spans (read by the gen_ai mapping), and mastra.* with the inputs and
// outputs of the agent run, the model generation and each model step (the
// chat span itself carries no input messages, and no tool call on a
// tool-call step).
var mastraMapping = mapping{
	name:   "mastra",
	detect: func(c *spanCtx) bool { return c.a.hasPrefix("mastra.") },
	renames: []rename{
		{"mastra.metadata.threadId", fConversationID},
		{"mastra.agent_run.input", fInputMessages},
		{"mastra.model_generation.input", fInputMessages},
		{"mastra.model_step.input", fInputMessages},
		{"mastra.agent_run.output", fOutputMessages},
		{"mastra.model_generation.output", fOutputMessages},
		{"mastra.model_step.output", fOutputMessages},
	},
	extract: func(c *spanCtx) {
		switch c.a.str("mastra.span.type") {
		case "agent_run":
			c.setStr(fOperation, model.OpInvokeAgent)
		case "model_inference":
			c.setStr(fOperation, model.OpChat)
		case "tool_call", "mcp_tool_call":
			c.setStr(fOperation, model.OpExecuteTool)
		case "model_generation":
			c.setStr(fOperation, "model_generation")
		case "model_step":
			c.setStr(fOperation, "agent_step")
		}
	},
}
