package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/goleak"

	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/daemontest"
	"github.com/weavetrace/weave/daemon/frame"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/journal"
)

// The real binaries, side by side (the hook finds the daemon beside it).
var hookBin, agentdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "weave-agentd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hookBin, agentdBin = filepath.Join(dir, "weave-hook"), filepath.Join(dir, "weave-agentd")
	for out, pkg := range map[string]string{hookBin: "../weave-hook", agentdBin: "."} {
		if b, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, b)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

const hangGuard = 30 * time.Second

type env struct {
	t    *testing.T
	home string
	p    hookproto.Paths
	vars []string
}

func newEnv(t *testing.T) *env {
	home := daemontest.ShortDir(t)
	e := &env{t: t, home: home, p: hookproto.NewPaths(home), vars: []string{
		"PATH=/usr/bin:/bin", "HOME=" + t.TempDir(), hookproto.EnvHome + "=" + home,
		"WEAVE_ENDPOINT=http://127.0.0.1:9", // nothing listens: spans (if any) spool
		"WEAVE_IDLE_TIMEOUT=0",
	}}
	t.Cleanup(func() { e.killDaemons() })
	return e
}

func (e *env) run(bin string, stdin []byte, args ...string) (string, string, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = e.vars
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run %s: %v", bin, err)
	}
	return out.String(), errb.String(), code
}

func payload(session, event string) []byte {
	return []byte(fmt.Sprintf(`{"session_id":%q,"transcript_path":"/nonexistent/%s.jsonl","cwd":"/w","hook_event_name":%q}`, session, session, event))
}

// hook runs weave-hook as Claude Code does and checks it stayed silent.
func (e *env) hook(session, event string) {
	e.t.Helper()
	out, errs, code := e.run(hookBin, payload(session, event))
	if out != "" || errs != "" || code != 0 {
		e.t.Fatalf("weave-hook: stdout %q stderr %q exit %d, want nothing and 0", out, errs, code)
	}
}

// waitSocket returns once a daemon answers on the socket: it waits for the
// socket file to be created (fsnotify), then for the status answer.
func (e *env) waitDaemon() daemon.Status {
	e.t.Helper()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		e.t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(e.home); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.After(hangGuard)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		st, err := daemon.FetchStatusAfterReplay(ctx, e.p)
		cancel()
		if err == nil {
			return st
		}
		select {
		case <-w.Events: // something changed under WEAVE_HOME: look again
		case <-deadline:
			e.t.Fatalf("no daemon answered within %v: %v\nlog:\n%s", hangGuard, err, e.log())
		}
	}
}

func (e *env) log() string {
	b, _ := os.ReadFile(e.p.AgentdLog)
	return string(b)
}

