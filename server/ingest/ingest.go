package ingest

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weavetrace/weave/server/auth"
	"github.com/weavetrace/weave/server/metrics"
	"github.com/weavetrace/weave/server/normalize"
	"github.com/weavetrace/weave/server/store"
)

// Paths the handlers are mounted on: W&B's OTLP endpoint
// (/otel/v1/traces; /traces/otel/v1/… on dedicated and self-managed
// deployments), the GenAI endpoint of the Weave spike
// (/otel/v1/genai/traces), the Claude Code tracer's (/agents/otel/v1/traces)
// and the OTLP default (/v1/traces).
var (
	TracePaths  = []string{"/otel/v1/traces", "/traces/otel/v1/traces", "/otel/v1/genai/traces", "/agents/otel/v1/traces", "/v1/traces"}
	LogPaths    = []string{"/otel/v1/logs", "/traces/otel/v1/logs", "/v1/logs"}
	MetricPaths = []string{"/otel/v1/metrics", "/traces/otel/v1/metrics", "/v1/metrics"}
)

// DefaultMaxBodyBytes bounds a request body, before and after
// decompression, when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 32 << 20

// DefaultMaxInFlightBytes bounds the memory the requests being handled
// take together (Config.MaxInFlightBytes): room for one request of the
// default maximum size (about 42 MiB with its chunk) and smaller ones
// beside it.
const DefaultMaxInFlightBytes = 64 << 20

// DefaultAdmissionWait is how long a request waits for room in the memory
// budget before it is answered 503 (Config.AdmissionWait).
const DefaultAdmissionWait = 2 * time.Second

// retryAfterSeconds is the Retry-After of every 503 (retryAfter).
const retryAfterSeconds = "5"

// Config is the handler's tuning: what an operator sets (weave-server's
// flags and config file).
type Config struct {
	// DefaultProject receives spans whose resource names no project.
	// Required.
	DefaultProject string
	// MaxBodyBytes bounds a request body (compressed and decompressed);
	// 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxInFlightBytes bounds the memory the requests being handled may
	// take together, each estimated as its body buffer plus the working
	// set of one chunk; 0 means DefaultMaxInFlightBytes. A request that
	// finds no room waits up to AdmissionWait, then is answered 503 with
	// Retry-After (its body unread). A request costing more than the whole
	// budget runs alone.
	MaxInFlightBytes int64
	// AdmissionWait bounds the wait for room; 0 means DefaultAdmissionWait.
	AdmissionWait time.Duration
	// Normalize tunes normalization (caps, prices); its DefaultProject and
	// ExtraEvents are set by the handler.
	Normalize normalize.Options
}

// Settings are the handler's dependencies, injected by its owner.
type Settings struct {
	// Writer stores the spans. Required.
	Writer store.Writer
	// Logger gets request-level problems (never one line per span); nil
	// discards.
	Logger *slog.Logger
	// Metrics receives the ingest counters; nil keeps them private.
	Metrics *metrics.Registry
	// Authenticate, when set, is called before the body is read: an error
	// answers 401 and the body is never looked at. Authorize still checks
	// each project the request writes to.
	Authenticate func(r *http.Request) error
	// Authorize is called once per project a request writes to; nil means
	// open. An error wrapping auth.ErrForbidden answers 403, any other
	// error 401.
	Authorize func(r *http.Request, projectID string) error
	// Now is the clock for latency figures; nil means time.Now.
	Now func() time.Time
}

// Handler serves the OTLP endpoints. It is safe for concurrent use.
type Handler struct {
	cfg     Config
	s       Settings
	log     *slog.Logger
	m       *ingestMetrics
	now     func() time.Time
	maxBody int64

	budget    *budget
	admitWait time.Duration

	// chunkItems and chunkBytes bound a chunk (DefaultChunkItems,
	// DefaultChunkBytes; tests lower them).
	chunkItems, chunkBytes int

	// attached remembers spans that took events from log records, so that a
	// later copy of such a span (which carries only its own events) keeps
	// them. Bounded: the oldest keys are forgotten first.
	attached *keySet

	// native serializes the dedup of Claude Code's native spans against
	// the transcript's (native.go).
	native nativeLocks
}

