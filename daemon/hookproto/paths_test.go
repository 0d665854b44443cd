package hookproto

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewPaths(t *testing.T) {
	p := NewPaths("/h/.weave")
	for _, tc := range []struct{ name, got, want string }{
		{"socket", p.Socket, "/h/.weave/agentd.sock"},
		{"lock", p.Lock, "/h/.weave/agentd.lock"},
		{"inbox", p.Inbox, "/h/.weave/inbox"},
		{"journal", p.Journal, "/h/.weave/journal"},
		{"spool", p.Spool, "/h/.weave/spool"},
		{"agentd log", p.AgentdLog, "/h/.weave/logs/agentd.log"},
		{"hook log", p.HookLog, "/h/.weave/logs/hook.log"},
		{"config", p.Config, "/h/.weave/config.json"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if rel := NewPaths("rel"); !filepath.IsAbs(rel.Home) {
		t.Errorf("NewPaths(rel).Home=%q, want absolute", rel.Home)
	}
}

func TestPathsFromEnv(t *testing.T) {
	t.Setenv(EnvHome, "/x/y")
	p, err := PathsFromEnv()
	if err != nil || p.Home != "/x/y" {
		t.Errorf("PathsFromEnv with %s=/x/y: got %q, %v", EnvHome, p.Home, err)
	}
	t.Setenv(EnvHome, "")
	t.Setenv("HOME", "/home/u")
	p, err = PathsFromEnv()
	if err != nil || p.Home != "/home/u/.weave" {
		t.Errorf("PathsFromEnv default: got %q, %v, want /home/u/.weave", p.Home, err)
	}
}

func TestEnsureHome(t *testing.T) {
	dir := t.TempDir()
	p := NewPaths(filepath.Join(dir, "w"))
	if err := p.EnsureHome(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p.Home)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("created home mode: got %v, want 0700", fi.Mode().Perm())
	}
	if err := os.Chmod(p.Home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := p.EnsureHome(); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(p.Home)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("tightened home mode: got %v, want 0700", fi.Mode().Perm())
	}
	f := filepath.Join(dir, "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := NewPaths(f).EnsureHome(); err == nil {
		t.Errorf("EnsureHome on a file: got nil, want an error")
	}
}

func TestCheckSocket(t *testing.T) {
	if err := NewPaths("/tmp/w").CheckSocket(); err != nil {
		t.Errorf("short path: got %v, want nil", err)
	}
	err := NewPaths("/" + strings.Repeat("d", 120)).CheckSocket()
	if !errors.Is(err, ErrSocketPath) {
		t.Errorf("long path: got %v, want ErrSocketPath", err)
	}
}
