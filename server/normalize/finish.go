package normalize

import (
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// finish runs the rules that apply after every mapping had its turn:
// last-resort fallbacks from the span name, canonical spellings of
// operation, provider and finish reasons, system instructions taken from
// system messages, error type from the exception event, the input token
// rule and the computed total (input + output when no total was reported).
func finish(c *spanCtx) {
	s := c.out
	finishNames(c)
	finishReasons(s)
	if len(s.SystemInstructions) == 0 {
		s.SystemInstructions = systemFromMessages(s.InputMessages)
	}
	if s.ErrorType == "" && s.StatusCode == model.StatusError {
		s.ErrorType = exceptionType(c.events)
	}
	applyInputTokenRule(c)
	if s.TotalTokens == nil && (s.InputTokens != nil || s.OutputTokens != nil) {
		// The computed total of the W&B mapping: input + output.
		var n int64
		for _, t := range []*int64{s.InputTokens, s.OutputTokens} {
			if t != nil {
				n += *t
			}
		}
		s.TotalTokens = &n
	}
}

// finishNames applies the span-name fallbacks and canonical spellings of
// the agent, operation, tool and provider names.
func finishNames(c *spanCtx) {
	s := c.out
	if s.AgentName == "" {
		s.AgentName = c.agentNameFallback
	}
	if s.OperationName == "" {
		s.OperationName = operationFromSpanName(s.SpanName)
	}
	s.OperationName = canonicalOperation(s.OperationName)
	switch s.OperationName {
	case model.OpInvokeAgent, model.OpCreateAgent:
		if s.AgentName == "" {
			s.AgentName = nameAfter(s.SpanName, s.OperationName)
		}
	case model.OpExecuteTool:
		if s.ToolName == "" {
			s.ToolName = nameAfter(s.SpanName, s.OperationName)
		}
	}
	s.ProviderName = canonicalProvider(s.ProviderName)
}

// finishReasons spells finish reasons canonically and pairs the span's
// with its output messages' (a model call's output messages are its
// choices).
func finishReasons(s *model.Span) {
	for i, r := range s.FinishReasons {
		s.FinishReasons[i] = canonicalFinishReason(r)
	}
	for i := range s.InputMessages {
		s.InputMessages[i].FinishReason = "" // not part of the input schema
	}
	for i := range s.OutputMessages {
		if fr := s.OutputMessages[i].FinishReason; fr != "" {
			s.OutputMessages[i].FinishReason = canonicalFinishReason(fr)
		}
	}
	if len(s.OutputMessages) == 1 && len(s.FinishReasons) == 1 && s.OutputMessages[0].FinishReason == "" && model.IsLLMOperation(s.OperationName) {
		// One choice, one finish reason: they belong together.
		s.OutputMessages[0].FinishReason = s.FinishReasons[0]
	}
	if len(s.FinishReasons) == 0 && model.IsLLMOperation(s.OperationName) {
		// Output messages are the call's choices.
		for _, m := range s.OutputMessages {
			if m.FinishReason != "" {
				s.FinishReasons = append(s.FinishReasons, m.FinishReason)
			}
		}
	}
}

// exceptionType is the exception.type of the first exception event that
// has one, or "".
func exceptionType(events []model.Event) string {
	for _, e := range events {
		if e.Name == "exception" {
			if t, ok := e.Attributes["exception.type"].(string); ok && t != "" {
				return t
			}
		}
	}
	return ""
}

// knownOperations are matched as span-name prefixes, longest first where
// one is a prefix of another.
var knownOperations = []string{
	model.OpInvokeAgent, model.OpCreateAgent, model.OpExecuteTool, model.OpInvokeWorkflow,
	model.OpGenerateContent, model.OpTextCompletion, model.OpEmbeddings, model.OpRetrieval, model.OpChat,
}

func operationFromSpanName(name string) string {
	for _, op := range knownOperations {
		if name == op || strings.HasPrefix(name, op+" ") {
			return op
		}
	}
	return ""
}

// nameAfter returns what follows "<op> " in a span name.
func nameAfter(spanName, op string) string {
	rest, ok := strings.CutPrefix(spanName, op+" ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(rest)
}

// operationAliases maps vendor and non-standard operation values onto the
// GenAI conventions' names. Values with no counterpart (agent_step,
// model_generation, chain, …) are kept, lower-cased.
var operationAliases = map[string]string{
	"llm":             model.OpChat,
	"chat_model":      model.OpChat,
	"chat_completion": model.OpChat,
	"completion":      model.OpTextCompletion,
	"response":        model.OpChat,
	"responses":       model.OpChat,
	"generation":      model.OpChat,
	"embedding":       model.OpEmbeddings,
	"embed":           model.OpEmbeddings,
	"agent":           model.OpInvokeAgent,
	"agent_run":       model.OpInvokeAgent,
	"tool":            model.OpExecuteTool,
	"tool_call":       model.OpExecuteTool,
	"function":        model.OpExecuteTool,
	"workflow":        model.OpInvokeWorkflow,
	"retriever":       model.OpRetrieval,
	"retrieve":        model.OpRetrieval,
	"unknown":         "",
}

func canonicalOperation(op string) string {
	op = strings.ToLower(strings.TrimSpace(op))
	if a, ok := operationAliases[op]; ok {
		return a
	}
	return op
}

// providerAliases maps producer-specific provider ids onto the GenAI
// conventions' well-known values. The empty value marks names that denote
// an agent framework rather than a model provider.
var providerAliases = map[string]string{
	"gcp.vertex.agent":     "",
	"langchain":            "",
	"openai_agents":        "",
	"strands-agents":       "",
	"google":               "gcp.gen_ai",
	"vertexai":             "gcp.vertex_ai",
	"vertex_ai":            "gcp.vertex_ai",
	"google.vertex":        "gcp.vertex_ai",
	"gemini":               "gcp.gemini",
	"google.generative-ai": "gcp.gemini",
	"mistralai":            "mistral_ai",
	"mistral":              "mistral_ai",
	"xai":                  "x_ai",
	"aws":                  "aws.bedrock",
	"amazon-bedrock":       "aws.bedrock",
	"bedrock":              "aws.bedrock",
	"azure":                "azure.ai.openai",
	"azure-openai":         "azure.ai.openai",
	"az.ai.openai":         "azure.ai.openai",
	"watsonx":              "ibm.watsonx.ai",
}

// canonicalProvider lower-cases a provider name and maps vendor ids
// ("openai.chat", "anthropic.messages", "google.generative-ai") onto the
// conventions' values.
func canonicalProvider(p string) string {
	p = strings.ToLower(strings.TrimSpace(p))
	if p == "" {
		return ""
	}
	if a, ok := providerAliases[p]; ok {
		return a
	}
	// AI SDK provider ids are "<provider>.<api>".
	if base, _, ok := strings.Cut(p, "."); ok {
		switch base {
		case "openai", "anthropic", "groq", "deepseek", "cohere", "perplexity", "mistral", "xai", "azure-openai", "amazon-bedrock", "google":
			if base == "google" {
				if strings.Contains(p, "vertex") {
					return "gcp.vertex_ai"
				}
				return "gcp.gemini"
			}
			if a, ok := providerAliases[base]; ok {
				return a
			}
			return base
		}
	}
	return p
}

// finishReasonAliases maps provider finish reasons onto the conventions'
// values (stop, length, content_filter, tool_call, error).
var finishReasonAliases = map[string]string{
	"stop":               "stop",
	"end_turn":           "stop",
	"stop_sequence":      "stop",
	"completed":          "stop",
	"finish_reason_stop": "stop",
	"tool_calls":         "tool_call",
	"tool-calls":         "tool_call",
	"tool_use":           "tool_call",
	"function_call":      "tool_call",
	"tool_call":          "tool_call",
	"length":             "length",
	"max_tokens":         "length",
	"max_output_tokens":  "length",
	"incomplete":         "length",
	"content_filter":     "content_filter",
	"content-filter":     "content_filter",
	"safety":             "content_filter",
	"refusal":            "content_filter",
	"blocklist":          "content_filter",
	"prohibited_content": "content_filter",
	"error":              "error",
	"failed":             "error",
}

func canonicalFinishReason(r string) string {
	r = strings.ToLower(strings.TrimSpace(r))
	if a, ok := finishReasonAliases[r]; ok {
		return a
	}
	return r
}

// applyInputTokenRule makes input_tokens follow the conventions: it
// includes cached input (gen_ai.usage.input_tokens "SHOULD include all
// types of input tokens, including cached tokens"; the Anthropic page:
// input_tokens = input + cache_read + cache_creation). Anthropic's API
// reports the three as disjoint figures, and some instrumentations pass
// them through unchanged (Traceloop, OpenLIT, Langfuse usage details).
// The cached figures are added when the producer is one of those, or when
// input_tokens is smaller than the cached figures, which an inclusive
// count can never be. Producers that already follow the rule (the
// Anthropic SDK's own span, OpenInference, weave-agentd) are kept as sent.
// A reported total gets the same cached figures added, so that it stays
// input + output.
func applyInputTokenRule(c *spanCtx) {
	s := c.out
	if s.InputTokens == nil {
		return
	}
	var cached int64
	if s.CacheReadInputTokens != nil {
		cached += *s.CacheReadInputTokens
	}
	if s.CacheCreationInputTokens != nil {
		cached += *s.CacheCreationInputTokens
	}
	if cached == 0 || c.inputsInclusive {
		return
	}
	if c.inputsDisjoint || *s.InputTokens < cached {
		n := *s.InputTokens + cached
		s.InputTokens = &n
		if s.TotalTokens != nil {
			// A reported total counted the same disjoint input.
			t := *s.TotalTokens + cached
			s.TotalTokens = &t
		}
	}
}
