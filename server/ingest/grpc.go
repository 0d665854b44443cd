package ingest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	_ "google.golang.org/grpc/encoding/gzip" // gzip-compressed requests (grpc-encoding: gzip)
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/weavetrace/weave/server/auth"
)

// OTLP/gRPC: the collector's three export services, served from the same
// path as OTLP/HTTP. The request message is never decoded by gRPC: a codec
// hands the handler its raw bytes, which go through scanProto (nesting
// depth, layout) and the chunked decode like an HTTP body, so a hostile
// message cannot reach pdata's recursive decoder and one bad span is
// rejected alone.
//
// Before a message is read (the tap handle, run when the stream opens):
// the API key in the metadata (wandb-api-key, or authorization: Bearer) is
// checked, and the request takes a first share of the memory budget
// without waiting — a full budget answers UNAVAILABLE with a RetryInfo of
// 5 s at once (the tap runs on the connection's reader, so it must not
// block). gRPC then reads the message (at most MaxBodyBytes after
// decompression: RESOURCE_EXHAUSTED past it); the handler grows the
// reservation to the message's real cost, waiting up to AdmissionWait,
// and the reservation is returned when the RPC ends (stats handler).

// grpcServices maps the full method name of each export RPC to its signal.
var grpcServices = map[string]signal{
	"/opentelemetry.proto.collector.trace.v1.TraceService/Export":     signalTraces,
	"/opentelemetry.proto.collector.logs.v1.LogsService/Export":       signalLogs,
	"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export": signalMetrics,
}

// grpcInitialBytes is the body size a gRPC request reserves room for
// before its message is read (its real size is known only after).
const grpcInitialBytes = 64 << 10

// GRPCServerOptions are the options a grpc.Server needs to serve the
// handler's services (RegisterGRPC): the raw-bytes codec, the message size
// limit, the tap handle (key and budget before the message is read) and
// the stats handler that returns the budget when an RPC ends.
func (h *Handler) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ForceServerCodecV2(rawCodec{}),
		grpc.MaxRecvMsgSize(int(min(h.maxBody, 1<<31-1))),
		grpc.InTapHandle(h.grpcTap),
		grpc.StatsHandler(grpcStats{h}),
	}
}

// RegisterGRPC registers the OTLP export services (traces, logs, metrics) on s,
// which must have been built with GRPCServerOptions.
func (h *Handler) RegisterGRPC(s *grpc.Server) {
	for method, sig := range grpcServices {
		service := strings.TrimPrefix(strings.TrimSuffix(method, "/Export"), "/")
		s.RegisterService(&grpc.ServiceDesc{
			ServiceName: service,
			HandlerType: (*any)(nil),
			Methods: []grpc.MethodDesc{{
				MethodName: "Export",
				Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
					return h.serveGRPC(ctx, sig, dec)
				},
			}},
		}, struct{}{})
	}
}

// rawMessage is a request message as received: the codec fills it with
// the message's bytes (already decompressed by gRPC).
type rawMessage struct{ body []byte }

// rawCodec is the server's only codec: requests stay bytes (rawMessage),
// answers are pdata messages encoding themselves.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(interface{ MarshalProto() ([]byte, error) })
	if !ok {
		return nil, fmt.Errorf("ingest: gRPC answer %T cannot be encoded", v)
	}
	b, err := m.MarshalProto()
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*rawMessage)
	if !ok {
		return fmt.Errorf("ingest: gRPC message into %T", v)
	}
	m.body = data.Materialize()
	return nil
}

type reservationKey struct{}

func reservationFrom(ctx context.Context) *reservation {
	r, _ := ctx.Value(reservationKey{}).(*reservation)
	return r
}

// grpcTap runs when a stream opens, before its message is read.
func (h *Handler) grpcTap(ctx context.Context, info *tap.Info) (context.Context, error) {
	sig, ok := grpcServices[info.FullMethodName]
	if !ok {
		return ctx, nil // gRPC answers UNIMPLEMENTED
	}
	if h.s.Authenticate != nil {
		if err := h.s.Authenticate(grpcHTTPRequest(ctx, info.Header, info.FullMethodName)); err != nil {
			h.m.grpcRequests.With(string(sig), codes.Unauthenticated.String()).Inc()
			return ctx, status.Errorf(codes.Unauthenticated, "ingest: %v", err)
		}
	}
	res := &reservation{b: h.budget}
	if !res.tryGrowTo(requestCost(grpcInitialBytes)) {
		h.m.throttled.Inc()
		h.m.grpcRequests.With(string(sig), codes.Unavailable.String()).Inc()
		return ctx, busyStatus(h.budget)
	}
	h.m.inFlightBytes.Add(float64(res.held))
	return context.WithValue(ctx, reservationKey{}, res), nil
}

// grpcStats returns a request's reservation when its RPC ends, whether or
// not the handler ran (a message over the size limit never reaches it).
type grpcStats struct{ h *Handler }

