// Package harness runs the real Claude Code CLI against the scripted mock
// of the Anthropic API (e2e/mockapi): it installs the pinned CLI (and the
// Agent SDK) from npm into a cache, gives every scenario an isolated HOME
// (settings.json with weave-hook registered for every event,
// .claude.json with onboarding done and the project trusted), runs the
// CLI under a clean environment that can only reach the mock — headless,
// with stream-json input, in a TUI under tmux, or through the Agent SDK —
// and keeps everything it wrote for the checks.
//
// A Session carries the first error it meets (like bufio.Scanner): its
// methods do nothing after one, and Close returns it, so a scenario reads
// as a plain list of steps.
package harness

import (
	"bufio"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/weavetrace/weave/e2e/mockapi"
)

// Config is what a Session runs with.
type Config struct {
	// Claude is the CLI binary (InstallCLI).
	Claude string
	// Dir is the session's directory; it gets home/ (HOME), work/ (the
	// cwd), tmp/ (TMPDIR) and out/ (stdout, stderr, request and hook logs
	// of each run). It must be empty or not exist.
	Dir string
	// WeaveHook, if set, is the weave-hook binary that registers itself
	// (weave-hook install) with HookCommand as the command, e.g.
	// "WEAVE_HOME=… /path/weave-hook" (default: the binary alone).
	WeaveHook   string
	HookCommand string
	// AgentSDK is the Agent SDK's entry module (InstallAgentSDK), for
	// Session.SDK; Node runs it (default: node on PATH).
	AgentSDK string
	Node     string
	// Env is added to the clean environment of every run (e.g. Claude
	// Code's native telemetry settings, NativeTelemetryEnv).
	Env []string
	// CaptureCommand, if set, is one more hook command registered for
	// every event weave-hook takes: the recording hook (CaptureHook), e.g.
	// "/path/ccharness capture-hook /path/hooks.jsonl".
	CaptureCommand string
	// RunTimeout bounds each CLI run (default 2 minutes).
	RunTimeout time.Duration
	// Log receives one line per step (default: discarded).
	Log io.Writer
}

// Session is one scenario's isolated Claude Code installation.
type Session struct {
	cfg                  Config
	Home, Work, Tmp, Out string
	err                  error
	mock                 *mockapi.Server
	mockName             string
	requests             map[mockapi.Kind]int
	runs                 int
	version              string
}

// New prepares the session's directories and settings.
func New(cfg Config) (*Session, error) {
	if cfg.RunTimeout == 0 {
		cfg.RunTimeout = 2 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Node == "" {
		cfg.Node, _ = exec.LookPath("node")
	}
	s := &Session{cfg: cfg, Home: filepath.Join(cfg.Dir, "home"), Work: filepath.Join(cfg.Dir, "work"),
		Tmp: filepath.Join(cfg.Dir, "tmp"), Out: filepath.Join(cfg.Dir, "out"), requests: map[mockapi.Kind]int{}}
	for _, d := range []string{s.Home, s.Work, s.Tmp, s.Out, filepath.Join(s.Home, ".claude")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("harness: %w", err)
		}
	}
	if err := s.writeSettings(); err != nil {
		return nil, err
	}
	return s, nil
}

// Err is the first error the session met.
func (s *Session) Err() error { return s.err }

// Fail records err (the first one wins) and returns it.
func (s *Session) Fail(err error) error {
	if s.err == nil && err != nil {
		s.err = err
	}
	return err
}

// Failf records a formatted error.
func (s *Session) Failf(format string, args ...any) { s.Fail(fmt.Errorf(format, args...)) }

func (s *Session) logf(format string, args ...any) {
	fmt.Fprintf(s.cfg.Log, format+"\n", args...)
}

// ProjectsDir is where Claude Code writes the session's transcripts.
func (s *Session) ProjectsDir() string { return filepath.Join(s.Home, ".claude", "projects") }

// HookLog is the log of every hook Claude Code ran: one line per hook,
// the receipt time (Unix ns), a space, the payload.
func (s *Session) HookLog() string { return filepath.Join(s.Out, "hooks.log") }