// waitDead blocks until the daemon holding agentd.lock is gone (the
// kernel releases the lock when the process dies).
func (e *env) waitDead() {
	e.t.Helper()
	f, err := os.OpenFile(e.p.Lock, os.O_RDWR, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	done := make(chan error, 1)
	go func() { done <- syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }()
	select {
	case err := <-done:
		if err != nil {
			e.t.Fatal(err)
		}
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	case <-time.After(hangGuard):
		e.t.Fatalf("daemon still holds the lock after %v", hangGuard)
	}
}

func (e *env) daemonPIDs() []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink("/proc/" + d.Name() + "/exe")
		if err != nil || exe != agentdBin {
			continue
		}
		if env, err := os.ReadFile("/proc/" + d.Name() + "/environ"); err == nil && bytes.Contains(env, []byte(hookproto.EnvHome+"="+e.home+"\x00")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitDaemonPIDs returns once the daemons running are exactly want. A
// daemon releases agentd.lock (which `stop` and a successor wait for) a
// moment before its process exits: on a loaded machine it is still in
// /proc when the successor answers or `stop` returns.
func (e *env) waitDaemonPIDs(want ...int) {
	e.t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		pids := e.daemonPIDs()
		if slices.Equal(pids, want) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("daemons running: %v %v after the lock was released, want %v", pids, hangGuard, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) killDaemons() {
	for _, pid := range e.daemonPIDs() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// The first hook finds no daemon, keeps its event and starts one; hooks
// racing it start no second one; the daemon drains the inbox.
func TestHookStartsDaemon(t *testing.T) {
	e := newEnv(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); e.hook("s1", fmt.Sprintf("Event%d", i)) }()
	}
	wg.Wait()
	st := e.waitDaemon()
	if pids := e.daemonPIDs(); len(pids) != 1 || pids[0] != st.PID {
		t.Fatalf("daemons running: %v, want exactly the one answering (pid %d)", pids, st.PID)
	}
	if st.Journal.FromInbox+st.EventsReceived != 4 {
		t.Errorf("events: %d from the inbox + %d received, want 4 in all", st.Journal.FromInbox, st.EventsReceived)
	}
	// Its session: no controlling terminal, its own session id.
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", st.PID))
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	if len(fields) > 4 && (fields[3] != strconv.Itoa(st.PID) || fields[4] != "0") { // session, tty_nr
		t.Errorf("daemon session %s tty %s, want its own session (%d) and no tty", fields[3], fields[4], st.PID)
	}
	out, _, code := e.run(agentdBin, nil, "stop")
	if code != 0 || !strings.Contains(out, "stopped") {
		t.Errorf("stop: exit %d output %q", code, out)
	}
	e.waitDaemonPIDs() // none after stop
}

// SIGKILL mid-session: the next hook restarts the daemon, which replays the
// journal (nothing lost) and drains the event that found the dead socket.
func TestSIGKILLRecovery(t *testing.T) {
	e := newEnv(t)
	e.hook("s1", "SessionStart")
	e.waitDaemon()
	for _, ev := range []string{"UserPromptSubmit", "PreToolUse", "PostToolUse"} {
		e.hook("s1", ev)
	}
	st := e.waitDaemon()
	if st.Journal.EventsJournaled != 4 {
		t.Fatalf("before the kill: %d journaled, want 4", st.Journal.EventsJournaled)
	}
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	e.waitDead()
	if _, err := os.Stat(e.p.Socket); err != nil {
		t.Fatalf("a SIGKILLed daemon leaves its socket file; got %v", err)
	}
	e.hook("s1", "Stop") // stale socket: inbox + restart
	st2 := e.waitDaemon()
	if st2.PID == st.PID {
		t.Fatalf("same pid %d after SIGKILL", st.PID)
	}
	if st2.Core.Replayed != 5 || st2.Journal.FromInbox != 1 || st2.LiveSessions != 1 {
		t.Errorf("after restart: replayed %d (from inbox %d), live sessions %d, want 5 (4 journaled + 1), 1, 1\nlog:\n%s",
			st2.Core.Replayed, st2.Journal.FromInbox, st2.LiveSessions, e.log())
	}
	if !strings.Contains(e.log(), "replayed the journal") {
		t.Errorf("log lacks the replay line")
	}
}

func TestStatusCommand(t *testing.T) {
	e := newEnv(t)
	out, _, code := e.run(agentdBin, nil, "status")
	if code != 3 || !strings.Contains(out, "not running") {
		t.Errorf("status with no daemon: exit %d output %q, want 3 and 'not running'", code, out)
	}
	e.hook("s1", "SessionStart")
	e.waitDaemon()
	out, _, code = e.run(agentdBin, nil, "status")
	for _, want := range []string{"weave-agentd", "pid", "http://127.0.0.1:9/agents/otel/v1/traces", "sessions    1 live", "last error  none"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("status exit %d, want 0", code)
	}
	out, _, code = e.run(agentdBin, nil, "status", "--json")
	if code != 0 || !strings.Contains(out, `"live_sessions": 1`) {
		t.Errorf("status --json: exit %d output %s", code, out)
	}
	e.run(agentdBin, nil, "stop")
	out, _, code = e.run(agentdBin, nil, "stop")
	if code != 0 || !strings.Contains(out, "not running") {
		t.Errorf("stop when stopped: exit %d output %q", code, out)
	}
}

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{nil, 2, "usage"},
		{[]string{"bogus"}, 2, "unknown command"},
		{[]string{"help"}, 0, "import"},
		{[]string{"version"}, 0, "weave-agentd " + version},
	} {
		var out, errb bytes.Buffer
		code := dispatch(tc.args, &out, &errb)
		if code != tc.wantCode || !strings.Contains(out.String()+errb.String(), tc.wantOut) {
			t.Errorf("dispatch(%q): exit %d output %q, want %d and %q", tc.args, code, out.String()+errb.String(), tc.wantCode, tc.wantOut)
		}
	}
}

func TestBadConfigFailsFast(t *testing.T) {
	for _, tc := range []struct {
		name, env, file, want string
	}{
		{"bad endpoint", "WEAVE_ENDPOINT=ftp://nope", "", "endpoint"},
		{"bad redact pattern", "", `{"redact": {"patterns": [{"name": "acme", "regex": "acme_[A-Z"}]}}`, "redact.patterns[0] (acme)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.env != "" {
				e.vars = append(e.vars, tc.env)
			}
			if tc.file != "" {
				if err := os.WriteFile(e.p.Config, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, errs, code := e.run(agentdBin, nil, "run")
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Errorf("run: exit %d stderr %q, want 1 and a message naming %s", code, errs, tc.want)
			}
			if _, err := os.Stat(e.p.Socket); err == nil {
				t.Errorf("socket created despite the bad config")
			}
			// Started by a hook, stderr goes nowhere: status shows the reason.
			out, _, code := e.run(agentdBin, nil, "status")
			if code != 3 || !strings.Contains(out, "cannot start") || !strings.Contains(out, tc.want) {
				t.Errorf("status after a failed start: exit %d output %q, want the reason from the log", code, out)
			}
			// import reads the same file and refuses it the same way.
			_, errs, code = e.run(agentdBin, nil, "import", "--dry-run", t.TempDir())
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Errorf("import: exit %d stderr %q, want 1 and a message naming %s", code, errs, tc.want)
			}
		})
	}
}