// New checks cfg and s and returns a Handler.
func New(cfg Config, s Settings) (*Handler, error) {
	if s.Writer == nil {
		return nil, errors.New("ingest: Settings.Writer is required")
	}
	if strings.TrimSpace(cfg.DefaultProject) == "" {
		return nil, errors.New("ingest: Config.DefaultProject is required")
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("ingest: Config.MaxBodyBytes is negative (%d)", cfg.MaxBodyBytes)
	}
	if cfg.MaxInFlightBytes < 0 || cfg.AdmissionWait < 0 {
		return nil, fmt.Errorf("ingest: Config.MaxInFlightBytes (%d) or AdmissionWait (%v) is negative", cfg.MaxInFlightBytes, cfg.AdmissionWait)
	}
	h := &Handler{
		cfg:      cfg,
		s:        s,
		log:      s.Logger,
		now:      s.Now,
		maxBody:  cfg.MaxBodyBytes,
		attached: newKeySet(1 << 16),

		chunkItems: DefaultChunkItems,
		chunkBytes: DefaultChunkBytes,
		admitWait:  cfg.AdmissionWait,
	}
	if h.admitWait == 0 {
		h.admitWait = DefaultAdmissionWait
	}
	inFlight := cfg.MaxInFlightBytes
	if inFlight == 0 {
		inFlight = DefaultMaxInFlightBytes
	}
	h.budget = newBudget(inFlight)
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	reg := s.Metrics
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	h.m = newIngestMetrics(reg)
	return h, nil
}

// Register mounts the trace, log and metric handlers on mux at
// TracePaths, LogPaths and MetricPaths.
func (h *Handler) Register(mux *http.ServeMux) {
	for _, p := range TracePaths {
		mux.Handle(p, h.Traces())
	}
	for _, p := range LogPaths {
		mux.Handle(p, h.Logs())
	}
	for _, p := range MetricPaths {
		mux.Handle(p, h.Metrics())
	}
}

// Traces returns the handler for OTLP trace export requests.
func (h *Handler) Traces() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, signalTraces) })
}

// Logs returns the handler for OTLP log export requests.
func (h *Handler) Logs() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, signalLogs) })
}

// Metrics returns the handler for OTLP metric export requests.
func (h *Handler) Metrics() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, signalMetrics) })
}

type signal string

const (
	signalTraces  signal = "traces"
	signalLogs    signal = "logs"
	signalMetrics signal = "metrics"
)

// encoding is the wire format of a request, and so of its answer.
type encoding int

const (
	encProto encoding = iota
	encJSON
)

func (e encoding) contentType() string {
	if e == encJSON {
		return "application/json"
	}
	return "application/x-protobuf"
}

// httpError is an answer other than 200.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func fail(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// result is what a batch produced, for the response and the metrics.
type result struct {
	rejected int64
	message  string
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, sig signal) {
	start := h.now()
	res := &reservation{b: h.budget}
	enc, body, herr := h.readRequest(w, r, res)
	var out result
	if herr == nil {
		out, herr = h.handle(r, sig, enc, body)
	}
	body = nil
	h.m.batchSeconds.With(string(sig)).Observe(h.now().Sub(start).Seconds())
	if herr != nil {
		h.m.requests.With(string(sig), strconv.Itoa(herr.status)).Inc()
		writeError(w, enc, herr)
	} else {
		h.m.requests.With(string(sig), "200").Inc()
		writeSuccess(w, enc, sig, out)
	}
	h.m.inFlightBytes.Add(-float64(res.held))
	res.release()
}

// handle stores what a request body holds (OTLP/HTTP and OTLP/gRPC alike).
func (h *Handler) handle(r *http.Request, sig signal, enc encoding, body []byte) (result, *httpError) {
	switch sig {
	case signalTraces:
		return h.traces(r, enc, body)
	case signalLogs:
		return h.logs(r, enc, body)
	case signalMetrics:
		return h.metrics(r, enc, body)
	}
	return result{}, fail(http.StatusNotFound, "ingest: no signal %q", sig)
}

