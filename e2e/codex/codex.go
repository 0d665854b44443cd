// Package codex runs the real Codex CLI (npm @openai/codex, pinned) against
// tools/mockopenai on loopback, in an isolated HOME, through scripted
// scenarios (scenarios/*.json). `go run ./e2e/codex/record` records the
// runs into testdata/codex/<version>; the e2e test (build tag e2e, `make
// e2e-codex`) runs them through weave-hook → weave-agentd → weave-server.
package codex

import (
	"context"
	"embed"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/weavetrace/weave/e2e/agentharness"
	"github.com/weavetrace/weave/tools/mockopenai"
)

// Version is the pinned Codex CLI.
const Version = "0.169.0"

// Model is the model the scenarios ask for (priced in the UI's table).
const Model = "gpt-5.1-codex"

//go:embed scenarios/*.json
var scenarioFS embed.FS

// Scenario is one scripted session: files for the work directory, the
// codex runs in order (each a turn; resume continues the first run's
// session), and the mock model's answers.
type Scenario struct {
	Name        string            `json:"-"`
	Description string            `json:"description"`
	Files       map[string]string `json:"files,omitempty"`
	// Config is extra config.toml text (e.g. a low auto-compaction limit).
	Config string            `json:"config,omitempty"`
	Runs   []Run             `json:"runs"`
	Script []mockopenai.Step `json:"script"`
}

// Run is one `codex exec` invocation.
type Run struct {
	Prompt string `json:"prompt"`
	// Resume continues the session of the scenario's first run
	// (`codex exec resume <id>`).
	Resume bool `json:"resume,omitempty"`
	// Last resumes the most recent session instead, by `codex exec resume
	// --last` (no id).
	Last bool `json:"last,omitempty"`
	// Args are extra codex arguments (sandbox and approval flags).
	Args []string `json:"args,omitempty"`
	// Fail: codex is expected to exit non-zero (a failed model call).
	Fail bool `json:"fail,omitempty"`
}

// Scenarios returns the scenarios, sorted by name.
func Scenarios() ([]Scenario, error) {
	return agentharness.LoadScenarios(scenarioFS, "scenarios", func(s *Scenario, name string) { s.Name = name })
}

// Install installs the pinned CLI (cached) and returns the native binary.
func Install() (string, error) {
	dir, err := agentharness.CacheDir("codex", Version)
	if err != nil {
		return "", err
	}
	return agentharness.NPMInstall(dir, "@openai/codex", Version,
		"node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex")
}

// Env is where a scenario runs.
type Env struct {
	Codex string // the codex binary
	Home  string // isolated HOME (CODEX_HOME is Home/.codex)
	Work  string // the work directory
	// Install registers the hook: it runs `weave-hook install --agent
	// codex` (and whatever else) with HOME set to Home.
	Install func(home string) error
	// ExtraEnv is added to codex's environment (WEAVE_HOME, …).
	ExtraEnv []string
}

// Result is what a scenario run produced.
type Result struct {
	SessionID string
	Requests  string   // the mock's request log (JSONL)
	Outputs   []string // each run's combined output
	Unused    []int    // script steps no request took
}

// Execute runs sc in env: mock on a loopback port, config.toml pointing
// Codex at it, the hook installed, then each run.
func Execute(ctx context.Context, env Env, sc Scenario) (*Result, error) {
	codexHome := filepath.Join(env.Home, ".codex")
	for _, d := range []string{codexHome, env.Work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := agentharness.WriteFiles(env.Work, sc.Files); err != nil {
		return nil, err
	}
	reqLog := filepath.Join(env.Home, "requests.jsonl")
	logf, err := os.Create(reqLog)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	mock := mockopenai.New(sc.Script, logf)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: mock}
	go srv.Serve(ln)
	defer srv.Close()

	// sc.Config goes among the top-level keys, before the first table
	// (after one, a key would belong to that table: Codex ignores it).
	config := fmt.Sprintf(`model = %q
model_provider = "mock"
check_for_update_on_startup = false
%s

[model_providers.mock]
name = "OpenAI (weave mock)"
base_url = "http://%s/v1"
env_key = "OPENAI_API_KEY"
wire_api = "responses"
supports_websockets = false
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[projects.%q]
trust_level = "trusted"
`, Model, sc.Config, ln.Addr(), env.Work)
	if err := os.WriteFile(filepath.Join(codexHome, "config.toml"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	if env.Install != nil {
		if err := env.Install(env.Home); err != nil {
			return nil, err
		}
	}
	res := &Result{Requests: reqLog}
	for i, r := range sc.Runs {
		args := []string{"exec", "--skip-git-repo-check"}
		args = append(args, r.Args...)
		switch {
		case r.Last:
			args = append(args, "resume", "--last")
		case r.Resume:
			if res.SessionID == "" {
				return res, fmt.Errorf("run %d resumes, but no session was started", i)
			}
			args = append(args, "resume", res.SessionID)
		}
		args = append(args, r.Prompt)
		cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		cmd := exec.CommandContext(cctx, env.Codex, args...)
		cmd.Dir = env.Work
		cmd.Env = append([]string{
			"HOME=" + env.Home, "CODEX_HOME=" + codexHome, "OPENAI_API_KEY=sk-weave-mock",
			"PATH=" + os.Getenv("PATH"), "TERM=dumb", "LANG=C.UTF-8", "RUST_LOG=error",
		}, env.ExtraEnv...)
		out, err := cmd.CombinedOutput()
		cancel()
		res.Outputs = append(res.Outputs, string(out))
		if (err != nil) != r.Fail {
			return res, fmt.Errorf("run %d (%s): exit %v, want failure %v\n%s", i, strings.Join(args, " "), err, r.Fail, out)
		}
		if res.SessionID == "" {
			res.SessionID = sessionID(string(out))
		}
	}
	res.Unused = mock.Unused()
	return res, nil
}

// sessionID reads "session id: <uuid>" from codex exec's banner.
func sessionID(out string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "session id: "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
