// Command ccharness installs the pinned Claude Code CLI and runs weave's
// end-to-end scenarios with it against the scripted mock API, keeping
// what each run wrote (transcripts, hook log, request log, stdout):
//
//	ccharness install [-version V] [-sdk]   install (cached) and print the paths
//	ccharness list                          the scenarios
//	ccharness run [-version V] [-out DIR] [-weave-hook PATH] SCENARIO...
//
// `make e2e` uses install; run is for looking at what Claude Code does
// (and for recording fixtures). As root, run works in a private network
// namespace with only loopback.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/weavetrace/weave/e2e/harness"
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
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ccharness install [-version V] [-sdk] | list | run [-version V] [-out DIR] [-weave-hook PATH] SCENARIO...")
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
	fs.Parse(args)
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
		s, err := harness.New(harness.Config{Claude: claude, Dir: dir, WeaveHook: *weaveHook, AgentSDK: agentSDK, Log: os.Stderr})
		if err != nil {
			fail(err)
		}
		sc.Run(s)
		if err := s.Close(); err != nil {
			failed = true
			fmt.Fprintf(os.Stderr, "ccharness: %s: %v\n", sc.Name, err)
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
