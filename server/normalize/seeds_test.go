package normalize

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// seedRow is one row of seed 004's attribute mapping table, as copied to
// server/testdata/seeds/mapping_table.json.
type seedRow struct {
	Attribute    string `json:"attribute"`
	WandbMapping string `json:"wandb_mapping"`
	Type         string `json:"type"`
	Example      string `json:"example"`
}

// seedExamples replaces the table's examples that elide part of the value
// ("[...]") with whole values of the same shape.
var seedExamples = map[string]any{
	"gcp.vertex.agent.llm_request":  `{"model":"gemini-2.5-flash","contents":[{"role":"user","parts":[{"text":"What's the weather in SF?"}]}]}`,
	"gcp.vertex.agent.llm_response": `{"candidates":[{"content":{"role":"model","parts":[{"text":"Sunny, 18°C."}]},"finishReason":"STOP"}],"modelVersion":"gemini-2.5-flash"}`,
}

// seedValue is the attribute value a producer sends for a row's example:
// integers and booleans as such, a quoted string as the string, lists and
// objects as their JSON text (how Python producers set them).
func seedValue(t *testing.T, r seedRow) any {
	t.Helper()
	if v, ok := seedExamples[r.Attribute]; ok {
		return v
	}
	switch r.Type {
	case "Int":
		var n int64
		if _, err := fmt.Sscan(r.Example, &n); err != nil {
			t.Fatalf("%s: example %q is not an integer", r.Attribute, r.Example)
		}
		return n
	case "Boolean":
		return r.Example == "true"
	}
	if strings.HasPrefix(r.Example, `"`) {
		var s string
		if err := json.Unmarshal([]byte(r.Example), &s); err != nil {
			t.Fatalf("%s: example %s: %v", r.Attribute, r.Example, err)
		}
		return s
	}
	if !json.Valid([]byte(r.Example)) {
		t.Fatalf("%s: example %s is not JSON; give a whole value in seedExamples", r.Attribute, r.Example)
	}
	return r.Example
}

