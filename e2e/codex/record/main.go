// Command record runs the Codex scenarios with the hook logger registered
// and copies each run into testdata/codex/<version>/<scenario>: hooks.jsonl
// (every hook payload with its time and the rollout's size then), the
// sessions/ tree Codex wrote, requests.jsonl.gz (the mock's request log),
// output.txt and a README of its provenance.
//
//	go run ./e2e/codex/record [-out testdata/codex/0.169.0] [scenario ...]
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/weavetrace/weave/e2e/agentharness"
	"github.com/weavetrace/weave/e2e/codex"
)

func main() {
	out := flag.String("out", filepath.Join("testdata", "codex", codex.Version), "where the recordings go")
	flag.Parse()
	isolated, err := agentharness.InPrivateNetwork()
	if err != nil {
		log.Fatal(err)
	}
	bin, err := codex.Install()
	if err != nil {
		log.Fatal(err)
	}
	scs, err := codex.Scenarios()
	if err != nil {
		log.Fatal(err)
	}
	tmp, logger, hookBin, err := agentharness.RecordTools("weave-gemini-record-")
	defer os.RemoveAll(tmp)
	if err != nil {
		log.Fatal(err)
	}
	for _, sc := range scs {
		if flag.NArg() > 0 && !slices.Contains(flag.Args(), sc.Name) {
			continue
		}
		dir := filepath.Join(tmp, sc.Name)
		home := filepath.Join(dir, "home")
		hooklog := filepath.Join(dir, "hooks.jsonl")
		env := codex.Env{
			Codex:    bin,
			Home:     home,
			Work:     filepath.Join(home, "work"),
			ExtraEnv: []string{"WEAVE_HOOKLOG=" + hooklog},
			Install: func(home string) error {
				cmd := exec.Command(hookBin, "install", "--agent", "codex", "--command", logger)
				cmd.Env = append(os.Environ(), "HOME="+home, "CODEX_HOME="+filepath.Join(home, ".codex"))
				b, err := cmd.CombinedOutput()
				if err != nil {
					return fmt.Errorf("weave-hook install: %v\n%s", err, b)
				}
				return nil
			},
		}
		start := time.Now().UTC()
		res, err := codex.Execute(context.Background(), env, sc)
		if err != nil {
			log.Fatalf("%s: %v", sc.Name, err)
		}
		if len(res.Unused) > 0 {
			log.Fatalf("%s: script steps %v were never asked for; outputs:\n%s", sc.Name, res.Unused, strings.Join(res.Outputs, "\n----\n"))
		}
		dst := filepath.Join(*out, sc.Name)
		if err := os.RemoveAll(dst); err != nil {
			log.Fatal(err)
		}
		if err := agentharness.CopyTree(filepath.Join(home, ".codex", "sessions"), filepath.Join(dst, "sessions"), nil); err != nil {
			log.Fatal(err)
		}
		if err := agentharness.CopyTree(dir, dst, func(rel string) bool { return rel == "hooks.jsonl" }); err != nil {
			log.Fatal(err)
		}
		if err := agentharness.GzipFile(res.Requests, filepath.Join(dst, "requests.jsonl.gz")); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "output.txt"), []byte(strings.Join(res.Outputs, "\n---- next run ----\n")), 0o644); err != nil {
			log.Fatal(err)
		}
		net := "a private network namespace with only loopback (unshare -n)"
		if !isolated {
			net = "the host network (not root: no private namespace), every client pointed at loopback"
		}
		readme := fmt.Sprintf("# Codex CLI %s: %s\n\n%s\n\nRecorded %s by `go run ./e2e/codex/record %s` (scenario `e2e/codex/scenarios/%s.json`):\n"+
			"the real `codex exec` (npm `@openai/codex@%s`, native binary from `@openai/codex-linux-x64`) in an isolated HOME,\n"+
			"model `%s` served by tools/mockopenai on loopback, in %s. Hooks were registered by\n"+
			"`weave-hook install --agent codex` (trusted in config.toml) with the hook logger of e2e/agentharness in weave-hook's place.\n\n"+
			"- `sessions/`: the rollout files Codex wrote under `~/.codex/sessions`\n"+
			"- `hooks.jsonl`: one line per hook: time, agent, `transcript_size` (the rollout's size when the hook ran), payload\n"+
			"- `requests.jsonl.gz`: every request the mock received\n- `output.txt`: what each `codex exec` printed\n",
			codex.Version, sc.Name, sc.Description, start.Format("2006-01-02"), sc.Name, sc.Name, codex.Version, codex.Model, net)
		if err := os.WriteFile(filepath.Join(dst, "README.md"), []byte(readme), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: session %s, %d runs → %s\n", sc.Name, res.SessionID, len(sc.Runs), dst)
	}
}
