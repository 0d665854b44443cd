// Package agentharness is what the real-CLI harnesses of Codex (e2e/codex)
// and Gemini CLI (e2e/gemini) share: the pinned npm install into
// ~/.cache/weave, a private network namespace with only loopback, an
// isolated HOME, the hook logger, and copying a run into testdata.
package agentharness

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// CacheDir is where pinned CLIs are installed: ~/.cache/weave/<name>-<version>.
func CacheDir(name, version string) (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(home, ".cache", "weave", name+"-"+version), nil
}

// NPMInstall installs pkg@version (exact) into dir unless bin (relative to
// dir) is already there, and returns bin's absolute path.
func NPMInstall(dir, pkg, version, bin string) (string, error) {
	path := filepath.Join(dir, bin)
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("npm", "install", "--no-audit", "--no-fund", "--save-exact", "--prefix", dir, pkg+"@"+version)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("npm install %s@%s: %v\n%s", pkg, version, err, out.String())
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("npm install %s@%s: %s is missing after the install: %v", pkg, version, bin, err)
	}
	return path, nil
}

// envNetns marks a process already inside its private network namespace.
const envNetns = "WEAVE_HARNESS_NETNS"

// InPrivateNetwork re-executes the current program in a new network
// namespace holding only a loopback interface (so the CLI under test can
// reach nothing but the mocks on 127.0.0.1), when running as root on Linux
// with unshare and ip available; it returns only in the child, or when
// isolation is unavailable (then isolated is false and the caller runs on
// the host network, still pointing every client at loopback).
func InPrivateNetwork() (isolated bool, err error) {
	if os.Getenv(envNetns) == "1" {
		return true, nil
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		return false, nil
	}
	unshare, err1 := exec.LookPath("unshare")
	ip, err2 := exec.LookPath("ip")
	if err1 != nil || err2 != nil {
		return false, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return false, err
	}
	cmd := exec.Command(unshare, append([]string{"-n", "--", "sh", "-c", ip + ` link set lo up && exec "$0" "$@"`, exe}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envNetns+"=1")
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			os.Exit(ee.ExitCode())
		}
		return false, err
	}
	os.Exit(0)
	return true, nil
}

// BuildHookLogger builds the hook logger as dir/weave-hook.
func BuildHookLogger(dir string) (string, error) {
	out := filepath.Join(dir, "weave-hook")
	cmd := exec.Command("go", "build", "-o", out, "github.com/weavetrace/weave/e2e/agentharness/hooklog")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build hook logger: %v\n%s", err, b)
	}
	return out, nil
}

// CopyTree copies the regular files under src into dst, keeping their
// relative paths; keep (may be nil) selects files by relative path.
func CopyTree(src, dst string, keep func(rel string) bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if keep != nil && !keep(rel) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}

// GzipFile writes src compressed to dst.
func GzipFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// WriteFiles writes name → content under dir.
func WriteFiles(dir string, files map[string]string) error {
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(filepath.Separator)) {
			return fmt.Errorf("file %q escapes %s", name, dir)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// LoadScenarios reads every JSON file of dir in fsys as a T (unknown
// fields refused), names each with setName (the file name without .json)
// and returns them sorted by name.
func LoadScenarios[T any](fsys fs.ReadDirFS, dir string, setName func(*T, string)) ([]T, error) {
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []T
	for _, e := range entries { // ReadDir sorts by file name
		b, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		var s T
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			return nil, fmt.Errorf("scenario %s: %w", e.Name(), err)
		}
		setName(&s, strings.TrimSuffix(e.Name(), ".json"))
		out = append(out, s)
	}
	return out, nil
}

// RecordTools prepares a recording run: a scratch directory, the hook
// logger built as tmp/bin/weave-hook and the real weave-hook (for its
// install command) as tmp/bin/weave-hook-install.
func RecordTools(prefix string) (tmp, logger, hookBin string, err error) {
	if tmp, err = os.MkdirTemp("", prefix); err != nil {
		return "", "", "", err
	}
	if logger, err = BuildHookLogger(filepath.Join(tmp, "bin")); err != nil {
		return tmp, "", "", err
	}
	hookBin = filepath.Join(tmp, "bin", "weave-hook-install")
	if b, err := exec.Command("go", "build", "-o", hookBin, "github.com/weavetrace/weave/cmd/weave-hook").CombinedOutput(); err != nil {
		return tmp, "", "", fmt.Errorf("build weave-hook: %v\n%s", err, b)
	}
	return tmp, logger, hookBin, nil
}
