package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/normalize"
)

// MaxOTLPLine is the size past which an OTLP line is split: well under the
// request limits of OTLP receivers (weave-server's 32 MiB, the
// Collector's 20 MiB). A single span larger than it makes a line alone.
const MaxOTLPLine = 4 << 20

// OTLPRequest encodes spans as one OTLP/JSON ExportTraceServiceRequest (see
// OTLPRequests), however large.
func OTLPRequest(spans []model.Span) ([]byte, error) {
	lines, err := OTLPRequests(spans, 0)
	if err != nil || len(lines) == 0 {
		return nil, err
	}
	return lines[0], nil
}

// OTLPRequests encodes spans as OTLP/JSON ExportTraceServiceRequests of
// about maxBytes at most (0: one request): spans grouped by resource
// (their resource attributes) and instrumentation scope (otel.scope.name /
// .version, which normalization keeps in the custom attributes), in their
// order. A span is its raw span, the OTLP/JSON weave-server received, byte
// for byte, with the events that arrived as log records added back marked
// weave.event.source=otlp_log (weave-server takes them as log events
// again); a span stored without a raw span (never one that arrived over
// OTLP) is rebuilt from its columns under the GenAI conventions and
// weave's keys.
func OTLPRequests(spans []model.Span, maxBytes int) ([][]byte, error) {
	type group struct {
		resource      []byte
		name, version string
		spans         [][]byte
	}
	var (
		out    [][]byte
		groups []*group
		index  = map[string]*group{}
		size   int
	)
	flush := func() {
		if len(groups) == 0 {
			return
		}
		var b bytes.Buffer
		b.Grow(size + 64*len(groups))
		b.WriteString(`{"resourceSpans":[`)
		for i, g := range groups {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"resource":{"attributes":`)
			b.Write(g.resource)
			b.WriteString(`},"scopeSpans":[{"scope":`)
			scope, _ := json.Marshal(map[string]string{"name": g.name, "version": g.version})
			b.Write(scope)
			b.WriteString(`,"spans":[`)
			b.Write(bytes.Join(g.spans, []byte(",")))
			b.WriteString(`]}]}`)
		}
		b.WriteString(`]}`)
		out = append(out, b.Bytes())
		groups, index, size = nil, map[string]*group{}, 0
	}
	for i := range spans {
		s := &spans[i]
		sp, err := spanJSON(s)
		if err != nil {
			return nil, fmt.Errorf("export: span %s/%s: %w", s.TraceID, s.SpanID, err)
		}
		res, err := json.Marshal(keyValues(s.ResourceAttrs))
		if err != nil {
			return nil, fmt.Errorf("export: resource of span %s: %w", s.SpanID, err)
		}
		name, version := s.CustomAttrsString[normalize.KeyScopeName], s.CustomAttrsString[normalize.KeyScopeVersion]
		k := string(res) + "\x00" + name + "\x00" + version
		// What the span adds: itself and a comma, and its group's
		// envelope (resource, scope: at most 2× the strings once escaped,
		// and 100 bytes of keys) when the group is new.
		add := len(sp) + 1
		if index[k] == nil {
			add += len(res) + 2*(len(name)+len(version)) + 100
		}
		if maxBytes > 0 && size > 0 && size+add > maxBytes {
			flush()
			add = len(sp) + 1 + len(res) + 2*(len(name)+len(version)) + 100
		}
		if size == 0 {
			size = len(`{"resourceSpans":[]}`)
		}
		g := index[k]
		if g == nil {
			g = &group{resource: res, name: name, version: version}
			index[k] = g
			groups = append(groups, g)
		}
		g.spans = append(g.spans, sp)
		size += add
	}
	flush()
	return out, nil
}

// spanJSON is one span in OTLP/JSON.
func spanJSON(s *model.Span) ([]byte, error) {
	logged := normalize.LogDerived(s.Events)
	if len(s.RawSpan) == 0 {
		return synthesize(s)
	}
	if len(logged) == 0 {
		return bytes.Clone(s.RawSpan), nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(s.RawSpan, &m); err != nil {
		return nil, fmt.Errorf("raw span: %w", err)
	}
	var evs []json.RawMessage
	if raw, ok := m["events"]; ok {
		if err := json.Unmarshal(raw, &evs); err != nil {
			return nil, fmt.Errorf("raw span events: %w", err)
		}
	}
	for _, e := range logged {
		b, err := json.Marshal(eventJSON(e))
		if err != nil {
			return nil, err
		}
		evs = append(evs, b)
	}
	evb, err := json.Marshal(evs)
	if err != nil {
		return nil, err
	}
	m["events"] = evb
	return json.Marshal(m)
}

func eventJSON(e model.Event) map[string]any {
	ev := map[string]any{"timeUnixNano": strconv.FormatInt(e.Time.UnixNano(), 10), "name": e.Name}
	if len(e.Attributes) > 0 {
		ev["attributes"] = keyValues(e.Attributes)
	}
	return ev
}

// keyValue is an OTLP/JSON KeyValue.
type keyValue struct {
	Key   string `json:"key"`
	Value any    `json:"value"`
}

// keyValues encodes a map of decoded values as OTLP/JSON attributes,
// sorted by key.
func keyValues(m map[string]any) []keyValue {
	out := make([]keyValue, 0, len(m))
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, keyValue{Key: k, Value: anyValue(m[k])})
	}
	return out
}

// anyValue encodes a decoded JSON value (encoding/json with UseNumber) as
// an OTLP/JSON AnyValue: whole numbers as ints, others as doubles.
func anyValue(v any) any {
	switch x := v.(type) {
	case nil:
		return map[string]any{}
	case string:
		return map[string]any{"stringValue": x}
	case bool:
		return map[string]any{"boolValue": x}
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			if i, err := x.Int64(); err == nil {
				return map[string]any{"intValue": strconv.FormatInt(i, 10)}
			}
		}
		f, _ := x.Float64()
		return map[string]any{"doubleValue": f}
	case int:
		return map[string]any{"intValue": strconv.Itoa(x)}
	case int64:
		return map[string]any{"intValue": strconv.FormatInt(x, 10)}
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return map[string]any{"intValue": strconv.FormatInt(int64(x), 10)}
		}
		return map[string]any{"doubleValue": x}
	case []any:
		vals := make([]any, len(x))
		for i, e := range x {
			vals[i] = anyValue(e)
		}
		return map[string]any{"arrayValue": map[string]any{"values": vals}}
	case map[string]any:
		return map[string]any{"kvlistValue": map[string]any{"values": keyValues(x)}}
	}
	b, _ := json.Marshal(v)
	return map[string]any{"stringValue": string(b)}
}

var spanKinds = map[string]int{
	model.KindInternal: 1, model.KindServer: 2, model.KindClient: 3, model.KindProducer: 4, model.KindConsumer: 5,
}

// synthAttrs are a synthesized span's attributes; its methods set one
// only when the column holds a value.
type synthAttrs map[string]any

func (attrs synthAttrs) str(k, v string) {
	if v != "" {
		attrs[k] = v
	}
}

func (attrs synthAttrs) num(k string, v *int64) {
	if v != nil {
		attrs[k] = *v
	}
}

func (attrs synthAttrs) js(k string, v any, present bool) error {
	if !present {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	attrs[k] = string(b)
	return nil
}

// genAI sets the GenAI conventions' attributes of the model call: names,
// models, usage, reported cost, finish reasons and messages.
func (attrs synthAttrs) genAI(s *model.Span) error {
	attrs.str(semconv.KeyOperationName, s.OperationName)
	attrs.str(semconv.KeyProviderName, s.ProviderName)
	attrs.str(semconv.KeyAgentName, s.AgentName)
	attrs.str(semconv.KeyAgentID, s.AgentID)
	attrs.str(semconv.KeyAgentVersion, s.AgentVersion)
	attrs.str(semconv.KeyConversationID, s.ConversationID)
	attrs.str(semconv.KeyRequestModel, s.RequestModel)
	attrs.str(semconv.KeyResponseModel, s.ResponseModel)
	attrs.str(semconv.KeyResponseID, s.ResponseID)
	attrs.num(semconv.KeyInputTokens, s.InputTokens)
	attrs.num(semconv.KeyOutputTokens, s.OutputTokens)
	attrs.num(semconv.KeyCacheReadTokens, s.CacheReadInputTokens)
	attrs.num(semconv.KeyCacheCreateTokens, s.CacheCreationInputTokens)
	attrs.num(semconv.KeyCacheCreate5mTokens, s.CacheCreation5mInputTokens)
	attrs.num(semconv.KeyCacheCreate1hTokens, s.CacheCreation1hInputTokens)
	attrs.num(semconv.KeyReasoningTokens, s.ReasoningTokens)
	attrs.num("gen_ai.usage.total_tokens", s.TotalTokens)
	if s.CostUSD != nil && s.CostSource == model.CostReported {
		attrs["weave.usage.cost_usd"] = *s.CostUSD
	}
	if len(s.FinishReasons) > 0 {
		fr := make([]any, len(s.FinishReasons))
		for i, r := range s.FinishReasons {
			fr[i] = r
		}
		attrs[semconv.KeyFinishReasons] = fr
	}
	if err := attrs.js(semconv.KeyInputMessages, s.InputMessages, len(s.InputMessages) > 0); err != nil {
		return err
	}
	if err := attrs.js(semconv.KeyOutputMessages, s.OutputMessages, len(s.OutputMessages) > 0); err != nil {
		return err
	}
	if len(s.SystemInstructions) > 0 {
		parts := make([]model.Part, len(s.SystemInstructions))
		for i, t := range s.SystemInstructions {
			parts[i] = model.Part{Type: model.PartText, Content: t}
		}
		if err := attrs.js(semconv.KeySystemInstructions, parts, true); err != nil {
			return err
		}
	}
	return nil
}

// tool sets the attributes of a tool call, an error, a compaction and
// W&B's thread and run.
func (attrs synthAttrs) tool(s *model.Span) {
	attrs.str(semconv.KeyToolName, s.ToolName)
	attrs.str(semconv.KeyToolType, s.ToolType)
	attrs.str(semconv.KeyToolCallID, s.ToolCallID)
	attrs.str(semconv.KeyToolCallArguments, s.ToolCallArguments)
	attrs.str(semconv.KeyToolCallResult, s.ToolCallResult)
	attrs.str(semconv.KeyErrorType, s.ErrorType)
	attrs.str(semconv.KeyCompactionSummary, s.CompactionSummary)
	if s.CompactionItemsBefore != 0 {
		attrs[semconv.KeyCompactionItemsBefore] = s.CompactionItemsBefore
	}
	if s.CompactionItemsAfter != 0 {
		attrs[semconv.KeyCompactionItemsAfter] = s.CompactionItemsAfter
	}
	attrs.str("wandb.thread_id", s.ThreadID)
	if s.IsTurn {
		attrs["wandb.is_turn"] = true
	}
	attrs.str("wandb.display_name", s.DisplayName)
	attrs.str("wandb.wb_run_id", s.WBRunID)
	attrs.num("wandb.wb_run_step", s.WBRunStep)
}

// custom sets the request's model parameters and the custom attributes.
func (attrs synthAttrs) custom(s *model.Span) {
	for k, v := range s.ModelParameters {
		attrs["weave.request."+k] = v
	}
	for k, v := range s.CustomAttrsString {
		if k != normalize.KeyScopeName && k != normalize.KeyScopeVersion {
			attrs[k] = v
		}
	}
	for k, v := range s.CustomAttrsInt {
		attrs[k] = v
	}
	for k, v := range s.CustomAttrsFloat {
		attrs[k] = v
	}
	for k, v := range s.CustomAttrsBool {
		attrs[k] = v
	}
}

// synthesize rebuilds a span's OTLP/JSON from its columns: the GenAI
// conventions' keys (weave's where they have none), the custom
// attributes, the events. What normalization reads back from it is the
// same row, but for a cost from the price table (priced again on ingest).
func synthesize(s *model.Span) ([]byte, error) {
	attrs := synthAttrs{}
	if err := attrs.genAI(s); err != nil {
		return nil, err
	}
	attrs.tool(s)
	attrs.custom(s)
	sp := map[string]any{
		"traceId": s.TraceID, "spanId": s.SpanID, "name": s.SpanName, "kind": spanKinds[s.SpanKind],
		"startTimeUnixNano": strconv.FormatInt(s.StartedAt.UnixNano(), 10), "endTimeUnixNano": "0",
		"attributes": keyValues(attrs),
	}
	if s.ParentSpanID != "" {
		sp["parentSpanId"] = s.ParentSpanID
	}
	if !s.EndedAt.IsZero() {
		sp["endTimeUnixNano"] = strconv.FormatInt(s.EndedAt.UnixNano(), 10)
	}
	status := map[string]any{}
	switch s.StatusCode {
	case model.StatusOK:
		status["code"] = 1
	case model.StatusError:
		status["code"] = 2
	}
	if s.StatusMessage != "" {
		status["message"] = s.StatusMessage
	}
	sp["status"] = status
	if len(s.Events) > 0 {
		evs := make([]any, len(s.Events))
		for i, e := range s.Events {
			evs[i] = eventJSON(e)
		}
		sp["events"] = evs
	}
	return json.Marshal(sp)
}
