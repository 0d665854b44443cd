// Package export writes stored spans out: as JSON lines (one span row per
// line, the read API's form), as OTLP/JSON (one ExportTraceServiceRequest
// per line, which any OTLP/HTTP backend takes and weave-server ingests back
// to the same rows), and a conversation as an ATIF trajectory (atif.go).
//
// A selection is a whole project (optionally a time range on span start),
// a list of conversations, or a list of traces; Spans walks it in batches
// through the store's read side.
package export

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
)

// Formats.
const (
	FormatJSONL = "jsonl"
	FormatOTLP  = "otlp"
	FormatATIF  = "atif"
)

// Selection is what to export from one project: the listed conversations,
// else the listed traces, else every span (in Range, on span start).
type Selection struct {
	ProjectID       string
	ConversationIDs []string
	TraceIDs        []string
	Range           store.TimeRange
}

// Source is the store's read side an export needs.
type Source interface {
	TraceSpans(ctx context.Context, projectID, traceID string) ([]model.Span, error)
	ConversationSpans(ctx context.Context, projectID, conversationID string, r store.TimeRange) ([]model.Span, error)
}

// ErrNoScan is returned for a project export from a store that cannot
// stream a project (no store.SpanScanner).
var ErrNoScan = fmt.Errorf("export: this store cannot stream a whole project: %w", errors.ErrUnsupported)

// Spans calls fn with the selected spans, with details, in batches of at
// most store.ScanBatch: conversation by conversation and trace by trace
// (each by start time), or the whole project in (start, span, trace)
// order. A trace or conversation that does not exist is skipped.
func Spans(ctx context.Context, src Source, sel Selection, fn func([]model.Span) error) error {
	emit := func(spans []model.Span) error {
		for len(spans) > 0 {
			n := min(len(spans), store.ScanBatch)
			if err := fn(spans[:n]); err != nil {
				return err
			}
			spans = spans[n:]
		}
		return nil
	}
	switch {
	case len(sel.ConversationIDs) > 0:
		for _, id := range sel.ConversationIDs {
			spans, err := src.ConversationSpans(ctx, sel.ProjectID, id, sel.Range)
			if err != nil {
				return err
			}
			if err := emit(spans); err != nil {
				return err
			}
		}
		return nil
	case len(sel.TraceIDs) > 0:
		for _, id := range sel.TraceIDs {
			spans, err := src.TraceSpans(ctx, sel.ProjectID, id)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if err := emit(spans); err != nil {
				return err
			}
		}
		return nil
	}
	sc, ok := src.(store.SpanScanner)
	if !ok {
		return ErrNoScan
	}
	return sc.ScanSpans(ctx, store.ScanQuery{ProjectID: sel.ProjectID, Range: sel.Range}, fn)
}

// Writer writes spans in one of the line formats (jsonl, otlp): JSON lines
// of span rows, or one ExportTraceServiceRequest line per batch.
type Writer struct {
	w      *bufio.Writer
	format string
	Spans  int64 // spans written
	Lines  int64 // lines written
}

// NewWriter returns a Writer of format (FormatJSONL or FormatOTLP).
func NewWriter(w io.Writer, format string) (*Writer, error) {
	switch format {
	case FormatJSONL, FormatOTLP:
	default:
		return nil, fmt.Errorf("export: format %q is not a line format (jsonl, otlp)", format)
	}
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), format: format}, nil
}

// Write writes one batch.
func (x *Writer) Write(spans []model.Span) error {
	if len(spans) == 0 {
		return nil
	}
	if x.format == FormatOTLP {
		line, err := OTLPRequest(spans)
		if err != nil {
			return err
		}
		x.w.Write(line)
		if err := x.w.WriteByte('\n'); err != nil {
			return err
		}
		x.Spans += int64(len(spans))
		x.Lines++
		return nil
	}
	for i := range spans {
		b, err := json.Marshal(spans[i])
		if err != nil {
			return fmt.Errorf("export: span %s/%s: %w", spans[i].TraceID, spans[i].SpanID, err)
		}
		x.w.Write(b)
		if err := x.w.WriteByte('\n'); err != nil {
			return err
		}
		x.Spans++
		x.Lines++
	}
	return nil
}

// Flush writes out what is buffered.
func (x *Writer) Flush() error { return x.w.Flush() }