// WriteFile writes a file under the work dir.
func (s *Session) WriteFile(name, content string) {
	if s.err != nil {
		return
	}
	p := filepath.Join(s.Work, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.Fail(err)
		return
	}
	s.Fail(os.WriteFile(p, []byte(content), 0o644))
}

// Serve starts the mock with a script (its @WORK@ replaced by the work
// dir), logging to out/requests-<name>.jsonl. A mock already running is
// stopped and checked first.
func (s *Session) Serve(name string, script []byte) {
	if s.err != nil {
		return
	}
	s.stopMock()
	sc, err := mockapi.ParseScript(script, map[string]string{"WORK": s.Work})
	if err != nil {
		s.Failf("harness: script %s: %w", name, err)
		return
	}
	m, err := mockapi.New(sc, filepath.Join(s.Out, "requests-"+name+".jsonl"))
	if err == nil {
		err = m.Start()
	}
	if s.Fail(err) != nil {
		return
	}
	s.mock, s.mockName = m, name
	s.logf("mock %s on %s", name, m.URL())
}

// stopMock stops the mock and records what did not go as scripted.
func (s *Session) stopMock() {
	if s.mock == nil {
		return
	}
	for _, e := range s.mock.Entries() {
		if e.Kind != "" {
			s.requests[e.Kind]++
		}
	}
	err := s.mock.Check()
	s.mock.Close()
	if err != nil {
		s.Failf("harness: script %s: %w", s.mockName, err)
	}
	s.mock = nil
}

// Requests counts the messages requests of a kind the session's mocks
// answered so far.
func (s *Session) Requests(kind mockapi.Kind) int {
	n := s.requests[kind]
	if s.mock != nil {
		for _, e := range s.mock.Entries() {
			if e.Kind == kind {
				n++
			}
		}
	}
	return n
}

// ExpectRequests records an error unless the mocks answered at least n
// requests of kind (e.g. the auto-mode classifier was asked).
func (s *Session) ExpectRequests(kind mockapi.Kind, n int) {
	if got := s.Requests(kind); s.err == nil && got < n {
		s.Failf("harness: %d %s request(s), want at least %d", got, kind, n)
	}
}

// Close stops the mock, checks it, and returns the session's first error.
func (s *Session) Close() error {
	s.stopMock()
	return s.err
}

// Hooks returns the hook payloads logged so far (event name → payloads).
func (s *Session) Hooks() map[string][]map[string]any {
	out := map[string][]map[string]any{}
	f, err := os.Open(s.HookLog())
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		_, payload, _ := strings.Cut(sc.Text(), " ")
		var p map[string]any
		if json.Unmarshal([]byte(payload), &p) == nil {
			ev, _ := p["hook_event_name"].(string)
			out[ev] = append(out[ev], p)
		}
	}
	return out
}

// ExpectHooks records an error unless each event fired at least once.
func (s *Session) ExpectHooks(events ...string) {
	if s.err != nil {
		return
	}
	hooks := s.Hooks()
	var missing []string
	for _, ev := range events {
		if len(hooks[ev]) == 0 {
			missing = append(missing, ev)
		}
	}
	if len(missing) > 0 {
		s.Failf("harness: hook(s) %s never fired", strings.Join(missing, ", "))
	}
}

// env is the whole environment Claude Code runs with: nothing from the
// host but PATH's system directories (so no credential can leak in), the
// mock as the API, and every kind of nonessential traffic off.
func (s *Session) env(term string) []string {
	path := "/usr/local/bin:/usr/bin:/bin"
	if s.cfg.Node != "" {
		path = filepath.Dir(s.cfg.Node) + ":" + path
	}
	base := ""
	if s.mock != nil {
		base = s.mock.URL()
	}
	return append([]string{
		"PATH=" + path, "HOME=" + s.Home, "USER=tester", "LOGNAME=tester", "SHELL=/bin/bash",
		"TERM=" + term, "LANG=C.UTF-8", "TMPDIR=" + s.Tmp,
		"ANTHROPIC_BASE_URL=" + base, "ANTHROPIC_API_KEY=test",
		"DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "DISABLE_TELEMETRY=1",
		"DISABLE_ERROR_REPORTING=1", "DISABLE_GROWTHBOOK=1",
		// bypassPermissions as root needs it.
		"IS_SANDBOX=1",
	}, s.cfg.Env...)
}

