package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// TUI is the interactive CLI running in a detached tmux session (its own
// tmux server, so nothing else's is touched). Every distinct screen is
// appended to out/run-N.screens.txt.
type TUI struct {
	s       *Session
	n       int
	socket  string
	screens *os.File
	last    string
}

// TUI starts the interactive CLI (no -p) with args in a 160×50 terminal.
func (s *Session) TUI(args ...string) *TUI {
	s.runs++
	u := &TUI{s: s, n: s.runs, socket: fmt.Sprintf("weave-e2e-%d-%d", os.Getpid(), s.runs)}
	if s.err != nil {
		return u
	}
	if _, err := exec.LookPath("tmux"); err != nil {
		s.Failf("harness: the interactive scenarios need tmux (apt-get install tmux)")
		return u
	}
	if s.mock == nil {
		s.Failf("harness: TUI run %d without a mock (call Serve first)", u.n)
		return u
	}
	base := filepath.Join(s.Out, fmt.Sprintf("run-%d", u.n))
	f, err := os.Create(base + ".screens.txt")
	if s.Fail(err) != nil {
		return u
	}
	u.screens = f
	cmdline := shellJoin(append([]string{s.cfg.Claude}, args...))
	os.WriteFile(base+".cmd.txt", []byte(cmdline+" (interactive, tmux)\n"), 0o644)
	s.logf("run %d (tmux): %s", u.n, cmdline)
	shell := "cd " + shellQuote(s.Work) + " && exec env -i " + shellJoin(s.env("xterm-256color")) + " " + cmdline
	out, err := u.tmux("new-session", "-d", "-s", "cc", "-x", "160", "-y", "50", shell)
	if err != nil {
		s.Failf("harness: tmux new-session: %v\n%s", err, out)
	}
	return u
}

func (u *TUI) tmux(args ...string) ([]byte, error) {
	return exec.Command("tmux", append([]string{"-L", u.socket}, args...)...).CombinedOutput()
}

// Screen is what the terminal shows now.
func (u *TUI) Screen() string {
	out, _ := u.tmux("capture-pane", "-p", "-t", "cc")
	scr := string(out)
	if scr != u.last && u.screens != nil {
		fmt.Fprintf(u.screens, "\n===== %s =====\n%s\n", time.Now().UTC().Format("15:04:05.000"), scr)
		u.last = scr
	}
	return scr
}

// WaitFor waits until the screen matches pattern.
func (u *TUI) WaitFor(pattern string, timeout time.Duration) *TUI {
	if u.s.err != nil {
		return u
	}
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(timeout)
	for {
		scr := u.Screen()
		if re.MatchString(scr) {
			return u
		}
		if time.Now().After(deadline) {
			u.s.Failf("harness: run %d: the screen did not show /%s/ within %v; it shows:\n%s", u.n, pattern, timeout, scr)
			return u
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Type types text (literally, no key names).
func (u *TUI) Type(text string) *TUI {
	if u.s.err == nil {
		if out, err := u.tmux("send-keys", "-t", "cc", "-l", text); err != nil {
			u.s.Failf("harness: tmux send-keys: %v %s", err, out)
		}
	}
	return u
}

// Press sends keys by name (Enter, Escape, C-c, …).
func (u *TUI) Press(keys ...string) *TUI {
	if u.s.err == nil {
		if out, err := u.tmux(append([]string{"send-keys", "-t", "cc"}, keys...)...); err != nil {
			u.s.Failf("harness: tmux send-keys: %v %s", err, out)
		}
	}
	return u
}

// Submit types a line and presses Enter (after a pause: the TUI treats
// text and Enter arriving together as a paste).
func (u *TUI) Submit(line string) *TUI {
	u.Type(line)
	time.Sleep(300 * time.Millisecond)
	return u.Press("Enter")
}

// Pause waits d (a dialog left open, a command left running).
func (u *TUI) Pause(d time.Duration) *TUI {
	if u.s.err == nil {
		time.Sleep(d)
	}
	return u
}

// WaitExit waits until the CLI has exited (its tmux session is gone),
// then stops the tmux server. On timeout the CLI is killed and the
// session fails.
func (u *TUI) WaitExit(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for u.s.err == nil {
		if _, err := u.tmux("has-session", "-t", "cc"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			u.s.Failf("harness: run %d: the CLI did not exit within %v; last screen:\n%s", u.n, timeout, u.Screen())
			break
		}
		u.Screen()
		time.Sleep(200 * time.Millisecond)
	}
	u.Close()
}

// Close stops the tmux server (and with it the CLI, if still running).
func (u *TUI) Close() {
	if u.screens != nil {
		os.WriteFile(strings.TrimSuffix(u.screens.Name(), ".screens.txt")+".final-screen.txt", []byte(u.last), 0o644)
		u.screens.Close()
		u.screens = nil
	}
	u.tmux("kill-server")
}
