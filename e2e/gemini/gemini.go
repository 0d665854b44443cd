// Package gemini runs the real Gemini CLI (npm @google/gemini-cli, pinned)
// against tools/mockgemini on loopback, in an isolated HOME, through
// scripted scenarios (scenarios/*.json). `go run ./e2e/gemini/record`
// records the runs into testdata/gemini/<version>; the e2e test (build tag
// e2e, `make e2e-gemini`) runs them through weave-hook → weave-agentd →
// weave-server.
package gemini

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/weavetrace/weave/e2e/agentharness"
	"github.com/weavetrace/weave/tools/mockgemini"
)

// Version is the pinned Gemini CLI.
const Version = "0.61.0"

// Model is the model the scenarios ask for.
const Model = "gemini-2.5-pro"

//go:embed scenarios/*.json
var scenarioFS embed.FS

// Scenario is one scripted session: files for the work directory, the
// gemini runs in order (each a turn; resume continues the latest session),
// and the mock model's answers.
type Scenario struct {
	Name        string            `json:"-"`
	Description string            `json:"description"`
	Files       map[string]string `json:"files,omitempty"`
	Runs        []Run             `json:"runs"`
	Script      []mockgemini.Step `json:"script"`
}

// Run is one `gemini -p` invocation.
type Run struct {
	Prompt string `json:"prompt"`
	// Resume continues the scenario's session (`--resume latest`).
	Resume bool `json:"resume,omitempty"`
	// ByID continues it by its session id (`--resume <id>`) instead.
	ByID bool `json:"by_id,omitempty"`
	// Args are extra gemini arguments (--yolo, --approval-mode).
	Args []string `json:"args,omitempty"`
	// Fail: gemini is expected to exit non-zero (a failed model call).
	Fail bool `json:"fail,omitempty"`
}

// Scenarios returns the scenarios, sorted by name.
func Scenarios() ([]Scenario, error) {
	return agentharness.LoadScenarios(scenarioFS, "scenarios", func(s *Scenario, name string) { s.Name = name })
}

// Install installs the pinned CLI (cached) and returns its entry script
// (run by node, which must be 20 or newer: checked first).
func Install() (string, error) {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("node: %v (Gemini CLI %s needs node 20 or newer)", err, Version)
	}
	v := strings.TrimSpace(string(out))
	if major, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), "."); atoi(major) < 20 {
		return "", fmt.Errorf("node %s: Gemini CLI %s needs node 20 or newer", v, Version)
	}
	dir, err := agentharness.CacheDir("gemini", Version)
	if err != nil {
		return "", err
	}
	return agentharness.NPMInstall(dir, "@google/gemini-cli", Version, "node_modules/@google/gemini-cli/bundle/gemini.js")
}

// Env is where a scenario runs (Bin is the CLI's entry script; settings
// in Home/.gemini).
type Env = agentharness.Env

// Result is what a scenario run produced (Sessions: the chats folder,
// Home/.gemini/tmp/<project>/chats).
type Result = agentharness.Result

// Settings is the settings.json a scenario starts from: API key auth
// (GEMINI_API_KEY, no login), folder trust, usage statistics and update
// checks off.
const Settings = `{
  "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
  "privacy": {"usageStatisticsEnabled": false},
  "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false}
}
`

// Execute runs sc in env: mock on a loopback port, settings.json with the
// hook installed, then each run with GOOGLE_GEMINI_BASE_URL at the mock.
func Execute(ctx context.Context, env Env, sc Scenario) (*Result, error) {
	dir := filepath.Join(env.Home, ".gemini")
	if err := agentharness.Prepare(env, dir, sc.Files); err != nil {
		return nil, err
	}
	mock, err := agentharness.ServeMock(env.Home, func(log io.Writer) agentharness.Mock { return mockgemini.New(sc.Script, log) })
	if err != nil {
		return nil, err
	}
	defer mock.Close()
	if err := os.WriteFile(filepath.Join(dir, "settings.json"), []byte(Settings), 0o600); err != nil {
		return nil, err
	}
	if env.Install != nil {
		if err := env.Install(env.Home); err != nil {
			return nil, err
		}
	}
	res := &Result{Requests: mock.Log}
	base := []string{"HOME=" + env.Home, "GEMINI_API_KEY=weave-mock-key", "GOOGLE_GEMINI_BASE_URL=http://" + mock.Addr, "TERM=dumb", "NO_COLOR=1"}
	for i, r := range sc.Runs {
		args := []string{env.Bin, "-m", Model}
		args = append(args, r.Args...)
		switch {
		case r.ByID:
			if _, res.SessionID = mainSession(dir); res.SessionID == "" {
				return res, fmt.Errorf("run %d resumes, but no session was written", i)
			}
			args = append(args, "--resume", res.SessionID)
		case r.Resume:
			args = append(args, "--resume", "latest")
		}
		args = append(args, "-p", r.Prompt)
		if err := agentharness.RunCLI(ctx, env, res, base, r.Fail, "node", args...); err != nil {
			return res, fmt.Errorf("run %d: %w", i, err)
		}
	}
	res.Unused = mock.Unused()
	res.Sessions, res.SessionID = mainSession(dir)
	return res, nil
}

// mainSession finds the chats directory and the session id of its main
// session file (a scenario has one).
func mainSession(geminiDir string) (chats, id string) {
	files, _ := filepath.Glob(filepath.Join(geminiDir, "tmp", "*", "chats", "session-*.jsonl"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		first, _, _ := bytes.Cut(b, []byte("\n"))
		var meta struct {
			SessionID string `json:"sessionId"`
		}
		if json.Unmarshal(first, &meta) == nil && meta.SessionID != "" {
			return filepath.Dir(f), meta.SessionID
		}
	}
	return "", ""
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