// NativeTelemetryEnv is the environment that turns on Claude Code's own
// OpenTelemetry export to endpoint (OTEL_EXPORTER_OTLP_ENDPOINT) in
// protocol ("grpc", "http/protobuf" or "http/json"): log events with
// prompts and tool details, metrics, and the beta spans, exported every
// second so a short run's data is out before it exits.
func NativeTelemetryEnv(protocol, endpoint string) []string {
	return []string{
		"CLAUDE_CODE_ENABLE_TELEMETRY=1", "CLAUDE_CODE_ENHANCED_TELEMETRY_BETA=1",
		"OTEL_LOGS_EXPORTER=otlp", "OTEL_METRICS_EXPORTER=otlp", "OTEL_TRACES_EXPORTER=otlp",
		"OTEL_EXPORTER_OTLP_PROTOCOL=" + protocol, "OTEL_EXPORTER_OTLP_ENDPOINT=" + endpoint,
		"OTEL_LOG_USER_PROMPTS=1", "OTEL_LOG_TOOL_DETAILS=1",
		"OTEL_METRIC_EXPORT_INTERVAL=1000", "OTEL_LOGS_EXPORT_INTERVAL=500", "OTEL_TRACES_EXPORT_INTERVAL=500",
	}
}

// Run is one finished CLI (or SDK driver) process.
type Run struct {
	s *Session
	// N numbers the session's runs from 1; out/run-N.* hold its command,
	// stdout, stderr.
	N        int
	ExitCode int
	// SessionID is the session the run worked in (stream-json output).
	SessionID string
	// Result is the stream-json "result" line (nil if none).
	Result map[string]any
}

// ExpectExit records an error unless the run exited with code.
func (r *Run) ExpectExit(code int) *Run {
	if r.s.err == nil && r.ExitCode != code {
		stderr, _ := os.ReadFile(filepath.Join(r.s.Out, fmt.Sprintf("run-%d.stderr.txt", r.N)))
		r.s.Failf("harness: run %d exited %d, want %d; stderr:\n%s", r.N, r.ExitCode, code, lastLines(string(stderr), 20))
	}
	return r
}

// Headless is the usual argument list of a headless run: the prompt,
// stream-json output, and no permission prompts.
func Headless(prompt string, more ...string) []string {
	return append([]string{"-p", prompt, "--output-format", "stream-json", "--verbose", "--permission-mode", "bypassPermissions"}, more...)
}

// Claude runs the CLI with args in the work dir, stdin empty.
func (s *Session) Claude(args ...string) *Run {
	return s.run(s.cfg.Claude, args, nil, nil)
}

// Converse runs the CLI with --input-format stream-json and feeds it the
// prompts one at a time, each after the previous turn's "result" line
// (the CLI drops a message written earlier), then closes stdin. A prompt
// is a string or a list of content blocks. args are added after the
// stream-json flags.
func (s *Session) Converse(prompts []any, args ...string) *Run {
	all := append([]string{"-p", "--input-format", "stream-json", "--output-format", "stream-json", "--verbose"}, args...)
	return s.run(s.cfg.Claude, all, prompts, nil)
}

//go:embed sdk_driver.mjs
var sdkDriver []byte

// SDKQuery runs query() of the Agent SDK (which runs the CLI) with the
// prompt; options (e.g. {"resume": id}) go over the driver's fixed ones
// (bypassPermissions, the user/project/local settings).
func (s *Session) SDKQuery(prompt string, options map[string]any) *Run {
	return s.sdk(map[string]any{"action": "query", "prompt": prompt, "options": options})
}

// SDKFork runs the Agent SDK's forkSession(): an in-process copy of the
// session's transcript under a new id (Run.SessionID), every copied line
// marked forkedFrom. No CLI runs, no hook fires.
func (s *Session) SDKFork(sessionID string) *Run {
	return s.sdk(map[string]any{"action": "fork", "sessionId": sessionID})
}