// TestImportAppliesRedactConfig: import redacts with config.json's rules,
// as the daemon does; --no-redact turns redaction off.
func TestImportAppliesRedactConfig(t *testing.T) {
	e := newEnv(t)
	cfg := `{"redact": {"patterns": [{"name": "acme_token", "regex": "acme_[A-Za-z0-9]{24}"}]}}`
	if err := os.WriteFile(e.p.Config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	const acme = "acme_0123456789abcdefABCDEFGH"
	dir := t.TempDir()
	line := `{"type":"user","uuid":"u1","sessionId":"s","promptId":"p","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"token ` + acme + ` and DB_PASSWORD=Xk9mP2vLq7wR"}}` + "\n"
	transcript := filepath.Join(dir, "s.jsonl")
	if err := os.WriteFile(transcript, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errs, code := e.run(agentdBin, nil, "import", "--dry-run", "--json", transcript)
	if code != 0 {
		t.Fatalf("import: exit %d: %s", code, errs)
	}
	if strings.Contains(out, acme) || strings.Contains(out, "Xk9mP2vLq7wR") || !strings.Contains(out, "[REDACTED:acme_token]") {
		t.Errorf("import output %s: want the acme token and the password masked", out)
	}
	out, _, _ = e.run(agentdBin, nil, "import", "--dry-run", "--json", "--no-redact", transcript)
	if !strings.Contains(out, acme) {
		t.Errorf("import --no-redact: the token was masked")
	}
}

// A hung daemon (SIGSTOP): the hook returns within its deadline, exit 0,
// and keeps the event; once the daemon runs again the event ends up in the
// journal exactly once, whether the late socket copy or the inbox copy
// gets there first.
func TestHungDaemon(t *testing.T) {
	e := newEnv(t)
	e.hook("s1", "SessionStart")
	st := e.waitDaemon()
	if err := syscall.Kill(st.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// kill(2) only queues the stop: the daemon's threads keep running (and
	// may answer a hook) until each has taken it.
	waitStopped(t, st.PID)
	e.vars = append(e.vars, "WEAVE_HOOK_DEBUG=1") // hook.log says what the hook did
	start := time.Now()
	e.hook("s1", "UserPromptSubmit")
	elapsed := time.Since(start)
	t.Logf("hook against a stopped daemon returned after %v (deadline %v)", elapsed, hookproto.HookDeadline)
	// A hang guard, not a speed check: measured from outside the hook
	// (exec and the Go runtime's start included), which a loaded machine
	// stretches; a hook waiting on the hung daemon runs to e.run's 30 s.
	if elapsed > 10*time.Second {
		t.Errorf("hook took %v against a hung daemon", elapsed)
	}
	var kept []hookproto.EventID
	f, err := os.Open(e.p.Inbox)
	if err != nil {
		hl, _ := os.ReadFile(e.p.HookLog)
		t.Fatalf("inbox: %v (the event was not kept)\nhook.log:\n%s", err, hl)
	}
	fi, _ := f.Stat()
	frame.Read(f, fi.Size(), hookproto.MagicInbox, 32<<20, func(_ int64, p []byte) error {
		var env hookproto.Envelope
		if env.UnmarshalBinary(p) == nil {
			kept = append(kept, env.ID)
		}
		return nil
	})
	f.Close()
	if len(kept) != 1 {
		t.Fatalf("inbox holds %d events, want 1", len(kept))
	}
	syscall.Kill(st.PID, syscall.SIGCONT)
	if out, _, code := e.run(agentdBin, nil, "stop"); code != 0 {
		t.Fatalf("stop: %d %s", code, out)
	}
	e.hook("s1", "Stop") // starts the next daemon, which drains the inbox
	e.waitDaemon()
	if out, _, code := e.run(agentdBin, nil, "stop"); code != 0 {
		t.Fatalf("stop: %d %s", code, out)
	}
	j, _, err := journal.Open(e.p.Journal, daemon.JournalSettings(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	n := 0
	j.Replay(func(r *journal.Record) error {
		var env hookproto.Envelope
		if r.Kind == journal.KindEvent && env.UnmarshalBinary(r.Event) == nil && env.ID == kept[0] {
			n++
		}
		return nil
	})
	if n != 1 {
		t.Errorf("the event is in the journal %d times, want exactly 1", n)
	}
}

// waitStopped returns once every thread of pid is stopped (state T in
// /proc/pid/task/*/stat). SIGSTOP is asynchronous: kill(2) returns once the
// signal is queued, one thread takes it and then stops the others, and
// until they have, they run on; on a loaded machine that is milliseconds
// in which a "stopped" daemon still accepts, journals and answers.
// Nothing notifies a process that is not the parent, so this polls.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		running, err := runningThreads(pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(running) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: threads %v still not stopped %v after SIGSTOP", pid, running, hangGuard)
		}
		time.Sleep(time.Millisecond)
	}
}

// runningThreads lists the threads of pid not in the stopped state, as
// "tid:state".
func runningThreads(pid int) ([]string, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var running []string
	for _, d := range ents {
		b, err := os.ReadFile(filepath.Join(dir, d.Name(), "stat"))
		if errors.Is(err, os.ErrNotExist) {
			continue // the thread exited
		}
		if err != nil {
			return nil, err
		}
		// "tid (comm) S ...": comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return nil, fmt.Errorf("%s/%s/stat: unexpected %q", dir, d.Name(), b)
		}
		if state := b[i+2]; state != 'T' {
			running = append(running, d.Name()+":"+string(state))
		}
	}
	return running, nil
}

// `run --keep-alive` (what the user service runs) takes over from a
// daemon a hook started, never idle-exits, and stops cleanly on SIGTERM.
func TestKeepAliveTakesOver(t *testing.T) {
	e := newEnv(t)
	e.vars = append(e.vars, "WEAVE_IDLE_TIMEOUT=1s") // later wins: a hook's daemon would idle out
	e.hook("s1", "SessionStart")
	first := e.waitDaemon()
	cmd := exec.Command(agentdBin, "run", "--keep-alive")
	cmd.Env = e.vars
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}()
	// The first daemon is asked to stop; the kept-alive one gets the lock.
	deadline := time.Now().Add(hangGuard)
	var st daemon.Status
	for {
		st = e.waitDaemon()
		if st.PID == cmd.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the kept-alive daemon did not take over from pid %d\nlog:\n%s", first.PID, e.log())
		}
		time.Sleep(50 * time.Millisecond) // the handover takes a second; no event marks it
	}
	if st.IdleExitAfter != "0s" {
		t.Errorf("kept-alive daemon: idle exit after %s, want never (0s)", st.IdleExitAfter)
	}
	// Only the kept-alive one runs; hooks reach it.
	e.waitDaemonPIDs(cmd.Process.Pid)
	e.hook("s1", "Stop")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("SIGTERM: exit %v, want 0 (a clean stop is not restarted by the service)", err)
		}
		exited <- nil
	case <-time.After(hangGuard):
		t.Fatal("no exit after SIGTERM")
	}
}

