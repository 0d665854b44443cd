package ingest

import (
	"fmt"
	"net/http"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/weavetrace/weave/server/normalize"
)

// A request is decoded, normalized and written a chunk at a time: at most
// DefaultChunkItems spans or log records, or about DefaultChunkBytes of
// their encoding, so the memory a request needs beyond its body does not
// grow with its size.
const (
	DefaultChunkItems = 1000
	DefaultChunkBytes = 512 << 10
)

// unmarshaler is a pdata export request.
type unmarshaler interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}

func unmarshal(m unmarshaler, enc encoding, b []byte) error {
	if enc == encJSON {
		return m.UnmarshalJSON(b)
	}
	return m.UnmarshalProto(b)
}

func requestName(sig signal) string {
	switch sig {
	case signalLogs:
		return "log request (ExportLogsServiceRequest)"
	case signalMetrics:
		return "metric request (ExportMetricsServiceRequest)"
	}
	return "trace request (ExportTraceServiceRequest)"
}

// prepare scans a request body (nesting depth included), checks that every
// resource and scope holding items decodes, and authorizes each project the
// request writes to — all before anything is decoded in full or written.
func (h *Handler) prepare(r *http.Request, sig signal, enc encoding, body []byte) (*layout, *httpError) {
	bad := func(err error) *httpError {
		return fail(http.StatusBadRequest, "ingest: cannot decode OTLP %s %s: %v", enc.name(), requestName(sig), err)
	}
	l, err := scanRequest(sig, enc, body)
	if err != nil {
		return nil, bad(err)
	}
	projects := map[string]bool{}
	for ri := range l.resources {
		res := &l.resources[ri]
		var scopes []int
		for _, si := range res.effectiveScopes() {
			for _, it := range res.scopes[si].items {
				if !it.rejected {
					scopes = append(scopes, si)
					break
				}
			}
		}
		if len(scopes) == 0 {
			continue
		}
		attrs, err := l.resourceAttributes(ri)
		if err != nil {
			return nil, bad(fmt.Errorf("resource %d: %w", ri+1, err))
		}
		if p := normalize.ProjectID(attrs, h.cfg.DefaultProject); p != "" {
			projects[p] = true
		}
		for _, si := range scopes {
			if err := l.decodes([]piece{{ri, si, 0, 0}}); err != nil {
				return nil, bad(fmt.Errorf("resource %d, scope %d: %w", ri+1, si+1, err))
			}
		}
	}
	if herr := h.authorize(r, projects); herr != nil {
		return nil, herr
	}
	return l, nil
}

// resourceAttributes decodes resource ri alone and returns its attributes.
func (l *layout) resourceAttributes(ri int) (pcommon.Map, error) {
	b := l.encode([]piece{{ri, -1, 0, 0}})
	var first func() (pcommon.Resource, bool)
	var req unmarshaler
	switch l.sig {
	case signalLogs:
		r := plogotlp.NewExportRequest()
		req, first = r, func() (pcommon.Resource, bool) {
			rl := r.Logs().ResourceLogs()
			return firstResource(rl.Len(), func() pcommon.Resource { return rl.At(0).Resource() })
		}
	case signalMetrics:
		r := pmetricotlp.NewExportRequest()
		req, first = r, func() (pcommon.Resource, bool) {
			rm := r.Metrics().ResourceMetrics()
			return firstResource(rm.Len(), func() pcommon.Resource { return rm.At(0).Resource() })
		}
	default:
		r := ptraceotlp.NewExportRequest()
		req, first = r, func() (pcommon.Resource, bool) {
			rs := r.Traces().ResourceSpans()
			return firstResource(rs.Len(), func() pcommon.Resource { return rs.At(0).Resource() })
		}
	}
	if err := unmarshal(req, l.enc, b); err != nil {
		return pcommon.Map{}, err
	}
	if res, ok := first(); ok {
		return res.Attributes(), nil
	}
	return pcommon.NewMap(), nil
}

func firstResource(n int, at func() pcommon.Resource) (pcommon.Resource, bool) {
	if n == 0 {
		return pcommon.Resource{}, false
	}
	return at(), true
}

// newRequest is an empty export request of the signal.
func newRequest(sig signal) unmarshaler {
	switch sig {
	case signalLogs:
		return plogotlp.NewExportRequest()
	case signalMetrics:
		return pmetricotlp.NewExportRequest()
	}
	return ptraceotlp.NewExportRequest()
}

// decodes reports whether the request pieces make up decodes.
func (l *layout) decodes(pieces []piece) error {
	return unmarshal(newRequest(l.sig), l.enc, l.encode(pieces))
}

// decodeChunk decodes the request pieces make up with dec. When that
// fails, each item is tried alone: those that do not decode are rejected
// (reason undecodable, pdata's error in the answer) and the rest decoded
// together — one bad span never costs the others.
func decodeChunk[T any](l *layout, pieces []piece, dec func([]byte) (T, error)) T {
	v, err := dec(l.encode(pieces))
	if err == nil {
		return v
	}
	l.eachItem(pieces, func(p piece, it *itemLayout, i int) {
		if _, err := dec(l.encode([]piece{{p.res, p.scope, i, i + 1}})); err != nil {
			l.reject(it, reasonUndecodable, fmt.Sprintf("%s %s: %s", itemName(l.sig), l.itemID(it), decodeError(err)))
		}
	})
	if v, err = dec(l.encode(pieces)); err == nil {
		return v
	}
	// Items that decode alone but not together (not seen in practice):
	// the chunk is rejected rather than guessed at.
	l.eachItem(pieces, func(_ piece, it *itemLayout, _ int) {
		l.reject(it, reasonUndecodable, fmt.Sprintf("%s %s: %s", itemName(l.sig), l.itemID(it), decodeError(err)))
	})
	v, _ = dec(l.encode(nil))
	return v
}

// eachItem calls f for each item of pieces not rejected.
func (l *layout) eachItem(pieces []piece, f func(p piece, it *itemLayout, i int)) {
	for _, p := range pieces {
		if p.scope < 0 {
			continue
		}
		items := l.resources[p.res].scopes[p.scope].items
		for i := p.lo; i < p.hi; i++ {
			if !items[i].rejected {
				f(p, &items[i], i)
			}
		}
	}
}

// itemID names an item by its trace and span ids, for messages.
func (l *layout) itemID(it *itemLayout) string {
	if l.enc == encJSON {
		return jsonItemID(l.sig, l.body[it.start:it.end])
	}
	return protoItemID(l.sig, l.body[it.start:it.end])
}

// decodeError is pdata's error without the excerpt of the chunk it quotes
// for JSON (positions in a re-encoded chunk mean nothing to the sender).
func decodeError(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ", error found in #"); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
