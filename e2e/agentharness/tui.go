package agentharness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"
)

// TUIStep is one line typed into an interactive CLI and submitted, and
// the text its screen shows once the line has been handled.
type TUIStep struct {
	Line string `json:"line"`
	Wait string `json:"wait"`
}

// TUI is an interactive run: the CLI in a detached tmux session of its own
// tmux server (nothing else's is touched), 160×50.
type TUI struct {
	// Ready is the text the screen shows once the CLI takes input.
	Ready string
	// Quit is the line that ends the CLI.
	Quit  string
	Steps []TUIStep
}

// tuiRuns numbers the runs of the process: each its own tmux server.
var tuiRuns atomic.Int64

// RunTUI runs name with args interactively in env's work directory with
// the environment base plus env.ExtraEnv, submits each step's line and
// waits for its text, then quits; the last screen is appended to
// res.Outputs.
func RunTUI(ctx context.Context, env Env, res *Result, base []string, u TUI, name string, args ...string) error {
	socket := fmt.Sprintf("weave-harness-%d-%d", os.Getpid(), tuiRuns.Add(1))
	tmux := func(a ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "tmux", append([]string{"-L", socket}, a...)...).CombinedOutput()
		return string(out), err
	}
	defer tmux("kill-server")
	start := []string{"new-session", "-d", "-s", "run", "-x", "160", "-y", "50", "-c", env.Work}
	for _, kv := range append(append(base, "PATH="+os.Getenv("PATH"), "LANG=C.UTF-8", "TERM=xterm-256color"), env.ExtraEnv...) {
		start = append(start, "-e", kv)
	}
	if out, err := tmux(append(append(start, "--", name), args...)...); err != nil {
		return fmt.Errorf("tmux: %v: %s", err, out)
	}
	screen := func() string {
		out, _ := tmux("capture-pane", "-p", "-t", "run")
		return out
	}
	wait := func(text string, d time.Duration) bool {
		for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if strings.Contains(screen(), text) {
				return true
			}
		}
		return false
	}
	submit := func(line string) {
		tmux("send-keys", "-t", "run", "-l", line)
		time.Sleep(500 * time.Millisecond)
		tmux("send-keys", "-t", "run", "Enter")
	}
	if !wait(u.Ready, time.Minute) {
		res.Outputs = append(res.Outputs, screen())
		return fmt.Errorf("%s did not become ready (%q):\n%s", name, u.Ready, screen())
	}
	for _, st := range u.Steps {
		submit(st.Line)
		if !wait(st.Wait, 3*time.Second) {
			// A slash command's first Enter may only pick it in the
			// completion popup.
			tmux("send-keys", "-t", "run", "Enter")
			if !wait(st.Wait, 90*time.Second) {
				res.Outputs = append(res.Outputs, screen())
				return fmt.Errorf("%q: the screen never showed %q:\n%s", st.Line, st.Wait, screen())
			}
		}
	}
	last := screen()
	res.Outputs = append(res.Outputs, last)
	submit(u.Quit)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if _, err := tmux("has-session", "-t", "run"); err != nil {
			return nil // the CLI exited, and its session with it
		}
		tmux("send-keys", "-t", "run", "Enter") // past a completion popup
	}
	return fmt.Errorf("%s did not exit after %q:\n%s", name, u.Quit, screen())
}
