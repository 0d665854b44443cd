// Command weave-hook is the command Claude Code runs for every hook event.
// It hands the event (its stdin) to weave-agentd over the per-user Unix
// socket and exits 0 at once, printing nothing, whatever happens.
//
//	weave-hook                 hook mode (what Claude Code runs)
//	weave-hook --agent codex   hook mode for another agent (codex, gemini)
//	weave-hook install [--agent claude|codex|gemini] [--command CMD] [--uninstall]
//
// Hook mode never writes to stdout (Claude Code would inject it into the
// model's context), never exits non-zero (2 would block a tool) and returns
// within hookproto.HookDeadline (300 ms) even when the daemon is down, hung
// or missing — up to hookproto.InboxCeiling (2 s) only while it is still
// reading or saving the event itself. An event it cannot hand over goes to the inbox file the daemon
// drains on start; when the daemon is not running the hook starts it,
// detached. Set WEAVE_HOOK_DEBUG=1 for one line per event in
// $WEAVE_HOME/logs/hook.log, or WEAVE_HOOK_DEBUG=stderr.
//
// It links only the standard library and daemon/hookproto (a test checks).
package main

import (
	"os"
	"strings"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
)

func main() {
	start := time.Now()
	if len(os.Args) > 1 && os.Args[1] == "install" {
		os.Exit(install(os.Args[2:], os.Stdout, os.Stderr))
	}
	runHook(start, os.Stdin, hookAgent(os.Args[1:]))
	os.Exit(0)
}

// hookAgent is the agent named by `--agent NAME` or `--agent=NAME` among
// the hook's arguments; "" (Claude Code, or whatever the daemon recognises
// from the payload) when there is none or it is unknown. Hook mode never
// fails on its arguments.
func hookAgent(args []string) string {
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--agent=")
		if !ok && a == "--agent" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			if agent, known := hookproto.ParseAgent(v); known {
				return agent
			}
		}
	}
	return ""
}
