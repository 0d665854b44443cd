package main

import (
	"os/exec"
	"strings"
	"testing"
)

// nonStandardDeps lists the packages outside the standard library that
// the packages pkgs link, themselves included.
func nonStandardDeps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	args := append([]string{"list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}"}, pkgs...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

// weave-server reads weave-agentd's span names and ids from the leaf
// packages semconv and spanid: it links neither the span builder (and the
// transcript model behind it) nor the OTel SDK and its OTLP exporter.
func TestDependencies(t *testing.T) {
	banned := []struct{ pkg, why string }{ // and the packages under each
		{"github.com/weavetrace/weave/spans", "the span builder (semconv and spanid hold what the server reads)"},
		{"github.com/weavetrace/weave/transcript", "the transcript model (weave-agentd's)"},
		{"github.com/weavetrace/weave/daemon", "weave-agentd's packages"},
		{"go.opentelemetry.io/otel/sdk", "the OTel SDK (weave-agentd's exporter)"},
		{"go.opentelemetry.io/otel/exporters", "the OTel exporters (weave-agentd's)"},
		{"github.com/grpc-ecosystem/grpc-gateway", "the grpc-gateway runtime (otlptracehttp's)"},
	}
	for _, p := range nonStandardDeps(t, ".") {
		for _, b := range banned {
			if p == b.pkg || strings.HasPrefix(p, b.pkg+"/") {
				t.Errorf("weave-server depends on %s: %s", p, b.why)
			}
		}
	}
}

// The leaves both binaries share import only the standard library.
func TestLeavesAreLeaves(t *testing.T) {
	leaves := []string{"github.com/weavetrace/weave/semconv", "github.com/weavetrace/weave/spanid"}
	for _, p := range nonStandardDeps(t, leaves...) {
		if p != leaves[0] && p != leaves[1] {
			t.Errorf("a leaf package depends on %s; want only the standard library", p)
		}
	}
}
