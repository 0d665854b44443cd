package normalize

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/model"
)

// Source cases: spans shaped exactly as Python-only libraries emit them
// (MLflow tracing, pydantic-ai's instrumentation, Logfire's LLM client
// instrumentation), for which no captured payload exists in the corpus.
// Each case cites the library file it was read from; attribute values are
// what reaches OTLP (the Python OTel SDK exports str / int / float / bool /
// lists of those, so dicts and lists the libraries record arrive as JSON
// text).

type srcEvent struct {
	name  string
	attrs map[string]any
}

type srcWant struct {
	op, agent, provider, conv      string
	reqModel, respModel, respID    string
	in, out                        []string // messageSummary lines
	system                         []string
	inTok, outTok, cacheRead       *int64
	cacheWrite, reasoning          *int64
	finish                         []string
	tool, toolID, toolArgs, result string
	errType, status                string
	custom                         []string // keys that must stay custom attributes
	notCustom                      []string // keys that must have been consumed
}

type srcCase struct {
	name   string
	scope  string
	span   string
	kind   ptrace.SpanKind
	status ptrace.StatusCode
	msg    string
	attrs  map[string]any
	events []srcEvent
	want   srcWant
}

func n64(v int64) *int64 { return &v }

// js encodes v as JSON text, the way the Python libraries json.dumps values
// into string attributes.
func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// exceptionEvent is what opentelemetry-python's Span.record_exception adds.
func exceptionEvent(typ, msg string) srcEvent {
	return srcEvent{name: "exception", attrs: map[string]any{
		"exception.type": typ, "exception.message": msg,
		"exception.stacktrace": "Traceback (most recent call last):\n  ...\n" + typ + ": " + msg,
		"exception.escaped":    "False",
	}}
}

func buildSourceSpan(t *testing.T, c srcCase) ptrace.ResourceSpans {
	t.Helper()
	rs := ptrace.NewResourceSpans()
	rs.Resource().Attributes().PutStr("service.name", "src-app")
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName(c.scope)
	sp := ss.Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{0xa, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	sp.SetSpanID(pcommon.SpanID{0xb, 2, 3, 4, 5, 6, 7, 8})
	sp.SetName(c.span)
	sp.SetKind(c.kind)
	sp.Status().SetCode(c.status)
	sp.Status().SetMessage(c.msg)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(specBase))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(specBase.Add(1e9)))
	putAttrs(t, sp.Attributes(), c.attrs)
	for _, e := range c.events {
		ev := sp.Events().AppendEmpty()
		ev.SetName(e.name)
		ev.SetTimestamp(pcommon.NewTimestampFromTime(specBase.Add(5e8)))
		putAttrs(t, ev.Attributes(), e.attrs)
	}
	return rs
}

// messageSummary renders a message as one line: "role[(finish)]: part | part"
// with parts as text:…, think:…, call:id:name:args, resp:id:response or
// their type.
func messageSummary(m model.Message) string {
	var parts []string
	for _, p := range m.Parts {
		switch p.Type {
		case model.PartText:
			parts = append(parts, "text:"+p.Content)
		case model.PartReasoning:
			parts = append(parts, "think:"+p.Content)
		case model.PartToolCall:
			parts = append(parts, fmt.Sprintf("call:%s:%s:%s", p.ID, p.Name, p.Arguments))
		case model.PartToolCallResponse:
			parts = append(parts, fmt.Sprintf("resp:%s:%s", p.ID, p.Response))
		default:
			parts = append(parts, p.Type)
		}
	}
	role := m.Role
	if m.FinishReason != "" {
		role += "(" + m.FinishReason + ")"
	}
	return role + ": " + strings.Join(parts, " | ")
}

func summaries(msgs []model.Message) []string {
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, messageSummary(m))
	}
	return out
}

func ptrEq(a, b *int64) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func checkSource(t *testing.T, c srcCase) {
	t.Helper()
	s, warns := normalizeOne(t, buildSourceSpan(t, c), Options{})
	for _, w := range warns {
		t.Errorf("warning: %v", w)
	}
	w := c.want
	strs := []struct{ field, got, want string }{
		{"operation_name", s.OperationName, w.op},
		{"agent_name", s.AgentName, w.agent},
		{"provider_name", s.ProviderName, w.provider},
		{"conversation_id", s.ConversationID, w.conv},
		{"request_model", s.RequestModel, w.reqModel},
		{"response_model", s.ResponseModel, w.respModel},
		{"response_id", s.ResponseID, w.respID},
		{"tool_name", s.ToolName, w.tool},
		{"tool_call_id", s.ToolCallID, w.toolID},
		{"tool_call_arguments", s.ToolCallArguments, w.toolArgs},
		{"tool_call_result", s.ToolCallResult, w.result},
		{"error_type", s.ErrorType, w.errType},
		{"status_code", s.StatusCode, w.status},
	}
	for _, f := range strs {
		if f.want != "" && f.got != f.want {
			t.Errorf("%s = %q, want %q", f.field, f.got, f.want)
		}
	}
	lists := []struct {
		field     string
		got, want []string
	}{
		{"input_messages", summaries(s.InputMessages), w.in},
		{"output_messages", summaries(s.OutputMessages), w.out},
		{"system_instructions", s.SystemInstructions, w.system},
		{"finish_reasons", s.FinishReasons, w.finish},
	}
	for _, l := range lists {
		if l.want == nil {
			continue
		}
		if strings.Join(l.got, "\n") != strings.Join(l.want, "\n") {
			t.Errorf("%s:\ngot  %q\nwant %q", l.field, l.got, l.want)
		}
	}
	ints := []struct {
		field     string
		got, want *int64
	}{
		{"input_tokens", s.InputTokens, w.inTok},
		{"output_tokens", s.OutputTokens, w.outTok},
		{"cache_read_input_tokens", s.CacheReadInputTokens, w.cacheRead},
		{"cache_creation_input_tokens", s.CacheCreationInputTokens, w.cacheWrite},
		{"reasoning_tokens", s.ReasoningTokens, w.reasoning},
	}
	for _, f := range ints {
		if f.want != nil && !ptrEq(f.got, f.want) {
			t.Errorf("%s = %s, want %s", f.field, ptrStr(f.got), ptrStr(f.want))
		}
	}
	isCustom := func(k string) bool {
		_, a := s.CustomAttrsString[k]
		_, b := s.CustomAttrsInt[k]
		_, c := s.CustomAttrsFloat[k]
		_, d := s.CustomAttrsBool[k]
		return a || b || c || d
	}
	for _, k := range w.custom {
		if !isCustom(k) {
			t.Errorf("%s: not kept as a custom attribute", k)
		}
	}
	for _, k := range w.notCustom {
		if isCustom(k) {
			t.Errorf("%s: left as a custom attribute, want it consumed", k)
		}
	}
	// Every source shape survives the store round trip.
	again, _, err := Renormalize(s, nil, Options{})
	if err != nil {
		t.Fatalf("Renormalize: %v", err)
	}
	if a, b := jsonOf(t, again), jsonOf(t, s); a != b {
		t.Errorf("renormalized row differs:\ngot:  %s\nwant: %s", a, b)
	}
}

