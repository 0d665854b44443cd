// Command ccharness installs the pinned Claude Code CLI and runs weave's
// end-to-end scenarios with it against the scripted mock API, keeping
// what each run wrote (transcripts, hook log, request log, stdout):
//
//	ccharness install [-version V] [-sdk]   install (cached) and print the paths
//	ccharness list                          the scenarios
//	ccharness run [-version V] [-out DIR] [-weave-hook PATH] [-telemetry PROTOCOL] [-env K=V]... [-capture DIR] SCENARIO...
//
// `make e2e` uses install; run is for looking at what Claude Code does
// and for recording fixtures. With -telemetry (grpc, http/protobuf or
// http/json) Claude Code's own OpenTelemetry export is on and every
// request it sends is recorded in out/otlp.jsonl (e2e/otlprec). With
// -capture, each scenario's transcripts (projects/), its hooks as
// testdata's hooks.jsonl (harness.CaptureHook: each hook with the
// transcript sizes when it ran, what the replay tests need) and
// session-ids.txt go to DIR/<scenario> (testdata/README.md). As root, run
// works in a private network namespace with only loopback.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weavetrace/weave/e2e/harness"
	"github.com/weavetrace/weave/e2e/otlprec"
	"github.com/weavetrace/weave/e2e/scenarios"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "install":
		install(os.Args[2:])
	case "list":
		for _, sc := range scenarios.All {
			fmt.Printf("%-12s %s\n", sc.Name, sc.About)
		}
	case "run":
		run(os.Args[2:])
	case "capture-hook": // the recording hook -capture registers
		if len(os.Args) != 3 {
			usage()
		}
		if err := harness.CaptureHook(os.Stdin, os.Args[2], time.Now()); err != nil {
			fail(err)
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ccharness install [-version V] [-sdk] | list | run [-version V] [-out DIR] [-weave-hook PATH] [-capture DIR] SCENARIO...")
	os.Exit(2)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ccharness:", err)
	os.Exit(1)
}

// setup installs the CLI (and with sdk the Agent SDK) and returns their
// paths; the SDK's is "" with the reason when it cannot be installed.
func setup(version string, sdk bool) (claude, agentSDK string, sdkErr error) {
	cache, err := harness.CacheDir()
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	claude, err = harness.InstallCLI(ctx, version, cache, os.Stderr)
	if err != nil {
		fail(err)
	}
	if sdk {
		agentSDK, sdkErr = harness.InstallAgentSDK(ctx, version, cache, os.Stderr)
	}
	return claude, agentSDK, sdkErr
}

func install(args []string) {
	fs := flag.NewFlagSet("install", flag.ExitOnError)
	version := fs.String("version", envOr("CC_VERSION", harness.DefaultCLIVersion), "Claude Code version")
	sdk := fs.Bool("sdk", false, "also install the Agent SDK that pairs with it")
	fs.Parse(args)
	claude, agentSDK, sdkErr := setup(*version, *sdk)
	fmt.Printf("CLAUDE_BIN=%s\n", claude)
	if *sdk {
		if sdkErr != nil {
			fail(sdkErr)
		}
		fmt.Printf("WEAVE_AGENT_SDK=%s\n", agentSDK)
	}
}

