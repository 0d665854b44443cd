// Package otlprec is an OTLP receiver that records every export request
// it gets — traces, logs and metrics, over OTLP/HTTP (protobuf or JSON)
// and OTLP/gRPC — and answers success. It is how weave records what a
// real program (Claude Code's native telemetry) sends: each request
// becomes one line of a JSONL file, the body as received (decompressed),
// so a test can replay it byte for byte (internal/fixtures.ReadOTLP reads
// the file back).
package otlprec

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // accept gzip-compressed gRPC requests
	"google.golang.org/grpc/metadata"

	"github.com/weavetrace/weave/internal/fixtures"
)

// Recorder receives OTLP and appends each request to its file.
type Recorder struct {
	mu    sync.Mutex
	f     *os.File
	enc   *json.Encoder
	seq   int
	count map[string]int

	httpLn, grpcLn net.Listener
	hs             *http.Server
	gs             *grpc.Server
	wg             sync.WaitGroup
}

// Start listens on two free loopback ports (OTLP/HTTP and OTLP/gRPC) and
// records into path (created or truncated).
func Start(path string) (*Recorder, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("otlprec: %w", err)
	}
	r := &Recorder{f: f, enc: json.NewEncoder(f), count: map[string]int{}}
	if r.httpLn, err = net.Listen("tcp", "127.0.0.1:0"); err == nil {
		r.grpcLn, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		f.Close()
		if r.httpLn != nil {
			r.httpLn.Close()
		}
		return nil, fmt.Errorf("otlprec: %w", err)
	}
	mux := http.NewServeMux()
	for _, sig := range []string{"traces", "logs", "metrics"} {
		mux.HandleFunc("/v1/"+sig, func(w http.ResponseWriter, req *http.Request) { r.serveHTTP(w, req, sig) })
	}
	r.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	r.gs = grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(r.gs, &traceServer{r: r})
	plogotlp.RegisterGRPCServer(r.gs, &logServer{r: r})
	pmetricotlp.RegisterGRPCServer(r.gs, &metricServer{r: r})
	r.wg.Add(2)
	go func() { defer r.wg.Done(); r.hs.Serve(r.httpLn) }()
	go func() { defer r.wg.Done(); r.gs.Serve(r.grpcLn) }()
	return r, nil
}

// HTTPEndpoint is the base URL for OTEL_EXPORTER_OTLP_ENDPOINT with an
// http/* protocol (the exporters append /v1/<signal>).
func (r *Recorder) HTTPEndpoint() string { return "http://" + r.httpLn.Addr().String() }

// GRPCEndpoint is the endpoint for OTEL_EXPORTER_OTLP_ENDPOINT with
// protocol grpc.
func (r *Recorder) GRPCEndpoint() string { return "http://" + r.grpcLn.Addr().String() }

// Counts returns how many requests of each signal were recorded.
func (r *Recorder) Counts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.count))
	for k, v := range r.count {
		out[k] = v
	}
	return out
}

// Close stops both servers (letting requests in flight finish) and closes
// the file.
func (r *Recorder) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r.hs.Shutdown(ctx)
	r.gs.GracefulStop()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.f.Close()
}

func (r *Recorder) record(rec fixtures.OTLPRequest) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	rec.Seq = r.seq
	r.count[rec.Signal]++
	return r.enc.Encode(rec)
}

func (r *Recorder) serveHTTP(w http.ResponseWriter, req *http.Request, sig string) {
	if req.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var body io.Reader = http.MaxBytesReader(w, req.Body, 64<<20)
	if strings.EqualFold(req.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ct := req.Header.Get("Content-Type")
	rec := fixtures.OTLPRequest{Received: time.Now().UnixNano(), Transport: "http", Signal: sig, Path: req.URL.Path,
		ContentType: ct, UserAgent: req.Header.Get("User-Agent"), Body: b}
	if err := r.record(rec); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if strings.HasPrefix(ct, "application/json") {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("{}"))
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

// marshaler is a pdata export request.
type marshaler interface{ MarshalProto() ([]byte, error) }

func (r *Recorder) recordGRPC(ctx context.Context, sig string, m marshaler) error {
	b, err := m.MarshalProto()
	if err != nil {
		return err
	}
	rec := fixtures.OTLPRequest{Received: time.Now().UnixNano(), Transport: "grpc", Signal: sig,
		ContentType: "application/grpc", Body: b}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		rec.UserAgent = strings.Join(md.Get("user-agent"), " ")
		rec.Path = "/opentelemetry.proto.collector." + sig + ".v1/Export"
	}
	return r.record(rec)
}

type traceServer struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Recorder
}

func (s *traceServer) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	return ptraceotlp.NewExportResponse(), s.r.recordGRPC(ctx, "traces", req)
}

type logServer struct {
	plogotlp.UnimplementedGRPCServer
	r *Recorder
}

func (s *logServer) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	return plogotlp.NewExportResponse(), s.r.recordGRPC(ctx, "logs", req)
}

type metricServer struct {
	pmetricotlp.UnimplementedGRPCServer
	r *Recorder
}

func (s *metricServer) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	return pmetricotlp.NewExportResponse(), s.r.recordGRPC(ctx, "metrics", req)
}
