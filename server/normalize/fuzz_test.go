package normalize

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
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
	seeds = append(seeds, shapedAttrs()...)
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

// shapedAttrs are attribute maps built by code with the shapes random
// bytes hardly reach: nesting near and past the limits (structured and as
// JSON text), many attributes and long lists, and integers at the edges
// of int64, uint64 and float64.
func shapedAttrs() []string {
	var out []string
	add := func(m map[string]any) {
		b, err := json.Marshal(m)
		if err != nil {
			panic(err)
		}
		out = append(out, string(b))
	}
	nested := func(depth int, leaf any) any {
		v := leaf
		for i := range depth {
			if i%2 == 0 {
				v = []any{v}
			} else {
				v = map[string]any{"k": v}
			}
		}
		return v
	}
	for _, depth := range []int{127, 128, 129, 400} {
		add(map[string]any{"custom.deep": nested(depth, "x"), "gen_ai.input.messages": nested(depth, map[string]any{"role": "user", "content": "hi"})})
	}
	add(map[string]any{
		"gen_ai.input.messages": strings.Repeat("[", 9_999) + strings.Repeat("]", 9_999),
		"input.value":           strings.Repeat(`{"a":`, 3000) + "1" + strings.Repeat("}", 3000),
		"ai.prompt":             strings.Repeat(`[{"role":"user","content":`, 500) + `"x"` + strings.Repeat("}]", 500),
	})
	many := map[string]any{}
	for i := range 2000 {
		many[fmt.Sprintf("custom.k%04d", i)] = i
	}
	add(many)
	long := make([]any, 5000)
	for i := range long {
		long[i] = map[string]any{"role": "user", "content": fmt.Sprint(i)}
	}
	add(map[string]any{"gen_ai.input.messages": long, "gen_ai.response.finish_reasons": long})
	add(map[string]any{
		"gen_ai.usage.input_tokens":                int64(math.MaxInt64),
		"gen_ai.usage.output_tokens":               int64(math.MinInt64),
		"gen_ai.usage.cache_read.input_tokens":     uint64(math.MaxUint64),
		"gen_ai.usage.cache_creation.input_tokens": 1e300,
		"weave.compaction.items_before":            -1,
		"langfuse.startTime":                       "18446744073709551615",
		"langfuse.endTime":                         "9223372036854775807",
		"custom.float":                             math.MaxFloat64,
		"custom.small":                             math.SmallestNonzeroFloat64,
	})
	return out
}

// FuzzNormalizeTimes normalizes a span whose start, end, event and log
// record times are arbitrary uint64 nanoseconds (OTLP's type): a row, when
// there is one, starts after the epoch and no later than the store's last
// time, never wrapped; it ends unset or not before its start; its events
// lie in the storable range; and the store's checks pass.
func FuzzNormalizeTimes(f *testing.F) {
	base := uint64(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).UnixNano())
	for _, c := range [][4]uint64{
		{base, base + 1e9, base, base},
		{1 << 63, 0, 0, 0},
		{math.MaxUint64, math.MaxUint64, math.MaxUint64, math.MaxUint64},
		{math.MaxInt64, math.MaxInt64 - 1, 1, 0},
		{base, base - 1, 1 << 63, math.MaxUint64},
		{1, 0, 0, 1},
	} {
		f.Add(c[0], c[1], c[2], c[3])
	}
	f.Fuzz(func(t *testing.T, start, end, event, logTime uint64) {
		rs := ptrace.NewResourceSpans()
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1})
		sp.SetSpanID(pcommon.SpanID{1})
		sp.SetName("chat x")
		sp.SetStartTimestamp(pcommon.Timestamp(start))
		sp.SetEndTimestamp(pcommon.Timestamp(end))
		sp.Events().AppendEmpty().SetTimestamp(pcommon.Timestamp(event))
		rl := plog.NewResourceLogs()
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetEventName("gen_ai.user.message")
		lr.SetTraceID(sp.TraceID())
		lr.SetSpanID(sp.SpanID())
		lr.SetTimestamp(pcommon.Timestamp(logTime))
		logEvents, _ := EventsFromLogs(rl, "p")
		extra := map[SpanRef][]model.Event{}
		for _, e := range logEvents {
			extra[e.Ref] = append(extra[e.Ref], e.Event)
		}
		out, warns := Normalize(rs, Options{DefaultProject: "p", ExtraEvents: extra})
		if len(out) == 0 {
			if len(warns) != 1 || !warns[0].Rejected {
				t.Fatalf("no row and warnings %v, want one rejection", warns)
			}
			return
		}
		s := out[0]
		if s.StartedAt.Before(time.Unix(0, 1)) || s.StartedAt.After(store.MaxTime) {
			t.Fatalf("start %d stored as %v", start, s.StartedAt)
		}
		if !s.EndedAt.IsZero() && s.EndedAt.Before(s.StartedAt) {
			t.Fatalf("ends %v before it starts %v", s.EndedAt, s.StartedAt)
		}
		if len(s.Events) != 2 {
			t.Fatalf("%d events, want 2", len(s.Events))
		}
		for _, e := range s.Events {
			if e.Time.Before(time.Unix(0, 0)) || e.Time.After(store.MaxTime) {
				t.Fatalf("event at %v", e.Time)
			}
		}
		if err := store.ValidateSpan(&s); err != nil {
			t.Fatalf("ValidateSpan: %v", err)
		}
	})
}
