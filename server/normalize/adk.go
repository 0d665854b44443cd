package normalize

import (
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// Google ADK (tracer gcp.vertex.agent; also Vertex AI Agent Engine). ADK's
// gen_ai.system names the framework, not the model provider, so it is not
// kept as the provider. The model call (call_llm, no operation name) is a
// generate_content span whose request and response are Gemini-format JSON
// in gcp.vertex.agent.llm_request / llm_response; tool spans carry
// tool_call_args / tool_response. As the W&B OTLP mapping does, the ADK
// session id is the thread id and marks the span as a turn, and it is the
// conversation id when gen_ai.conversation.id is absent.
var adkMapping = mapping{
	name: "adk",
	detect: func(c *spanCtx) bool {
		return c.scope.Name() == "gcp.vertex.agent" || c.a.hasPrefix("gcp.vertex.agent.")
	},
	renames: []rename{
		{"gcp.vertex.agent.session_id", fConversationID},
		{"gcp.vertex.agent.tool_call_args", fToolCallArguments},
		{"gcp.vertex.agent.tool_response", fToolCallResult},
	},
	extract: extractADK,
}

func extractADK(c *spanCtx) {
	if strings.EqualFold(c.a.peekStr("gen_ai.system"), "gcp.vertex.agent") && c.out.ProviderName == "gcp.vertex.agent" {
		c.out.ProviderName = ""
	}
	if sid := c.a.peekStr("gcp.vertex.agent.session_id"); sid != "" {
		c.setStr(fThreadID, sid)
		if !c.isTurnSet {
			c.out.IsTurn, c.isTurnSet = true, true
		}
	}
	// ADK 1.x named the agent span "agent_run [<name>]".
	if rest, ok := strings.CutPrefix(c.out.SpanName, "agent_run ["); ok && strings.HasSuffix(rest, "]") {
		c.setStr(fOperation, model.OpInvokeAgent)
		c.setStr(fAgentName, strings.TrimSuffix(rest, "]"))
	}
	req, _ := c.a.jsonish("gcp.vertex.agent.llm_request")
	resp, _ := c.a.jsonish("gcp.vertex.agent.llm_response")
	if (len(asMap(req)) > 0 || c.out.SpanName == "call_llm") && c.op() == "" {
		c.setStr(fOperation, model.OpGenerateContent)
	}
	if m := asMap(req); len(m) > 0 {
		c.setStr(fRequestModel, mapStr(m, "model"))
		c.setMessagesFrom(fInputMessages, m["contents"])
		cfg := asMap(m["config"])
		c.setSystem(systemTexts(firstPresent(cfg, "systemInstruction", "system_instruction")))
	}
	if m := asMap(resp); len(m) > 0 {
		// ADK's LlmResponse ({"content": …, "finishReason": …}), or the
		// Gemini API's GenerateContentResponse it wraps ({"candidates":
		// [{"content": …, "finishReason": …}, …]}).
		cands := []map[string]any{m}
		if l, ok := m["candidates"].([]any); ok && m["content"] == nil {
			cands = cands[:0]
			for _, e := range l {
				if cm := asMap(e); cm != nil {
					cands = append(cands, cm)
				}
			}
		}
		var msgs []model.Message
		var reasons []string
		for _, cm := range cands {
			fr := firstStr(cm, "finishReason", "finish_reason")
			if fr != "" {
				reasons = append(reasons, fr)
			}
			if content := asMap(cm["content"]); content != nil {
				if msg, ok := parseMessageObj(content, dirOutput, 0); ok {
					msg.FinishReason = fr
					msgs = append(msgs, msg)
				}
			}
		}
		c.setMessages(fOutputMessages, compactMessages(msgs))
		c.setFinishReasons(reasons)
		c.setStr(fResponseModel, firstStr(m, "modelVersion", "model_version"))
		c.setStr(fResponseID, firstStr(m, "responseId", "response_id"))
		u := asMap(firstPresent(m, "usageMetadata", "usage_metadata"))
		c.setAnyInt(fInputTokens, firstPresent(u, "promptTokenCount", "prompt_token_count"))
		c.setAnyInt(fOutputTokens, firstPresent(u, "candidatesTokenCount", "candidates_token_count"))
		c.setAnyInt(fCacheRead, firstPresent(u, "cachedContentTokenCount", "cached_content_token_count"))
		c.setAnyInt(fReasoning, firstPresent(u, "thoughtsTokenCount", "thoughts_token_count"))
	}
}
