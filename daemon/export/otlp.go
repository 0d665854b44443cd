package export

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spans"
)

// Target says where and as whom spans are exported.
type Target struct {
	// Endpoint is the trace server's base URL (…/agents/otel/v1/traces is
	// appended) or a full OTLP traces URL ending in /v1/traces (used as is).
	Endpoint string
	// Project is "entity/project"; empty leaves routing to the server default.
	Project string
	// APIKey is sent as the wandb-api-key header when set.
	APIKey string
	// ServiceVersion is the resource service.version (weave's version).
	ServiceVersion string
	// Timeout bounds one export request (default 10 s).
	Timeout time.Duration
}

// TracesURL resolves the OTLP traces URL from a base URL.
func TracesURL(endpoint string) string {
	e := strings.TrimRight(endpoint, "/")
	if strings.HasSuffix(e, "/v1/traces") {
		return e
	}
	return e + AgentsTracesPath
}

// AgentsTracesPath is appended to a base URL.
const AgentsTracesPath = "/agents/otel/v1/traces"

// ServiceName is the resource service.name of everything weave-agentd sends.
const ServiceName = "claude-code"

// Resource builds the OTLP resource for t.
func (t Target) Resource() *resource.Resource {
	attrs := []attribute.KeyValue{
		attribute.String("service.name", ServiceName),
		attribute.String("service.version", t.ServiceVersion),
		attribute.String("telemetry.sdk.name", "weave-agentd"),
	}
	if ent, proj, ok := strings.Cut(t.Project, "/"); ok && ent != "" && proj != "" {
		attrs = append(attrs, attribute.String(semconv.ResourceWandbEntity, ent), attribute.String(semconv.ResourceWandbProject, proj))
	}
	return resource.NewSchemaless(attrs...)
}

// Client sends weave spans to one Target over OTLP/HTTP protobuf, one
// request per ExportSpans call and no retry of its own: the Exporter
// retries through the spool, `weave-agentd import` reports the failure.
type Client struct {
	exp *otlptrace.Exporter
	res *resource.Resource
}

// NewClient builds a Client for t.
func NewClient(ctx context.Context, t Target) (*Client, error) { return newClient(ctx, t, nil) }

// newClient builds a Client whose requests go through rt (nil:
// http.DefaultTransport).
func newClient(ctx context.Context, t Target, rt http.RoundTripper) (*Client, error) {
	timeout := t.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithEndpointURL(TracesURL(t.Endpoint)),
		otlptracehttp.WithTimeout(timeout),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}),
		otlptracehttp.WithHTTPClient(&http.Client{Timeout: timeout, Transport: rt}),
	}
	if t.APIKey != "" {
		opts = append(opts, otlptracehttp.WithHeaders(map[string]string{"wandb-api-key": t.APIKey}))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return &Client{exp: exp, res: t.Resource()}, nil
}

// ExportSpans sends one batch; in-progress spans keep a zero end time.
func (c *Client) ExportSpans(ctx context.Context, s []spans.Span) error {
	if len(s) == 0 {
		return nil
	}
	return c.exp.ExportSpans(ctx, readOnly(c.res, s))
}

// Shutdown releases the client's connections.
func (c *Client) Shutdown(ctx context.Context) error { return c.exp.Shutdown(ctx) }

var scope = instrumentation.Scope{Name: semconv.ScopeName, Version: semconv.Version}

// readOnly converts spans into SDK snapshots carrying our chosen IDs and
// times (an in-progress span keeps a zero end time), ready for an
// exporter's ExportSpans.
func readOnly(res *resource.Resource, in []spans.Span) []sdktrace.ReadOnlySpan {
	stubs := make(tracetest.SpanStubs, 0, len(in))
	for i := range in {
		s := &in[i]
		sc := trace.NewSpanContext(trace.SpanContextConfig{
			TraceID:    trace.TraceID(s.TraceID),
			SpanID:     trace.SpanID(s.SpanID),
			TraceFlags: trace.FlagsSampled,
		})
		var parent trace.SpanContext
		if !s.ParentSpanID.IsZero() {
			parent = trace.NewSpanContext(trace.SpanContextConfig{
				TraceID:    trace.TraceID(s.TraceID),
				SpanID:     trace.SpanID(s.ParentSpanID),
				TraceFlags: trace.FlagsSampled,
			})
		}
		stub := tracetest.SpanStub{
			Name:                 s.Name,
			SpanContext:          sc,
			Parent:               parent,
			SpanKind:             otelKind(s.Kind),
			StartTime:            s.Start,
			EndTime:              s.End,
			Attributes:           otelAttrs(s.Attributes),
			Status:               sdktrace.Status{Code: otelCode(s.StatusCode), Description: s.StatusMessage},
			Resource:             res,
			InstrumentationScope: scope,
		}
		for _, e := range s.Events {
			stub.Events = append(stub.Events, sdktrace.Event{Name: e.Name, Time: e.Time, Attributes: otelAttrs(e.Attributes)})
		}
		stubs = append(stubs, stub)
	}
	return stubs.Snapshots()
}

func otelKind(k spans.Kind) trace.SpanKind {
	switch k {
	case spans.KindClient:
		return trace.SpanKindClient
	default:
		return trace.SpanKindInternal
	}
}

func otelCode(c spans.Status) codes.Code {
	switch c {
	case spans.StatusOK:
		return codes.Ok
	case spans.StatusError:
		return codes.Error
	default:
		return codes.Unset
	}
}

func otelAttrs(m map[string]any) []attribute.KeyValue {
	if len(m) == 0 {
		return nil
	}
	out := make([]attribute.KeyValue, 0, len(m))
	for _, k := range spans.SortedKeys(m) {
		switch v := m[k].(type) {
		case string:
			out = append(out, attribute.String(k, v))
		case int64:
			out = append(out, attribute.Int64(k, v))
		case int:
			out = append(out, attribute.Int64(k, int64(v)))
		case float64:
			out = append(out, attribute.Float64(k, v))
		case bool:
			out = append(out, attribute.Bool(k, v))
		case []string:
			out = append(out, attribute.StringSlice(k, v))
		default:
			out = append(out, attribute.String(k, fmt.Sprint(v)))
		}
	}
	return out
}
