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
	"io"
	"os"
	"path/filepath"
	"strings"

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
	// TUI runs the interactive `codex resume <id>` instead (Resume must
	// be set; Prompt is not used) and submits these lines (slash commands
	// such as /compact), then /quit.
	TUI []agentharness.TUIStep `json:"tui,omitempty"`
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

// Env is where a scenario runs (Bin is the codex binary; CODEX_HOME is
// Home/.codex).
type Env = agentharness.Env

// Result is what a scenario run produced (Sessions: Home/.codex/sessions).
type Result = agentharness.Result

// Execute runs sc in env: mock on a loopback port, config.toml pointing
// Codex at it, the hook installed, then each run.
func Execute(ctx context.Context, env Env, sc Scenario) (*Result, error) {
	codexHome := filepath.Join(env.Home, ".codex")
	if err := agentharness.Prepare(env, codexHome, sc.Files); err != nil {
		return nil, err
	}
	mock, err := agentharness.ServeMock(env.Home, func(log io.Writer) agentharness.Mock { return mockopenai.New(sc.Script, log) })
	if err != nil {
		return nil, err
	}
	defer mock.Close()
	config := Config(mock.Addr, env.Work, sc.Config)
	if err := os.WriteFile(filepath.Join(codexHome, "config.toml"), []byte(config), 0o600); err != nil {
		return nil, err
	}
	if env.Install != nil {
		if err := env.Install(env.Home); err != nil {
			return nil, err
		}
	}
	res := &Result{Requests: mock.Log, Sessions: filepath.Join(codexHome, "sessions")}
	base := []string{"HOME=" + env.Home, "CODEX_HOME=" + codexHome, "OPENAI_API_KEY=sk-weave-mock", "TERM=dumb", "RUST_LOG=error"}
	for i, r := range sc.Runs {
		if len(r.TUI) > 0 {
			if !r.Resume || res.SessionID == "" {
				return res, fmt.Errorf("run %d: an interactive run resumes the scenario's session", i)
			}
			u := agentharness.TUI{Ready: "Ask Codex to do anything", Quit: "/quit", Steps: r.TUI}
			if err := agentharness.RunTUI(ctx, env, res, base, u, env.Bin, append(append([]string{"resume"}, r.Args...), res.SessionID)...); err != nil {
				return res, fmt.Errorf("run %d: %w", i, err)
			}
			continue
		}
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
		if err := agentharness.RunCLI(ctx, env, res, base, r.Fail, env.Bin, args...); err != nil {
			return res, fmt.Errorf("run %d: %w", i, err)
		}
		if res.SessionID == "" {
			res.SessionID = sessionID(res.Outputs[i])
		}
	}
	res.Unused = mock.Unused()
	return res, nil
}

// Config is the config.toml of a scenario: the mock at addr as the model
// provider, work trusted, and extra (the scenario's own keys) among the
// top-level keys, before the first table — after one, a key belongs to
// that table and Codex ignores it.
func Config(addr, work, extra string) string {
	return fmt.Sprintf(`model = %q
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
`, Model, extra, addr, work)
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