func runSources(t *testing.T, cases []srcCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { checkSource(t, c) })
	}
}

// MLflow 3.x tracing (github.com/mlflow/mlflow). Every attribute MLflow
// sets goes through _SpanAttributesRegistry.set in mlflow/entities/span.py,
// which stores json.dumps(value) — so a span type arrives as "\"CHAT_MODEL\""
// and a model name as "\"gpt-4o\"". Key names: mlflow/tracing/constant.py
// (SpanAttributeKey: mlflow.traceRequestId, mlflow.spanType,
// mlflow.spanInputs, mlflow.spanOutputs, mlflow.spanFunctionName,
// mlflow.chat.tools, mlflow.chat.tokenUsage {input_tokens, output_tokens,
// total_tokens, cache_read_input_tokens?, cache_creation_input_tokens?},
// mlflow.llm.model, mlflow.llm.provider, mlflow.message.format). The OTLP
// path (mlflow/tracing/processor/otel.py, a BatchSpanProcessor over the OTel
// SDK exporter) exports those raw JSON strings.
func TestSourceMLflow(t *testing.T) {
	tools := `[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]`
	runSources(t, []srcCase{
		{
			// mlflow/openai/autolog.py: _start_span names the span after the
			// resource class ("Completions"), sets span type CHAT_MODEL, the
			// call's kwargs as inputs and every kwarg but messages/input as
			// an attribute of its own, plus mlflow.message.format "openai";
			// _end_span_on_success ends it with the ChatCompletion as
			// outputs; mlflow/openai/utils/chat_schema.py adds
			// mlflow.chat.tools and mlflow.chat.tokenUsage. No
			// mlflow.llm.model here (the model is only in the inputs).
			name: "openai chat completion with tool call", scope: "mlflow.tracing", span: "Completions",
			status: ptrace.StatusCodeOk,
			attrs: map[string]any{
				"mlflow.traceRequestId":  js("tr-0a0203040506070809"),
				"mlflow.spanType":        js("CHAT_MODEL"),
				"mlflow.message.format":  js("openai"),
				"model":                  js("gpt-4o-mini"),
				"temperature":            js(0),
				"tools":                  tools,
				"mlflow.spanInputs":      `{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Weather in Paris?"}], "model": "gpt-4o-mini", "temperature": 0, "tools": ` + tools + `}`,
				"mlflow.spanOutputs":     `{"id": "chatcmpl-ml1", "choices": [{"finish_reason": "tool_calls", "index": 0, "logprobs": null, "message": {"content": null, "refusal": null, "role": "assistant", "annotations": [], "audio": null, "function_call": null, "tool_calls": [{"id": "call_ml1", "function": {"arguments": "{\"city\":\"Paris\"}", "name": "get_weather"}, "type": "function"}]}}], "created": 1764000000, "model": "gpt-4o-mini-2024-07-18", "object": "chat.completion", "service_tier": "default", "system_fingerprint": "fp_1", "usage": {"completion_tokens": 10, "prompt_tokens": 50, "total_tokens": 60, "completion_tokens_details": {"reasoning_tokens": 0}, "prompt_tokens_details": {"cached_tokens": 0}}}`,
				"mlflow.chat.tools":      tools,
				"mlflow.chat.tokenUsage": `{"input_tokens": 50, "output_tokens": 10, "total_tokens": 60}`,
			},
			want: srcWant{
				op: "chat", reqModel: "gpt-4o-mini", respModel: "gpt-4o-mini-2024-07-18", respID: "chatcmpl-ml1",
				in:     []string{"system: text:Be brief.", "user: text:Weather in Paris?"},
				system: []string{"Be brief."},
				out:    []string{`assistant(tool_call): call:call_ml1:get_weather:{"city":"Paris"}`},
				finish: []string{"tool_call"}, inTok: n64(50), outTok: n64(10), status: "OK",
				notCustom: []string{"mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.spanType", "mlflow.chat.tokenUsage"},
			},
		},
		{
			// The same autolog for the Responses API (span "Responses",
			// inputs {input, instructions, model}, outputs the Response),
			// on an MLflow version that also records mlflow.llm.model /
			// mlflow.llm.provider (SpanAttributeKey.MODEL, MODEL_PROVIDER).
			name: "openai responses api", scope: "mlflow.tracing", span: "Responses", status: ptrace.StatusCodeOk,
			attrs: map[string]any{
				"mlflow.traceRequestId":  js("tr-0a0203040506070809"),
				"mlflow.spanType":        js("CHAT_MODEL"),
				"mlflow.message.format":  js("openai"),
				"mlflow.llm.model":       js("gpt-4o"),
				"mlflow.llm.provider":    js("openai"),
				"model":                  js("gpt-4o"),
				"instructions":           js("Be brief."),
				"mlflow.spanInputs":      `{"input": [{"role": "user", "content": "Hi"}], "instructions": "Be brief.", "model": "gpt-4o"}`,
				"mlflow.spanOutputs":     `{"id": "resp_ml2", "created_at": 1764000000.0, "model": "gpt-4o-2024-08-06", "object": "response", "output": [{"id": "msg_1", "content": [{"annotations": [], "text": "Hello!", "type": "output_text"}], "role": "assistant", "status": "completed", "type": "message"}], "status": "completed", "usage": {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15}}`,
				"mlflow.chat.tokenUsage": `{"input_tokens": 12, "output_tokens": 3, "total_tokens": 15}`,
			},
			want: srcWant{
				op: "chat", provider: "openai", reqModel: "gpt-4o", respModel: "gpt-4o-2024-08-06", respID: "resp_ml2",
				in: []string{"user: text:Hi"}, system: []string{"Be brief."},
				out: []string{"assistant(stop): text:Hello!"}, finish: []string{"stop"}, inTok: n64(12), outTok: n64(3),
			},
		},
		{
			// mlflow/anthropic/autolog.py: TracingSession names the span
			// "<class>.<method>" ("Messages.create"), span type CHAT_MODEL,
			// inputs = construct_full_inputs (all kwargs, system included),
			// mlflow.message.format "anthropic", outputs = the Message, and
			// _set_token_usage_attribute writes mlflow.chat.tokenUsage.
			name: "anthropic messages with tool result", scope: "mlflow.tracing", span: "Messages.create", status: ptrace.StatusCodeOk,
			attrs: map[string]any{
				"mlflow.traceRequestId":  js("tr-0a0203040506070809"),
				"mlflow.spanType":        js("CHAT_MODEL"),
				"mlflow.message.format":  js("anthropic"),
				"mlflow.spanInputs":      `{"max_tokens": 1024, "messages": [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}]}, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "18°C"}]}], "model": "claude-sonnet-4-5", "system": "Be brief."}`,
				"mlflow.spanOutputs":     `{"id": "msg_ml3", "content": [{"citations": null, "text": "It is 18°C.", "type": "text"}], "model": "claude-sonnet-4-5-20250929", "role": "assistant", "stop_reason": "end_turn", "stop_sequence": null, "type": "message", "usage": {"cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "input_tokens": 40, "output_tokens": 8, "service_tier": "standard"}}`,
				"mlflow.chat.tokenUsage": `{"input_tokens": 40, "output_tokens": 8, "total_tokens": 48}`,
			},
			want: srcWant{
				op: "chat", reqModel: "claude-sonnet-4-5", respModel: "claude-sonnet-4-5-20250929", respID: "msg_ml3",
				in: []string{
					"user: text:Weather in Paris?",
					`assistant: call:toolu_1:get_weather:{"city":"Paris"}`,
					`user: resp:toolu_1:"18°C"`,
				},
				system: []string{"Be brief."},
				out:    []string{"assistant(stop): text:It is 18°C."}, finish: []string{"stop"},
				inTok: n64(40), outTok: n64(8),
			},
		},
		{
			// A streamed chat completion: _add_span_event adds one
			// "mlflow.chunk.item.<i>" event per chunk (value under
			// mlflow.chunk.value) and _process_last_chunk ends the span with
			// the completion rebuilt by _reconstruct_completion_from_stream.
			name: "openai streamed chat", scope: "mlflow.tracing", span: "Completions", status: ptrace.StatusCodeOk,
			attrs: map[string]any{
				"mlflow.spanType":        js("CHAT_MODEL"),
				"stream":                 js(true),
				"mlflow.spanInputs":      `{"messages": [{"role": "user", "content": "Capital of France?"}], "model": "gpt-4o", "stream": true}`,
				"mlflow.spanOutputs":     `{"id": "chatcmpl-s1", "choices": [{"finish_reason": "stop", "index": 0, "message": {"content": "Paris.", "role": "assistant"}}], "created": 1764000000, "model": "gpt-4o-2024-08-06", "object": "chat.completion", "usage": null}`,
				"mlflow.chat.tokenUsage": `{"input_tokens": 11, "output_tokens": 2, "total_tokens": 13}`,
			},
			events: []srcEvent{
				{name: "mlflow.chunk.item.0", attrs: map[string]any{"mlflow.chunk.value": `{"id": "chatcmpl-s1", "choices": [{"delta": {"content": "Paris."}, "index": 0}], "object": "chat.completion.chunk"}`}},
			},
			want: srcWant{
				op: "chat", reqModel: "gpt-4o", respID: "chatcmpl-s1",
				in: []string{"user: text:Capital of France?"}, out: []string{"assistant(stop): text:Paris."},
				inTok: n64(11), outTok: n64(2),
			},
		},
		{
			// @mlflow.trace(span_type="TOOL") on a function
			// (mlflow/tracing/fluent.py): span named after the function,
			// inputs are its bound arguments, outputs its return value.
			name: "traced tool function", scope: "mlflow.tracing", span: "get_weather", status: ptrace.StatusCodeOk,
			attrs: map[string]any{
				"mlflow.traceRequestId":   js("tr-0a0203040506070809"),
				"mlflow.spanType":         js("TOOL"),
				"mlflow.spanFunctionName": js("get_weather"),
				"mlflow.spanInputs":       `{"city": "Paris"}`,
				"mlflow.spanOutputs":      `"18°C"`,
			},
			want: srcWant{op: "execute_tool", tool: "get_weather", toolArgs: `{"city":"Paris"}`, result: "18°C"},
		},
		{
			// A tool that raised: LiveSpan.record_exception adds the OTel
			// exception event (SpanEvent.from_exception) and sets status
			// ERROR with "<type>: <message>" as description.
			name: "traced tool raising", scope: "mlflow.tracing", span: "get_weather",
			status: ptrace.StatusCodeError, msg: "ValueError: unknown city",
			attrs: map[string]any{
				"mlflow.spanType":   js("TOOL"),
				"mlflow.spanInputs": `{"city": "Atlantis"}`,
			},
			events: []srcEvent{exceptionEvent("ValueError", "unknown city")},
			want:   srcWant{op: "execute_tool", tool: "get_weather", toolArgs: `{"city":"Atlantis"}`, errType: "ValueError", status: "ERROR"},
		},
		{
			// @mlflow.trace(span_type="AGENT") around an agent's predict:
			// the span is named after the function / class.
			name: "agent span", scope: "mlflow.tracing", span: "WeatherAgent", status: ptrace.StatusCodeOk,
			attrs: map[string]any{
				"mlflow.spanType":         js("AGENT"),
				"mlflow.spanFunctionName": js("predict"),
				"mlflow.spanInputs":       `{"messages": [{"role": "user", "content": "Weather in Paris?"}]}`,
				"mlflow.spanOutputs":      `{"messages": [{"role": "assistant", "content": "It is 18°C."}]}`,
			},
			want: srcWant{
				op: "invoke_agent", agent: "WeatherAgent",
				in: []string{"user: text:Weather in Paris?"}, out: []string{"assistant: text:It is 18°C."},
			},
		},
		{
			// mlflow/tracing/export/genai_semconv/translator.py (OTLP export
			// with the GenAI semconv translation on): mlflow.* keys are
			// dropped, span type becomes gen_ai.operation.name (LLM →
			// generate_content), tool inputs / outputs become
			// json.dumps(...) in gen_ai.tool.call.arguments / result.
			name: "genai semconv export of a tool span", scope: "mlflow.tracing", span: "execute_tool", status: ptrace.StatusCodeOk,
			attrs: map[string]any{
				"gen_ai.operation.name":      "execute_tool",
				"gen_ai.tool.call.arguments": js(map[string]any{"city": "Paris"}),
				"gen_ai.tool.call.result":    `"18\u00b0C"`,
			},
			// The tool's name is not exported in this mode (the span is
			// just "execute_tool"); the JSON-encoded string result is
			// unquoted.
			want: srcWant{op: "execute_tool", toolArgs: `{"city":"Paris"}`, result: "18°C"},
		},
	})
}

