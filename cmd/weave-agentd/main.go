// Command weave-agentd is weave's per-user daemon: it receives Claude Code
// hook events from weave-hook over a Unix socket, journals them, turns
// sessions into OpenTelemetry GenAI spans and exports them, spooling what
// the server cannot take yet.
//
//	weave-agentd run      run in the foreground (what weave-hook starts)
//	weave-agentd status   show what the daemon is doing (--json for all figures)
//	weave-agentd stop     stop it gracefully
//	weave-agentd import   backfill finished sessions (import.go)
//	weave-agentd service  install|uninstall|print the user service that keeps it running (service.go)
//	weave-agentd version  print the version
//
// Files live under $WEAVE_HOME (default ~/.weave); settings come from
// $WEAVE_HOME/config.json overridden by WEAVE_ENDPOINT, WEAVE_PROJECT,
// WANDB_API_KEY, WEAVE_IDLE_TIMEOUT and WEAVE_LOG_LEVEL.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
)

// command is one subcommand.
type command struct {
	run     func(args []string, stdout, stderr io.Writer) int
	summary string
}

// commands is the subcommand table; each entry's function lives in the
// file named after it (import.go, run.go, status.go).
var commands = map[string]command{
	"import":  {runImport, "backfill finished sessions from their transcripts (see import --help)"},
	"run":     {runDaemon, "run the daemon in the foreground (weave-hook starts it on demand; --keep-alive: never idle-exit)"},
	"service": {runService, "install|uninstall|print the user service (systemd --user, launchd) that keeps it running"},
	"status":  {runStatus, "show pid, sessions, spans sent, spool depth and the last export error"},
	"stop":    {runStop, "stop the daemon gracefully"},
	"version": {runVersion, "print the version"},
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "weave-agentd: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: weave-agentd <command> [flags]\n\ncommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
}

func runVersion(_ []string, stdout, _ io.Writer) int {
	fmt.Fprintf(stdout, "weave-agentd %s\n", version)
	return 0
}
