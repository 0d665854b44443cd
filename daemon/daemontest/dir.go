package daemontest

import (
	"os"
	"testing"
)

// ShortDir returns a new empty directory with a short path, removed when
// the test ends, for a WEAVE_HOME that holds a Unix socket. A socket's
// path must fit in 108 bytes (hookproto.MaxSocketPath and less): under
// t.TempDir (the test's name, up to 64 bytes, and a random number of up to
// 10 digits, under $TMPDIR) agentd.sock can exceed that on one run and not
// on the next, and on every run where $TMPDIR is long (macOS, CI runners).
func ShortDir(t testing.TB) string {
	t.Helper()
	base := os.TempDir()
	if len(base) > 32 {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "w")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