// `service install --no-enable` writes the unit for this binary and home
// (and no secret), `print` shows it, `uninstall` removes it.
func TestServiceCommand(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("the systemd unit is written on Linux; the launchd agent is covered by daemon/service's tests")
	}
	e := newEnv(t)
	cfg := t.TempDir()
	e.vars = append(e.vars, "XDG_CONFIG_HOME="+cfg, "WANDB_API_KEY=secret-key", "CLAUDE_CONFIG_DIR=/home/u/.claude-work")
	unit := filepath.Join(cfg, "systemd", "user", "weave-agentd.service")
	out, errs, code := e.run(agentdBin, nil, "service", "print")
	if code != 0 || !strings.HasPrefix(out, "# "+unit+"\n") {
		t.Fatalf("service print: exit %d, %q %q", code, out, errs)
	}
	out, errs, code = e.run(agentdBin, nil, "service", "install", "--no-enable")
	if code != 0 || !strings.Contains(out, "systemctl --user enable weave-agentd.service") {
		t.Fatalf("service install --no-enable: exit %d, %q %q", code, out, errs)
	}
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=" + agentdBin + " run --keep-alive", "Environment=WEAVE_HOME=" + e.home,
		"Environment=CLAUDE_CONFIG_DIR=/home/u/.claude-work", "Restart=on-failure"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("unit lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(string(b), "secret-key") {
		t.Errorf("the unit carries the API key:\n%s", b)
	}
	// No user manager here: uninstall fails to disable but removes the file.
	e.run(agentdBin, nil, "service", "uninstall")
	if _, err := os.Stat(unit); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unit after uninstall: %v", err)
	}
	out, _, code = e.run(agentdBin, nil, "service", "uninstall", "--if-installed")
	if code != 0 || out != "" {
		t.Errorf("uninstall --if-installed with none: exit %d %q, want 0 and nothing", code, out)
	}
}