func run(args []string) {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	version := fs.String("version", envOr("CC_VERSION", harness.DefaultCLIVersion), "Claude Code version")
	out := fs.String("out", "", "directory for the scenarios' files (default: a new temp dir)")
	weaveHook := fs.String("weave-hook", "", "weave-hook binary to register (default: none, only the hook log)")
	telemetry := fs.String("telemetry", "", "turn on Claude Code's native OpenTelemetry export in this protocol (grpc, http/protobuf, http/json) and record it in out/otlp.jsonl")
	var extraEnv envList
	fs.Var(&extraEnv, "env", "K=V added to the CLI's environment (after -telemetry's; repeatable)")
	capture := fs.String("capture", "", "record each scenario into DIR/<scenario> in testdata's layout")
	fs.Parse(args)
	switch *telemetry {
	case "", "grpc", "http/protobuf", "http/json":
	default:
		fail(fmt.Errorf("-telemetry %q: want grpc, http/protobuf or http/json", *telemetry))
	}
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	var todo []scenarios.Scenario
	sdk := false
	for _, name := range fs.Args() {
		sc, ok := scenarios.Get(name)
		if !ok {
			fail(fmt.Errorf("no scenario %q (ccharness list)", name))
		}
		todo = append(todo, sc)
		sdk = sdk || sc.SDK
	}
	if len(todo) == 0 {
		usage()
	}
	claude, agentSDK, sdkErr := setup(*version, sdk)
	if sdkErr != nil {
		fail(sdkErr)
	}
	if *out == "" {
		dir, err := os.MkdirTemp("", "ccharness-")
		if err != nil {
			fail(err)
		}
		*out = dir
	}
	network, err := harness.IsolateNetwork()
	if err != nil {
		fail(err)
	}
	fmt.Fprintln(os.Stderr, "ccharness: network:", network)
	failed := false
	for _, sc := range todo {
		dir := filepath.Join(*out, sc.Name)
		if err := os.RemoveAll(dir); err != nil {
			fail(err)
		}
		cfg := harness.Config{Claude: claude, Dir: dir, WeaveHook: *weaveHook, AgentSDK: agentSDK, Log: os.Stderr}
		var rec *otlprec.Recorder
		if *telemetry != "" {
			if err := os.MkdirAll(filepath.Join(dir, "out"), 0o755); err != nil {
				fail(err)
			}
			if rec, err = otlprec.Start(filepath.Join(dir, "out", "otlp.jsonl")); err != nil {
				fail(err)
			}
			endpoint := rec.HTTPEndpoint()
			if *telemetry == "grpc" {
				endpoint = rec.GRPCEndpoint()
			}
			cfg.Env = harness.NativeTelemetryEnv(*telemetry, endpoint)
		}
		cfg.Env = append(cfg.Env, extraEnv...)
		if *capture != "" {
			cfg.CaptureCommand = harness.ShellJoin(self, "capture-hook", filepath.Join(dir, "out", "hooks.jsonl"))
		}
		s, err := harness.New(cfg)
		if err != nil {
			fail(err)
		}
		sc.Run(s)
		if err := s.Close(); err != nil {
			failed = true
			fmt.Fprintf(os.Stderr, "ccharness: %s: %v\n", sc.Name, err)
			continue
		}
		if *capture != "" {
			if err := keep(s, filepath.Join(*capture, sc.Name)); err != nil {
				fail(err)
			}
		}
		if rec != nil {
			if err := rec.Close(); err != nil {
				fail(err)
			}
			fmt.Fprintf(os.Stderr, "ccharness: %s: OTLP requests recorded: %v\n", sc.Name, rec.Counts())
		}
		fmt.Printf("%s\t%s\n", sc.Name, dir)
	}
	if failed {
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// envList is a repeatable -env flag.
type envList []string

func (e *envList) String() string { return fmt.Sprint(*e) }

func (e *envList) Set(v string) error {
	if k, _, ok := strings.Cut(v, "="); !ok || k == "" {
		return fmt.Errorf("want K=V, got %q", v)
	}
	*e = append(*e, v)
	return nil
}

// keep copies what a recording keeps of a scenario's run into dst:
// projects/ (the transcripts as written), hooks.jsonl and session-ids.txt
// (every session in the order its first hook fired).
func keep(s *harness.Session, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.CopyFS(filepath.Join(dst, "projects"), os.DirFS(s.ProjectsDir())); err != nil {
		return fmt.Errorf("copy projects: %w", err)
	}
	hooks, err := os.ReadFile(filepath.Join(s.Out, "hooks.jsonl"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dst, "hooks.jsonl"), hooks, 0o644); err != nil {
		return err
	}
	var ids []string
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(hooks)), "\n") {
		var rec struct {
			Payload struct {
				SessionID string `json:"session_id"`
			} `json:"payload"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Payload.SessionID != "" && !seen[rec.Payload.SessionID] {
			seen[rec.Payload.SessionID] = true
			ids = append(ids, rec.Payload.SessionID)
		}
	}
	return os.WriteFile(filepath.Join(dst, "session-ids.txt"), []byte(strings.Join(ids, "\n")+"\n"), 0o644)
}
