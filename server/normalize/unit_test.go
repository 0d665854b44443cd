package normalize

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/model"
)

// oneSpan builds a ResourceSpans holding one valid span with attrs.
func oneSpan(t testing.TB, name string, res, attrs map[string]any) ptrace.ResourceSpans {
	t.Helper()
	rs := ptrace.NewResourceSpans()
	putAttrs(t, rs.Resource().Attributes(), res)
	sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	sp.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
	sp.SetName(name)
	sp.SetStartTimestamp(pcommon.NewTimestampFromTime(specBase))
	sp.SetEndTimestamp(pcommon.NewTimestampFromTime(specBase.Add(time.Second)))
	putAttrs(t, sp.Attributes(), attrs)
	return rs
}

func normalizeOne(t testing.TB, rs ptrace.ResourceSpans, opts Options) (model.Span, []Warning) {
	t.Helper()
	if opts.DefaultProject == "" {
		opts.DefaultProject = "default/p"
	}
	spans, warns := Normalize(rs, opts)
	if len(spans) != 1 {
		t.Fatalf("got %d spans, want 1 (warnings %v)", len(spans), warns)
	}
	return spans[0], warns
}

func TestProjectRouting(t *testing.T) {
	tests := []struct {
		name string
		res  map[string]any
		def  string
		want string
	}{
		{"entity and project", map[string]any{"wandb.entity": "acme", "wandb.project": "agents"}, "d/p", "acme/agents"},
		{"project already qualified", map[string]any{"wandb.entity": "acme", "wandb.project": "other/agents"}, "d/p", "other/agents"},
		{"project only", map[string]any{"wandb.project": "solo"}, "d/p", "solo"},
		{"entity only falls back", map[string]any{"wandb.entity": "acme"}, "d/p", "d/p"},
		{"nothing falls back", nil, "d/p", "d/p"},
		{"blank values fall back", map[string]any{"wandb.entity": " ", "wandb.project": ""}, "d/p", "d/p"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := normalizeOne(t, oneSpan(t, "x", tt.res, nil), Options{DefaultProject: tt.def})
			if s.ProjectID != tt.want {
				t.Errorf("project_id = %q, want %q", s.ProjectID, tt.want)
			}
		})
	}
}

func TestRejectedSpansLeaveTheRest(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(sp ptrace.Span)
		wantCode string
	}{
		{"zero trace id", func(sp ptrace.Span) { sp.SetTraceID(pcommon.TraceID{}) }, CodeInvalidTraceID},
		{"zero span id", func(sp ptrace.Span) { sp.SetSpanID(pcommon.SpanID{}) }, CodeInvalidSpanID},
		{"no start time", func(sp ptrace.Span) { sp.SetStartTimestamp(0) }, CodeMissingStartTime},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := oneSpan(t, "good", nil, map[string]any{"gen_ai.operation.name": "chat"})
			ss := rs.ScopeSpans().At(0)
			bad := ss.Spans().AppendEmpty()
			ss.Spans().At(0).CopyTo(bad)
			bad.SetSpanID(pcommon.SpanID{9, 9, 9, 9, 9, 9, 9, 9})
			bad.SetName("bad")
			tt.mutate(bad)
			spans, warns := Normalize(rs, Options{DefaultProject: "d/p"})
			if len(spans) != 1 || spans[0].SpanName != "good" {
				t.Fatalf("got %d spans, want only the good one", len(spans))
			}
			if len(warns) != 1 || warns[0].Code != tt.wantCode || !warns[0].Rejected {
				t.Errorf("warnings = %v, want one rejected %s", warns, tt.wantCode)
			}
		})
	}
	t.Run("no project", func(t *testing.T) {
		spans, warns := Normalize(oneSpan(t, "x", nil, nil), Options{})
		if len(spans) != 0 || len(warns) != 1 || warns[0].Code != CodeNoProject {
			t.Errorf("got %d spans, warnings %v; want none and %s", len(spans), warns, CodeNoProject)
		}
	})
}