// TestSeedMappingTable sends every row of seed 004's attribute mapping
// table, alone on a span with the row's own example value, and checks the
// column the row maps to. W&B's mapping names its fields; weave's columns
// are the OTel GenAI ones: inputs → input_messages (tool arguments for a
// tool-call row), outputs → output_messages (tool result), usage.prompt /
// completion → input / output tokens, attributes.system and .provider →
// provider_name (gen_ai.system is the provider in the OTel conventions),
// attributes.kind → operation_name, attributes.model → the model columns.
func TestSeedMappingTable(t *testing.T) {
	b, err := os.ReadFile("../testdata/seeds/mapping_table.json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []seedRow
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 49 {
		t.Fatalf("got %d rows, want the table's 49", len(rows))
	}
	for _, r := range rows {
		t.Run(r.Attribute+"→"+r.WandbMapping, func(t *testing.T) {
			v := seedValue(t, r)
			attrs := map[string]any{r.Attribute: v}
			if r.WandbMapping == "end_time (override)" {
				// An end before the span's start is kept as ending at
				// its start (normalize's time rule): start the span a
				// second before the example end, as Langfuse does.
				end, _ := time.Parse(time.RFC3339, v.(string))
				attrs["langfuse.startTime"] = end.Add(-time.Second).Format(time.RFC3339)
			}
			s, _ := normalizeOne(t, oneSpan(t, "span", nil, attrs), Options{})
			str, _ := v.(string)
			n, _ := v.(int64)
			intIs := func(p *int64) bool { return p != nil && *p == n }
			var ok bool
			switch r.WandbMapping {
			case "inputs":
				if strings.HasSuffix(r.Attribute, "tool_call_args") {
					ok = s.ToolCallArguments == str
				} else {
					ok = len(s.InputMessages) > 0 && len(s.InputMessages[0].Parts) > 0
				}
			case "outputs":
				if strings.HasSuffix(r.Attribute, "tool_response") {
					ok = s.ToolCallResult == str
				} else {
					ok = len(s.OutputMessages) > 0 && len(s.OutputMessages[0].Parts) > 0
				}
			case "usage.input_tokens", "usage.prompt_tokens":
				ok = intIs(s.InputTokens) && intIs(s.TotalTokens) // and the computed total
			case "usage.completion_tokens":
				ok = intIs(s.OutputTokens) && intIs(s.TotalTokens)
			case "usage.total_tokens":
				ok = intIs(s.TotalTokens)
			case "attributes.system", "attributes.provider":
				ok = s.ProviderName == strings.ToLower(str)
			case "attributes.kind":
				ok = s.OperationName == model.OpChat // "llm"
			case "attributes.model":
				ok = s.RequestModel == str || s.ResponseModel == str
			case "attributes.model_parameters":
				var want map[string]any
				_ = json.Unmarshal([]byte(str), &want)
				got, _ := json.Marshal(s.ModelParameters)
				var gotM map[string]any
				_ = json.Unmarshal(got, &gotM)
				ok = len(want) > 0 && reflect.DeepEqual(gotM, want)
			case "display_name":
				ok = s.DisplayName == str
			case "thread_id":
				ok = s.ThreadID == str
			case "wb_run_id":
				ok = s.WBRunID == str
			case "is_turn":
				ok = s.IsTurn
			case "start_time (override)":
				want, _ := time.Parse(time.RFC3339, str)
				ok = s.StartedAt.Equal(want)
			case "end_time (override)":
				want, _ := time.Parse(time.RFC3339, str)
				ok = s.EndedAt.Equal(want)
			default:
				t.Fatalf("no check for W&B mapping %q", r.WandbMapping)
			}
			if !ok {
				out, _ := json.MarshalIndent(s, "", " ")
				t.Errorf("%s = %v did not land in the column of %s:\n%s", r.Attribute, v, r.WandbMapping, out)
			}
			for k := range s.CustomAttrsString {
				if k == r.Attribute {
					t.Errorf("%s mapped, but also kept in custom_attrs_string", r.Attribute)
				}
			}
		})
	}
}

// TestModelParameters: the model_parameters column's sources and their
// order, the request model left out, call settings that are not generation
// parameters left in the custom maps, and a NaN parameter dropped.
func TestModelParameters(t *testing.T) {
	cases := []struct {
		name   string
		attrs  map[string]any
		want   string // JSON of model_parameters
		custom string // a key that stays in the custom maps, if any
	}{
		{"gen_ai.request keys", map[string]any{"gen_ai.request.temperature": 0.7, "gen_ai.request.max_tokens": int64(256),
			"gen_ai.request.model": "gpt-4o", "gen_ai.request.choice.count": int64(2)}, `{"choice.count":2,"max_tokens":256,"temperature":0.7}`, ""},
		{"gen_ai.request object, its keys win", map[string]any{"gen_ai.request": `{"temperature":0.2,"top_p":0.5,"model":"x"}`,
			"gen_ai.request.temperature": 0.9}, `{"temperature":0.9,"top_p":0.5}`, ""},
		{"weave.request wins over gen_ai.request", map[string]any{"weave.request.temperature": 0.1, "gen_ai.request.temperature": 0.9},
			`{"temperature":0.1}`, ""},
		{"llm.invocation_parameters", map[string]any{"openinference.span.kind": "LLM", "llm.invocation_parameters": `{"temperature":0.3,"model":"m"}`},
			`{"temperature":0.3}`, ""},
		{"ai.settings, less the client settings", map[string]any{"ai.operationId": "ai.generateText", "ai.settings.temperature": 0.4,
			"ai.settings.maxRetries": int64(2), "ai.settings.headers.x-api": "k"}, `{"temperature":0.4}`, "ai.settings.headers.x-api"},
		{"NaN dropped", map[string]any{"gen_ai.request": map[string]any{"temperature": math.NaN(), "top_k": int64(5)}}, `{"top_k":5}`, ""},
		{"none", map[string]any{"gen_ai.operation.name": "chat"}, `null`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := normalizeOne(t, oneSpan(t, "span", nil, tc.attrs), Options{})
			got, _ := json.Marshal(s.ModelParameters)
			if string(got) != tc.want {
				t.Errorf("model_parameters: got %s, want %s", got, tc.want)
			}
			if tc.custom != "" {
				if _, ok := s.CustomAttrsString[tc.custom]; !ok {
					t.Errorf("%s: not in the custom maps (%v)", tc.custom, s.CustomAttrsString)
				}
			}
		})
	}
}
