package store

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/server/model"
)

func TestValidateSpan(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	neg := int64(-1)
	good := func() model.Span {
		return model.Span{ProjectID: "acme/agents", TraceID: strings.Repeat("a", 32), SpanID: strings.Repeat("b", 16),
			StartedAt: t0, EndedAt: t0.Add(time.Second), RawSpan: json.RawMessage(`{"name":"x"}`),
			CustomAttrsFloat: map[string]float64{"t": 0.5}}
	}
	cases := []struct {
		name string
		mod  func(*model.Span)
		want string // "" = valid
	}{
		{"valid", func(*model.Span) {}, ""},
		{"running is valid", func(s *model.Span) { s.EndedAt = time.Time{} }, ""},
		{"end before start is valid", func(s *model.Span) { s.EndedAt = t0.Add(-time.Second) }, ""},
		{"before 1970 is valid", func(s *model.Span) { s.StartedAt = time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC) }, ""},
		{"empty project", func(s *model.Span) { s.ProjectID = "" }, "empty project_id"},
		{"empty trace", func(s *model.Span) { s.TraceID = "" }, "empty trace_id"},
		{"empty span", func(s *model.Span) { s.SpanID = "" }, "empty span_id"},
		{"long id", func(s *model.Span) { s.SpanID = strings.Repeat("x", MaxIDLen+1) }, "longer than"},
		{"long parent id", func(s *model.Span) { s.ParentSpanID = strings.Repeat("x", MaxIDLen+1) }, "longer than"},
		{"zero start", func(s *model.Span) { s.StartedAt = time.Time{} }, "started_at is not set"},
		{"start too late", func(s *model.Span) { s.StartedAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }, "started_at"},
		{"end too late", func(s *model.Span) { s.EndedAt = time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC) }, "ended_at"},
		{"negative tokens", func(s *model.Span) { s.ReasoningTokens = &neg }, "reasoning_tokens is negative"},
		{"negative total", func(s *model.Span) { s.TotalTokens = &neg }, "total_tokens is negative"},
		{"negative run step", func(s *model.Span) { s.WBRunStep = &neg }, "wb_run_step is negative"},
		{"model parameter NaN", func(s *model.Span) { s.ModelParameters = map[string]any{"temperature": math.NaN()} }, "model_parameters"},
		{"model parameters", func(s *model.Span) { s.ModelParameters = map[string]any{"temperature": 0.2, "stop": []any{"\n"}} }, ""},
		{"negative compaction count", func(s *model.Span) { s.CompactionItemsAfter = -2 }, "compaction"},
		{"NaN attribute", func(s *model.Span) { s.CustomAttrsFloat["t"] = math.NaN() }, "custom_attrs_float.t"},
		{"infinite attribute", func(s *model.Span) { s.CustomAttrsFloat["t"] = math.Inf(-1) }, "custom_attrs_float.t"},
		{"raw span not JSON", func(s *model.Span) { s.RawSpan = json.RawMessage("{") }, "raw_span"},
		{"tool arguments not JSON", func(s *model.Span) {
			s.InputMessages = []model.Message{{Role: "assistant", Parts: []model.Part{{Type: model.PartToolCall, Arguments: json.RawMessage("{a}")}}}}
		}, "arguments"},
		{"tool response not JSON", func(s *model.Span) {
			s.OutputMessages = []model.Message{{Role: "tool", Parts: []model.Part{{Type: model.PartToolCallResponse, Response: json.RawMessage("nope")}}}}
		}, "response"},
		{"event time out of range", func(s *model.Span) {
			s.Events = []model.Event{{Name: "e", Time: time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC)}}
		}, "event 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := good()
			tc.mod(&s)
			err := ValidateSpan(&s)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("ValidateSpan: got %v, want nil", err)
			case tc.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("ValidateSpan: got %v, want an ErrInvalid error containing %q", err, tc.want)
			}
		})
	}
}
