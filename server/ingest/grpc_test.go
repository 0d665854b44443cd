package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/weavetrace/weave/server/auth"
	"github.com/weavetrace/weave/server/metrics"
	"github.com/weavetrace/weave/server/model"
)

// grpcServer serves h's OTLP/gRPC services on a loopback port until the
// test ends, and returns the address.
func grpcServer(t *testing.T, h *Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(h.GRPCServerOptions()...)
	h.RegisterGRPC(s)
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ln) }()
	t.Cleanup(func() { s.Stop(); <-done })
	return ln.Addr().String()
}

func dialGRPC(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// rawClientCodec sends a request's bytes as they are and decodes the
// answer with pdata, so a test can send what no encoder would build.
type rawClientCodec struct{}

func (rawClientCodec) Name() string { return "proto" }
func (rawClientCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(v.(*rawMessage).body)}, nil
}
func (rawClientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return v.(interface{ UnmarshalProto([]byte) error }).UnmarshalProto(data.Materialize())
}

// exportRaw sends body to the trace service.
func exportRaw(ctx context.Context, cc *grpc.ClientConn, body []byte, opts ...grpc.CallOption) (ptraceotlp.ExportResponse, error) {
	resp := ptraceotlp.NewExportResponse()
	opts = append(opts, grpc.ForceCodecV2(rawClientCodec{}))
	err := cc.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &rawMessage{body: body}, &resp, opts...)
	return resp, err
}

// TestGRPCOTelSDKExporters: spans and GenAI log events sent by the
// OpenTelemetry Go SDK's gRPC exporters are stored as over HTTP, the log
// event attached to its span; gzip (the exporters' compression option)
// included.
func TestGRPCOTelSDKExporters(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("gzip=%v", compress), func(t *testing.T) {
			w := newMemWriter()
			h, reg := newTestHandler(t, w, nil)
			addr := grpcServer(t, h)
			ctx := context.Background()
			res := resource.NewSchemaless(attribute.String("service.name", "sdk-test"))

			topts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure()}
			lopts := []otlploggrpc.Option{otlploggrpc.WithEndpoint(addr), otlploggrpc.WithInsecure()}
			if compress {
				topts = append(topts, otlptracegrpc.WithCompressor("gzip"))
				lopts = append(lopts, otlploggrpc.WithCompressor("gzip"))
			}
			texp, err := otlptracegrpc.New(ctx, topts...)
			if err != nil {
				t.Fatal(err)
			}
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(texp), sdktrace.WithResource(res))
			_, sp := tp.Tracer("test").Start(ctx, "chat gpt-4o")
			sp.SetAttributes(attribute.String("gen_ai.operation.name", "chat"), attribute.String("gen_ai.request.model", "gpt-4o"),
				attribute.Int("gen_ai.usage.input_tokens", 12), attribute.Int("gen_ai.usage.output_tokens", 3))
			sc := sp.SpanContext()
			sp.End()
			if err := tp.Shutdown(ctx); err != nil {
				t.Fatalf("trace exporter: %v", err)
			}

			lexp, err := otlploggrpc.New(ctx, lopts...)
			if err != nil {
				t.Fatal(err)
			}
			lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(lexp)), sdklog.WithResource(res))
			var rec otellog.Record
			rec.SetEventName("gen_ai.user.message")
			rec.SetTimestamp(time.Now())
			rec.SetBody(attribute.MapValue(attribute.String("content", "hello over gRPC")))
			lctx := traceContext(ctx, sc)
			lp.Logger("test").Emit(lctx, rec)
			if err := lp.Shutdown(ctx); err != nil {
				t.Fatalf("log exporter: %v", err)
			}

			spans := w.all()
			if len(spans) != 1 {
				t.Fatalf("stored %d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.TraceID != sc.TraceID().String() || s.OperationName != "chat" || s.InputTokens == nil || *s.InputTokens != 12 {
				t.Errorf("stored %s/%s op %q input %v, want the SDK's chat span", s.TraceID, s.SpanID, s.OperationName, s.InputTokens)
			}
			if !hasLogEvent(s, "gen_ai.user.message") {
				t.Errorf("span events %v, want the log record attached", s.Events)
			}
			if got := counterValue(t, reg, `weave_ingest_grpc_requests_total{signal="traces",code="OK"}`); got != 1 {
				t.Errorf("gRPC trace requests counted %v, want 1", got)
			}
			waitBudgetEmpty(t, h)
		})
	}
}