// readRequest checks method, key, content type and encoding, takes room
// in the memory budget and reads the body within the size limit, growing
// the reservation with the body.
func (h *Handler) readRequest(w http.ResponseWriter, r *http.Request, res *reservation) (encoding, []byte, *httpError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return encProto, nil, fail(http.StatusMethodNotAllowed, "ingest: method %s not allowed, use POST", r.Method)
	}
	enc, herr := requestEncoding(r.Header.Get("Content-Type"))
	if h.s.Authenticate != nil {
		// Before anything of the body is read.
		if err := h.s.Authenticate(r); err != nil {
			return enc, nil, fail(http.StatusUnauthorized, "ingest: %v", err)
		}
	}
	if herr != nil {
		return enc, nil, herr
	}
	ce := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	compressed := false
	switch ce {
	case "", "identity":
	case "gzip", "x-gzip", "deflate":
		compressed = true
	default:
		return enc, nil, fail(http.StatusUnsupportedMediaType, "ingest: unsupported Content-Encoding %q (use gzip, deflate or none)", ce)
	}
	if r.ContentLength > h.maxBody {
		return enc, nil, fail(http.StatusRequestEntityTooLarge, "ingest: body exceeds the limit of %d bytes", h.maxBody)
	}
	// The first estimate of the body: its length when it is sent as is,
	// else a guess that grows as it is read.
	size := int64(64 << 10)
	switch {
	case !compressed && r.ContentLength >= 0:
		size = r.ContentLength + 1 // room to see the end
	case r.ContentLength > 0:
		size = min(h.maxBody+1, max(size, 4*r.ContentLength))
	}
	if herr := h.admit(r, res, size); herr != nil {
		return enc, nil, herr
	}
	var reader io.Reader = http.MaxBytesReader(w, r.Body, h.maxBody)
	switch ce {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(reader)
		if err != nil {
			return enc, nil, readError(err, "gzip")
		}
		defer zr.Close()
		reader = zr
	case "deflate":
		zr, err := zlib.NewReader(reader)
		if err != nil {
			return enc, nil, readError(err, "deflate")
		}
		defer zr.Close()
		reader = zr
	}
	// The decompressed size is bounded too (a small gzip body can expand a
	// thousandfold).
	body := make([]byte, 0, size)
	for {
		if len(body) == cap(body) {
			if int64(len(body)) > h.maxBody {
				return enc, nil, fail(http.StatusRequestEntityTooLarge, "ingest: decompressed body exceeds the limit of %d bytes", h.maxBody)
			}
			next := min(h.maxBody+1, 2*int64(cap(body))+4096)
			if herr := h.admit(r, res, next); herr != nil {
				return enc, nil, herr
			}
			grown := make([]byte, len(body), next)
			copy(grown, body)
			body = grown
		}
		n, err := reader.Read(body[len(body):cap(body)])
		body = body[:len(body)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return enc, nil, readError(err, "body")
		}
	}
	if int64(len(body)) > h.maxBody {
		return enc, nil, fail(http.StatusRequestEntityTooLarge, "ingest: decompressed body exceeds the limit of %d bytes", h.maxBody)
	}
	return enc, body, nil
}

// admit grows res to cover a body buffer of size bytes, waiting up to
// AdmissionWait for room; when there is none the answer is 503.
func (h *Handler) admit(r *http.Request, res *reservation, size int64) *httpError {
	before := res.held
	ctx, cancel := context.WithTimeout(r.Context(), h.admitWait)
	defer cancel()
	if err := res.growTo(ctx, requestCost(size)); err != nil {
		h.m.throttled.Inc()
		// Read the rest of the body away (a fixed buffer, no memory kept),
		// so that the client gets this answer and its Retry-After rather
		// than a connection reset while it is still sending.
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, h.maxBody))
		return fail(http.StatusServiceUnavailable, "ingest: the server is busy with other requests (%d MiB of its %d MiB ingest memory in use); retry later",
			h.budget.inUse()>>20, h.budget.size>>20)
	}
	h.m.inFlightBytes.Add(float64(res.held - before))
	return nil
}

func readError(err error, what string) *httpError {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return fail(http.StatusRequestEntityTooLarge, "ingest: body exceeds the limit of %d bytes", tooBig.Limit)
	}
	switch what {
	case "gzip", "deflate":
		return fail(http.StatusBadRequest, "ingest: body is not valid %s: %v", what, err)
	}
	return fail(http.StatusBadRequest, "ingest: cannot read body: %v", err)
}

func requestEncoding(ct string) (encoding, *httpError) {
	if ct == "" {
		return encProto, fail(http.StatusUnsupportedMediaType, "ingest: missing Content-Type (use application/x-protobuf or application/json)")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return encProto, fail(http.StatusUnsupportedMediaType, "ingest: bad Content-Type %q: %v", ct, err)
	}
	switch mt {
	case "application/x-protobuf", "application/protobuf":
		return encProto, nil
	case "application/json":
		return encJSON, nil
	}
	return encProto, fail(http.StatusUnsupportedMediaType, "ingest: unsupported Content-Type %q (use application/x-protobuf or application/json)", mt)
}

