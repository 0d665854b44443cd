package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/weavetrace/weave/daemon/hookproto"
)

// EnvLockFD tells weave-agentd that fd 3 is agentd.lock, already locked
// for it by the hook that started it (so no other hook starts a second
// daemon in between). Keep in sync with cmd/weave-agentd.
const EnvLockFD = "WEAVE_AGENTD_LOCK_FD"

// EnvAgentd overrides where the daemon binary is.
const EnvAgentd = "WEAVE_AGENTD"

// startDaemon starts `weave-agentd run` detached, unless a daemon (or a
// hook starting one) holds agentd.lock. The lock taken here is handed to
// the daemon as fd 3 and held by it for its whole life, so two hooks
// racing here start one daemon.
func startDaemon(p hookproto.Paths) error {
	lf, err := os.OpenFile(p.Lock, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("weave-hook: lock: %w", err)
	}
	defer lf.Close() // the child keeps its own copy of the locked description
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil // a daemon is running or being started
	}
	bin, err := findAgentd()
	if err != nil {
		return err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("weave-hook: %w", err)
	}
	defer devnull.Close()
	proc, err := os.StartProcess(bin, []string{bin, "run"}, &os.ProcAttr{
		Dir:   p.Home,
		Env:   append(os.Environ(), EnvLockFD+"=3", hookproto.EnvHome+"="+p.Home),
		Files: []*os.File{devnull, devnull, devnull, lf},
		// Own session: no controlling terminal, so no SIGHUP from it, and
		// not in Claude Code's process group. The daemon also ignores SIGHUP.
		Sys: &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return fmt.Errorf("weave-hook: start %s: %w", bin, err)
	}
	return proc.Release()
}

// findAgentd looks for weave-agentd: $WEAVE_AGENTD, then beside this
// binary, then on PATH.
func findAgentd() (string, error) {
	if b := os.Getenv(EnvAgentd); b != "" {
		return b, nil
	}
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		if b := filepath.Join(filepath.Dir(exe), "weave-agentd"); isExecutable(b) {
			return b, nil
		}
	}
	for _, dir := range strings.Split(os.Getenv("PATH"), string(os.PathListSeparator)) {
		if dir == "" {
			continue
		}
		if b := filepath.Join(dir, "weave-agentd"); isExecutable(b) {
			return b, nil
		}
	}
	return "", fmt.Errorf("weave-hook: weave-agentd not found beside %s or on PATH (set %s)", os.Args[0], EnvAgentd)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
