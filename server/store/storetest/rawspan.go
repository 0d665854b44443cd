package storetest

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// RawSpan renders the OTLP/JSON span (an element of scopeSpans[].spans, the
// form weave-server keeps in raw_span) that an OTel GenAI instrumentation
// would have sent for s: ids, times, status and the gen_ai.* attributes,
// messages as JSON in the parts schema (gen_ai.input.messages holds the
// whole input, history included), custom attributes as they are.
func RawSpan(s *model.Span) json.RawMessage {
	type anyValue struct {
		StringValue *string  `json:"stringValue,omitempty"`
		IntValue    *string  `json:"intValue,omitempty"`
		BoolValue   *bool    `json:"boolValue,omitempty"`
		DoubleValue *float64 `json:"doubleValue,omitempty"`
	}
	type kv struct {
		Key   string   `json:"key"`
		Value anyValue `json:"value"`
	}
	var attrs []kv
	str := func(k, v string) {
		if v != "" {
			attrs = append(attrs, kv{k, anyValue{StringValue: &v}})
		}
	}
	num := func(k string, v *int64) {
		if v != nil {
			n := strconv.FormatInt(*v, 10)
			attrs = append(attrs, kv{k, anyValue{IntValue: &n}})
		}
	}
	jsonAttr := func(k string, v any) {
		if b, err := json.Marshal(v); err == nil {
			str(k, string(b))
		}
	}
	str("gen_ai.operation.name", s.OperationName)
	str("gen_ai.provider.name", s.ProviderName)
	str("gen_ai.agent.name", s.AgentName)
	str("gen_ai.agent.id", s.AgentID)
	str("gen_ai.agent.version", s.AgentVersion)
	str("gen_ai.conversation.id", s.ConversationID)
	str("gen_ai.request.model", s.RequestModel)
	str("gen_ai.response.model", s.ResponseModel)
	str("gen_ai.response.id", s.ResponseID)
	num("gen_ai.usage.input_tokens", s.InputTokens)
	num("gen_ai.usage.output_tokens", s.OutputTokens)
	num("gen_ai.usage.cache_read.input_tokens", s.CacheReadInputTokens)
	num("gen_ai.usage.cache_creation.input_tokens", s.CacheCreationInputTokens)
	if len(s.FinishReasons) > 0 {
		jsonAttr("gen_ai.response.finish_reasons", s.FinishReasons)
	}
	str("gen_ai.tool.name", s.ToolName)
	str("gen_ai.tool.type", s.ToolType)
	str("gen_ai.tool.call.id", s.ToolCallID)
	str("gen_ai.tool.call.arguments", s.ToolCallArguments)
	str("gen_ai.tool.call.result", s.ToolCallResult)
	if len(s.InputMessages) > 0 {
		jsonAttr("gen_ai.input.messages", s.InputMessages)
	}
	if len(s.OutputMessages) > 0 {
		jsonAttr("gen_ai.output.messages", s.OutputMessages)
	}
	if len(s.SystemInstructions) > 0 {
		parts := make([]model.Part, len(s.SystemInstructions))
		for i, si := range s.SystemInstructions {
			parts[i] = model.Part{Type: model.PartText, Content: si}
		}
		jsonAttr("gen_ai.system_instructions", parts)
	}
	for _, k := range slices.Sorted(maps.Keys(s.CustomAttrsString)) {
		str(k, s.CustomAttrsString[k])
	}
	for _, k := range slices.Sorted(maps.Keys(s.CustomAttrsInt)) {
		v := s.CustomAttrsInt[k]
		num(k, &v)
	}
	kinds := map[string]int{model.KindInternal: 1, model.KindServer: 2, model.KindClient: 3, model.KindProducer: 4, model.KindConsumer: 5}
	status := map[string]int{model.StatusOK: 1, model.StatusError: 2}
	end := int64(0)
	if !s.EndedAt.IsZero() {
		end = s.EndedAt.UnixNano()
	}
	type statusJSON struct {
		Message string `json:"message,omitempty"`
		Code    int    `json:"code,omitempty"`
	}
	b, err := json.Marshal(struct {
		TraceID      string     `json:"traceId"`
		SpanID       string     `json:"spanId"`
		ParentSpanID string     `json:"parentSpanId,omitempty"`
		Name         string     `json:"name"`
		Kind         int        `json:"kind"`
		Start        string     `json:"startTimeUnixNano"`
		End          string     `json:"endTimeUnixNano"`
		Attributes   []kv       `json:"attributes,omitempty"`
		Status       statusJSON `json:"status"`
	}{s.TraceID, s.SpanID, s.ParentSpanID, s.SpanName, kinds[s.SpanKind], unixNano(s.StartedAt), strconv.FormatInt(end, 10),
		attrs, statusJSON{s.StatusMessage, status[s.StatusCode]}})
	if err != nil {
		return nil
	}
	return b
}

func unixNano(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) }