// authorize checks every project a request writes to.
func (h *Handler) authorize(r *http.Request, projects map[string]bool) *httpError {
	if h.s.Authorize == nil {
		return nil
	}
	names := make([]string, 0, len(projects))
	for p := range projects {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		if err := h.s.Authorize(r, p); err != nil {
			if errors.Is(err, auth.ErrForbidden) {
				return fail(http.StatusForbidden, "ingest: %v", err)
			}
			return fail(http.StatusUnauthorized, "ingest: %v", err)
		}
	}
	return nil
}

// storeError turns a store failure into a retryable answer.
func (h *Handler) storeError(ctx context.Context, op string, err error) *httpError {
	if ctx.Err() != nil {
		return fail(http.StatusServiceUnavailable, "ingest: request cancelled during %s", op)
	}
	h.log.Warn("ingest store call failed", "op", op, "err", err)
	return fail(http.StatusServiceUnavailable, "ingest: storage unavailable (%s failed), retry later", op)
}

// summarize renders rejection reasons as "n spans rejected: a (2), b (1)".
func summarize(noun string, reasons map[string]int) (int64, string) {
	var total int64
	keys := make([]string, 0, len(reasons))
	for k, n := range reasons {
		total += int64(n)
		keys = append(keys, k)
	}
	if total == 0 {
		return 0, ""
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s (%d)", k, reasons[k])
	}
	return total, fmt.Sprintf("%d %s rejected: %s", total, noun, strings.Join(parts, ", "))
}

// writeSuccess answers 200 with an Export*ServiceResponse in the
// request's encoding, carrying a partial success when something was
// rejected.
func writeSuccess(w http.ResponseWriter, enc encoding, sig signal, res result) {
	var body []byte
	var err error
	if res.rejected != 0 || res.message != "" {
		m := exportResponse(sig, res).(interface {
			MarshalProto() ([]byte, error)
			MarshalJSON() ([]byte, error)
		})
		if enc == encJSON {
			body, err = m.MarshalJSON()
		} else {
			body, err = m.MarshalProto()
		}
	} else if enc == encJSON {
		// Everything accepted: an empty response message.
		body = []byte("{}")
	}
	if err != nil { // cannot happen for these messages; answer plainly
		body = nil
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeError answers with a google.rpc.Status (code, message) in the
// request's encoding, as OTLP/HTTP asks.
func writeError(w http.ResponseWriter, enc encoding, e *httpError) {
	code := rpcCode(e.status)
	w.Header().Set("Content-Type", enc.contentType())
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	var body []byte
	if enc == encJSON {
		b := []byte(`{"code":`)
		b = strconv.AppendInt(b, int64(code), 10)
		b = append(b, `,"message":`...)
		b = appendJSONString(b, e.msg)
		body = append(b, '}')
	} else {
		body = binary.AppendUvarint([]byte{0x08}, uint64(code))
		body = binary.AppendUvarint(append(body, 0x12), uint64(len(e.msg)))
		body = append(body, e.msg...)
	}
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}

// rpcCode maps an HTTP status onto a google.rpc.Code.
func rpcCode(status int) int {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return 3 // INVALID_ARGUMENT
	case http.StatusUnauthorized:
		return 16 // UNAUTHENTICATED
	case http.StatusForbidden:
		return 7 // PERMISSION_DENIED
	case http.StatusMethodNotAllowed:
		return 12 // UNIMPLEMENTED
	case http.StatusServiceUnavailable:
		return 14 // UNAVAILABLE
	}
	return 2 // UNKNOWN
}

func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	buf.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\':
			buf.WriteByte('\\')
			buf.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&buf, `\u%04x`, r)
		default:
			buf.WriteRune(r)
		}
	}
	buf.WriteByte('"')
	return append(b, buf.Bytes()...)
}

// keySet is a bounded set of span keys; past its capacity the oldest key
// is forgotten.
type keySet struct {
	mu    sync.Mutex
	cap   int
	set   map[store.SpanKey]struct{}
	order []store.SpanKey
	next  int
}

func newKeySet(capacity int) *keySet {
	return &keySet{cap: capacity, set: map[store.SpanKey]struct{}{}}
}

func (k *keySet) add(key store.SpanKey) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.set[key]; ok {
		return
	}
	if len(k.order) < k.cap {
		k.order = append(k.order, key)
	} else {
		delete(k.set, k.order[k.next])
		k.order[k.next] = key
		k.next = (k.next + 1) % k.cap
	}
	k.set[key] = struct{}{}
}

func (k *keySet) has(key store.SpanKey) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.set[key]
	return ok
}