func hasLogEvent(s model.Span, name string) bool {
	for _, e := range s.Events {
		if e.Name == name {
			return true
		}
	}
	return false
}

// TestGRPCMillionDeepValueRefused: the million-level kvlist that would
// overflow pdata's recursive decoder is scanned before anything decodes
// it: the span is rejected alone in the partial success, the other span of
// the request is stored, the server keeps serving.
func TestGRPCMillionDeepValueRefused(t *testing.T) {
	for _, kvlist := range []bool{true, false} {
		t.Run(fmt.Sprintf("kvlist=%v", kvlist), func(t *testing.T) {
			w := newMemWriter()
			h, _ := newTestHandler(t, w, nil)
			cc := dialGRPC(t, grpcServer(t, h))
			body := deepTraceRequest(t, encProto, 1_000_000, kvlist)
			start := time.Now()
			resp, err := exportRaw(context.Background(), cc, body, grpc.UseCompressor(gzip.Name))
			t.Logf("%.1f MB, 1,000,000 levels: answered in %v", float64(len(body))/1e6, time.Since(start).Round(time.Millisecond))
			if err != nil {
				t.Fatalf("Export: %v", err)
			}
			ps := resp.PartialSuccess()
			if ps.RejectedSpans() != 1 || !strings.Contains(ps.ErrorMessage(), "value_too_deep (1)") {
				t.Errorf("partial success %d %q, want the deep span rejected", ps.RejectedSpans(), ps.ErrorMessage())
			}
			if spans := w.all(); len(spans) != 1 {
				t.Errorf("stored %d spans, want the good one", len(spans))
			}
			if _, err := exportRaw(context.Background(), cc, traceBody(t, sampleTraces(2), ctProto)); err != nil {
				t.Errorf("next request: %v", err)
			}
		})
	}
}

// TestGRPCErrors: each refusal has its gRPC code, the key is checked
// before the message is read, and the budget is whole again afterwards.
func TestGRPCErrors(t *testing.T) {
	const key = "0123456789abcdef-test"
	keys, err := auth.New([]auth.Key{{Name: "k", Key: key, Projects: []string{testProject}}})
	if err != nil {
		t.Fatal(err)
	}
	good := traceBody(t, sampleTraces(1), ctProto)
	other := traceBody(t, projectTraces("someone/else"), ctProto)
	tests := []struct {
		name     string
		md       []string
		body     []byte
		maxBody  int64
		want     codes.Code
		msg      string
		rejected int64
		stored   int
	}{
		{"no key", nil, good, 0, codes.Unauthenticated, "missing or unknown API key", 0, 0},
		{"wrong key", []string{"wandb-api-key", "x" + key}, good, 0, codes.Unauthenticated, "not one of the configured keys", 0, 0},
		{"bearer key", []string{"authorization", "Bearer " + key}, good, 0, codes.OK, "", 0, 1},
		{"wandb-api-key", []string{"wandb-api-key", key}, good, 0, codes.OK, "", 0, 1},
		{"other project", []string{"wandb-api-key", key}, other, 0, codes.PermissionDenied, "may not access project", 0, 0},
		{"garbage", []string{"wandb-api-key", key}, []byte{0xff, 0xff, 0xff}, 0, codes.InvalidArgument, "cannot decode OTLP protobuf trace request", 0, 0},
		{"over the size limit", []string{"wandb-api-key", key}, good, 16, codes.ResourceExhausted, "larger than max", 0, 0},
		{"one bad span", []string{"wandb-api-key", key}, traceBody(t, sampleTraces(1, func(sp ptrace.Span) { sp.SetStartTimestamp(0) }), ctProto), 0, codes.OK, "", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newMemWriter()
			h, _ := newTestHandler(t, w, func(c *Config, s *Settings) {
				c.MaxBodyBytes = tt.maxBody
				s.Authenticate = func(r *http.Request) error { _, err := keys.Authenticate(r); return err }
				s.Authorize = keys.Authorize
			})
			cc := dialGRPC(t, grpcServer(t, h))
			ctx := context.Background()
			if tt.md != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tt.md...)
			}
			resp, err := exportRaw(ctx, cc, tt.body)
			if got := status.Code(err); got != tt.want || tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Export: %v, want code %v with %q", err, tt.want, tt.msg)
			}
			if err == nil && resp.PartialSuccess().RejectedSpans() != tt.rejected {
				t.Errorf("rejected %d, want %d", resp.PartialSuccess().RejectedSpans(), tt.rejected)
			}
			if got := len(w.all()); got != tt.stored {
				t.Errorf("stored %d spans, want %d", got, tt.stored)
			}
			waitBudgetEmpty(t, h)
		})
	}
}

