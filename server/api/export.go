package api

import (
	"compress/gzip"
	"net/http"
	"strings"

	"github.com/weavetrace/weave/server/export"
)

// ExportRequest is the body of /genai/export: a project's spans (in the
// range, on span start), or the listed conversations, or the listed
// traces, in one format.
type ExportRequest struct {
	projectPart
	rangePart
	Format          string   `json:"format"`
	ConversationIDs []string `json:"conversation_ids"`
	TraceIDs        []string `json:"trace_ids"`
}

func (q *ExportRequest) validate() error {
	switch q.Format {
	case "":
		q.Format = export.FormatJSONL
	case export.FormatJSONL, export.FormatOTLP:
	case export.FormatATIF:
		if len(q.TraceIDs) > 0 {
			return invalid("trace_ids", "format atif exports conversations: name conversation_ids, or none for the whole project")
		}
	default:
		return invalid("format", "format must be jsonl, otlp or atif, got %q", truncate(q.Format, 80))
	}
	if err := q.rangePart.check(); err != nil {
		return err
	}
	if len(q.ConversationIDs) > 0 && len(q.TraceIDs) > 0 {
		return invalid("trace_ids", "name conversation_ids or trace_ids, not both")
	}
	if err := checkConversationIDs(q.ConversationIDs); err != nil {
		return err
	}
	return checkTraceIDs(q.TraceIDs)
}

// export streams the selection as JSON lines: no time limit (the client
// going away stops it), gzip when the client accepts it. An error before
// the first line is the usual error envelope; after it, the connection is
// cut, so a client never takes a truncated export for a whole one (the
// chunked body lacks its end).
func (h *Handler) export(w http.ResponseWriter, r *http.Request) error {
	q, err := accept[ExportRequest](h, w, r)
	if err != nil {
		return err
	}
	sel := export.Selection{ProjectID: q.ProjectID, ConversationIDs: q.ConversationIDs, TraceIDs: q.TraceIDs, Range: q.r}
	out := &lazyBody{w: w, gzip: acceptsGzip(r)}
	x, err := export.NewWriter(out, q.Format)
	if err != nil {
		return err
	}
	err = x.Run(r.Context(), h.s.Store, sel)
	if err == nil {
		err = out.close()
	}
	if err == nil {
		return nil
	}
	if !out.started {
		return err
	}
	h.s.Logger.Error("export failed mid-stream", "project", q.ProjectID, "format", q.Format, "items", x.Items, "err", err)
	panic(http.ErrAbortHandler)
}

// lazyBody writes the export's headers on its first write, so an error
// before any data still gets the error envelope; an export of nothing
// answers 200 with an empty body.
type lazyBody struct {
	w       http.ResponseWriter
	gzip    bool
	zw      *gzip.Writer
	started bool
}

func (b *lazyBody) start() {
	if b.started {
		return
	}
	b.started = true
	h := b.w.Header()
	h.Set("Content-Type", "application/x-ndjson; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	if b.gzip {
		h.Set("Content-Encoding", "gzip")
		b.zw, _ = gzip.NewWriterLevel(b.w, gzip.BestSpeed)
	}
	b.w.WriteHeader(http.StatusOK)
}

func (b *lazyBody) Write(p []byte) (int, error) {
	b.start()
	if b.zw != nil {
		return b.zw.Write(p)
	}
	return b.w.Write(p)
}

func (b *lazyBody) close() error {
	b.start()
	if b.zw != nil {
		return b.zw.Close()
	}
	return nil
}

// acceptsGzip reports whether the request's Accept-Encoding lists gzip
// (without q=0).
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