// pydantic-ai (github.com/pydantic/pydantic-ai, scope "pydantic-ai").
// Model request spans: pydantic_ai_slim/pydantic_ai/_instrumentation.py
// (open_model_request_span; older releases: models/instrumented.py
// InstrumentedModel._instrument) — span "chat <model>", CLIENT,
// gen_ai.operation.name chat, gen_ai.provider.name + gen_ai.system,
// gen_ai.request.model, model_request_parameters, gen_ai.tool.definitions,
// the agent-run baggage (gen_ai.agent.name, gen_ai.agent.call.id,
// gen_ai.conversation.id), then response_attributes: usage from
// usage.py RequestUsage.opentelemetry_attributes (gen_ai.usage.input_tokens
// / output_tokens, extras as gen_ai.usage.details.<key>: cache_read_tokens,
// cache_write_tokens, reasoning_tokens, …), gen_ai.response.model,
// gen_ai.response.id, gen_ai.response.finish_reasons, operation.cost.
// Messages: InstrumentationSettings.handle_messages — version 1 writes
// one "events" attribute (a JSON list of event_to_dict() dicts: the event
// body merged with event.name / gen_ai.message.index / gen_ai.system, the
// answer as a gen_ai.choice {index, message}); versions ≥ 2 write
// gen_ai.input.messages / gen_ai.output.messages / gen_ai.system_instructions
// in the parts schema (messages_to_otel_messages; parts from
// messages.py otel_message_parts: text {content}, thinking {content},
// tool_call {id, name, arguments}, tool_call_response {id, name, result}).
// Agent run span: capabilities/instrumentation.py (Instrumentation.wrap_run;
// older: agent/__init__.py iter) — span "agent run" (v2) or
// "invoke_agent <name>" (v3+), attributes model_name, agent_name,
// gen_ai.agent.name, logfire.msg, final_result, usage, and
// pydantic_ai.all_messages + gen_ai.system_instructions (v2+) or
// all_messages_events (v1). Tool spans: _run_tool_span — "running tool" with
// tool_arguments / tool_response (v2) or "execute_tool <tool>" with
// gen_ai.tool.call.arguments / gen_ai.tool.call.result (v3+, from
// InstrumentationNames.for_version), gen_ai.tool.name, gen_ai.tool.call.id;
// failures are record_exception + status ERROR.
func TestSourcePydanticAI(t *testing.T) {
	inV2 := `[{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]},{"role":"assistant","parts":[{"type":"tool_call","id":"call_p1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"}],"finish_reason":"tool_call"},{"role":"tool","parts":[{"type":"tool_call_response","id":"call_p1","name":"get_weather","result":"18°C"}]}]`
	inWant := []string{
		"user: text:Weather in Paris?",
		`assistant: call:call_p1:get_weather:{"city":"Paris"}`,
		`tool: resp:call_p1:"18°C"`,
	}
	// Version 1's event dicts (InstrumentedModel.event_to_dict).
	eventsV1 := js([]map[string]any{
		{"content": "Be concise.", "role": "system", "gen_ai.system": "openai", "event.name": "gen_ai.system.message"},
		{"content": "Weather in Paris?", "role": "user", "gen_ai.system": "openai", "gen_ai.message.index": 0, "event.name": "gen_ai.user.message"},
		{"role": "assistant", "tool_calls": []any{map[string]any{"id": "call_p1", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city":"Paris"}`}}}, "gen_ai.system": "openai", "gen_ai.message.index": 1, "event.name": "gen_ai.assistant.message"},
		{"content": "18°C", "role": "tool", "id": "call_p1", "name": "get_weather", "gen_ai.system": "openai", "gen_ai.message.index": 2, "event.name": "gen_ai.tool.message"},
		{"index": 0, "message": map[string]any{"role": "assistant", "content": []any{map[string]any{"kind": "thinking", "text": "Easy."}, map[string]any{"kind": "text", "text": "It is 18°C."}}}, "gen_ai.system": "openai", "event.name": "gen_ai.choice"},
	})
	runSources(t, []srcCase{
		{
			name: "v2 chat span", scope: "pydantic-ai", span: "chat gpt-4o", kind: ptrace.SpanKindClient,
			attrs: map[string]any{
				"gen_ai.operation.name":                  "chat",
				"gen_ai.provider.name":                   "openai",
				"gen_ai.system":                          "openai",
				"gen_ai.request.model":                   "gpt-4o",
				"server.address":                         "api.openai.com",
				"model_request_parameters":               `{"function_tools":[{"name":"get_weather","parameters_json_schema":{"type":"object"}}],"builtin_tools":[],"output_mode":"text","output_object":null,"output_tools":[],"allow_text_output":true}`,
				"gen_ai.agent.name":                      "weather_agent",
				"gen_ai.agent.call.id":                   "01999",
				"gen_ai.conversation.id":                 "conv-1",
				"gen_ai.tool.definitions":                `[{"type":"function","name":"get_weather","parameters":{"type":"object"}}]`,
				"logfire.json_schema":                    `{"type":"object","properties":{"gen_ai.input.messages":{"type":"array"},"gen_ai.output.messages":{"type":"array"},"gen_ai.system_instructions":{"type":"array"},"model_request_parameters":{"type":"object"}}}`,
				"gen_ai.input.messages":                  inV2,
				"gen_ai.output.messages":                 `[{"role":"assistant","parts":[{"type":"thinking","content":"Easy."},{"type":"text","content":"It is 18°C."}],"finish_reason":"stop"}]`,
				"gen_ai.system_instructions":             `[{"type":"text","content":"Be concise."}]`,
				"gen_ai.usage.input_tokens":              120,
				"gen_ai.usage.output_tokens":             9,
				"gen_ai.usage.details.cache_read_tokens": 64,
				"gen_ai.usage.details.reasoning_tokens":  4,
				"gen_ai.response.model":                  "gpt-4o-2024-08-06",
				"gen_ai.response.id":                     "chatcmpl-p2",
				"gen_ai.response.finish_reasons":         []any{"stop"},
				"operation.cost":                         0.00042,
			},
			want: srcWant{
				op: "chat", provider: "openai", agent: "weather_agent", conv: "conv-1",
				reqModel: "gpt-4o", respModel: "gpt-4o-2024-08-06", respID: "chatcmpl-p2",
				in: inWant, system: []string{"Be concise."},
				out:    []string{"assistant(stop): think:Easy. | text:It is 18°C."},
				finish: []string{"stop"}, inTok: n64(120), outTok: n64(9), cacheRead: n64(64), reasoning: n64(4),
				notCustom: []string{"gen_ai.usage.details.cache_read_tokens", "gen_ai.usage.details.reasoning_tokens"},
				custom:    []string{"model_request_parameters", "operation.cost"},
			},
		},
		{
			// Version 1 (event_mode 'attributes'): everything in "events".
			name: "v1 chat span with events attribute", scope: "pydantic-ai", span: "chat gpt-4o", kind: ptrace.SpanKindClient,
			attrs: map[string]any{
				"gen_ai.operation.name":      "chat",
				"gen_ai.system":              "openai",
				"gen_ai.request.model":       "gpt-4o",
				"model_request_parameters":   `{"function_tools":[],"output_tools":[],"allow_text_output":true}`,
				"events":                     eventsV1,
				"logfire.json_schema":        `{"type":"object","properties":{"events":{"type":"array"},"model_request_parameters":{"type":"object"}}}`,
				"gen_ai.usage.input_tokens":  120,
				"gen_ai.usage.output_tokens": 9,
				"gen_ai.response.model":      "gpt-4o-2024-08-06",
			},
			want: srcWant{
				op: "chat", provider: "openai", reqModel: "gpt-4o", respModel: "gpt-4o-2024-08-06",
				in:     append([]string{"system: text:Be concise."}, inWant...),
				system: []string{"Be concise."},
				out:    []string{"assistant: think:Easy. | text:It is 18°C."},
				inTok:  n64(120), outTok: n64(9),
				notCustom: []string{"events"},
			},
		},
		{
			// Version 2 agent run span (pydantic-ai 1.x default).
			name: "v2 agent run", scope: "pydantic-ai", span: "agent run",
			attrs: map[string]any{
				"model_name":                 "gpt-4o",
				"agent_name":                 "weather_agent",
				"gen_ai.agent.name":          "weather_agent",
				"logfire.msg":                "weather_agent run",
				"final_result":               "It is 18°C.",
				"gen_ai.usage.input_tokens":  190,
				"gen_ai.usage.output_tokens": 30,
				"pydantic_ai.all_messages":   `[{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]},{"role":"assistant","parts":[{"type":"tool_call","id":"call_p1","name":"get_weather","arguments":{"city":"Paris"}}],"finish_reason":"tool_call"},{"role":"tool","parts":[{"type":"tool_call_response","id":"call_p1","name":"get_weather","result":"18°C"}]},{"role":"assistant","parts":[{"type":"text","content":"It is 18°C."}],"finish_reason":"stop"}]`,
				"gen_ai.system_instructions": `[{"type":"text","content":"Be concise."}]`,
				"logfire.json_schema":        `{"type":"object","properties":{"pydantic_ai.all_messages":{"type":"array"},"gen_ai.system_instructions":{"type":"array"},"final_result":{"type":"object"}}}`,
			},
			want: srcWant{
				op: "invoke_agent", agent: "weather_agent", reqModel: "gpt-4o",
				in:     append(append([]string{}, inWant...), "assistant: text:It is 18°C."),
				system: []string{"Be concise."},
				out:    []string{"assistant: text:It is 18°C."},
				inTok:  n64(190), outTok: n64(30),
				notCustom: []string{"pydantic_ai.all_messages", "final_result", "agent_name", "model_name"},
			},
		},
		{
			// Version 3+ agent run span from the Instrumentation capability:
			// "invoke_agent <name>", gen_ai.operation.name, conversation id,
			// structured output as JSON text in final_result.
			name: "v3 agent run with structured output", scope: "pydantic-ai", span: "invoke_agent weather_agent",
			attrs: map[string]any{
				"model_name":                    "gpt-4o",
				"agent_name":                    "weather_agent",
				"gen_ai.agent.name":             "weather_agent",
				"gen_ai.agent.call.id":          "01999",
				"gen_ai.conversation.id":        "conv-1",
				"gen_ai.operation.name":         "invoke_agent",
				"logfire.msg":                   "weather_agent run",
				"final_result":                  `{"city":"Paris","temp_c":18}`,
				"gen_ai.usage.input_tokens":     190,
				"gen_ai.usage.output_tokens":    30,
				"pydantic_ai.all_messages":      `[{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]}]`,
				"pydantic_ai.new_message_index": 0,
			},
			want: srcWant{
				op: "invoke_agent", agent: "weather_agent", conv: "conv-1", reqModel: "gpt-4o",
				in:  []string{"user: text:Weather in Paris?"},
				out: []string{`assistant: text:{"city":"Paris","temp_c":18}`},
			},
		},
		{
			// Version 1 agent run: all_messages_events.
			name: "v1 agent run", scope: "pydantic-ai", span: "agent run",
			attrs: map[string]any{
				"model_name":   "gpt-4o",
				"agent_name":   "weather_agent",
				"logfire.msg":  "weather_agent run",
				"final_result": "It is 18°C.",
				// The run's last ModelResponse is an assistant message
				// event here, not a gen_ai.choice.
				"all_messages_events": strings.Replace(strings.Replace(eventsV1, `"event.name":"gen_ai.choice"`, `"event.name":"gen_ai.assistant.message"`, 1),
					`"index":0,"message":{"content":[{"kind":"thinking","text":"Easy."},{"kind":"text","text":"It is 18°C."}],"role":"assistant"}`,
					`"content":[{"kind":"thinking","text":"Easy."},{"kind":"text","text":"It is 18°C."}],"gen_ai.message.index":3,"role":"assistant"`, 1),
			},
			want: srcWant{
				op: "invoke_agent", agent: "weather_agent", reqModel: "gpt-4o",
				in:        append(append([]string{"system: text:Be concise."}, inWant...), "assistant: think:Easy. | text:It is 18°C."),
				out:       []string{"assistant: text:It is 18°C."},
				notCustom: []string{"all_messages_events"},
			},
		},
		{
			name: "v2 tool span", scope: "pydantic-ai", span: "running tool",
			attrs: map[string]any{
				"gen_ai.tool.name":    "get_weather",
				"gen_ai.tool.call.id": "call_p1",
				"tool_arguments":      `{"city":"Paris"}`,
				"tool_response":       "18°C",
				"logfire.msg":         "running tool: get_weather",
				"logfire.json_schema": `{"type":"object","properties":{"tool_arguments":{"type":"object"},"tool_response":{"type":"object"},"gen_ai.tool.name":{},"gen_ai.tool.call.id":{}}}`,
			},
			want: srcWant{op: "execute_tool", tool: "get_weather", toolID: "call_p1", toolArgs: `{"city":"Paris"}`, result: "18°C"},
		},
		{
			name: "v3 tool span with baggage", scope: "pydantic-ai", span: "execute_tool get_weather",
			attrs: map[string]any{
				"gen_ai.operation.name":      "execute_tool",
				"gen_ai.tool.name":           "get_weather",
				"gen_ai.tool.call.id":        "call_p1",
				"gen_ai.tool.call.arguments": `{"city":"Paris"}`,
				"gen_ai.tool.call.result":    `{"temp_c":18}`,
				"gen_ai.agent.name":          "weather_agent",
				"gen_ai.agent.call.id":       "01999",
				"logfire.msg":                "running tool: get_weather",
			},
			want: srcWant{op: "execute_tool", agent: "weather_agent", tool: "get_weather", toolID: "call_p1", toolArgs: `{"city":"Paris"}`, result: `{"temp_c":18}`},
		},
		{
			// ToolRetryError: the retry prompt is recorded as the tool
			// result, then record_exception + status ERROR.
			name: "v2 tool retry", scope: "pydantic-ai", span: "running tool", status: ptrace.StatusCodeError,
			attrs: map[string]any{
				"gen_ai.tool.name":    "get_weather",
				"gen_ai.tool.call.id": "call_p9",
				"tool_arguments":      `{"city":""}`,
				"tool_response":       "city must not be empty\n\nFix the errors and try again.",
				"logfire.msg":         "running tool: get_weather",
			},
			events: []srcEvent{exceptionEvent("ToolRetryError", "city must not be empty")},
			want: srcWant{
				op: "execute_tool", tool: "get_weather", toolID: "call_p9", toolArgs: `{"city":""}`,
				result: "city must not be empty\n\nFix the errors and try again.", errType: "ToolRetryError", status: "ERROR",
			},
		},
		{
			// Output function span (wrap_output_process), version 2 names.
			name: "v2 output function span", scope: "pydantic-ai", span: "running output function",
			attrs: map[string]any{
				"gen_ai.operation.name": "execute_tool",
				"gen_ai.tool.name":      "final_result",
				"gen_ai.tool.call.id":   "call_out",
				"tool_arguments":        `{"city":"Paris","temp_c":18}`,
				"tool_response":         `{"city":"Paris","temp_c":18}`,
				"logfire.msg":           "running output function: final_result",
			},
			want: srcWant{op: "execute_tool", tool: "final_result", toolID: "call_out", toolArgs: `{"city":"Paris","temp_c":18}`},
		},
	})
}

// Logfire's own LLM client instrumentation (github.com/pydantic/logfire,
// logfire/_internal/integrations/llm_providers/). llm_provider.py opens a
// span named after the message template (Logfire uses the template as the
// span name; logfire.msg holds the formatted message), scope
// "logfire.openai" / "logfire.anthropic", with the endpoint's span_data;
// Logfire stores dicts and lists as JSON text (with logfire.json_schema). A
// streamed call instead ends with a separate log (logfire.span_type "log")
// "streaming response from {request_data[model]!r} took {duration:.2f}s"
// carrying the same span_data plus duration and response_data
// (record_streaming). openai.py: chat completions keep the request body in
// request_data and on_response adds gen_ai.response.model,
// gen_ai.usage.input_tokens / output_tokens and response_data
// {message, usage}; newer releases add gen_ai.provider.name,
// gen_ai.operation.name, gen_ai.input.messages, gen_ai.system_instructions,
// gen_ai.output.messages, gen_ai.response.id / finish_reasons. The
// Responses API span of 3.x releases keeps its messages in "events"
// (inputs_to_events + responses_output_events, the output appended as
// assistant events); newer ones use the gen_ai.* message keys with
// request_data reduced to {model, stream}. anthropic.py: request_data is
// the request body, response_data {message: {role, content, tool_calls:
// [{id, function: {arguments: block.model_dump_json(include={'input'}),
// name}}]}, usage}, with gen_ai.* keys as above.
func TestSourceLogfire(t *testing.T) {
	chatReq := `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Weather in Paris?"}],"model":"gpt-4o","temperature":0,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]}`
	runSources(t, []srcCase{
		{
			name: "instrument_openai chat completion (semconv release)", scope: "logfire.openai",
			span: "Chat Completion with {request_data[model]!r}",
			attrs: map[string]any{
				"request_data":                   chatReq,
				"gen_ai.provider.name":           "openai",
				"gen_ai.operation.name":          "chat",
				"gen_ai.request.model":           "gpt-4o",
				"gen_ai.request.temperature":     0,
				"gen_ai.tool.definitions":        `[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}]`,
				"gen_ai.input.messages":          `[{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]}]`,
				"gen_ai.system_instructions":     `[{"type":"text","content":"Be brief."}]`,
				"async":                          false,
				"logfire.msg_template":           "Chat Completion with {request_data[model]!r}",
				"logfire.msg":                    "Chat Completion with 'gpt-4o'",
				"logfire.span_type":              "span",
				"logfire.tags":                   []any{"LLM"},
				"gen_ai.response.model":          "gpt-4o-2024-08-06",
				"gen_ai.response.id":             "chatcmpl-l1",
				"gen_ai.usage.input_tokens":      52,
				"gen_ai.usage.output_tokens":     14,
				"response_data":                  `{"message":{"content":null,"refusal":null,"role":"assistant","annotations":[],"audio":null,"function_call":null,"tool_calls":[{"id":"call_l1","function":{"arguments":"{\"city\":\"Paris\"}","name":"get_weather"},"type":"function"}]},"usage":{"completion_tokens":14,"prompt_tokens":52,"total_tokens":66,"completion_tokens_details":{"reasoning_tokens":0},"prompt_tokens_details":{"cached_tokens":32}}}`,
				"gen_ai.output.messages":         `[{"role":"assistant","parts":[{"type":"tool_call","id":"call_l1","name":"get_weather","arguments":{"city":"Paris"}}],"finish_reason":"tool_calls"}]`,
				"gen_ai.response.finish_reasons": []any{"tool_calls"},
				"operation.cost":                 0.0003,
			},
			want: srcWant{
				op: "chat", provider: "openai", reqModel: "gpt-4o", respModel: "gpt-4o-2024-08-06", respID: "chatcmpl-l1",
				in: []string{"user: text:Weather in Paris?"}, system: []string{"Be brief."},
				out:    []string{`assistant(tool_call): call:call_l1:get_weather:{"city":"Paris"}`},
				finish: []string{"tool_call"}, inTok: n64(52), outTok: n64(14), cacheRead: n64(32),
				notCustom: []string{"request_data", "response_data"},
			},
		},
		{
			// 3.x release: request_data / response_data only, plus
			// gen_ai.system, gen_ai.request.model / response.model, usage.
			name: "instrument_openai chat completion (3.x)", scope: "logfire.openai",
			span: "Chat Completion with {request_data[model]!r}",
			attrs: map[string]any{
				"request_data":               chatReq,
				"gen_ai.request.model":       "gpt-4o",
				"async":                      false,
				"logfire.msg_template":       "Chat Completion with {request_data[model]!r}",
				"logfire.msg":                "Chat Completion with 'gpt-4o'",
				"logfire.span_type":          "span",
				"gen_ai.system":              "openai",
				"gen_ai.response.model":      "gpt-4o-2024-08-06",
				"gen_ai.usage.input_tokens":  52,
				"gen_ai.usage.output_tokens": 14,
				"response_data":              `{"message":{"content":"Sunny.","refusal":null,"role":"assistant","tool_calls":null},"usage":{"completion_tokens":14,"prompt_tokens":52,"total_tokens":66,"completion_tokens_details":{"reasoning_tokens":6},"prompt_tokens_details":{"cached_tokens":0}}}`,
			},
			want: srcWant{
				op: "chat", provider: "openai", reqModel: "gpt-4o", respModel: "gpt-4o-2024-08-06",
				in:     []string{"system: text:Be brief.", "user: text:Weather in Paris?"},
				system: []string{"Be brief."}, out: []string{"assistant: text:Sunny."},
				inTok: n64(52), outTok: n64(14), reasoning: n64(6),
			},
		},
		{
			name: "instrument_openai streamed chat log", scope: "logfire.openai",
			span: "streaming response from {request_data[model]!r} took {duration:.2f}s",
			attrs: map[string]any{
				"request_data":         `{"messages":[{"role":"user","content":"Capital of France?"}],"model":"gpt-4o","stream":true}`,
				"gen_ai.request.model": "gpt-4o",
				"async":                false,
				"duration":             0.42,
				"response_data":        `{"message":{"content":"Paris.","refusal":null,"role":"assistant","tool_calls":null,"parsed":null},"usage":null}`,
				"logfire.msg_template": "streaming response from {request_data[model]!r} took {duration:.2f}s",
				"logfire.msg":          "streaming response from 'gpt-4o' took 0.42s",
				"logfire.span_type":    "log",
				"logfire.level_num":    9,
			},
			want: srcWant{
				op: "chat", reqModel: "gpt-4o",
				in: []string{"user: text:Capital of France?"}, out: []string{"assistant: text:Paris."},
			},
		},
		{
			name: "instrument_openai responses api (3.x events)", scope: "logfire.openai",
			span: "Responses API with {gen_ai.request.model!r}",
			attrs: map[string]any{
				"gen_ai.request.model": "gpt-4o",
				"events": js([]map[string]any{
					{"event.name": "gen_ai.system.message", "content": "Be brief.", "role": "system"},
					{"event.name": "gen_ai.user.message", "content": "Weather in Paris?", "role": "user"},
					{"event.name": "gen_ai.assistant.message", "role": "assistant", "tool_calls": []any{map[string]any{"id": "call_r1", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city":"Paris"}`}}}},
					{"event.name": "gen_ai.tool.message", "role": "tool", "id": "call_r1", "content": "18°C", "name": "get_weather"},
					{"event.name": "gen_ai.assistant.message", "content": "It is 18°C.", "role": "assistant"},
				}),
				"async":                      false,
				"logfire.msg_template":       "Responses API with {gen_ai.request.model!r}",
				"logfire.msg":                "Responses API with 'gpt-4o'",
				"logfire.span_type":          "span",
				"gen_ai.system":              "openai",
				"gen_ai.response.model":      "gpt-4o-2024-08-06",
				"gen_ai.usage.input_tokens":  80,
				"gen_ai.usage.output_tokens": 7,
			},
			want: srcWant{
				op: "chat", provider: "openai", reqModel: "gpt-4o", respModel: "gpt-4o-2024-08-06",
				in: []string{
					"system: text:Be brief.", "user: text:Weather in Paris?",
					`assistant: call:call_r1:get_weather:{"city":"Paris"}`, `tool: resp:call_r1:"18°C"`,
				},
				system: []string{"Be brief."}, out: []string{"assistant: text:It is 18°C."},
				inTok: n64(80), outTok: n64(7), notCustom: []string{"events"},
			},
		},
		{
			name: "instrument_openai responses api (semconv release)", scope: "logfire.openai",
			span: "Responses API with {request_data[model]!r}",
			attrs: map[string]any{
				"gen_ai.provider.name":           "openai",
				"gen_ai.operation.name":          "chat",
				"gen_ai.request.model":           "gpt-4o",
				"request_data":                   `{"model":"gpt-4o","stream":false}`,
				"gen_ai.input.messages":          `[{"role":"user","parts":[{"type":"text","content":"Hi"}]}]`,
				"gen_ai.system_instructions":     `[{"type":"text","content":"Be brief."}]`,
				"async":                          false,
				"gen_ai.response.model":          "gpt-4o-2024-08-06",
				"gen_ai.response.id":             "resp_l2",
				"gen_ai.usage.input_tokens":      12,
				"gen_ai.usage.output_tokens":     3,
				"gen_ai.output.messages":         `[{"role":"assistant","parts":[{"type":"text","content":"Hello!"}]}]`,
				"gen_ai.response.finish_reasons": []any{"stop"},
			},
			want: srcWant{
				op: "chat", provider: "openai", reqModel: "gpt-4o", respID: "resp_l2",
				in: []string{"user: text:Hi"}, system: []string{"Be brief."},
				out: []string{"assistant(stop): text:Hello!"}, finish: []string{"stop"},
			},
		},
		{
			// Semconv version 1 (the default): request_data is the whole
			// request, response_data the digest with Anthropic's usage.
			name: "instrument_anthropic message with tool use", scope: "logfire.anthropic",
			span: "Message with {request_data[model]!r}",
			attrs: map[string]any{
				"request_data":                   `{"max_tokens":1024,"messages":[{"role":"user","content":"Weather in Paris?"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"18°C"}]}],"model":"claude-sonnet-4-5","system":"Be brief."}`,
				"gen_ai.system":                  "anthropic",
				"gen_ai.provider.name":           "anthropic",
				"gen_ai.operation.name":          "chat",
				"gen_ai.request.model":           "claude-sonnet-4-5",
				"gen_ai.request.max_tokens":      1024,
				"async":                          false,
				"logfire.msg_template":           "Message with {request_data[model]!r}",
				"logfire.msg":                    "Message with 'claude-sonnet-4-5'",
				"response_data":                  `{"message":{"role":"assistant","content":"Checking Lyon too.","tool_calls":[{"id":"toolu_2","function":{"arguments":"{\"input\":{\"city\":\"Lyon\"}}","name":"get_weather"}}]},"usage":{"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"input_tokens":30,"output_tokens":12,"server_tool_use":null,"service_tier":"standard"}}`,
				"gen_ai.response.model":          "claude-sonnet-4-5-20250929",
				"gen_ai.response.id":             "msg_l3",
				"gen_ai.usage.input_tokens":      30,
				"gen_ai.usage.output_tokens":     12,
				"gen_ai.response.finish_reasons": []any{"tool_use"},
			},
			want: srcWant{
				op: "chat", provider: "anthropic", reqModel: "claude-sonnet-4-5", respModel: "claude-sonnet-4-5-20250929", respID: "msg_l3",
				in: []string{
					"user: text:Weather in Paris?",
					`assistant: call:toolu_1:get_weather:{"city":"Paris"}`,
					`user: resp:toolu_1:"18°C"`,
				},
				system: []string{"Be brief."},
				out:    []string{`assistant(tool_call): text:Checking Lyon too. | call:toolu_2:get_weather:{"city":"Lyon"}`},
				finish: []string{"tool_call"},
				// Anthropic's input_tokens excludes the cache; the
				// conventions' input_tokens includes it.
				inTok: n64(130), outTok: n64(12), cacheRead: n64(100), cacheWrite: n64(0),
			},
		},
		{
			name: "instrument_anthropic (latest semconv)", scope: "logfire.anthropic",
			span: "Message with {request_data[model]!r}",
			attrs: map[string]any{
				"request_data":                   `{"model":"claude-sonnet-4-5"}`,
				"gen_ai.system":                  "anthropic",
				"gen_ai.provider.name":           "anthropic",
				"gen_ai.operation.name":          "chat",
				"gen_ai.request.model":           "claude-sonnet-4-5",
				"gen_ai.input.messages":          `[{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]},{"role":"assistant","parts":[{"type":"tool_call","id":"toolu_1","name":"get_weather","arguments":{"city":"Paris"}}]},{"role":"user","parts":[{"type":"tool_call_response","id":"toolu_1","response":"18°C"}]}]`,
				"gen_ai.system_instructions":     `[{"type":"text","content":"Be brief."}]`,
				"gen_ai.output.messages":         `[{"role":"assistant","parts":[{"type":"text","content":"It is 18°C."}],"finish_reason":"end_turn"}]`,
				"gen_ai.response.model":          "claude-sonnet-4-5-20250929",
				"gen_ai.response.id":             "msg_l4",
				"gen_ai.usage.input_tokens":      40,
				"gen_ai.usage.output_tokens":     8,
				"gen_ai.response.finish_reasons": []any{"end_turn"},
			},
			want: srcWant{
				op: "chat", provider: "anthropic", reqModel: "claude-sonnet-4-5", respID: "msg_l4",
				in: []string{
					"user: text:Weather in Paris?",
					`assistant: call:toolu_1:get_weather:{"city":"Paris"}`,
					`user: resp:toolu_1:"18°C"`,
				},
				system: []string{"Be brief."}, out: []string{"assistant(stop): text:It is 18°C."}, finish: []string{"stop"},
				inTok: n64(40), outTok: n64(8),
			},
		},
		{
			// The client raised: Logfire's span records the exception
			// (status ERROR); no response attributes.
			name: "instrument_openai failed call", scope: "logfire.openai",
			span:   "Chat Completion with {request_data[model]!r}",
			status: ptrace.StatusCodeError, msg: "RateLimitError: Error code: 429",
			attrs: map[string]any{
				"request_data":         `{"messages":[{"role":"user","content":"Hi"}],"model":"gpt-4o"}`,
				"gen_ai.request.model": "gpt-4o",
				"async":                false,
				"logfire.msg_template": "Chat Completion with {request_data[model]!r}",
				"logfire.level_num":    17,
			},
			events: []srcEvent{exceptionEvent("RateLimitError", "Error code: 429")},
			want: srcWant{
				op: "chat", reqModel: "gpt-4o", in: []string{"user: text:Hi"}, out: []string{},
				errType: "RateLimitError", status: "ERROR",
			},
		},
	})
}