func (s *Session) sdk(step map[string]any) *Run {
	if s.err == nil && (s.cfg.AgentSDK == "" || s.cfg.Node == "") {
		s.Failf("harness: an Agent SDK step needs Config.AgentSDK and node")
	}
	driver := filepath.Join(s.Dir(), "sdk-driver.mjs")
	if s.err == nil {
		s.Fail(os.WriteFile(driver, sdkDriver, 0o644))
	}
	spec, _ := json.Marshal(step)
	return s.run(s.cfg.Node, []string{driver, string(spec)}, nil,
		[]string{"CLAUDE_BIN=" + s.cfg.Claude, "WEAVE_AGENT_SDK=" + s.cfg.AgentSDK})
}

// Version is the CLI's version (asked once).
func (s *Session) Version() string {
	if s.version == "" {
		v, err := CLIVersion(context.Background(), s.cfg.Claude)
		if s.Fail(err) != nil {
			return ""
		}
		s.version = v
	}
	return s.version
}

// VersionBefore reports whether the CLI is older than v (N.N.N).
func (s *Session) VersionBefore(v string) bool {
	have := s.Version()
	return validVersion(have) && validVersion(v) && compareVersions(have, v) < 0
}

// Dir is the session's directory.
func (s *Session) Dir() string { return s.cfg.Dir }

func (s *Session) run(bin string, args []string, prompts []any, extraEnv []string) *Run {
	s.runs++
	r := &Run{s: s, N: s.runs, ExitCode: -1}
	if s.err != nil {
		return r
	}
	if s.mock == nil {
		s.Failf("harness: run %d without a mock (call Serve first)", r.N)
		return r
	}
	base := filepath.Join(s.Out, fmt.Sprintf("run-%d", r.N))
	cmdline := shellJoin(append([]string{filepath.Base(bin)}, args...))
	os.WriteFile(base+".cmd.txt", []byte(cmdline+"\n"), 0o644)
	s.logf("run %d: %s", r.N, cmdline)
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RunTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = s.Work, append(s.env("dumb"), extraEnv...)
	// Its own process group, so a timeout ends the hooks it runs too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	stdoutFile, err := os.Create(base + ".stdout.jsonl")
	if s.Fail(err) != nil {
		return r
	}
	defer stdoutFile.Close()
	stderrFile, err := os.Create(base + ".stderr.txt")
	if s.Fail(err) != nil {
		return r
	}
	defer stderrFile.Close()
	cmd.Stderr = stderrFile
	stdout, err := cmd.StdoutPipe()
	if s.Fail(err) != nil {
		return r
	}
	var stdin io.WriteCloser
	if prompts != nil {
		if stdin, err = cmd.StdinPipe(); s.Fail(err) != nil {
			return r
		}
	}
	if err := cmd.Start(); err != nil {
		s.Failf("harness: run %d: %w", r.N, err)
		return r
	}
	next := 0
	send := func() {
		if next == len(prompts) {
			stdin.Close()
			return
		}
		line, _ := json.Marshal(map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": prompts[next]}})
		next++
		stdin.Write(append(line, '\n'))
	}
	if prompts != nil {
		send()
	}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		stdoutFile.Write(append(line, '\n'))
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		if id, ok := m["session_id"].(string); ok && r.SessionID == "" {
			r.SessionID = id
		}
		if m["type"] == "driver_result" {
			r.SessionID, _ = m["session_id"].(string)
		}
		if m["type"] == "result" {
			r.Result = m
			if id, ok := m["session_id"].(string); ok {
				r.SessionID = id
			}
			if prompts != nil {
				send()
			}
		}
	}
	err = cmd.Wait()
	r.ExitCode = cmd.ProcessState.ExitCode()
	if ctx.Err() != nil {
		s.Failf("harness: run %d (%s) did not finish within %v", r.N, cmdline, s.cfg.RunTimeout)
		return r
	}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		s.Failf("harness: run %d: %w", r.N, err)
	}
	s.logf("run %d: exit %d, session %s", r.N, r.ExitCode, r.SessionID)
	return r
}

// shellJoin quotes args for a POSIX shell.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// ShellJoin quotes each argument for sh and joins them: a hook command.
func ShellJoin(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
