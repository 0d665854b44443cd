package normalize

import (
	"bytes"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/weavetrace/weave/server/model"
)

// ProjectID returns the project a resource routes to: wandb.entity +
// wandb.project as "entity/project" (or wandb.project alone), else def.
var ProjectID = projectID

// Renormalize rebuilds a stored span from its raw span, resource
// attributes and scope (kept in the custom attributes) and normalizes it
// again with extra events (log records that arrived after it). Events the
// stored copy had already taken from log records are kept. The project is
// the stored one.
func Renormalize(stored model.Span, extra []model.Event, opts Options) (model.Span, []Warning, error) {
	if len(stored.RawSpan) == 0 {
		return model.Span{}, nil, errors.New("normalize: stored span has no raw_span")
	}
	var buf bytes.Buffer
	buf.WriteString(`{"resourceSpans":[{"resource":{},"scopeSpans":[{"scope":{},"spans":[`)
	buf.Write(stored.RawSpan)
	buf.WriteString(`]}]}]}`)
	td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(buf.Bytes())
	if err != nil {
		return model.Span{}, nil, fmt.Errorf("normalize: decode raw_span: %w", err)
	}
	if td.SpanCount() != 1 {
		return model.Span{}, nil, fmt.Errorf("normalize: raw_span holds %d spans, want 1", td.SpanCount())
	}
	rs := td.ResourceSpans().At(0)
	if err := rs.Resource().Attributes().FromRaw(stored.ResourceAttrs); err != nil {
		return model.Span{}, nil, fmt.Errorf("normalize: resource attributes: %w", err)
	}
	ss := rs.ScopeSpans().At(0)
	ss.Scope().SetName(stored.CustomAttrsString[KeyScopeName])
	ss.Scope().SetVersion(stored.CustomAttrsString[KeyScopeVersion])
	sp := ss.Spans().At(0)
	tid, sid := sp.TraceID(), sp.SpanID()
	ref := SpanRef{TraceID: fmt.Sprintf("%x", tid[:]), SpanID: fmt.Sprintf("%x", sid[:])}

	events := append(LogDerived(stored.Events), extra...)
	o := opts
	o.DefaultProject = stored.ProjectID
	o.ExtraEvents = map[SpanRef][]model.Event{ref: events}
	// The stored project wins over whatever the resource says now.
	rs.Resource().Attributes().Remove("wandb.entity")
	rs.Resource().Attributes().Remove("wandb.project")
	out, warns := Normalize(rs, o)
	if len(out) != 1 {
		return model.Span{}, warns, fmt.Errorf("normalize: stored span could not be normalized again: %v", warns)
	}
	s := out[0]
	s.ResourceAttrs = stored.ResourceAttrs
	return s, warns, nil
}
