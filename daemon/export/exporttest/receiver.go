// Package exporttest is an OTLP/HTTP trace receiver for tests: it decodes
// protobuf (and JSON) export requests with the collector's pdata, records
// every span, and can be switched down (any status code) and up again.
package exporttest

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Span is one received span, simplified.
type Span struct {
	TraceID, SpanID, ParentSpanID string
	Name                          string
	Start, End                    time.Time // End zero: sent as running
	Attributes                    map[string]any
	Resource                      map[string]any
	APIKey                        string // wandb-api-key header
	Path                          string
}

// Key identifies a span version: the same span sent running and ended
// counts twice.
func (s Span) Key() string {
	return s.TraceID + "/" + s.SpanID + "/" + map[bool]string{true: "running", false: "ended"}[s.End.IsZero()]
}

// Receiver records what it is sent. Use it as an http.Handler directly
// (in-memory tests) or Start it on a loopback port.
type Receiver struct {
	mu       sync.Mutex
	status   int
	spans    []Span
	requests int
	rejected int
	changed  chan struct{}
	srv      *httptest.Server
}

// NewReceiver returns a receiver that answers 200.
func NewReceiver() *Receiver {
	return &Receiver{status: http.StatusOK, changed: make(chan struct{}, 1)}
}

// Start serves on a loopback port; Close stops it.
func (r *Receiver) Start() *Receiver {
	r.srv = httptest.NewServer(r)
	return r
}

// URL is the base URL of a started receiver.
func (r *Receiver) URL() string { return r.srv.URL }

// Close stops a started receiver.
func (r *Receiver) Close() {
	if r.srv != nil {
		r.srv.Close()
	}
}

// SetStatus makes the receiver answer code (and record nothing) until set
// back to 200.
func (r *Receiver) SetStatus(code int) {
	r.mu.Lock()
	r.status = code
	r.mu.Unlock()
}

// Requests is the number of requests seen, accepted or not.
func (r *Receiver) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// Rejected is the number of requests answered with a non-200 status.
func (r *Receiver) Rejected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected
}

// Spans returns every span accepted so far, in arrival order.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Distinct returns the accepted spans by Key (a re-sent version counts once).
func (r *Receiver) Distinct() map[string]Span {
	out := map[string]Span{}
	for _, s := range r.Spans() {
		out[s.Key()] = s
	}
	return out
}

func (r *Receiver) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// Wait blocks until cond holds for the accepted spans or ctx ends. cond is
// re-checked after every request the receiver answers.
func (r *Receiver) Wait(ctx context.Context, cond func([]Span) bool) error {
	for {
		if cond(r.Spans()) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.changed:
		}
	}
}

// ServeHTTP decodes one OTLP export request.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	r.requests++
	status := r.status
	r.mu.Unlock()
	if status != http.StatusOK {
		r.mu.Lock()
		r.rejected++
		r.mu.Unlock()
		r.notify()
		http.Error(w, "receiver down", status)
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	er := ptraceotlp.NewExportRequest()
	if req.Header.Get("Content-Type") == "application/json" {
		err = er.UnmarshalJSON(body)
	} else {
		err = er.UnmarshalProto(body)
	}
	if err != nil {
		http.Error(w, "bad OTLP: "+err.Error(), http.StatusBadRequest)
		return
	}
	var got []Span
	rss := er.Traces().ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := rs.Resource().Attributes().AsRaw()
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j).Spans()
			for k := 0; k < ss.Len(); k++ {
				sp := ss.At(k)
				tid, sid, pid := sp.TraceID(), sp.SpanID(), sp.ParentSpanID()
				s := Span{
					TraceID:    hex.EncodeToString(tid[:]),
					SpanID:     hex.EncodeToString(sid[:]),
					Name:       sp.Name(),
					Start:      sp.StartTimestamp().AsTime(),
					Attributes: sp.Attributes().AsRaw(),
					Resource:   res,
					APIKey:     req.Header.Get("wandb-api-key"),
					Path:       req.URL.Path,
				}
				if !pid.IsEmpty() {
					s.ParentSpanID = hex.EncodeToString(pid[:])
				}
				if sp.EndTimestamp() != pcommon.Timestamp(0) {
					s.End = sp.EndTimestamp().AsTime()
				}
				got = append(got, s)
			}
		}
	}
	r.mu.Lock()
	r.spans = append(r.spans, got...)
	r.mu.Unlock()
	r.notify()
	resp, _ := ptraceotlp.NewExportResponse().MarshalProto()
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(resp)
}

// Transport is an in-memory http.RoundTripper serving requests with h:
// no sockets, no background goroutines (for testing/synctest bubbles).
type Transport struct{ H http.Handler }

// RoundTrip serves req synchronously.
func (t Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.H.ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
