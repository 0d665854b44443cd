package normalize

import (
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// The OpenAI Agents SDK has no OTel exporter of its own; its traces reach
// OTLP through bridges. OpenInference's and Traceloop's bridges emit their
// own conventions (read by those mappings; an OpenInference AGENT span is
// named after the agent). Logfire's bridge names spans "Agent run:
// '<name>'", "Function: <tool>", "Handoff: A → B", "Responses API with
// <model>" / "Chat completion with <model>" and keeps the data in input /
// output / response attributes; this mapping reads those names.
var openAIAgentsMapping = mapping{
	name:    "openai_agents",
	extract: extractOpenAIAgents,
}

func extractOpenAIAgents(c *spanCtx) {
	name := c.out.SpanName
	switch {
	case strings.HasPrefix(name, "Agent run: "):
		c.setStr(fOperation, model.OpInvokeAgent)
		c.setStr(fAgentName, strings.Trim(strings.TrimPrefix(name, "Agent run: "), `'" `))
	case strings.HasPrefix(name, "Function: "):
		c.setStr(fOperation, model.OpExecuteTool)
		c.setStr(fToolName, strings.TrimSpace(strings.TrimPrefix(name, "Function: ")))
		if in, ok := c.a.jsonish("input"); ok {
			c.setStr(fToolCallArguments, textOf(in))
		}
		if out, ok := c.a.jsonish("output"); ok {
			c.setStr(fToolCallResult, textOf(unwrapToolResult(out, 0)))
		}
	case strings.HasPrefix(name, "Responses API with ") || strings.HasPrefix(name, "Chat completion with "):
		c.setStr(fOperation, model.OpChat)
		if r, ok := c.a.jsonish("response"); ok {
			c.setMessagesFrom(fOutputMessages, r)
			if isResponseObject(r) {
				c.setStr(fResponseID, mapStr(r, "id"))
				c.setStr(fResponseModel, mapStr(r, "model"))
			}
			u := mapGet(r, "usage")
			c.setAnyInt(fInputTokens, mapGet(u, "input_tokens"))
			c.setAnyInt(fOutputTokens, mapGet(u, "output_tokens"))
			c.setAnyInt(fCacheRead, mapGet(u, "input_tokens_details", "cached_tokens"))
			c.setAnyInt(fReasoning, mapGet(u, "output_tokens_details", "reasoning_tokens"))
		}
	}
}
