//go:build unix

package hookproto

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// EnvLockFD tells weave-agentd that fd 3 is agentd.lock, already locked for
// it by whoever started it (so nobody starts a second daemon in between).
const EnvLockFD = "WEAVE_AGENTD_LOCK_FD"

// EnvAgentd overrides where the weave-agentd binary is.
const EnvAgentd = "WEAVE_AGENTD"

// ErrLocked is returned by StartDaemon when agentd.lock is held: a daemon
// is running or being started.
var ErrLocked = errors.New("hookproto: a daemon holds the lock")

// StartDaemon starts `bin run` detached, unless agentd.lock is held. The
// lock taken here is handed to the daemon as fd 3 (EnvLockFD) and held by
// it for its whole life, so callers racing here start one daemon. The
// daemon gets its own session (no controlling terminal: no SIGHUP from
// one), /dev/null for stdin, stdout and stderr (it logs to its log file),
// Home as its working directory and the caller's environment.
func StartDaemon(p Paths, bin string) error {
	if err := p.MakeHome(); err != nil {
		return fmt.Errorf("hookproto: start daemon: %w", err)
	}
	lf, err := OpenOwn(p.Lock, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return fmt.Errorf("hookproto: start daemon: %w", err)
	}
	defer lf.Close() // the child keeps its own copy of the locked description
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return ErrLocked
		}
		return fmt.Errorf("hookproto: start daemon: lock: %w", err)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("hookproto: start daemon: %w", err)
	}
	defer devnull.Close()
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, EnvLockFD+"=") && !strings.HasPrefix(kv, EnvHome+"=") {
			env = append(env, kv)
		}
	}
	env = append(env, EnvLockFD+"=3", EnvHome+"="+p.Home)
	proc, err := os.StartProcess(bin, []string{bin, "run"}, &os.ProcAttr{
		Dir:   p.Home,
		Env:   env,
		Files: []*os.File{devnull, devnull, devnull, lf},
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
	if err != nil {
		return fmt.Errorf("hookproto: start %s: %w", bin, err)
	}
	return proc.Release()
}

// FindAgentd looks for the weave-agentd binary: $WEAVE_AGENTD, then beside
// the running executable, then on PATH.
func FindAgentd() (string, error) {
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
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			continue
		}
		if b := filepath.Join(dir, "weave-agentd"); isExecutable(b) {
			return b, nil
		}
	}
	return "", fmt.Errorf("hookproto: weave-agentd not found beside %s or on PATH (set %s)", os.Args[0], EnvAgentd)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
