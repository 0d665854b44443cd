package codecheck

import (
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// module is this module's path and root directory.
var module = sync.OnceValues(func() (path, dir string) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").Output()
	if err != nil {
		return "", ""
	}
	path, dir, _ = strings.Cut(strings.TrimSpace(string(out)), " ")
	return path, dir
})

func moduleRoot(t *testing.T) (path, dir string) {
	t.Helper()
	path, dir = module()
	if path == "" || dir == "" {
		out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}} {{.Dir}}").CombinedOutput()
		t.Fatalf("go list -m: %v\n%s", err, out)
	}
	return path, dir
}
