package normalize

import (
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// Vercel AI SDK v4–v6 built-in telemetry (ai.*). The outer span of a call
// (ai.generateText, ai.streamText, …) is the agent-like run: it becomes an
// invoke_agent named after ai.telemetry.functionId; each model call inside
// it (….doGenerate / ….doStream) is a chat span and each tool execution
// (ai.toolCall) an execute_tool span. Usage is reported on both the outer
// span and the model calls; the stores count a span's usage only when no
// descendant reports usage, so nothing is counted twice. AI SDK v7
// (@ai-sdk/otel) emits plain gen_ai.* spans, read by the gen_ai mapping.
var aiSDKMapping = mapping{
	name:   "ai_sdk",
	detect: func(c *spanCtx) bool { return c.a.has("ai.operationId") || c.a.hasPrefix("ai.") },
	renames: []rename{
		{"ai.model.provider", fProvider},
		{"ai.model.id", fRequestModel},
		{"ai.response.model", fResponseModel},
		{"ai.response.id", fResponseID},
		{"ai.usage.inputTokens", fInputTokens},
		{"ai.usage.promptTokens", fInputTokens},
		{"ai.usage.outputTokens", fOutputTokens},
		{"ai.usage.completionTokens", fOutputTokens},
		{"ai.usage.inputTokenDetails.cacheReadTokens", fCacheRead},
		{"ai.usage.cachedInputTokens", fCacheRead},
		{"ai.usage.inputTokenDetails.cacheWriteTokens", fCacheCreation},
		{"ai.usage.outputTokenDetails.reasoningTokens", fReasoning},
		{"ai.usage.totalTokens", fTotalTokens},
		{"ai.usage.reasoningTokens", fReasoning},
		{"ai.response.finishReason", fFinishReasons},
		{"ai.toolCall.name", fToolName},
		{"ai.toolCall.id", fToolCallID},
		{"ai.toolCall.args", fToolCallArguments},
		{"ai.toolCall.input", fToolCallArguments},
		{"ai.toolCall.result", fToolCallResult},
		{"ai.toolCall.output", fToolCallResult},
		{"ai.telemetry.metadata.sessionId", fConversationID},
		{"ai.telemetry.metadata.conversationId", fConversationID},
		{"ai.telemetry.metadata.threadId", fConversationID},
		{"ai.prompt.messages", fInputMessages},
	},
	extract: extractAISDK,
}

func extractAISDK(c *spanCtx) {
	c.setParams(c.a.prefixed("ai.settings", aiSDKSettings...))
	opID := c.a.str("ai.operationId")
	c.a.use("operation.name") // "<operationId> <functionId>", a restatement
	switch {
	case strings.HasSuffix(opID, ".doGenerate") || strings.HasSuffix(opID, ".doStream"):
		c.setStr(fOperation, model.OpChat)
	case strings.HasSuffix(opID, ".doEmbed"), opID == "ai.embed", opID == "ai.embedMany":
		c.setStr(fOperation, model.OpEmbeddings)
	case opID == "ai.toolCall":
		c.setStr(fOperation, model.OpExecuteTool)
	case strings.HasPrefix(opID, "ai.generate") || strings.HasPrefix(opID, "ai.stream"):
		c.setStr(fOperation, model.OpInvokeAgent)
		c.setStr(fAgentName, c.a.peekStr("ai.telemetry.functionId"))
	}

	if p, ok := c.a.jsonish("ai.prompt"); ok {
		c.setMessagesFrom(fInputMessages, p)
		c.setSystem(systemTexts(mapGet(p, "system")))
	}

	// Output: the text, the tool calls and (generateObject) the object.
	if !c.isSet(fOutputMessages) {
		msg := model.Message{Role: "assistant"}
		if r := c.a.str("ai.response.reasoning"); r != "" {
			msg.Parts = append(msg.Parts, model.Part{Type: model.PartReasoning, Content: r})
		}
		if t, ok := c.a.get("ai.response.text"); ok && t.Str() != "" {
			msg.Parts = append(msg.Parts, model.Part{Type: model.PartText, Content: t.Str()})
		}
		if o := c.a.str("ai.response.object"); o != "" {
			msg.Parts = append(msg.Parts, model.Part{Type: model.PartText, Content: o})
		}
		if calls, ok := c.a.jsonish("ai.response.toolCalls"); ok {
			if l, ok := calls.([]any); ok {
				for _, e := range l {
					if p, ok := parseToolCall(asMap(e)); ok {
						msg.Parts = append(msg.Parts, p)
					}
				}
			}
		}
		if len(msg.Parts) > 0 {
			if fr := c.a.peekStr("ai.response.finishReason"); fr != "" {
				msg.FinishReason = fr
			}
			c.setMessages(fOutputMessages, []model.Message{msg})
		}
	} else {
		c.a.use("ai.response.text", "ai.response.toolCalls", "ai.response.object", "ai.response.reasoning")
	}
	// ai.response itself (the W&B mapping's "model response text or
	// data": a string, list or dict), after its more specific keys.
	if v, ok := c.a.jsonish("ai.response"); ok {
		c.setMessagesFrom(fOutputMessages, v)
	}
}