func TestBasicsAndRunningSpan(t *testing.T) {
	rs := oneSpan(t, "chat gpt-4o", nil, map[string]any{"gen_ai.request.model": "gpt-4o"})
	sp := rs.ScopeSpans().At(0).Spans().At(0)
	sp.SetEndTimestamp(0)
	sp.SetKind(ptrace.SpanKindClient)
	sp.SetParentSpanID(pcommon.SpanID{0xa, 0xb, 0, 0, 0, 0, 0, 1})
	sp.Status().SetCode(ptrace.StatusCodeError)
	sp.Status().SetMessage("boom")
	s, _ := normalizeOne(t, rs, Options{})
	checks := []struct{ field, got, want string }{
		{"trace_id", s.TraceID, "0102030405060708090a0b0c0d0e0f10"},
		{"span_id", s.SpanID, "0102030405060708"},
		{"parent_span_id", s.ParentSpanID, "0a0b000000000001"},
		{"span_kind", s.SpanKind, model.KindClient},
		{"status_code", s.StatusCode, model.StatusError},
		{"status_message", s.StatusMessage, "boom"},
		{"operation_name", s.OperationName, model.OpChat},
		{"started_at", s.StartedAt.Format(time.RFC3339), "2026-11-22T12:00:00Z"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if !s.IsRunning() {
		t.Errorf("IsRunning() = false, want true for a span without end time")
	}
}

func TestCustomAttrs(t *testing.T) {
	long := strings.Repeat("é", 100) // 200 bytes
	rs := oneSpan(t, "x", nil, map[string]any{
		"flag":          true,
		"count":         int64(7),
		"ratio":         0.5,
		"text":          "hello",
		"blank":         "  ",
		"long":          long,
		"weave.keep":    long,
		"nested":        map[string]any{"a": map[string]any{"b": int64(1)}},
		"list":          []any{"x", "y"},
		"empty_list":    []any{},
		"gen_ai.system": "openai", // consumed by a mapping
	})
	sp := rs.ScopeSpans().At(0).Spans().At(0)
	sp.Attributes().PutDouble("nan", math.NaN())
	sp.Attributes().PutDouble("inf", math.Inf(1))
	sp.Attributes().PutEmptyBytes("bytes").FromRaw([]byte{1, 2, 3})
	s, warns := normalizeOne(t, rs, Options{MaxCustomValueBytes: 51})
	if got := s.CustomAttrsBool["flag"]; !got {
		t.Errorf("custom_attrs_bool.flag = %v, want true", got)
	}
	if got := s.CustomAttrsInt["count"]; got != 7 {
		t.Errorf("custom_attrs_int.count = %d, want 7", got)
	}
	if got := s.CustomAttrsInt["nested.a.b"]; got != 1 {
		t.Errorf("custom_attrs_int[nested.a.b] = %d, want 1", got)
	}
	if got := s.CustomAttrsFloat["ratio"]; got != 0.5 {
		t.Errorf("custom_attrs_float.ratio = %v, want 0.5", got)
	}
	for _, k := range []string{"nan", "inf", "blank", "empty_list", "gen_ai.system"} {
		if _, ok := s.CustomAttrsFloat[k]; ok {
			t.Errorf("custom attr %q kept, want dropped", k)
		}
		if _, ok := s.CustomAttrsString[k]; ok {
			t.Errorf("custom attr %q kept, want dropped", k)
		}
	}
	if got, want := s.CustomAttrsString["list"], `["x","y"]`; got != want {
		t.Errorf("list = %q, want %q", got, want)
	}
	if got, want := s.CustomAttrsString["bytes"], "AQID"; got != want {
		t.Errorf("bytes = %q, want %q", got, want)
	}
	if got, want := s.CustomAttrsString["long"], strings.Repeat("é", 25)+TruncationMarker; got != want {
		t.Errorf("long = %q, want %q (cut on a rune boundary)", got, want)
	}
	if got := s.CustomAttrsString["weave.keep"]; got != long {
		t.Errorf("weave.keep was cut (%d bytes), want it whole", len(got))
	}
	if len(warns) != 1 || warns[0].Code != CodeCustomTruncated {
		t.Errorf("warnings = %v, want one %s", warns, CodeCustomTruncated)
	}
	if s.ProviderName != "openai" {
		t.Errorf("provider_name = %q, want openai", s.ProviderName)
	}
}

func TestCustomAttrsCountCap(t *testing.T) {
	attrs := map[string]any{"weave.claude_code.a": "kept", "weave.claude_code.b": "kept"}
	for i := range 20 {
		attrs[string(rune('a'+i))+"_key"] = int64(i)
	}
	s, _ := normalizeOne(t, oneSpan(t, "x", nil, attrs), Options{MaxCustomAttrs: 5})
	n := len(s.CustomAttrsInt) - 1 // minus the dropped counter
	if n+len(s.CustomAttrsString) > 5+2 {
		t.Errorf("kept %d int + %d string custom attrs, want at most 5 plus the weave.* ones", n, len(s.CustomAttrsString))
	}
	if s.CustomAttrsString["weave.claude_code.a"] != "kept" || s.CustomAttrsString["weave.claude_code.b"] != "kept" {
		t.Errorf("weave.* keys dropped: %v", s.CustomAttrsString)
	}
	if got := s.CustomAttrsInt[KeyDroppedCustomAttrs]; got == 0 {
		t.Errorf("%s = 0, want the dropped count", KeyDroppedCustomAttrs)
	}
}

func TestInputTokenRule(t *testing.T) {
	tests := []struct {
		name  string
		scope string
		attrs map[string]any
		want  string
	}{
		{"inclusive OpenAI kept", "", map[string]any{"gen_ai.provider.name": "openai", "gen_ai.usage.input_tokens": int64(187), "gen_ai.usage.cache_read.input_tokens": int64(64)}, "187"},
		{"smaller than cache is disjoint", "", map[string]any{"gen_ai.provider.name": "anthropic", "gen_ai.usage.input_tokens": int64(23), "gen_ai.usage.cache_read.input_tokens": int64(1024)}, "1047"},
		{"cache_write adds too", "", map[string]any{"gen_ai.usage.input_tokens": int64(5), "gen_ai.usage.cache_write.input_tokens": int64(100)}, "105"},
		{"Traceloop Anthropic disjoint even when larger", "@traceloop/instrumentation-anthropic", map[string]any{"gen_ai.provider.name": "anthropic", "gen_ai.usage.input_tokens": int64(2000), "gen_ai.usage.cache_read.input_tokens": int64(1000)}, "3000"},
		{"OpenLIT Anthropic disjoint", "@openlit/instrumentation-anthropic", map[string]any{"gen_ai.provider.name": "anthropic", "gen_ai.usage.input_tokens": int64(2000), "gen_ai.usage.cache_read.input_tokens": int64(1000)}, "3000"},
		{"Anthropic SDK span inclusive", "com.anthropic.sdk.typescript", map[string]any{"gen_ai.provider.name": "anthropic", "gen_ai.usage.input_tokens": int64(1047), "gen_ai.usage.cache_read.input_tokens": int64(1024)}, "1047"},
		{"weave-agentd inclusive", weaveScope, map[string]any{"gen_ai.usage.input_tokens": int64(10), "gen_ai.usage.cache_read.input_tokens": int64(1024)}, "10"},
		{"no usage stays nil", "", map[string]any{"gen_ai.provider.name": "openai"}, "nil"},
		{"zero is kept", "", map[string]any{"gen_ai.usage.input_tokens": int64(0)}, "0"},
		{"pre-1.37 prompt_tokens", "", map[string]any{"gen_ai.usage.prompt_tokens": int64(9)}, "9"},
		{"numeric string accepted", "", map[string]any{"gen_ai.usage.input_tokens": "12"}, "12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := oneSpan(t, "chat m", nil, tt.attrs)
			rs.ScopeSpans().At(0).Scope().SetName(tt.scope)
			s, _ := normalizeOne(t, rs, Options{})
			if got := ptrStr(s.InputTokens); got != tt.want {
				t.Errorf("input_tokens = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestBadTokenValues(t *testing.T) {
	tests := []struct {
		name string
		v    any
	}{
		{"negative", int64(-5)},
		{"text", "many"},
		{"fraction", 1.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, warns := normalizeOne(t, oneSpan(t, "chat m", nil, map[string]any{"gen_ai.usage.output_tokens": tt.v}), Options{})
			if s.OutputTokens != nil {
				t.Errorf("output_tokens = %d, want nil", *s.OutputTokens)
			}
			if len(warns) != 1 || warns[0].Code != CodeBadValue || warns[0].Rejected {
				t.Errorf("warnings = %v, want one non-rejecting %s", warns, CodeBadValue)
			}
		})
	}
}

func TestCanonicalNames(t *testing.T) {
	providers := map[string]string{
		"openai.chat": "openai", "openai.responses": "openai", "OpenAI": "openai", "anthropic.messages": "anthropic",
		"google.generative-ai": "gcp.gemini", "google.vertex.chat": "gcp.vertex_ai", "gcp.vertex.agent": "",
		"amazon-bedrock": "aws.bedrock", "mistralai": "mistral_ai", "azure.ai.openai": "azure.ai.openai", "": "",
		"langchain": "", "x_ai": "x_ai",
	}
	for in, want := range providers {
		if got := canonicalProvider(in); got != want {
			t.Errorf("canonicalProvider(%q) = %q, want %q", in, got, want)
		}
	}
	reasons := map[string]string{
		"end_turn": "stop", "tool_use": "tool_call", "tool-calls": "tool_call", "tool_calls": "tool_call",
		"MAX_TOKENS": "length", "STOP": "stop", "SAFETY": "content_filter", "completed": "stop", "pause_turn": "pause_turn",
	}
	for in, want := range reasons {
		if got := canonicalFinishReason(in); got != want {
			t.Errorf("canonicalFinishReason(%q) = %q, want %q", in, got, want)
		}
	}
	ops := map[string]string{
		"LLM": "chat", "CHAIN": "chain", "TOOL": "execute_tool", "AGENT": "invoke_agent", "workflow": "invoke_workflow",
		"EMBEDDING": "embeddings", "RETRIEVER": "retrieval", "agent_step": "agent_step",
	}
	for in, want := range ops {
		if got := canonicalOperation(in); got != want {
			t.Errorf("canonicalOperation(%q) = %q, want %q", in, got, want)
		}
	}
	names := []struct{ span, op, agent, tool string }{
		{"invoke_agent planner", "invoke_agent", "planner", ""},
		{"execute_tool get_weather", "execute_tool", "", "get_weather"},
		{"chat gpt-4o", "chat", "", ""},
		{"chatty span", "", "", ""},
		{"embeddings", "embeddings", "", ""},
	}
	for _, n := range names {
		s, _ := normalizeOne(t, oneSpan(t, n.span, nil, nil), Options{})
		if s.OperationName != n.op || s.AgentName != n.agent || s.ToolName != n.tool {
			t.Errorf("span %q: op/agent/tool = %q/%q/%q, want %q/%q/%q", n.span, s.OperationName, s.AgentName, s.ToolName, n.op, n.agent, n.tool)
		}
	}
}

func TestParseMessages(t *testing.T) {
	tests := []struct {
		name string
		in   string
		dir  direction
		want string // compact JSON of the messages
	}{
		{"plain string", `"hello"`, dirInput, `[{"role":"user","parts":[{"type":"text","content":"hello"}]}]`},
		{"parts schema with result", `[{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","result":{"ok":true}}]}]`, dirInput,
			`[{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":{"ok":true}}]}]`},
		{"openai chat with tool calls", `[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"done"}]`, dirInput,
			`[{"role":"assistant","parts":[{"type":"tool_call","id":"c1","name":"f","arguments":{"a":1}}]},{"role":"tool","parts":[{"type":"tool_call_response","id":"c1","response":"done"}]}]`},
		{"anthropic blocks", `[{"role":"assistant","content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"Hi"},{"type":"tool_use","id":"t1","name":"g","input":{"x":"y"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"42"}]}]}]`, dirInput,
			`[{"role":"assistant","parts":[{"type":"reasoning","content":"hmm"},{"type":"text","content":"Hi"},{"type":"tool_call","id":"t1","name":"g","arguments":{"x":"y"}}]},{"role":"user","parts":[{"type":"tool_call_response","id":"t1","response":"42"}]}]`},
		{"anthropic image", `[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAA"}}]}]`, dirInput,
			`[{"role":"user","parts":[{"type":"blob","content":"AAA","mime_type":"image/png","modality":"image"}]}]`},
		{"openai image_url", `[{"role":"user","content":[{"type":"text","text":"see"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]`, dirInput,
			`[{"role":"user","parts":[{"type":"text","content":"see"},{"type":"uri","modality":"image","uri":"https://x/y.png"}]}]`},
		{"ai sdk tool call and result", `[{"role":"assistant","content":[{"type":"tool-call","toolCallId":"c","toolName":"f","input":{"q":1}}]},{"role":"tool","content":[{"type":"tool-result","toolCallId":"c","toolName":"f","output":{"type":"text","value":"ok"}}]}]`, dirInput,
			`[{"role":"assistant","parts":[{"type":"tool_call","id":"c","name":"f","arguments":{"q":1}}]},{"role":"tool","parts":[{"type":"tool_call_response","id":"c","response":"ok"}]}]`},
		{"gemini contents", `{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"functionCall":{"name":"f","args":{"a":1}}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"r":2}}}]}]}`, dirInput,
			`[{"role":"user","parts":[{"type":"text","content":"hi"}]},{"role":"assistant","parts":[{"type":"tool_call","name":"f","arguments":{"a":1}}]},{"role":"user","parts":[{"type":"tool_call_response","response":{"r":2}}]}]`},
		{"openai chat response", `{"id":"x","object":"chat.completion","choices":[{"finish_reason":"stop","message":{"role":"assistant","content":"Paris"}}]}`, dirOutput,
			`[{"role":"assistant","parts":[{"type":"text","content":"Paris"}],"finish_reason":"stop"}]`},
		{"responses request", `{"model":"m","instructions":"be brief","input":[{"role":"user","content":"hi"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"r"}]}`, dirInput,
			`[{"role":"user","parts":[{"type":"text","content":"hi"}]},{"role":"assistant","parts":[{"type":"tool_call","id":"c","name":"f","arguments":{}}]},{"role":"tool","parts":[{"type":"tool_call_response","id":"c","response":"r"}]}]`},
		{"langchain serialized", `{"messages":[[{"lc":1,"type":"constructor","id":["langchain_core","messages","AIMessage"],"kwargs":{"content":"","tool_calls":[{"name":"f","args":{"a":1},"id":"c"}]}}]]}`, dirInput,
			`[{"role":"assistant","parts":[{"type":"tool_call","id":"c","name":"f","arguments":{"a":1}}]}]`},
		{"single key object", `{"question":"why?"}`, dirInput, `[{"role":"user","parts":[{"type":"text","content":"why?"}]}]`},
		{"other object kept as json", `{"a":1,"b":2}`, dirOutput, `[{"role":"assistant","parts":[{"type":"text","content":"{\"a\":1,\"b\":2}"}]}]`},
		{"empty texts dropped", `[{"role":"assistant","parts":[{"type":"text","content":""}]}]`, dirOutput, `null`},
		{"stringified text blocks", `[{"role":"system","parts":[{"type":"text","content":"[{\"type\":\"text\",\"text\":\"Be kind.\"}]"}]}]`, dirInput,
			`[{"role":"system","parts":[{"type":"text","content":"Be kind."}]}]`},
		{"gemini snake_case parts", `[{"role":"model","parts":[{"function_call":{"name":"f","args":{"a":1}}},{"inline_data":{"mime_type":"image/png","data":"QQ=="}}]}]`, dirOutput,
			`[{"role":"assistant","parts":[{"type":"tool_call","name":"f","arguments":{"a":1}},{"type":"blob","content":"QQ==","mime_type":"image/png","modality":"image"}]}]`},
		{"bedrock blocks", `[{"role":"assistant","content":[{"toolUse":{"toolUseId":"u","name":"f","input":{}}}]}]`, dirInput,
			`[{"role":"assistant","parts":[{"type":"tool_call","id":"u","name":"f","arguments":{}}]}]`},
		{"data url", `[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,QUJD"}}]}]`, dirInput,
			`[{"role":"user","parts":[{"type":"blob","content":"QUJD","mime_type":"image/jpeg","modality":"image"}]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := decodeMaybeJSON(tt.in)
			got, err := json.Marshal(parseMessages(v, tt.dir))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("parseMessages(%s):\ngot  %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestEventsFromLogs(t *testing.T) {
	rl := plog.NewResourceLogs()
	rl.Resource().Attributes().PutStr("wandb.entity", "e")
	rl.Resource().Attributes().PutStr("wandb.project", "p")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	add := func(name string, viaAttr, withSpan bool) plog.LogRecord {
		lr := lrs.AppendEmpty()
		if viaAttr {
			lr.Attributes().PutStr("event.name", name)
		} else {
			lr.SetEventName(name)
		}
		if withSpan {
			lr.SetTraceID(pcommon.TraceID{1})
			lr.SetSpanID(pcommon.SpanID{2})
		}
		lr.SetTimestamp(pcommon.NewTimestampFromTime(specBase))
		return lr
	}
	add("gen_ai.user.message", true, true).Body().SetEmptyMap().PutStr("content", "hi")
	add("gen_ai.client.inference.operation.details", false, true).Attributes().PutStr("gen_ai.provider.name", "openai")
	add("app.log", true, true)
	add("gen_ai.choice", true, false)
	evs, skipped := EventsFromLogs(rl, "d/p")
	if len(evs) != 2 {
		t.Fatalf("got %d events, want 2", len(evs))
	}
	if evs[0].ProjectID != "e/p" || evs[0].Ref.SpanID != "0200000000000000" || evs[0].Event.Name != "gen_ai.user.message" {
		t.Errorf("first event = %+v, want project e/p, span 0200000000000000, gen_ai.user.message", evs[0])
	}
	if body, _ := evs[0].Event.Attributes[EventBodyKey].(map[string]any); body["content"] != "hi" {
		t.Errorf("body = %v, want content hi", evs[0].Event.Attributes[EventBodyKey])
	}
	if _, ok := evs[0].Event.Attributes["event.name"]; ok {
		t.Errorf("event.name kept as an attribute, want it removed")
	}
	if _, ok := evs[1].Event.Attributes[EventBodyKey]; ok {
		t.Errorf("empty body kept, want none")
	}
	if skipped[SkipNotGenAI] != 1 || skipped[SkipNoSpan] != 1 {
		t.Errorf("skipped = %v, want one %s and one %s", skipped, SkipNotGenAI, SkipNoSpan)
	}
}

func TestRenormalizeAddsLateEventsOnce(t *testing.T) {
	rs := oneSpan(t, "chat gpt-4o", nil, map[string]any{"gen_ai.system": "openai"})
	s, _ := normalizeOne(t, rs, Options{})
	user := model.Event{Name: "gen_ai.user.message", Time: specBase, Attributes: map[string]any{EventBodyKey: map[string]any{"content": "hi"}, EventSourceKey: EventSourceLog}}
	choice := model.Event{Name: "gen_ai.choice", Time: specBase.Add(time.Second), Attributes: map[string]any{EventBodyKey: map[string]any{"message": map[string]any{"content": "hello"}, "finish_reason": "stop"}, EventSourceKey: EventSourceLog}}
	s1, _, err := Renormalize(s, []model.Event{user}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The choice arrives later, and the user message is delivered again.
	s2, _, err := Renormalize(s1, []model.Event{choice, user}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(s2.Events); got != 2 {
		t.Errorf("events = %d, want 2 (duplicates dropped)", got)
	}
	if len(s2.InputMessages) != 1 || s2.InputMessages[0].Text() != "hi" {
		t.Errorf("input_messages = %+v, want the user message", s2.InputMessages)
	}
	if len(s2.OutputMessages) != 1 || s2.OutputMessages[0].Text() != "hello" {
		t.Errorf("output_messages = %+v, want the choice", s2.OutputMessages)
	}
	if s2.ProjectID != s.ProjectID {
		t.Errorf("project_id = %q, want the stored %q", s2.ProjectID, s.ProjectID)
	}
	if _, _, err := Renormalize(model.Span{}, nil, Options{}); err == nil {
		t.Errorf("Renormalize of a span without raw_span: got nil error, want one")
	}
}

func TestRawSpanExoticValues(t *testing.T) {
	rs := oneSpan(t, "x", nil, nil)
	sp := rs.ScopeSpans().At(0).Spans().At(0)
	a := sp.Attributes()
	a.PutDouble("nan", math.NaN())
	a.PutDouble("neg_inf", math.Inf(-1))
	a.PutEmptyBytes("bytes").FromRaw([]byte("\x00\xff"))
	a.PutStr("quote", "a\"b\\c\n\u2028<>&")
	kv := a.PutEmptyMap("kv")
	kv.PutInt("big", math.MaxInt64)
	kv.PutEmptySlice("s").AppendEmpty().SetBool(true)
	a.PutEmpty("empty")
	sp.TraceState().FromRaw("k=v")
	sp.SetFlags(1)
	sp.SetDroppedAttributesCount(3)
	ev := sp.Events().AppendEmpty()
	ev.SetName("e")
	ev.SetTimestamp(pcommon.NewTimestampFromTime(specBase))
	ev.Attributes().PutInt("n", 1)
	ln := sp.Links().AppendEmpty()
	ln.SetTraceID(pcommon.TraceID{7})
	ln.SetSpanID(pcommon.SpanID{8})
	ln.Attributes().PutStr("l", "v")
	sp.Status().SetCode(ptrace.StatusCodeOk)

	raw := rawSpanJSON(sp)
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces([]byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[` + string(raw) + `]}]}]}`))
	if err != nil {
		t.Fatalf("pdata cannot read raw_span %s: %v", raw, err)
	}
	back := td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0)
	want := ptrace.NewTraces()
	sp.CopyTo(want.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty())
	pw, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(want)
	pg, _ := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	if string(pw) != string(pg) {
		t.Errorf("raw_span does not round-trip:\nraw: %s\nback attrs: %v", raw, back.Attributes().AsRaw())
	}
}

// TestTraceloopArgs: the SDK's {"args","kwargs"} record of a tool call is
// unwrapped to what the tool was called with, and only then.
func TestTraceloopArgs(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"args":[],"kwargs":{"location":"Paris"}}`, `{"location":"Paris"}`}, // JS SDK
		{`{"kwargs":{"location":"Paris"}}`, `{"location":"Paris"}`},
		{`{"args":["{\"q\":1}"],"kwargs":{}}`, `"{\"q\":1}"`}, // Python SDK, one positional
		{`{"args":["{\"q\":1}"]}`, `"{\"q\":1}"`},
		{`{"args":[1,2],"kwargs":{}}`, `{"args":[1,2],"kwargs":{}}`},
		{`{"args":[1],"kwargs":{"k":2}}`, `{"args":[1],"kwargs":{"k":2}}`},
		{`{"args":[],"kwargs":{"k":2},"extra":true}`, `{"args":[],"extra":true,"kwargs":{"k":2}}`},
		{`{"location":"Paris"}`, `{"location":"Paris"}`},
	}
	for _, tc := range tests {
		var v any
		if err := json.Unmarshal([]byte(tc.in), &v); err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(traceloopArgs(v))
		if string(got) != tc.want {
			t.Errorf("traceloopArgs(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestLogEventsInSpanStayOutOfRawSpan: a span event marked as built from a
// log record (weave's export puts such events in their span) is a log
// event again: among the span's events, out of its raw span.
func TestLogEventsInSpanStayOutOfRawSpan(t *testing.T) {
	rs := oneSpan(t, "chat m", nil, map[string]any{"gen_ai.operation.name": "chat"})
	sp := rs.ScopeSpans().At(0).Spans().At(0)
	own := sp.Events().AppendEmpty()
	own.SetName("own")
	own.SetTimestamp(pcommon.NewTimestampFromTime(specBase))
	logged := sp.Events().AppendEmpty()
	logged.SetName("gen_ai.choice")
	logged.SetTimestamp(pcommon.NewTimestampFromTime(specBase.Add(time.Millisecond)))
	logged.Attributes().PutStr(EventSourceKey, EventSourceLog)
	s, _ := normalizeOne(t, rs, Options{})
	if len(s.Events) != 2 || len(LogDerived(s.Events)) != 1 || LogDerived(s.Events)[0].Name != "gen_ai.choice" {
		t.Errorf("events: got %+v, want own and the log event", s.Events)
	}
	if raw := string(s.RawSpan); !strings.Contains(raw, `"own"`) || strings.Contains(raw, "gen_ai.choice") {
		t.Errorf("raw span: got %s, want the own event only", raw)
	}
	again, _, err := Renormalize(s, nil, Options{})
	if err != nil || jsonOf(t, again) != jsonOf(t, s) {
		t.Errorf("renormalized: got %s (%v), want the same row", jsonOf(t, again), err)
	}
}
