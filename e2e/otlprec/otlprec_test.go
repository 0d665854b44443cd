package otlprec

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weavetrace/weave/internal/fixtures"
)

// TestRecordsHTTPAndGRPC: a request over each transport is recorded, in
// arrival order, with its body as sent.
func TestRecordsHTTPAndGRPC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "otlp.jsonl")
	r, err := Start(path)
	if err != nil {
		t.Fatal(err)
	}
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("over-http")
	body, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	resp, err := http.Post(r.HTTPEndpoint()+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", resp, err)
	}
	resp.Body.Close()
	cc, err := grpc.NewClient(strings.TrimPrefix(r.GRPCEndpoint(), "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	md := pmetric.NewMetrics()
	md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty().SetName("over-grpc")
	if _, err := pmetricotlp.NewGRPCClient(cc).Export(context.Background(), pmetricotlp.NewExportRequestFromMetrics(md)); err != nil {
		t.Fatalf("gRPC Export: %v", err)
	}
	cc.Close()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	reqs, err := fixtures.ReadOTLP(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0].Transport != "http" || reqs[0].Signal != "traces" || !bytes.Equal(reqs[0].Body, body) ||
		reqs[1].Transport != "grpc" || reqs[1].Signal != "metrics" || reqs[1].Seq != 2 {
		t.Fatalf("recorded %+v, want the HTTP trace request then the gRPC metrics request", reqs)
	}
	got := pmetricotlp.NewExportRequest()
	if err := got.UnmarshalProto(reqs[1].Body); err != nil || got.Metrics().ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Name() != "over-grpc" {
		t.Errorf("gRPC body does not decode to what was sent: %v", err)
	}
}
