package normalize

import (
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// MLflow tracing. MLflow stores every span attribute it sets as JSON text
// (a string model name arrives as "\"gpt-4o\""), so values are decoded
// first. mlflow.spanType names the operation, mlflow.spanInputs /
// mlflow.spanOutputs hold the inputs and outputs (messages on LLM and
// CHAT_MODEL spans, arguments and result on TOOL spans) and
// mlflow.chat.tokenUsage the usage. Autologged client calls keep the
// model in their inputs (the call's kwargs) when mlflow.llm.model is
// absent.
var mlflowMapping = mapping{
	name:    "mlflow",
	detect:  func(c *spanCtx) bool { return c.a.hasPrefix("mlflow.") },
	extract: extractMLflow,
}

func extractMLflow(c *spanCtx) {
	str := func(key string) string {
		v, ok := c.a.jsonish(key)
		if !ok {
			return ""
		}
		return strings.TrimSpace(anyString(v))
	}
	spanType := strings.ToUpper(str("mlflow.spanType"))
	switch spanType {
	case "LLM", "CHAT_MODEL":
		c.setStr(fOperation, model.OpChat)
	case "TOOL":
		c.setStr(fOperation, model.OpExecuteTool)
	case "AGENT":
		c.setStr(fOperation, model.OpInvokeAgent)
	case "RETRIEVER":
		c.setStr(fOperation, model.OpRetrieval)
	case "EMBEDDING":
		c.setStr(fOperation, model.OpEmbeddings)
	case "", "UNKNOWN":
	default:
		c.setStr(fOperation, strings.ToLower(spanType))
	}
	in, _ := c.a.jsonish("mlflow.spanInputs")
	out, _ := c.a.jsonish("mlflow.spanOutputs")
	c.setStr(fRequestModel, str("mlflow.llm.model"))
	if spanType == "LLM" || spanType == "CHAT_MODEL" {
		// Autologged client calls (mlflow.openai / mlflow.anthropic) keep
		// the model only in the call's kwargs, their inputs.
		c.setStr(fRequestModel, mapStr(in, "model"))
	}
	c.setStr(fProvider, str("mlflow.llm.provider"))

	if u, ok := c.a.jsonish("mlflow.chat.tokenUsage"); ok {
		c.setAnyInt(fInputTokens, mapGet(u, "input_tokens"))
		c.setAnyInt(fOutputTokens, mapGet(u, "output_tokens"))
		c.setAnyInt(fCacheRead, mapGet(u, "cache_read_input_tokens"))
		c.setAnyInt(fCacheCreation, mapGet(u, "cache_creation_input_tokens"))
	}
	switch spanType {
	case "TOOL":
		c.setStr(fToolName, c.out.SpanName)
		c.setStr(fToolCallArguments, textOf(in))
		c.setStr(fToolCallResult, textOf(unwrapToolResult(out, 0)))
	default:
		if spanType == "AGENT" {
			c.setStr(fAgentName, c.out.SpanName)
		}
		c.setMessagesFrom(fInputMessages, in)
		c.setMessagesFrom(fOutputMessages, out)
		c.setSystem(systemTexts(firstPresent(asMap(in), "system", "instructions")))
		if isResponseObject(out) {
			c.setStr(fResponseID, mapStr(out, "id"))
			c.setStr(fResponseModel, mapStr(out, "model"))
		}
	}
}
