package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/service"
)

// runService is `weave-agentd service install|uninstall|print`: the user
// service that keeps the daemon running (package daemon/service).
func runService(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("weave-agentd service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	noEnable := fs.Bool("no-enable", false, "install: write the unit file only; print the commands that enable it")
	ifInstalled := fs.Bool("if-installed", false, "uninstall: say nothing when there is no service")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: weave-agentd service install [--no-enable] | uninstall [--if-installed] | print\n\n"+
			"Keeps weave-agentd running as a user service (systemd --user on Linux, launchd on\n"+
			"macOS), so spans spooled while the trace server was down are delivered when it is\n"+
			"back without waiting for a Claude Code hook. The service runs `weave-agentd run\n"+
			"--keep-alive`, restarts it when it fails, and stays stopped after `weave-agentd stop`.\n\n")
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		fs.Usage()
		return 2
	}
	verb := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	set := service.Settings{Run: runCommand, UID: os.Getuid()}
	switch verb {
	case "install", "print":
		spec, err := serviceSpec()
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		if verb == "print" {
			b, path := service.Render(spec, set)
			if b == nil {
				fmt.Fprintln(stderr, service.ErrUnsupported)
				return 1
			}
			fmt.Fprintf(stdout, "# %s\n%s", path, b)
			return 0
		}
		res, err := service.Install(spec, set, !*noEnable)
		if err != nil {
			fmt.Fprintln(stderr, err)
			if res.Path != "" && len(res.Manual) > 0 {
				fmt.Fprintf(stderr, "The service file is written (%s); to enable it by hand:\n  %s\n", res.Path, strings.Join(res.Manual, "\n  "))
			}
			return 1
		}
		if *noEnable {
			fmt.Fprintf(stdout, "wrote %s; enable it with:\n  %s\n", res.Path, strings.Join(res.Manual, "\n  "))
			return 0
		}
		fmt.Fprintf(stdout, "weave-agentd runs as a user service now (%s): it keeps running, and\n"+
			"spooled spans go out as soon as the trace server answers. Remove it with:\n"+
			"  weave-agentd service uninstall\n", res.Path)
		return 0
	case "uninstall":
		res, err := service.Uninstall(set)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		switch {
		case len(res.Commands) > 0:
			fmt.Fprintf(stdout, "removed the weave-agentd user service (%s)\n", res.Path)
		case !*ifInstalled:
			fmt.Fprintln(stdout, "no weave-agentd user service is installed")
		}
		return 0
	}
	fs.Usage()
	return 2
}

// serviceSpec is this binary, run with this WEAVE_HOME and the variables
// service.Env names that are set.
func serviceSpec() (service.Spec, error) {
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return service.Spec{}, fmt.Errorf("weave-agentd: cannot find my own path: %w", err)
	}
	p, err := hookproto.PathsFromEnv()
	if err != nil {
		return service.Spec{}, err
	}
	env := map[string]string{hookproto.EnvHome: p.Home}
	for _, k := range service.Env {
		if v := os.Getenv(k); v != "" && k != hookproto.EnvHome {
			env[k] = v
		}
	}
	return service.Spec{Binary: exe, Env: env, Version: version}, nil
}

// runCommand runs a service manager's command, returning its output.
func runCommand(name string, args ...string) ([]byte, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return nil, errors.New(name + " not found")
	}
	return exec.Command(path, args...).CombinedOutput()
}
