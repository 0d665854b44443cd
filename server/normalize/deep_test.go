package normalize

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// deepJSON is a JSON document nesting depth arrays (or objects) around a
// string.
func deepJSON(depth int, objects bool) string {
	if objects {
		return strings.Repeat(`{"a":`, depth) + `"x"` + strings.Repeat("}", depth)
	}
	return strings.Repeat("[", depth) + `"x"` + strings.Repeat("]", depth)
}

// TestDeepJSONInStringAttributes: string attributes holding JSON nested
// far deeper than anyone writes (up to a million levels, beyond
// encoding/json's limit of 10,000, and just under it) in every key some
// mapping parses as JSON: normalization must not crash or hang, the row
// must pass the store's checks, encode, and decode again (what the store
// and the read API do with it).
func TestDeepJSONInStringAttributes(t *testing.T) {
	keys := []string{
		"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions",
		"gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.tool.definitions",
		"gen_ai.prompt", "gen_ai.completion", "gen_ai.prompt.0.content",
		"input.value", "output.value", "llm.input_messages", "metadata",
		"traceloop.entity.input", "traceloop.entity.output",
		"ai.prompt", "ai.prompt.messages", "ai.response.toolCalls", "ai.toolCall.args",
		"mlflow.spanInputs", "mlflow.spanOutputs", "mlflow.chat.tokenUsage",
		"gcp.vertex.agent.llm_request", "gcp.vertex.agent.llm_response",
		"langfuse.observation.input", "langfuse.observation.output", "langfuse.observation.usage_details",
		"events", "all_messages_events", "request_data", "response_data",
		"custom.attribute",
	}
	type deepCase struct {
		depth   int
		objects bool
		keys    []string
	}
	var cases []deepCase
	for _, depth := range []int{200, 9_990, 10_001} {
		cases = append(cases, deepCase{depth, false, keys}, deepCase{depth, true, keys})
	}
	// A million levels of arrays (2 MB), 200,000 of objects (1 MB).
	cases = append(cases,
		deepCase{1_000_000, false, []string{"gen_ai.input.messages"}},
		deepCase{200_000, true, []string{"input.value"}})
	for _, c := range cases {
		depth, objects := c.depth, c.objects
		t.Run(fmt.Sprintf("depth=%d/objects=%v/keys=%d", depth, objects, len(c.keys)), func(t *testing.T) {
			doc := deepJSON(depth, objects)
			attrs := map[string]any{}
			for _, k := range c.keys {
				attrs[k] = doc
			}
			rs := oneSpan(t, "chat deep", nil, attrs)
			start := time.Now()
			s, _ := normalizeOne(t, rs, Options{DefaultProject: "p"})
			t.Logf("normalized in %v", time.Since(start).Round(time.Millisecond))
			if err := store.ValidateSpan(&s); err != nil {
				t.Fatalf("ValidateSpan: %v", err)
			}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatalf("row does not encode: %v", err)
			}
			var back model.Span
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("row does not decode again: %v", err)
			}
			if _, _, err := Renormalize(s, nil, Options{}); err != nil {
				t.Fatalf("Renormalize: %v", err)
			}
		})
	}
}