func (grpcStats) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context   { return ctx }
func (grpcStats) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (grpcStats) HandleConn(context.Context, stats.ConnStats)                       {}

func (g grpcStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.End); !ok {
		return
	}
	if res := reservationFrom(ctx); res != nil {
		g.h.m.inFlightBytes.Add(-float64(res.held))
		res.release()
	}
}

func busyStatus(b *budget) error {
	st := status.New(codes.Unavailable, fmt.Sprintf("ingest: the server is busy with other requests (%d MiB of its %d MiB ingest memory in use); retry later",
		b.inUse()>>20, b.size>>20))
	if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}); err == nil {
		st = d
	}
	return st.Err()
}

// retryAfter is the delay a refused request is told to wait (Retry-After,
// RetryInfo).
const retryAfter = 5 * time.Second

// grpcHTTPRequest is the HTTP request the authentication and project
// checks read: the key-bearing metadata as headers, :authority as Host.
func grpcHTTPRequest(ctx context.Context, md metadata.MD, method string) *http.Request {
	r := (&http.Request{Method: http.MethodPost, URL: &url.URL{Path: method}, Header: http.Header{}, Body: http.NoBody}).WithContext(ctx)
	for _, k := range []string{auth.HeaderAPIKey, "authorization"} {
		for _, v := range md.Get(k) {
			r.Header.Add(k, v)
		}
	}
	if a := md.Get(":authority"); len(a) > 0 {
		r.Host = a[0]
	}
	return r
}

// serveGRPC handles one export RPC: the raw message goes the HTTP body's
// way (handle), the answer is the signal's Export*ServiceResponse with its
// partial success, or a status.
func (h *Handler) serveGRPC(ctx context.Context, sig signal, dec func(any) error) (any, error) {
	start := h.now()
	code := codes.OK
	defer func() {
		h.m.grpcRequests.With(string(sig), code.String()).Inc()
		h.m.batchSeconds.With(string(sig)).Observe(h.now().Sub(start).Seconds())
	}()
	var msg rawMessage
	if err := dec(&msg); err != nil {
		code = status.Code(err)
		return nil, err
	}
	md, _ := metadata.FromIncomingContext(ctx)
	r := grpcHTTPRequest(ctx, md, "/"+string(sig))
	res := reservationFrom(ctx)
	if res == nil { // not through the tap (cannot happen with GRPCServerOptions)
		res = &reservation{b: h.budget}
		defer func() { h.m.inFlightBytes.Add(-float64(res.held)); res.release() }()
	}
	if herr := h.admit(r, res, int64(len(msg.body))+1); herr != nil {
		code = codes.Unavailable
		return nil, busyStatus(h.budget)
	}
	out, herr := h.handle(r, sig, encProto, msg.body)
	msg.body = nil
	if herr != nil {
		st := grpcError(herr)
		code = status.Code(st)
		return nil, st
	}
	return exportResponse(sig, out), nil
}

// grpcError maps an answer other than 200 onto a gRPC status (the OTLP
// spec's retryable codes for what a retry can fix).
func grpcError(e *httpError) error {
	switch e.status {
	case http.StatusServiceUnavailable:
		st := status.New(codes.Unavailable, e.msg)
		if d, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(retryAfter)}); err == nil {
			st = d
		}
		return st.Err()
	case http.StatusUnauthorized:
		return status.Error(codes.Unauthenticated, e.msg)
	case http.StatusForbidden:
		return status.Error(codes.PermissionDenied, e.msg)
	case http.StatusRequestEntityTooLarge:
		return status.Error(codes.ResourceExhausted, e.msg)
	case http.StatusBadRequest, http.StatusUnsupportedMediaType:
		return status.Error(codes.InvalidArgument, e.msg)
	}
	return status.Error(codes.Unknown, e.msg)
}

// exportResponse is the Export*ServiceResponse of a handled request.
func exportResponse(sig signal, res result) any {
	switch sig {
	case signalLogs:
		resp := plogotlp.NewExportResponse()
		if res.rejected > 0 || res.message != "" {
			resp.PartialSuccess().SetRejectedLogRecords(res.rejected)
			resp.PartialSuccess().SetErrorMessage(res.message)
		}
		return resp
	case signalMetrics:
		resp := pmetricotlp.NewExportResponse()
		if res.rejected > 0 || res.message != "" {
			resp.PartialSuccess().SetRejectedDataPoints(res.rejected)
			resp.PartialSuccess().SetErrorMessage(res.message)
		}
		return resp
	default:
		resp := ptraceotlp.NewExportResponse()
		if res.rejected > 0 || res.message != "" {
			resp.PartialSuccess().SetRejectedSpans(res.rejected)
			resp.PartialSuccess().SetErrorMessage(res.message)
		}
		return resp
	}
}
