package store

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// FieldKind says how a filterable canonical column compares.
type FieldKind int

// Kinds of filterable columns.
const (
	FieldString   FieldKind = iota
	FieldInt                // non-null integer
	FieldNullInt            // token counts: null = not reported
	FieldStarted            // started_at
	FieldEnded              // ended_at, null while running
	FieldBool               // is_turn
	FieldList               // finish_reasons
	FieldDuration           // derived duration_ms
	FieldNullCost           // cost_usd: USD, null = no cost
)

// SpanFilterFields are the canonical columns a Filter or Sort may name
// (model.Span JSON names) with their kinds, plus the derived duration_ms.
// Attribute keys are reached through the custom_attrs_*/resource_attrs
// prefixes instead. Every backend accepts exactly these.
var SpanFilterFields = map[string]FieldKind{
	"project_id": FieldString, "trace_id": FieldString, "span_id": FieldString, "parent_span_id": FieldString,
	"span_name": FieldString, "span_kind": FieldString, "status_code": FieldString, "status_message": FieldString,
	"operation_name": FieldString, "provider_name": FieldString, "agent_name": FieldString, "agent_id": FieldString,
	"agent_version": FieldString, "conversation_id": FieldString, "request_model": FieldString,
	"response_model": FieldString, "response_id": FieldString, "tool_name": FieldString, "tool_type": FieldString,
	"tool_call_id": FieldString, "error_type": FieldString, "compaction_summary": FieldString, "thread_id": FieldString,
	"input_tokens": FieldNullInt, "output_tokens": FieldNullInt, "cache_read_input_tokens": FieldNullInt,
	"cache_creation_input_tokens": FieldNullInt, "reasoning_tokens": FieldNullInt, "total_tokens": FieldNullInt,
	"display_name": FieldString, "wb_run_id": FieldString, "wb_run_step": FieldNullInt,
	"compaction_items_before": FieldInt, "compaction_items_after": FieldInt,
	"started_at": FieldStarted, "ended_at": FieldEnded, "is_turn": FieldBool, "finish_reasons": FieldList,
	"duration_ms":                    FieldDuration,
	"cache_creation_5m_input_tokens": FieldNullInt, "cache_creation_1h_input_tokens": FieldNullInt,
	"cost_usd": FieldNullCost, "cost_source": FieldString,
}

// HeavyFields are canonical columns that exist but cannot be filtered on
// (an ErrInvalid names them as such).
var HeavyFields = map[string]bool{
	"input_messages": true, "output_messages": true, "system_instructions": true,
	"tool_call_arguments": true, "tool_call_result": true, "events": true, "raw_span": true,
	"custom_attrs_string": true, "custom_attrs_int": true, "custom_attrs_float": true,
	"custom_attrs_bool": true, "resource_attrs": true, "model_parameters": true,
}

// CostFilterValue converts the value of a filter on cost_usd (US dollars:
// a JSON number or a decimal string) to the whole nano-dollars backends
// compare.
func CostFilterValue(v any) (any, error) {
	f, ok := finiteNumber(v)
	if s, isText := v.(string); isText {
		var err error
		f, err = strconv.ParseFloat(strings.TrimSpace(s), 64)
		ok = err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	if !ok || math.Abs(f) > 9e9 {
		return nil, fmt.Errorf("want a finite number of dollars, got %v", v)
	}
	return model.CostNanos(f), nil
}