// TestGRPCBusy: with the memory budget full, a gRPC request is refused
// before its message is read, with UNAVAILABLE and a RetryInfo, which the
// OTLP exporters honour; once there is room it goes through.
func TestGRPCBusy(t *testing.T) {
	w := newMemWriter()
	h, reg := newTestHandler(t, w, func(c *Config, s *Settings) { c.MaxInFlightBytes = 1 << 20; c.AdmissionWait = 50 * time.Millisecond })
	cc := dialGRPC(t, grpcServer(t, h))
	hold := &reservation{b: h.budget}
	if !hold.tryGrowTo(1 << 20) {
		t.Fatal("could not fill the budget")
	}
	_, err := exportRaw(context.Background(), cc, traceBody(t, sampleTraces(1), ctProto))
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("Export with the budget full: %v, want UNAVAILABLE", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retry = ri
		}
	}
	if retry == nil || retry.RetryDelay.AsDuration() != retryAfter {
		t.Errorf("details %v, want a RetryInfo of %v", st.Details(), retryAfter)
	}
	if got := counterValue(t, reg, `weave_ingest_requests_throttled_total`); got != 1 {
		t.Errorf("throttled %v, want 1", got)
	}
	hold.release()
	if _, err := exportRaw(context.Background(), cc, traceBody(t, sampleTraces(1), ctProto)); err != nil {
		t.Fatalf("Export with room: %v", err)
	}
	if len(w.all()) != 1 {
		t.Errorf("stored %d spans, want 1", len(w.all()))
	}
	waitBudgetEmpty(t, h)
}

// waitBudgetEmpty waits for the RPCs' reservations to be returned (the
// stats handler runs just after the answer is sent). The minute is a hang
// guard: a loaded machine can hold the handler's goroutine off for
// seconds.
func waitBudgetEmpty(t *testing.T, h *Handler) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for h.budget.inUse() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("budget holds %d bytes after the RPCs ended, want 0", h.budget.inUse())
		}
		time.Sleep(time.Millisecond)
	}
}

// counterValue reads one series (name{labels}) from the registry.
func counterValue(t *testing.T, reg *metrics.Registry, series string) float64 {
	t.Helper()
	var out bytes.Buffer
	if err := reg.WritePrometheus(&out); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// projectTraces is one span in a resource of the given project.
func projectTraces(project string) ptrace.Traces {
	td := sampleTraces(1)
	entity, name, _ := strings.Cut(project, "/")
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("wandb.entity", entity)
	td.ResourceSpans().At(0).Resource().Attributes().PutStr("wandb.project", name)
	return td
}

// traceContext puts sc in ctx, so a log record emitted with it carries
// the span's ids.
func traceContext(ctx context.Context, sc oteltrace.SpanContext) context.Context {
	return oteltrace.ContextWithSpanContext(ctx, sc)
}
