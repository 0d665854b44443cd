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
	"github.com/weavetrace/weave/e2e/gemini"
)

func main() {
	out := flag.String("out", filepath.Join("testdata", "gemini", gemini.Version), "where the recordings go")
	flag.Parse()
	isolated, err := agentharness.InPrivateNetwork()
	if err != nil {
		log.Fatal(err)
	}
	bin, err := gemini.Install()
	if err != nil {
		log.Fatal(err)
	}
	scs, err := gemini.Scenarios()
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
		env := gemini.Env{
			Gemini:   bin,
			Home:     home,
			Work:     filepath.Join(home, "work"),
			ExtraEnv: []string{"WEAVE_HOOKLOG=" + hooklog},
			Install: func(home string) error {
				cmd := exec.Command(hookBin, "install", "--agent", "gemini", "--command", logger)
				cmd.Env = append(os.Environ(), "HOME="+home)
				if b, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("weave-hook install: %v\n%s", err, b)
				}
				return nil
			},
		}
		start := time.Now().UTC()
		res, err := gemini.Execute(context.Background(), env, sc)
		if err != nil {
			log.Fatalf("%s: %v", sc.Name, err)
		}
		if len(res.Unused) > 0 {
			log.Fatalf("%s: script steps %v were never asked for; outputs:\n%s", sc.Name, res.Unused, strings.Join(res.Outputs, "\n----\n"))
		}
		if res.ChatsDir == "" {
			log.Fatalf("%s: no chat file was written", sc.Name)
		}
		dst := filepath.Join(*out, sc.Name)
		if err := os.RemoveAll(dst); err != nil {
			log.Fatal(err)
		}
		project := filepath.Dir(res.ChatsDir)
		keep := func(rel string) bool {
			return rel == ".project_root" || strings.HasPrefix(rel, "chats"+string(filepath.Separator))
		}
		if err := agentharness.CopyTree(project, filepath.Join(dst, "tmp", filepath.Base(project)), keep); err != nil {
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
		readme := fmt.Sprintf("# Gemini CLI %s: %s\n\n%s\n\nRecorded %s by `go run ./e2e/gemini/record %s` (scenario `e2e/gemini/scenarios/%s.json`):\n"+
			"the real `gemini -p` (npm `@google/gemini-cli@%s`, node %s) in an isolated HOME, API key auth,\n"+
			"model `%s` served by tools/mockgemini on loopback (`GOOGLE_GEMINI_BASE_URL`), in %s. Hooks were registered by\n"+
			"`weave-hook install --agent gemini` with the hook logger of e2e/agentharness in weave-hook's place.\n\n"+
			"- `tmp/<project>/`: what Gemini CLI wrote under `~/.gemini/tmp/<project>`: `chats/` (the session files) and `.project_root`\n"+
			"- `hooks.jsonl`: one line per hook: time, agent, `transcript_size` (the chat file's size when the hook ran), payload\n"+
			"- `requests.jsonl.gz`: every request the mock received\n- `output.txt`: what each `gemini -p` printed\n",
			gemini.Version, sc.Name, sc.Description, start.Format("2006-01-02"), sc.Name, sc.Name, gemini.Version, nodeVersion(), gemini.Model, net)
		if err := os.WriteFile(filepath.Join(dst, "README.md"), []byte(readme), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: session %s, %d runs → %s\n", sc.Name, res.SessionID, len(sc.Runs), dst)
	}
}

func nodeVersion() string {
	b, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
