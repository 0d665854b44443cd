package logfile

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "agentd.log")
	l, err := Open(path, 100)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Repeat("x", 39) + "\n" // 40 bytes
	for i := range 7 {
		if _, err := l.Write([]byte(line)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	l.Close()
	cur, _ := os.ReadFile(path)
	old, _ := os.ReadFile(path + ".1")
	// 7 lines of 40 with a cap of 100: files of 2 lines each; current has 1.
	if len(cur) != 40 || len(old) != 80 {
		t.Errorf("sizes: got current %d, rotated %d, want 40 and 80", len(cur), len(old))
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode: got %v, want 0600", fi.Mode().Perm())
	}
	if _, err := l.Write([]byte("x")); err == nil {
		t.Errorf("Write after Close: got nil, want an error")
	}
}

func TestReopenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	for range 2 {
		l, err := Open(path, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		l.Write([]byte("line\n"))
		l.Close()
	}
	if b, _ := os.ReadFile(path); string(b) != "line\nline\n" {
		t.Errorf("got %q, want two lines (appended across opens)", b)
	}
}

func TestOversizedWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	l, _ := Open(path, 10)
	l.Write([]byte("12345"))
	big := strings.Repeat("y", 50)
	if n, err := l.Write([]byte(big)); n != 50 || err != nil {
		t.Errorf("Write(50 bytes) with cap 10: got %d, %v, want 50, nil", n, err)
	}
	l.Close()
	if b, _ := os.ReadFile(path); string(b) != big {
		t.Errorf("current file: got %q, want the big write alone", b)
	}
}

func TestConcurrentWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	l, _ := Open(path, 1000)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				l.Write([]byte("0123456789\n"))
			}
		}()
	}
	wg.Wait()
	l.Close()
	a, _ := os.ReadFile(path)
	b, _ := os.ReadFile(path + ".1")
	for _, f := range [][]byte{a, b} {
		for _, ln := range strings.Split(strings.TrimSuffix(string(f), "\n"), "\n") {
			if ln != "0123456789" {
				t.Fatalf("torn line %q", ln)
			}
		}
	}
}

func TestBadCap(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "a"), 0); err == nil {
		t.Errorf("Open with cap 0: got nil, want an error")
	}
}
