package serve

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/weavetrace/weave/server/store"
)

// startGRPC runs a weave-server on the embedded store with both listeners
// on loopback ports and returns the HTTP URL and the gRPC address.
func startGRPC(t *testing.T, cfg Config) (string, string) {
	t.Helper()
	hln, gln := loopbackListeners(t)
	ready := make(chan net.Addr, 1)
	srv, err := New(cfg, Settings{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: "test",
		Listener: hln, GRPCListener: gln,
		Ready: func(a net.Addr) { ready <- a },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	select {
	case a := <-ready:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
		return "http://" + a.String(), gln.Addr().String()
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	return "", ""
}

// loopbackListeners are two listeners on loopback ports: for HTTP and
// OTLP/gRPC.
func loopbackListeners(t *testing.T) (http, grpc net.Listener) {
	t.Helper()
	var lns [2]net.Listener
	for i := range lns {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
	}
	return lns[0], lns[1]
}

// TestGRPCThroughServer: an OTel SDK exporting over gRPC with the API key
// in its headers reaches the store and the read API; without the key it
// is refused.
func TestGRPCThroughServer(t *testing.T) {
	cfg := testConfig(t)
	cfg.APIKeys = "key-for-everything-001=*"
	url, addr := startGRPC(t, cfg)
	ctx := context.Background()
	export := func(headers map[string]string) error {
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(addr), otlptracegrpc.WithInsecure(),
			otlptracegrpc.WithHeaders(headers), otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: false}))
		if err != nil {
			return err
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "grpc-client"))))
		_, sp := tp.Tracer("t").Start(ctx, "invoke_agent planner")
		sp.SetAttributes(attribute.String("gen_ai.operation.name", "invoke_agent"), attribute.String("gen_ai.agent.name", "planner"))
		sp.End()
		defer tp.Shutdown(ctx)
		return tp.ForceFlush(ctx)
	}
	if err := export(nil); err == nil || !strings.Contains(err.Error(), "Unauthenticated") {
		t.Errorf("export without a key: %v, want Unauthenticated", err)
	}
	if err := export(map[string]string{"authorization": "Bearer key-for-everything-001"}); err != nil {
		t.Fatalf("export with the key: %v", err)
	}
	var page struct {
		Agents []store.AgentSummary `json:"agents"`
	}
	postJSON(t, url+"/genai/agents/query", `{"project_id":"local/default"}`, "key-for-everything-001", &page)
	if len(page.Agents) != 1 || page.Agents[0].AgentName != "planner" {
		t.Errorf("agents %+v, want the planner exported over gRPC", page.Agents)
	}
}

func TestGRPCConfig(t *testing.T) {
	tests := []struct {
		name, grpcAddr, keys, want string
	}{
		{"default", DefaultGRPCAddr, "", ""},
		{"off", GRPCOff, "", ""},
		{"no_port", "127.0.0.1", "", "--grpc-addr"},
		{"open_all_interfaces", "0.0.0.0:4317", "", "refusing to serve"},
		{"keys_all_interfaces", "0.0.0.0:4317", "0123456789abcdef0123=*", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewDefaultConfig()
			c.GRPCAddr = tt.grpcAddr
			c.APIKeys = tt.keys
			_, err := New(c, Settings{})
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("New(--grpc-addr %s): got %v, want error containing %q", tt.grpcAddr, err, tt.want)
			}
		})
	}
}

// postJSON posts body to url with the API key and decodes the answer.
func postJSON(t *testing.T, url, body, key string, out any) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("wandb-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("POST %s: %v in %s", url, err, b)
	}
}
