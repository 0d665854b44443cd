// Command weave-agentd is weave's per-user daemon (see docs/ARCHITECTURE.md).
package main

import (
	"fmt"
	"io"
	"os"
)

// commands maps subcommands to their entry points.
var commands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"import": runImport,
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: weave-agentd import ...")
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "weave-agentd: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	os.Exit(cmd(os.Args[2:], os.Stdout, os.Stderr))
}
