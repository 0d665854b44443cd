// Command record runs the Codex scenarios with the hook logger registered
// and copies each run into testdata/codex/<version>/<scenario>: hooks.jsonl
// (every hook payload with its time and the rollout's size then), the
// sessions/ tree Codex wrote, requests.jsonl.gz (the mock's request log),
// output.txt and a README of its provenance.
//
//	go run ./e2e/codex/record [-out testdata/codex/0.169.0] [scenario ...]
package main

import (
	"fmt"
	"path/filepath"

	"github.com/weavetrace/weave/e2e/agentharness"
	"github.com/weavetrace/weave/e2e/codex"
)

func main() {
	agentharness.Record(agentharness.Recorder[codex.Scenario]{
		Agent: "codex", Version: codex.Version, Install: codex.Install, Run: codex.Execute,
		Scenarios: codex.Scenarios, Name: func(sc codex.Scenario) string { return sc.Name },
		Keep: func(dst string, res *agentharness.Result) error {
			return agentharness.CopyTree(res.Sessions, filepath.Join(dst, "sessions"), nil)
		},
		Describe: func(sc codex.Scenario) string { return sc.Description },
		Title:    "Codex CLI",
		Setup: fmt.Sprintf("the real `codex exec` (npm `@openai/codex@%s`, native binary from `@openai/codex-linux-x64`) in an isolated HOME,\n"+
			"model `%s` served by tools/mockopenai on loopback. Hooks were registered by `weave-hook install --agent codex`\n"+
			"(trusted in config.toml) with the hook logger of e2e/agentharness in weave-hook's place.", codex.Version, codex.Model),
		Files: []string{"`sessions/`: the rollout files Codex wrote under `~/.codex/sessions`", "`output.txt`: what each `codex exec` printed"},
	})
}
