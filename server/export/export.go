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

	"github.com/weavetrace/weave/server/chatview"
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
	QueryConversations(ctx context.Context, q store.ConversationQuery) (store.ConversationPage, error)
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

// conversationPage is how many conversations a project's ATIF export lists
// at a time.
const conversationPage = 100

// Trajectories calls fn with the ATIF trajectory of each selected
// conversation (its spans in sel.Range): the listed ones (a conversation
// that does not exist is skipped), else every conversation of the project
// active in sel.Range, oldest first. A conversation is read whole, so
// memory grows with the largest conversation, not with the project.
func Trajectories(ctx context.Context, src Source, sel Selection, fn func(Trajectory) error) error {
	if len(sel.TraceIDs) > 0 {
		return errors.New("export: ATIF exports conversations, not traces")
	}
	one := func(id string) error {
		spans, err := src.ConversationSpans(ctx, sel.ProjectID, id, sel.Range)
		if err != nil || len(spans) == 0 {
			return err
		}
		return fn(ATIF(chatview.BuildConversation(id, spans), sel.ProjectID))
	}
	for _, id := range sel.ConversationIDs {
		if err := one(id); err != nil {
			return err
		}
	}
	if len(sel.ConversationIDs) > 0 {
		return nil
	}
	for offset := 0; ; offset += conversationPage {
		page, err := src.QueryConversations(ctx, store.ConversationQuery{
			ProjectID: sel.ProjectID, Range: sel.Range, Limit: conversationPage, Offset: offset,
			Sort: []store.Sort{{Field: "first_activity", Direction: "asc"}},
		})
		if err != nil {
			return err
		}
		for _, c := range page.Conversations {
			if err := one(c.ConversationID); err != nil {
				return err
			}
		}
		if len(page.Conversations) < conversationPage {
			return nil
		}
	}
}

// Writer writes an export as lines: span rows (jsonl),
// ExportTraceServiceRequests of a batch each, split past MaxOTLPLine
// (otlp), or one ATIF trajectory per conversation (atif).
type Writer struct {
	w      *bufio.Writer
	format string
	Items  int64 // spans written (trajectories for ATIF)
	Lines  int64 // lines written
	// Progress, when set, is called after each batch or trajectory.
	Progress func(items, lines int64)
}

// NewWriter returns a Writer of format (FormatJSONL, FormatOTLP or
// FormatATIF).
func NewWriter(w io.Writer, format string) (*Writer, error) {
	switch format {
	case FormatJSONL, FormatOTLP, FormatATIF:
	default:
		return nil, fmt.Errorf("export: unknown format %q (jsonl, otlp, atif)", format)
	}
	return &Writer{w: bufio.NewWriterSize(w, 64<<10), format: format}, nil
}

// Write writes one batch.
func (x *Writer) Write(spans []model.Span) error {
	if len(spans) == 0 {
		return nil
	}
	if x.format == FormatOTLP {
		lines, err := OTLPRequests(spans, MaxOTLPLine)
		if err != nil {
			return err
		}
		for _, line := range lines {
			x.w.Write(line)
			if err := x.w.WriteByte('\n'); err != nil {
				return err
			}
			x.Lines++
		}
		x.Items += int64(len(spans))
		x.progress()
		return nil
	}
	for i := range spans {
		// The row's own MarshalJSON: json.Marshal would validate and
		// compact its (already compact) output again, 60% more work.
		b, err := spans[i].MarshalJSON()
		if err != nil {
			return fmt.Errorf("export: span %s/%s: %w", spans[i].TraceID, spans[i].SpanID, err)
		}
		x.w.Write(b)
		if err := x.w.WriteByte('\n'); err != nil {
			return err
		}
		x.Items++
		x.Lines++
	}
	x.progress()
	return nil
}

func (x *Writer) progress() {
	if x.Progress != nil {
		x.Progress(x.Items, x.Lines)
	}
}

// WriteTrajectory writes one trajectory as a line.
func (x *Writer) WriteTrajectory(t Trajectory) error {
	b, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("export: trajectory %s: %w", t.SessionID, err)
	}
	x.w.Write(b)
	if err := x.w.WriteByte('\n'); err != nil {
		return err
	}
	x.Lines++
	x.Items++
	x.progress()
	return nil
}

// Flush writes out what is buffered.
func (x *Writer) Flush() error { return x.w.Flush() }

// Run writes the selection to x in its format.
func (x *Writer) Run(ctx context.Context, src Source, sel Selection) error {
	var err error
	if x.format == FormatATIF {
		err = Trajectories(ctx, src, sel, x.WriteTrajectory)
	} else {
		err = Spans(ctx, src, sel, x.Write)
	}
	if err != nil {
		return err
	}
	return x.Flush()
}
