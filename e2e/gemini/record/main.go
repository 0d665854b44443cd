// Command record runs the Gemini CLI scenarios with the hook logger
// registered and copies each run into testdata/gemini/<version>/<scenario>:
// hooks.jsonl (every hook payload with its time and the chat file's size
// then), the project's temp directory Gemini CLI wrote (chats/ and
// .project_root), requests.jsonl.gz (the mock's request log), output.txt
// and a README of its provenance.
//
//	go run ./e2e/gemini/record [-out testdata/gemini/0.61.0] [scenario ...]
package main

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/weavetrace/weave/e2e/agentharness"
	"github.com/weavetrace/weave/e2e/gemini"
)

func main() {
	agentharness.Record(agentharness.Recorder[gemini.Scenario]{
		Agent: "gemini", Version: gemini.Version, Install: gemini.Install, Run: gemini.Execute,
		Scenarios: gemini.Scenarios, Name: func(sc gemini.Scenario) string { return sc.Name },
		Keep: func(dst string, res *agentharness.Result) error {
			if res.Sessions == "" {
				return errors.New("no chat file was written")
			}
			project := filepath.Dir(res.Sessions)
			keep := func(rel string) bool {
				return rel == ".project_root" || strings.HasPrefix(rel, "chats"+string(filepath.Separator))
			}
			return agentharness.CopyTree(project, filepath.Join(dst, "tmp", filepath.Base(project)), keep)
		},
		Describe: func(sc gemini.Scenario) string { return sc.Description },
		Title:    "Gemini CLI",
		Setup: fmt.Sprintf("the real `gemini -p` (npm `@google/gemini-cli@%s`, node %s) in an isolated HOME, API key auth,\n"+
			"model `%s` served by tools/mockgemini on loopback (`GOOGLE_GEMINI_BASE_URL`). Hooks were registered by\n"+
			"`weave-hook install --agent gemini` with the hook logger of e2e/agentharness in weave-hook's place.", gemini.Version, nodeVersion(), gemini.Model),
		Files: []string{"`tmp/<project>/`: what Gemini CLI wrote under `~/.gemini/tmp/<project>`: `chats/` (the session files) and `.project_root`",
			"`output.txt`: what each `gemini -p` printed"},
	})
}

func nodeVersion() string {
	b, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
