package api

import (
	"context"
	"fmt"

	"github.com/weavetrace/weave/server/chatview"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// SpansQueryRequest is the body of /genai/spans/query.
type SpansQueryRequest struct {
	projectPart
	Filters        []store.Filter `json:"filters"`
	Sort           []store.Sort   `json:"sort"`
	IncludeDetails bool           `json:"include_details"`
	rangePart
	pagePart
}

func (q *SpansQueryRequest) validate() error {
	if err := checkFilters(q.Filters); err != nil {
		return err
	}
	if err := checkSorts(q.Sort, spanSortColumns); err != nil {
		return err
	}
	if err := q.rangePart.check(); err != nil {
		return err
	}
	return q.pagePart.check(store.DefaultLimit)
}

// SpansPage is a page of spans.
type SpansPage struct {
	Spans  []model.Span `json:"spans"`
	Total  int64        `json:"total"`
	Limit  int          `json:"limit"`
	Offset int          `json:"offset"`
}

func (h *Handler) spansQuery(ctx context.Context, q *SpansQueryRequest) (SpansPage, error) {
	spans, total, err := h.s.Store.QuerySpans(ctx, store.SpanQuery{
		ProjectID:      q.ProjectID,
		Filters:        q.Filters,
		Range:          q.r,
		Sort:           q.Sort,
		Limit:          q.Limit,
		Offset:         q.Offset,
		IncludeDetails: q.IncludeDetails,
	})
	if err != nil {
		return SpansPage{}, err
	}
	return SpansPage{Spans: nonNil(spans), Total: total, Limit: q.Limit, Offset: q.Offset}, nil
}

// SpansAggregateRequest is the body of /genai/spans/aggregate.
type SpansAggregateRequest struct {
	projectPart
	GroupBy []string       `json:"group_by"`
	Filters []store.Filter `json:"filters"`
	Sort    []store.Sort   `json:"sort"`
	rangePart
	pagePart
}

func (q *SpansAggregateRequest) validate() error {
	if len(q.GroupBy) > store.MaxGroupBy {
		return invalid("group_by", "at most %d group-by fields, got %d", store.MaxGroupBy, len(q.GroupBy))
	}
	seen := map[string]bool{}
	for i, f := range q.GroupBy {
		at := fmt.Sprintf("group_by[%d]", i)
		if !validFilterField(f) {
			return invalid(at, "cannot group by %q: use a span column (e.g. agent_name, operation_name, request_model) "+
				"or custom_attrs_string.<key> (also _int, _float, _bool) or resource_attrs.<key>", truncate(f, 80))
		}
		if _, _, _, err := store.GroupField(f); err != nil {
			return invalid(at, "cannot group by %q (a list)", truncate(f, 80))
		}
		if seen[f] {
			return invalid(at, "%q is grouped by twice", truncate(f, 80))
		}
		seen[f] = true
	}
	if err := checkFilters(q.Filters); err != nil {
		return err
	}
	columns := keysOf(store.AggregateSortFields)
	for f := range seen {
		columns[f] = true
	}
	if err := checkSorts(q.Sort, columns); err != nil {
		return err
	}
	if err := q.rangePart.check(); err != nil {
		return err
	}
	return q.pagePart.check(store.DefaultLimit)
}

// SpanGroup is one group of /genai/spans/aggregate: its key as an object
// by field (it hides the embedded key list in JSON), and its figures.
type SpanGroup struct {
	Key map[string]any `json:"key"`
	store.SpanGroup
}

// SpanGroups is the answer of /genai/spans/aggregate.
type SpanGroups struct {
	GroupBy []string    `json:"group_by"`
	Groups  []SpanGroup `json:"groups"`
	Total   int64       `json:"total"`
	Limit   int         `json:"limit"`
	Offset  int         `json:"offset"`
}

func (h *Handler) spansAggregate(ctx context.Context, q *SpansAggregateRequest) (SpanGroups, error) {
	groups, total, err := h.s.Store.AggregateSpans(ctx, store.AggregateQuery{
		ProjectID: q.ProjectID,
		GroupBy:   q.GroupBy,
		Filters:   q.Filters,
		Range:     q.r,
		Sort:      q.Sort,
		Limit:     q.Limit,
		Offset:    q.Offset,
	})
	if err != nil {
		return SpanGroups{}, err
	}
	out := SpanGroups{GroupBy: nonNil(q.GroupBy), Groups: make([]SpanGroup, len(groups)), Total: total, Limit: q.Limit, Offset: q.Offset}
	for i, g := range groups {
		key := make(map[string]any, len(q.GroupBy))
		for j, f := range q.GroupBy {
			if j < len(g.Key) {
				key[f] = g.Key[j]
			}
		}
		out.Groups[i] = SpanGroup{Key: key, SpanGroup: g}
	}
	return out, nil
}

// TracesQueryRequest is the body of /genai/traces/query.
type TracesQueryRequest struct {
	projectPart
	AgentName      string         `json:"agent_name"`
	ConversationID string         `json:"conversation_id"`
	Status         string         `json:"status"`
	Filters        []store.Filter `json:"filters"`
	Sort           []store.Sort   `json:"sort"`
	rangePart
	pagePart
}

func (q *TracesQueryRequest) validate() error {
	if err := checkText("agent_name", q.AgentName, false); err != nil {
		return err
	}
	if len(q.ConversationID) > maxConversations {
		return invalid("conversation_id", "conversation_id is longer than %d bytes", maxConversations)
	}
	switch q.Status {
	case "", store.TraceOK, store.TraceError, store.TraceRunning:
	default:
		return invalid("status", "status must be ok, error or running, got %q", truncate(q.Status, 40))
	}
	if err := checkFilters(q.Filters); err != nil {
		return err
	}
	if err := checkSorts(q.Sort, traceSortColumns); err != nil {
		return err
	}
	if err := q.rangePart.check(); err != nil {
		return err
	}
	return q.pagePart.check(store.DefaultLimit)
}

// TracesPage is a page of traces.
type TracesPage struct {
	Traces []store.TraceSummary `json:"traces"`
	Total  int64                `json:"total"`
	Limit  int                  `json:"limit"`
	Offset int                  `json:"offset"`
}

func (h *Handler) tracesQuery(ctx context.Context, q *TracesQueryRequest) (TracesPage, error) {
	traces, total, err := h.s.Store.QueryTraces(ctx, store.TraceQuery{
		ProjectID:      q.ProjectID,
		Range:          q.r,
		AgentName:      q.AgentName,
		ConversationID: q.ConversationID,
		Status:         q.Status,
		Filters:        q.Filters,
		Sort:           q.Sort,
		Limit:          q.Limit,
		Offset:         q.Offset,
	})
	if err != nil {
		return TracesPage{}, err
	}
	return TracesPage{Traces: nonNil(traces), Total: total, Limit: q.Limit, Offset: q.Offset}, nil
}

// TraceRequest is the body of /genai/spans/trace and /genai/traces/chat.
type TraceRequest struct {
	projectPart
	TraceID string `json:"trace_id"`
}

func (q *TraceRequest) validate() error {
	var err error
	q.TraceID, err = checkHexID("trace_id", q.TraceID, 32)
	return err
}

// TraceSpans is the answer of /genai/spans/trace.
type TraceSpans struct {
	TraceID string       `json:"trace_id"`
	Spans   []model.Span `json:"spans"`
}

// traceSpans reads the spans of q's trace with read (the store's
// TraceSpans, or TraceChatSpans for the chat view).
func (h *Handler) traceSpans(ctx context.Context, q *TraceRequest,
	read func(ctx context.Context, projectID, traceID string) ([]model.Span, error)) ([]model.Span, error) {
	spans, err := read(ctx, q.ProjectID, q.TraceID)
	if err != nil {
		return nil, err
	}
	if len(spans) == 0 {
		return nil, &Error{Code: CodeNotFound, Field: "trace_id",
			Message: fmt.Sprintf("trace %s not found in project %q", q.TraceID, q.ProjectID)}
	}
	return spans, nil
}

func (h *Handler) spansTrace(ctx context.Context, q *TraceRequest) (TraceSpans, error) {
	spans, err := h.traceSpans(ctx, q, h.s.Store.TraceSpans)
	if err != nil {
		return TraceSpans{}, err
	}
	return TraceSpans{TraceID: q.TraceID, Spans: spans}, nil
}

func (h *Handler) traceChat(ctx context.Context, q *TraceRequest) (chatview.Trace, error) {
	spans, err := h.traceSpans(ctx, q, h.s.Store.TraceChatSpans)
	if err != nil {
		return chatview.Trace{}, err
	}
	return chatview.Build(spans), nil
}

// ActiveRequest is the body of /genai/spans/active.
type ActiveRequest struct {
	projectPart
	rangePart
	Limit int `json:"limit"`
}

func (q *ActiveRequest) validate() error {
	if err := q.rangePart.check(); err != nil {
		return err
	}
	p := pagePart{Limit: q.Limit}
	if err := p.check(store.DefaultLimit); err != nil {
		return err
	}
	q.Limit = p.Limit
	return nil
}

// ActiveSpans is the answer of /genai/spans/active.
type ActiveSpans struct {
	Spans []model.Span `json:"spans"`
}

func (h *Handler) spansActive(ctx context.Context, q *ActiveRequest) (ActiveSpans, error) {
	spans, err := h.s.Store.ActiveSpans(ctx, q.ProjectID, q.r, q.Limit)
	if err != nil {
		return ActiveSpans{}, err
	}
	return ActiveSpans{Spans: nonNil(spans)}, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
