package store

import (
	"fmt"
	"strings"
)

// TraceStatus is a trace's status from its error and running span counts
// (TraceSummary).
func TraceStatus(errors, running int64) string {
	switch {
	case errors > 0:
		return TraceError
	case running > 0:
		return TraceRunning
	}
	return TraceOK
}

// TraceStatusHaving is the condition on the per-trace error and running
// span counts (named t_errors and t_running by both backends) that keeps
// the traces of a TraceQuery's status; "" for any status.
func TraceStatusHaving(status string) string {
	switch status {
	case TraceError:
		return "t_errors > 0"
	case TraceRunning:
		return "t_errors = 0 AND t_running > 0"
	case TraceOK:
		return "t_errors = 0 AND t_running = 0"
	}
	return ""
}

// CheckTraceQuery reports what both backends refuse in a TraceQuery before
// building any SQL: an unknown status or sort field, a bad direction. The
// span filters are checked by each backend's filter builder.
func CheckTraceQuery(q TraceQuery) error {
	switch q.Status {
	case "", TraceOK, TraceError, TraceRunning:
	default:
		return fmt.Errorf("%w: trace status %q (want ok, error or running)", ErrInvalid, q.Status)
	}
	for _, so := range q.Sort {
		if _, ok := TraceSortFields[so.Field]; !ok {
			return fmt.Errorf("%w: cannot sort traces on %q", ErrInvalid, so.Field)
		}
		switch strings.ToLower(so.Direction) {
		case "", "asc", "desc":
		default:
			return fmt.Errorf("%w: unknown sort direction %q (asc, desc)", ErrInvalid, so.Direction)
		}
	}
	return nil
}

// RootNode is what picking a trace's root needs of one span.
type RootNode struct {
	SpanID, ParentID string
	Started, Ended   int64 // ns; Ended is meaningful when !Running
	Running          bool
}

// PrimaryRoot returns the index of the trace's root among its spans
// (TraceSummary), or -1 when every span has a parent in the trace.
func PrimaryRoot(spans []RootNode) int {
	ids := make(map[string]bool, len(spans))
	for _, s := range spans {
		ids[s.SpanID] = true
	}
	best := -1
	for i, s := range spans {
		if s.ParentID != "" && s.ParentID != s.SpanID && ids[s.ParentID] {
			continue
		}
		if best < 0 || laterRoot(s, spans[best]) {
			best = i
		}
	}
	return best
}

// laterRoot orders root candidates: ended last (running last of all),
// then earliest start, then span_id.
func laterRoot(a, b RootNode) bool {
	if a.Running != b.Running {
		return a.Running
	}
	if !a.Running && a.Ended != b.Ended {
		return a.Ended > b.Ended
	}
	if a.Started != b.Started {
		return a.Started < b.Started
	}
	return a.SpanID < b.SpanID
}
