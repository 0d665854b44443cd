package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// weave-hook links only the standard library, daemon/hookproto and the
// record framing it uses (daemon/frame): no OTel, no fsnotify, nothing that
// costs startup time or could fail at init.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{
		"github.com/weavetrace/weave/cmd/weave-hook":   true,
		"github.com/weavetrace/weave/daemon/hookproto": true,
		"github.com/weavetrace/weave/daemon/frame":     true,
	}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("weave-hook depends on %s; want only the standard library, daemon/hookproto and daemon/frame", p)
		}
	}
	// Not even heavy parts of the standard library.
	std, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, std)
	}
	for _, banned := range []string{"net", "net/http", "crypto/tls", "os/exec"} {
		for _, p := range strings.Fields(string(std)) {
			if p == banned {
				t.Errorf("weave-hook imports %s; it speaks HTTP/1.1 over raw socket calls and starts the daemon with os.StartProcess", banned)
			}
		}
	}
}

// The stripped hook binary stays small (startup cost grows with it).
func TestBinarySizeBudget(t *testing.T) {
	const budget = 4 << 20
	out := filepath.Join(t.TempDir(), "weave-hook")
	if b, err := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stripped weave-hook: %d bytes (budget %d)", fi.Size(), budget)
	if fi.Size() > budget {
		t.Errorf("stripped weave-hook is %d bytes, want <= %d", fi.Size(), budget)
	}
}
