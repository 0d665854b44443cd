package agentharness

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Recorder is what an agent's record command (e2e/<agent>/record) has of
// its own; Record does the rest.
type Recorder[S any] struct {
	Agent   string // "codex", "gemini": weave-hook install --agent, testdata/<agent>
	Version string // the pinned CLI: testdata/<agent>/<version>
	Install func() (string, error)
	// Scenarios lists the scenarios in order, Name names one.
	Scenarios func() ([]S, error)
	Name      func(S) string
	// Run runs a scenario in env.
	Run func(context.Context, Env, S) (*Result, error)
	// Keep copies what the agent wrote (its session files) into dst.
	Keep func(dst string, res *Result) error
	// Describe is the scenario's description.
	Describe func(S) string
	// Title names the CLI in the README ("Codex CLI"), Setup says how it
	// ran (the CLI, the mock, the hooks), Files what the folder holds
	// besides hooks.jsonl and requests.jsonl.gz (markdown list items).
	Title, Setup string
	Files        []string
}

// readme is a scenario folder's README.
func (r Recorder[S]) readme(sc S, day time.Time, network string) string {
	name := r.Name(sc)
	files := append(append([]string{}, r.Files...),
		"`hooks.jsonl`: one line per hook: time, agent, `transcript_size` (the session file's size when the hook ran), payload",
		"`requests.jsonl.gz`: every request the mock received")
	return fmt.Sprintf("# %s %s: %s\n\n%s\n\nRecorded %s by `go run ./e2e/%s/record %s` (scenario `e2e/%s/scenarios/%s.json`) in %s:\n%s\n\n- %s\n",
		r.Title, r.Version, name, r.Describe(sc), day.Format("2006-01-02"), r.Agent, name, r.Agent, name, network, r.Setup, strings.Join(files, "\n- "))
}

// Record is the main of a record command: it runs the scenarios named on
// the command line (all by default) with the hook logger registered and
// copies each run into -out/<scenario>: what Keep keeps, hooks.jsonl
// (every hook payload with its time and the session file's size then),
// requests.jsonl.gz (the mock's request log), output.txt and README.md.
func Record[S any](r Recorder[S]) {
	out := flag.String("out", filepath.Join("testdata", r.Agent, r.Version), "where the recordings go")
	flag.Parse()
	isolated, err := InPrivateNetwork()
	if err != nil {
		log.Fatal(err)
	}
	bin, err := r.Install()
	if err != nil {
		log.Fatal(err)
	}
	scs, err := r.Scenarios()
	if err != nil {
		log.Fatal(err)
	}
	tmp, logger, hookBin, err := RecordTools("weave-" + r.Agent + "-record-")
	defer os.RemoveAll(tmp)
	if err != nil {
		log.Fatal(err)
	}
	network := "a private network namespace with only loopback (unshare -n)"
	if !isolated {
		network = "the host network (not root: no private namespace), every client pointed at loopback"
	}
	for _, sc := range scs {
		name := r.Name(sc)
		if flag.NArg() > 0 && !slices.Contains(flag.Args(), name) {
			continue
		}
		if err := r.record(bin, hookBin, logger, filepath.Join(tmp, name), filepath.Join(*out, name), sc, network); err != nil {
			log.Fatalf("%s: %v", name, err)
		}
	}
}

// record runs one scenario in dir and copies it to dst.
func (r Recorder[S]) record(bin, hookBin, logger, dir, dst string, sc S, network string) error {
	home := filepath.Join(dir, "home")
	env := Env{
		Bin: bin, Home: home, Work: filepath.Join(home, "work"),
		ExtraEnv: []string{"WEAVE_HOOKLOG=" + filepath.Join(dir, "hooks.jsonl")},
		Install:  InstallHook(hookBin, r.Agent, logger),
	}
	start := time.Now().UTC()
	res, err := r.Run(context.Background(), env, sc)
	if err != nil {
		return err
	}
	if len(res.Unused) > 0 {
		return fmt.Errorf("script steps %v were never asked for; outputs:\n%s", res.Unused, strings.Join(res.Outputs, "\n----\n"))
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := r.Keep(dst, res); err != nil {
		return err
	}
	if err := CopyTree(dir, dst, func(rel string) bool { return rel == "hooks.jsonl" }); err != nil {
		return err
	}
	if err := GzipFile(res.Requests, filepath.Join(dst, "requests.jsonl.gz")); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dst, "output.txt"), []byte(strings.Join(res.Outputs, "\n---- next run ----\n")), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dst, "README.md"), []byte(r.readme(sc, start, network)), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: session %s, %d runs → %s\n", r.Name(sc), res.SessionID, len(res.Outputs), dst)
	return nil
}
