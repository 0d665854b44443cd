package normalize

import (
	"strconv"
	"strings"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// Langfuse SDK spans (langfuse.*, scope langfuse-sdk): no gen_ai.* at all.
// langfuse.observation.type names the operation, the observation's input
// and output hold messages (generations) or arguments and result (tools),
// usage_details is one JSON object whose "input" excludes the cached
// tokens, level ERROR marks a failure the span status does not show, and
// langfuse.startTime / langfuse.endTime override the span's timing.
var langfuseMapping = mapping{
	name: "langfuse",
	detect: func(c *spanCtx) bool {
		return c.scope.Name() == "langfuse-sdk" || c.a.hasPrefix("langfuse.")
	},
	renames: []rename{
		{"langfuse.observation.model.name", fRequestModel},
		{"langfuse.session.id", fConversationID},
		{"session.id", fConversationID},
	},
	extract: extractLangfuse,
}

var langfuseTypes = map[string]string{
	"generation": model.OpChat,
	"agent":      model.OpInvokeAgent,
	"tool":       model.OpExecuteTool,
	"embedding":  model.OpEmbeddings,
	"retriever":  model.OpRetrieval,
	"chain":      "chain",
	"evaluator":  "evaluator",
	"guardrail":  "guardrail",
}

func extractLangfuse(c *spanCtx) {
	typ := strings.ToLower(c.a.str("langfuse.observation.type"))
	if op, ok := langfuseTypes[typ]; ok {
		c.setStr(fOperation, op)
	}
	in, _ := c.a.jsonish("langfuse.observation.input")
	out, _ := c.a.jsonish("langfuse.observation.output")
	if in == nil {
		in, _ = c.a.jsonish("langfuse.trace.input")
	} else {
		c.a.use("langfuse.trace.input")
	}
	if out == nil {
		out, _ = c.a.jsonish("langfuse.trace.output")
	} else {
		c.a.use("langfuse.trace.output")
	}
	switch typ {
	case "tool":
		c.setStr(fToolName, c.out.SpanName)
		c.setStr(fToolCallArguments, textOf(in))
		c.setStr(fToolCallResult, textOf(unwrapToolResult(out, 0)))
		for _, k := range []string{"langfuse.observation.metadata.toolCallId", "langfuse.observation.metadata.tool_call_id"} {
			c.setStr(fToolCallID, c.a.peekStr(k))
		}
	default:
		if typ == "agent" {
			c.setStr(fAgentName, c.out.SpanName)
			c.setStr(fAgentVersion, c.a.peekStr("langfuse.version"))
		}
		c.setMessagesFrom(fInputMessages, in)
		c.setMessagesFrom(fOutputMessages, out)
		c.setSystem(systemTexts(firstPresent(asMap(in), "system", "instructions")))
	}

	if u, ok := c.a.jsonish("langfuse.observation.usage_details"); ok && !c.isSet(fInputTokens) {
		c.setAnyInt(fInputTokens, firstPresent(asMap(u), "input", "prompt_tokens", "promptTokens", "input_tokens"))
		c.setAnyInt(fOutputTokens, firstPresent(asMap(u), "output", "completion_tokens", "completionTokens", "output_tokens"))
		c.setAnyInt(fCacheRead, firstPresent(asMap(u), "input_cached_tokens", "cache_read_input_tokens", "input_cache_read", "cached_tokens"))
		c.setAnyInt(fCacheCreation, firstPresent(asMap(u), "cache_creation_input_tokens", "input_cache_creation", "input_cache_write"))
		c.setAnyInt(fReasoning, firstPresent(asMap(u), "output_reasoning_tokens", "reasoning_tokens", "output_reasoning"))
		// Langfuse's "input" is the uncached part (its "total" adds the
		// cached tokens back).
		c.inputsDisjoint = true
	}

	if d, ok := c.a.jsonish("langfuse.observation.cost_details"); ok {
		// {"input": …, "output": …, "total": …}: the total, else the sum.
		m := asMap(d)
		if f, ok := anyFloat(m["total"]); ok {
			c.setCost(f)
		} else if len(m) > 0 {
			var sum float64
			all := true
			for _, v := range m {
				f, ok := anyFloat(v)
				all = all && ok
				sum += f
			}
			if all {
				c.setCost(sum)
			}
		}
	}

	if strings.EqualFold(c.a.str("langfuse.observation.level"), "ERROR") {
		c.out.StatusCode = model.StatusError
		if msg := c.a.str("langfuse.observation.status_message"); msg != "" && c.out.StatusMessage == "" {
			c.out.StatusMessage = msg
		}
	}
	if t, ok := langfuseTime(c.a.str("langfuse.startTime")); ok {
		c.out.StartedAt = t
	}
	if t, ok := langfuseTime(c.a.str("langfuse.endTime")); ok {
		c.out.EndedAt = t
	}
}

// langfuseTime reads an ISO 8601 time or Unix nanoseconds.
func langfuseTime(s string) (time.Time, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if s == "" {
		return time.Time{}, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		t := time.Unix(0, n).UTC()
		return t, storable(t)
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), storable(t)
		}
	}
	return time.Time{}, false
}
