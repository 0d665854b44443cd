package normalize

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/model"
)

// FuzzNormalizeAttributes feeds arbitrary attribute maps (as JSON objects,
// so values of every shape reach every mapping) to Normalize. It must not
// panic, must return exactly one row for the one valid span, and the row
// must encode to JSON and survive Renormalize.
func FuzzNormalizeAttributes(f *testing.F) {
	seeds := []string{
		`{"gen_ai.input.messages":"[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}]}]"}`,
		`{"llm.input_messages.0.message.role":"user","llm.input_messages.0.message.contents.0.message_content.type":"text"}`,
		`{"gen_ai.prompt.0.role":"user","gen_ai.prompt.0.content":"[{\"type\":\"tool_use\"}]","gen_ai.completion.x.y":1}`,
		`{"ai.operationId":"ai.generateText","ai.prompt":"{\"messages\":[[[[]]]]}","ai.response.toolCalls":"[1,2]"}`,
		`{"langfuse.observation.type":"tool","langfuse.observation.usage_details":"{\"input\":-1}","langfuse.startTime":"x"}`,
		`{"gcp.vertex.agent.llm_request":"{\"contents\":{}}","gcp.vertex.agent.llm_response":"[]","gcp.vertex.agent.session_id":1}`,
		`{"mlflow.spanType":"\"TOOL\"","mlflow.spanInputs":"{","mlflow.chat.tokenUsage":"{\"input_tokens\":1e30}"}`,
		`{"openinference.span.kind":"LLM","input.value":"{\"messages\":[{\"lc\":1,\"kwargs\":{\"content\":[{}]}}]}","metadata":"{}"}`,
		`{"events":"[{\"event.name\":\"gen_ai.choice\",\"message\":{\"content\":[{\"kind\":\"thinking\"},{\"kind\":\"text\",\"text\":7}]}},{\"event.name\":\"gen_ai.tool.message\",\"id\":{}}]","all_messages_events":"[{\"event.name\":1},{}]"}`,
		`{"request_data":"{}","gen_ai.system":"anthropic","response_data":"{\"message\":{\"tool_calls\":[{\"function\":{\"arguments\":\"{\\\"input\\\":null}\"}},{\"function\":[]}]},\"usage\":{\"cache_read_input_tokens\":\"x\",\"prompt_tokens_details\":[]}}"}`,
		`{"gen_ai.usage.input_tokens":-3,"gen_ai.usage.cache_read.input_tokens":9007199254740993,"a":{"b":{"c":[{"d":null}]}}}`,
	}
	for _, s := range seeds {
		f.Add(s, "chat x")
	}
	// Real attribute maps from the corpus.
	paths, _ := filepath.Glob(filepath.Join(corpusDir, "*", "*.pb"))
	for _, p := range paths {
		if strings.HasSuffix(p, ".logs.pb") {
			continue
		}
		for _, rs := range readTraces(f, p).ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, sp := range ss.Spans().All() {
					a, _ := json.Marshal(sp.Attributes().AsRaw())
					f.Add(string(a), sp.Name())
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, attrsJSON, name string) {
		var attrs map[string]any
		if json.Unmarshal([]byte(attrsJSON), &attrs) != nil {
			return
		}
		rs := ptrace.NewResourceSpans()
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1})
		sp.SetSpanID(pcommon.SpanID{1})
		sp.SetName(name)
		sp.SetStartTimestamp(1)
		if err := sp.Attributes().FromRaw(attrs); err != nil {
			return
		}
		ev := sp.Events().AppendEmpty()
		ev.SetName("gen_ai.choice")
		_ = ev.Attributes().FromRaw(attrs)
		out, _ := Normalize(rs, Options{DefaultProject: "p", ExtraEvents: map[SpanRef][]model.Event{
			{TraceID: "01000000000000000000000000000000", SpanID: "0100000000000000"}: {{Name: "gen_ai.user.message", Attributes: attrs}},
		}})
		if len(out) != 1 {
			t.Fatalf("got %d rows, want 1", len(out))
		}
		if _, err := json.Marshal(out[0]); err != nil {
			t.Fatalf("row does not encode: %v", err)
		}
		if _, _, err := Renormalize(out[0], nil, Options{}); err != nil {
			t.Fatalf("Renormalize: %v", err)
		}
	})
}
