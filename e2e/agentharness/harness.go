// Package agentharness is what the real-CLI harnesses of Codex (e2e/codex)
// and Gemini CLI (e2e/gemini) share: the pinned npm install into
// ~/.cache/weave, a private network namespace with only loopback, an
// isolated HOME, the hook logger, and copying a run into testdata.
package agentharness

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
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

// Env is where a scenario runs.
type Env struct {
	Bin  string // the CLI (Codex's native binary, Gemini CLI's entry script)
	Home string // isolated HOME
	Work string // the work directory
	// Install registers the hook: it runs `weave-hook install --agent
	// <agent>` (and whatever else) with HOME set to Home.
	Install func(home string) error
	// ExtraEnv is added to the CLI's environment (WEAVE_HOOKLOG, …).
	ExtraEnv []string
}

// Result is what a scenario run produced.
type Result struct {
	SessionID string
	Requests  string   // the mock's request log (JSONL)
	Outputs   []string // each run's combined output
	Unused    []int    // script steps no request took
	// Sessions is where the agent wrote the session's files (Codex:
	// ~/.codex/sessions; Gemini CLI: the project's chats folder).
	Sessions string
}

// Mock is a scripted model API.
type Mock interface {
	http.Handler
	Unused() []int // the script steps no request took
}

// MockServer is a Mock served on a loopback port.
type MockServer struct {
	Mock
	Addr string // host:port
	Log  string // the request log: one JSON line per request
	srv  *http.Server
	logf *os.File
}

// ServeMock starts the mock newMock makes on a loopback port, logging
// every request to home/requests.jsonl.
func ServeMock(home string, newMock func(log io.Writer) Mock) (*MockServer, error) {
	m := &MockServer{Log: filepath.Join(home, "requests.jsonl")}
	var err error
	if m.logf, err = os.Create(m.Log); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		m.logf.Close()
		return nil, err
	}
	m.Mock, m.Addr = newMock(m.logf), ln.Addr().String()
	m.srv = &http.Server{Handler: m.Mock}
	go m.srv.Serve(ln)
	return m, nil
}

// Close stops the server and closes the log.
func (m *MockServer) Close() {
	m.srv.Close()
	m.logf.Close()
}

// RunCLI runs one invocation of the CLI in env's work directory (three
// minutes at most) with the environment base plus env.ExtraEnv, appends
// its combined output to res.Outputs, and fails unless it exited non-zero
// exactly when fail says so.
func RunCLI(ctx context.Context, env Env, res *Result, base []string, fail bool, name string, args ...string) error {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, name, args...)
	cmd.Dir = env.Work
	cmd.Env = append(append(base, "PATH="+os.Getenv("PATH"), "LANG=C.UTF-8"), env.ExtraEnv...)
	out, err := cmd.CombinedOutput()
	res.Outputs = append(res.Outputs, string(out))
	if (err != nil) != fail {
		return fmt.Errorf("%s %s: exit %v, want failure %v\n%s", filepath.Base(name), strings.Join(args, " "), err, fail, out)
	}
	return nil
}

// Prepare makes env's HOME, the agent's config directory in it and the
// work directory with the scenario's files.
func Prepare(env Env, configDir string, files map[string]string) error {
	for _, d := range []string{configDir, env.Work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return WriteFiles(env.Work, files)
}
