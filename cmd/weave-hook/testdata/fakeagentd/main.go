// Command fakeagentd stands in for weave-agentd in weave-hook's tests: it
// records how it was started (one JSON line appended to $FAKE_AGENTD_LOG)
// and then holds the inherited lock until it is killed; `fakeagentd
// service ...` prints its arguments and exits.
package main

import (
	"encoding/json"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "service" {
		// `weave-hook install --service` runs `weave-agentd service ...`:
		// say what was asked, on stdout and stderr, and exit.
		os.Stdout.WriteString("fake service: " + strings.Join(os.Args[2:], " ") + "\n")
		os.Stderr.WriteString("fake service stderr\n")
		os.Exit(0)
	}
	rec := map[string]any{"pid": os.Getpid(), "args": os.Args[1:], "lock_fd_env": os.Getenv("WEAVE_AGENTD_LOCK_FD")}
	sid, _, _ := syscall.RawSyscall(syscall.SYS_GETSID, 0, 0, 0)
	rec["own_session"] = int(sid) == os.Getpid()
	// fd 3 is the lock the hook took: re-locking our own description succeeds,
	// a fresh open of the same file must not get it.
	rec["holds_lock"] = syscall.Flock(3, syscall.LOCK_EX|syscall.LOCK_NB) == nil
	if f, err := os.OpenFile(os.Getenv("WEAVE_HOME")+"/agentd.lock", os.O_RDWR, 0); err == nil {
		rec["others_locked_out"] = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil
		f.Close()
	}
	var st syscall.Stat_t
	if syscall.Fstat(1, &st) == nil {
		var dn syscall.Stat_t
		_ = syscall.Stat(os.DevNull, &dn)
		rec["stdout_devnull"] = st.Rdev == dn.Rdev && st.Ino == dn.Ino
	}
	b, _ := json.Marshal(rec)
	if f, err := os.OpenFile(os.Getenv("FAKE_AGENTD_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600); err == nil {
		f.Write(append(b, '\n'))
		f.Close()
	}
	// Hold the lock until killed.
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
}
