package storetest

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
)

// TestRawSpanNormalizes checks that the raw spans the workload makes are
// what an instrumentation would send: weave-server's normalizer reads them
// back into the same span.
func TestRawSpanNormalizes(t *testing.T) {
	w := NewWorkload(11, "p/raw", time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC))
	w.RawSpans = true
	var spans []model.Span
	for len(spans) < 200 {
		spans = append(spans, w.Next()...)
	}
	for _, want := range spans {
		t.Run(want.SpanName+"/"+want.SpanID, func(t *testing.T) {
			var body bytes.Buffer
			body.WriteString(`{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[`)
			body.Write(want.RawSpan)
			body.WriteString(`]}]}]}`)
			td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(body.Bytes())
			if err != nil {
				t.Fatalf("raw span is not OTLP/JSON: %v", err)
			}
			out, _ := normalize.Normalize(td.ResourceSpans().At(0), normalize.Options{DefaultProject: want.ProjectID})
			if len(out) != 1 {
				t.Fatalf("Normalize: got %d spans, want 1", len(out))
			}
			got := out[0]
			cases := []struct {
				field     string
				got, want any
			}{
				{"ids", [3]string{got.TraceID, got.SpanID, got.ParentSpanID}, [3]string{want.TraceID, want.SpanID, want.ParentSpanID}},
				{"times", [2]time.Time{got.StartedAt, got.EndedAt}, [2]time.Time{want.StartedAt.UTC(), want.EndedAt.UTC()}},
				{"operation", got.OperationName, want.OperationName},
				{"agent", got.AgentName, want.AgentName},
				{"conversation", got.ConversationID, want.ConversationID},
				{"input tokens", deref(got.InputTokens), deref(want.InputTokens)},
				{"output tokens", deref(got.OutputTokens), deref(want.OutputTokens)},
				{"cache read tokens", deref(got.CacheReadInputTokens), deref(want.CacheReadInputTokens)},
				{"input messages", len(got.InputMessages), len(want.InputMessages)},
				{"output messages", len(got.OutputMessages), len(want.OutputMessages)},
				{"tool arguments", got.ToolCallArguments, want.ToolCallArguments},
				{"tool result", got.ToolCallResult, want.ToolCallResult},
				{"system instructions", got.SystemInstructions, want.SystemInstructions},
			}
			for _, c := range cases {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s: got %v, want %v", c.field, c.got, c.want)
				}
			}
			if n := len(want.InputMessages); n > 0 && got.InputMessages[n-1].Text() != want.InputMessages[n-1].Text() {
				t.Errorf("last input message: got %q, want %q", got.InputMessages[n-1].Text(), want.InputMessages[n-1].Text())
			}
		})
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
