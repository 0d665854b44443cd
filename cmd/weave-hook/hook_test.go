package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/daemontest"
	"github.com/weavetrace/weave/daemon/hookproto"
)

// hangGuard bounds a hook run in tests. It is not a speed check (make
// bench-hook measures speed): it only turns a hang into a failure. It is
// measured from outside the process (exec and the Go runtime's start
// included), which a loaded machine can stretch well past the hook's own
// deadlines: those are checked from the hook's debug line.
const hangGuard = 10 * time.Second

type hookRun struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

func (r hookRun) checkSilent(t *testing.T) {
	t.Helper()
	if r.code != 0 {
		t.Errorf("exit code: got %d, want 0", r.code)
	}
	if r.stdout != "" {
		t.Errorf("stdout: got %q, want nothing, ever", r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("stderr: got %q, want nothing without WEAVE_HOOK_DEBUG", r.stderr)
	}
	if r.elapsed > hangGuard {
		t.Errorf("hook ran %v; its deadline is %v (hang guard %v)", r.elapsed, hookproto.HookDeadline, hangGuard)
	}
}

// runHookBin runs the built hook with a clean environment: WEAVE_HOME=home,
// an empty PATH directory (so no real weave-agentd is found) and extra.
// Its stdin is a file holding stdin, not a pipe the test feeds: through a
// pipe, 16 MiB is 256 hand-overs between the loaded test process and the
// hook, which took seconds of the hook's 2 s ceiling at a load of 30.
func runHookBin(t *testing.T, home string, stdin []byte, extra ...string) hookRun {
	t.Helper()
	in, err := os.CreateTemp(t.TempDir(), "stdin")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if _, err := in.Write(stdin); err != nil {
		t.Fatal(err)
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hookBin)
	cmd.Env = append([]string{"PATH=" + t.TempDir(), "HOME=" + t.TempDir(), hookproto.EnvHome + "=" + home}, extra...)
	cmd.Stdin = in
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	r := hookRun{stdout: out.String(), stderr: errb.String(), elapsed: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run hook: %v", err)
	}
	return r
}

// realPayload returns a captured Claude Code payload of the given event,
// with transcript_path pointed at transcript.
func realPayload(t *testing.T, event, transcript string) []byte {
	t.Helper()
	f, err := os.Open("../../daemon/hookproto/testdata/payloads.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c struct {
			Payload map[string]any `json:"payload"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		if c.Payload["hook_event_name"] == event {
			if transcript != "" {
				c.Payload["transcript_path"] = transcript
			}
			b, _ := json.Marshal(c.Payload)
			return b
		}
	}
	t.Fatalf("no captured %s payload", event)
	return nil
}

type received struct {
	hdr  http.Header
	body []byte // kept only up to 1 MiB
	size int64
	err  error
}

// fakeDaemon serves PathHook on home's socket, answering status, and
// records what it got.
type fakeDaemon struct {
	mu   sync.Mutex
	got  []received
	srv  *http.Server
	done chan struct{}
}

func startFakeDaemon(t *testing.T, home string, status int) *fakeDaemon {
	t.Helper()
	p := hookproto.NewPaths(home)
	if err := p.EnsureHome(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("unix", p.Socket)
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDaemon{done: make(chan struct{})}
	d.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		n, err := io.Copy(&limitedBuffer{&buf, 1 << 20}, r.Body)
		d.mu.Lock()
		d.got = append(d.got, received{r.Header.Clone(), buf.Bytes(), n, err})
		d.mu.Unlock()
		w.WriteHeader(status)
	})}
	go func() { defer close(d.done); _ = d.srv.Serve(ln) }()
	t.Cleanup(func() { d.srv.Close(); <-d.done })
	return d
}

// limitedBuffer keeps the first max bytes and counts the rest.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (d *fakeDaemon) requests() []received {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]received(nil), d.got...)
}

func inbox(t *testing.T, home string) []hookproto.Envelope {
	t.Helper()
	var got []hookproto.Envelope
	_, err := hookproto.DrainInbox(hookproto.NewPaths(home), func(e hookproto.Envelope) error {
		got = append(got, e)
		return nil
	}, func() error { return nil })
	if err != nil {
		t.Fatalf("DrainInbox: %v", err)
	}
	return got
}

// hookTries bounds runHookTried's tries. At a load average of 30 on two
// cores, the 16 MiB event of TestHookOversizedPayload was cut off on one
// run in two.
const hookTries = 10

// Outcomes of a hook run (its WEAVE_HOOK_DEBUG line) that only a loaded
// machine explains: the test's daemon did not answer within the hook's
// network deadline (250 ms from its start; the hook then keeps the event
// in the inbox), or the hook was still keeping the event at InboxCeiling
// (2 s; it gives up then, the event lost, as designed).
func lateAnswer(log string) bool { return strings.Contains(log, `why="no answer"`) }
func cutOff(log string) bool {
	return strings.Contains(log, "outcome="+string(abandoned)) || // the watchdog
		strings.Contains(log, "inbox append: "+os.ErrDeadlineExceeded.Error()) // AppendInbox gave up
}

// runHookTried runs the hook with payload(home) in a new home, prepared by
// setup, until its debug line is not one retry accepts, and returns the
// last home and run. A run that missed a deadline is still checked (exit
// 0, silent; an event without an answer is in the inbox unless cut
// off). A hook that misses on every try fails the test: a bug
// does, load is very unlikely to.
func runHookTried(t *testing.T, setup func(home string), payload func(home string) []byte, retry func(log string) bool, extra ...string) (string, hookRun) {
	t.Helper()
	for try := 1; ; try++ {
		home := daemontest.ShortDir(t)
		setup(home)
		r := runHookBin(t, home, payload(home), append([]string{"WEAVE_HOOK_DEBUG=1"}, extra...)...)
		b, _ := os.ReadFile(hookproto.NewPaths(home).HookLog)
		log := string(b)
		if !retry(log) {
			return home, r
		}
		r.checkSilent(t)
		if !cutOff(log) {
			if n := len(inbox(t, home)); n != 1 {
				t.Fatalf("the hook had no answer in time and the inbox holds %d events, want it kept; hook.log: %s", n, log)
			}
		}
		if try == hookTries {
			t.Fatalf("the hook missed its deadline on all %d tries; last hook.log: %s", try, log)
		}
		t.Logf("try %d missed a deadline (a loaded machine): %s", try, log)
	}
}

// runHookAnswered runs the hook against a fake daemon answering status
// until it had the answer within its network deadline (runHookTried).
func runHookAnswered(t *testing.T, status int, payload func(home string) []byte) (string, *fakeDaemon, hookRun) {
	t.Helper()
	var d *fakeDaemon
	home, r := runHookTried(t, func(home string) { d = startFakeDaemon(t, home, status) }, payload,
		func(log string) bool { return lateAnswer(log) || cutOff(log) })
	return home, d, r
}

func TestHookDeliversToDaemon(t *testing.T) {
	transcript := filepath.Join(t.TempDir(), "s.jsonl")
	if err := os.WriteFile(transcript, bytes.Repeat([]byte("x"), 1234), 0o600); err != nil {
		t.Fatal(err)
	}
	payload := realPayload(t, "PreToolUse", transcript)
	before := time.Now()
	home, d, r := runHookAnswered(t, http.StatusOK, func(string) []byte { return payload })
	r.checkSilent(t)
	reqs := d.requests()
	if len(reqs) != 1 {
		t.Fatalf("daemon got %d requests, want 1", len(reqs))
	}
	got := reqs[0]
	if !bytes.Equal(got.body, payload) {
		t.Errorf("body: got %d bytes, want the %d stdin bytes unchanged", len(got.body), len(payload))
	}
	env, err := hookproto.FromHeaders(got.hdr.Get, got.body, time.Time{})
	if err != nil {
		t.Fatalf("headers: %v", err)
	}
	if env.Proto != hookproto.Version || env.ID.IsZero() || env.TranscriptSize != 1234 || env.Truncated() {
		t.Errorf("envelope: got proto %d id %v transcript size %d truncated %v, want %d, non-zero, 1234, false",
			env.Proto, env.ID, env.TranscriptSize, env.Truncated(), hookproto.Version)
	}
	if env.ReceivedAt.Before(before.Add(-time.Second)) || env.ReceivedAt.After(time.Now()) {
		t.Errorf("receipt time %v outside the run [%v, now]", env.ReceivedAt, before)
	}
	if n := len(inbox(t, home)); n != 0 {
		t.Errorf("inbox: got %d events, want 0 (delivered)", n)
	}
}

func TestHookTranscriptSizeUnknown(t *testing.T) {
	_, d, r := runHookAnswered(t, http.StatusOK, func(home string) []byte {
		return realPayload(t, "SessionStart", filepath.Join(home, "not-yet-written.jsonl"))
	})
	r.checkSilent(t)
	reqs := d.requests()
	if len(reqs) != 1 || reqs[0].hdr.Get(hookproto.HeaderTranscriptSize) != "-1" {
		t.Errorf("got %d requests, size header %q, want 1 with -1 (no transcript yet)", len(reqs), reqs[0].hdr.Get(hookproto.HeaderTranscriptSize))
	}
}

func TestHookDaemonAnswers(t *testing.T) {
	for _, tc := range []struct {
		status    int
		wantInbox bool
	}{
		{http.StatusOK, false},
		{http.StatusBadRequest, false}, // not a hook event: retrying cannot help
		{http.StatusUpgradeRequired, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusInternalServerError, true},
	} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			payload := realPayload(t, "Stop", "")
			home, d, r := runHookAnswered(t, tc.status, func(string) []byte { return payload })
			r.checkSilent(t)
			reqs := d.requests()
			if len(reqs) != 1 {
				t.Fatalf("daemon got %d requests, want 1", len(reqs))
			}
			kept := inbox(t, home)
			if got := len(kept) == 1; got != tc.wantInbox {
				t.Fatalf("inbox holds %d events, want kept=%v", len(kept), tc.wantInbox)
			}
			if tc.wantInbox && kept[0].ID.String() != reqs[0].hdr.Get(hookproto.HeaderEventID) {
				t.Errorf("inbox id %v, want the id sent to the daemon %s (so the daemon can de-duplicate)", kept[0].ID, reqs[0].hdr.Get(hookproto.HeaderEventID))
			}
		})
	}
}

func TestHookNoDaemonKeepsEvent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, p hookproto.Paths)
	}{
		{"no home yet", func(*testing.T, hookproto.Paths) {}},
		{"no socket", func(t *testing.T, p hookproto.Paths) { p.EnsureHome() }},
		{"socket path too long", nil},
		{"stale socket (daemon killed)", func(t *testing.T, p hookproto.Paths) {
			p.EnsureHome()
			ln, err := net.Listen("unix", p.Socket)
			if err != nil {
				t.Fatal(err)
			}
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
			ln.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := filepath.Join(daemontest.ShortDir(t), "w")
			if tc.setup == nil {
				home = filepath.Join(t.TempDir(), strings.Repeat("d", 100))
			}
			p := hookproto.NewPaths(home)
			if tc.setup != nil {
				tc.setup(t, p)
			}
			payload := realPayload(t, "UserPromptSubmit", "")
			runHookBin(t, home, payload, hookproto.EnvAgentd+"=/nonexistent/weave-agentd").checkSilent(t)
			kept := inbox(t, home)
			if len(kept) != 1 || !bytes.Equal(kept[0].Body, payload) || kept[0].ID.IsZero() {
				t.Fatalf("inbox: got %d events, want the one event unchanged", len(kept))
			}
		})
	}
}

// The daemon's socket accepts connections (kernel backlog, or accepted and
// never read) but nothing answers: the hook returns at its deadline, exit 0,
// and the event is in the inbox.
func TestHookHungDaemon(t *testing.T) {
	for _, tc := range []struct {
		name   string
		accept bool
		size   int
	}{
		{"never accepts", false, 0},
		{"accepts, never reads", true, 0},
		{"accepts, never reads, 4 MiB payload", true, 4 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hung := func(home string) {
				ln, err := net.Listen("unix", hookproto.NewPaths(home).Socket)
				if err != nil {
					t.Fatal(err)
				}
				var held []net.Conn
				done := make(chan struct{})
				go func() {
					defer close(done)
					for tc.accept {
						c, err := ln.Accept()
						if err != nil {
							return
						}
						held = append(held, c)
					}
				}()
				t.Cleanup(func() {
					ln.Close()
					<-done
					for _, c := range held {
						c.Close()
					}
				})
			}
			payload := realPayload(t, "PostToolUse", "")
			if tc.size > 0 {
				var m map[string]any
				json.Unmarshal(payload, &m)
				m["tool_response"] = strings.Repeat("r", tc.size)
				payload, _ = json.Marshal(m)
			}
			home, r := runHookTried(t, hung, func(string) []byte { return payload }, cutOff)
			r.checkSilent(t)
			t.Logf("hook returned after %v (deadline %v)", r.elapsed, hookproto.HookDeadline)
			kept := inbox(t, home)
			if len(kept) != 1 || !bytes.Equal(kept[0].Body, payload) {
				t.Fatalf("inbox: got %d events, want the event kept", len(kept))
			}
		})
	}
}

func TestHookOversizedPayload(t *testing.T) {
	big := []byte(`{"session_id":"s","transcript_path":"/t","hook_event_name":"PostToolUse","tool_input":{"content":"` +
		strings.Repeat("A", hookproto.MaxPayload) + `"}}`)
	bigPayload := func(string) []byte { return big }
	t.Run("daemon up", func(t *testing.T) {
		var d *fakeDaemon
		home, r := runHookTried(t, func(home string) { d = startFakeDaemon(t, home, http.StatusOK) }, bigPayload, cutOff)
		r.checkSilent(t)
		reqs := d.requests()
		if len(reqs) == 0 {
			// The payload was not even sent before the network deadline (a
			// loaded machine): then it must be in the inbox.
			if kept := inbox(t, home); len(kept) != 1 || len(kept[0].Body) != hookproto.MaxPayload || kept[0].OriginalSize != int64(len(big)) {
				t.Fatalf("no request reached the daemon and the inbox has %d events, want the cut event", len(kept))
			}
			return
		}
		if len(reqs) != 1 {
			t.Fatalf("got %d requests, want 1", len(reqs))
		}
		if reqs[0].hdr.Get(hookproto.HeaderOriginalSize) != strconv.Itoa(len(big)) {
			t.Errorf("original size header %q, want %d", reqs[0].hdr.Get(hookproto.HeaderOriginalSize), len(big))
		}
		if reqs[0].err == nil && reqs[0].size == hookproto.MaxPayload {
			return // delivered, cut at the cap
		}
		// 16 MiB did not fit in the deadline on a loaded machine: then it must be in the inbox.
		t.Logf("daemon got %d of %d bytes before the deadline (%v); checking the inbox", reqs[0].size, hookproto.MaxPayload, reqs[0].err)
		if kept := inbox(t, home); len(kept) != 1 || len(kept[0].Body) != hookproto.MaxPayload || kept[0].OriginalSize != int64(len(big)) {
			t.Errorf("inbox: got %d events, want the cut event", len(kept))
		}
	})
	t.Run("daemon down", func(t *testing.T) {
		home, r := runHookTried(t, func(string) {}, bigPayload, cutOff)
		r.checkSilent(t)
		kept := inbox(t, home)
		if len(kept) != 1 || len(kept[0].Body) != hookproto.MaxPayload || kept[0].OriginalSize != int64(len(big)) {
			t.Fatalf("inbox: got %d events, want one cut at MaxPayload marked with the original size", len(kept))
		}
		ev, err := hookproto.Decode(kept[0])
		if err != nil || ev.HookEventName != "PostToolUse" || !ev.Truncated {
			t.Errorf("Decode of the cut event: got %q truncated=%v err=%v, want PostToolUse, true, nil", ev.HookEventName, ev.Truncated, err)
		}
	})
}

// Whatever it is given, the hook exits 0 and prints nothing.
func TestHookNeverWritesStdout(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, nil, 0o600)
	for _, tc := range []struct {
		name  string
		home  string
		stdin []byte
		env   []string
	}{
		{"empty stdin", "", nil, nil},
		{"garbage", "", []byte("\x00\xff not json {{{"), nil},
		{"json array", "", []byte(`[1,2,3]`), nil},
		{"WEAVE_HOME is a file", file, []byte(`{"hook_event_name":"Stop"}`), nil},
		{"WEAVE_HOME unwritable", "/proc/weave-nope", []byte(`{"hook_event_name":"Stop"}`), nil},
		{"debug log unwritable", "/proc/weave-nope", []byte(`{"hook_event_name":"Stop"}`), []string{"WEAVE_HOOK_DEBUG=1"}},
		{"args from a confused config", "", []byte(`{"hook_event_name":"Stop"}`), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := tc.home
			if home == "" {
				home = daemontest.ShortDir(t)
			}
			runHookBin(t, home, tc.stdin, tc.env...).checkSilent(t)
		})
	}
}

func TestHookDebug(t *testing.T) {
	home := daemontest.ShortDir(t)
	payload := realPayload(t, "Notification", "")
	r := runHookBin(t, home, payload, "WEAVE_HOOK_DEBUG=stderr")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "event=Notification outcome=inbox") {
		t.Errorf("WEAVE_HOOK_DEBUG=stderr: got code %d stdout %q stderr %q, want 0, nothing, a line about the kept event", r.code, r.stdout, r.stderr)
	}
	r = runHookBin(t, home, payload, "WEAVE_HOOK_DEBUG=1")
	r.checkSilent(t)
	b, err := os.ReadFile(hookproto.NewPaths(home).HookLog)
	if err != nil || !strings.Contains(string(b), "event=Notification") || strings.Count(string(b), "\n") != 1 {
		t.Errorf("hook.log: got %q (%v), want one line about the event", b, err)
	}
}

// Several hooks find no daemon at once: exactly one starts it, detached,
// holding the start lock; every event is kept.
func TestHookStartsOneDaemon(t *testing.T) {
	home := daemontest.ShortDir(t)
	fifo := filepath.Join(t.TempDir(), "started")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	rd, err := os.OpenFile(fifo, os.O_RDWR, 0) // O_RDWR: never blocks, never EOF
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	t.Cleanup(func() { killByExe(t, fakeAgentd) })

	const hooks = 8
	var wg sync.WaitGroup
	runs := make([]hookRun, hooks)
	for i := range hooks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runs[i] = runHookBin(t, home, realPayload(t, "SessionStart", ""), hookproto.EnvAgentd+"="+fakeAgentd, "FAKE_AGENTD_LOG="+fifo)
		}()
	}
	wg.Wait()
	for _, r := range runs {
		r.checkSilent(t)
	}
	// Every hook has exited, so any daemon they started exists by now.
	if n := len(pidsByExe(t, fakeAgentd)); n != 1 {
		t.Fatalf("daemons running: got %d, want exactly 1", n)
	}
	rd.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := bufio.NewReader(rd).ReadBytes('\n')
	if err != nil {
		t.Fatalf("waiting for the daemon's start record: %v", err)
	}
	var rec struct {
		Args            []string `json:"args"`
		LockFD          string   `json:"lock_fd_env"`
		OwnSession      bool     `json:"own_session"`
		HoldsLock       bool     `json:"holds_lock"`
		OthersLockedOut bool     `json:"others_locked_out"`
		StdoutDevNull   bool     `json:"stdout_devnull"`
	}
	if err := json.Unmarshal(line, &rec); err != nil {
		t.Fatalf("start record %q: %v", line, err)
	}
	if strings.Join(rec.Args, " ") != "run" || rec.LockFD != "3" || !rec.OwnSession || !rec.HoldsLock || !rec.OthersLockedOut || !rec.StdoutDevNull {
		t.Errorf("daemon start: got %+v, want args [run], lock fd 3 held by it alone, own session, stdout /dev/null", rec)
	}
	if n := len(inbox(t, home)); n != hooks {
		t.Errorf("inbox: got %d events, want %d (every one kept for the daemon)", n, hooks)
	}
}

// An event the inbox cannot take (full, not writable) is lost, but the
// hook still starts the daemon, so the events after it are delivered, and
// counts the loss where the daemon's status reports it. It stays silent.
func TestHookStartsDaemonWhenInboxFails(t *testing.T) {
	for _, tc := range []struct {
		name             string
		spoil            func(t *testing.T, p hookproto.Paths)
		overflow, failed int64
	}{
		{"inbox full", func(t *testing.T, p hookproto.Paths) {
			f, err := os.OpenFile(p.Inbox, os.O_WRONLY|os.O_CREATE, 0o600)
			if err == nil {
				err = errors.Join(f.Truncate(hookproto.MaxInbox), f.Close()) // sparse: costs no disk
			}
			if err != nil {
				t.Fatal(err)
			}
		}, 1, 0},
		{"inbox not writable", func(t *testing.T, p hookproto.Paths) {
			if err := os.Mkdir(p.Inbox, 0o700); err != nil { // open(O_WRONLY) fails, even for root
				t.Fatal(err)
			}
		}, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() { killByExe(t, fakeAgentd) })
			spoilt := func(home string) {
				killByExe(t, fakeAgentd) // one a try cut off started
				if err := hookproto.NewPaths(home).EnsureHome(); err != nil {
					t.Fatal(err)
				}
				tc.spoil(t, hookproto.NewPaths(home))
			}
			payload := realPayload(t, "UserPromptSubmit", "")
			// The daemon is started after the event was given up on, so
			// within HookDeadline: a hook cut off first is tried again.
			home, r := runHookTried(t, spoilt, func(string) []byte { return payload }, cutOff,
				hookproto.EnvAgentd+"="+fakeAgentd, "FAKE_AGENTD_LOG="+filepath.Join(t.TempDir(), "started"))
			r.checkSilent(t)
			p := hookproto.NewPaths(home)
			// The hook has exited, so a daemon it started exists by now.
			if n := len(pidsByExe(t, fakeAgentd)); n != 1 {
				t.Errorf("daemons running: got %d, want 1", n)
			}
			os.Remove(p.Inbox) // not to drain half a GiB of zeros
			st, err := hookproto.DrainInbox(p, func(hookproto.Envelope) error { return nil }, func() error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if st.Overflow != tc.overflow || st.AppendFailed != tc.failed {
				t.Errorf("events counted lost: got %d (inbox full), %d (append failed), want %d, %d",
					st.Overflow, st.AppendFailed, tc.overflow, tc.failed)
			}
		})
	}
}

// pidsByExe lists processes running exe (Linux /proc).
func pidsByExe(t *testing.T, exe string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/exe"); err == nil && l == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killByExe kills the processes running exe and returns once they are
// gone: kill(2) only sends the signal, and a test counting daemons next
// (TestHookStartsDaemonWhenInboxFails after TestHookStartsOneDaemon, or its
// second case after its first) saw the dying one: "got 2, want 1".
func killByExe(t *testing.T, exe string) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		pids := pidsByExe(t, exe)
		if len(pids) == 0 {
			return
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: pids %v still running %v after SIGKILL", exe, pids, hangGuard)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		line string
		code int
		ok   bool
	}{
		{"HTTP/1.1 200 OK\r\n", 200, true},
		{"HTTP/1.0 503 Service Unavailable\r\n", 503, true},
		{"HTTP/1.1 200", 200, true}, // no reason phrase
		{"HTTP/1.1 2", 0, false},
		{"HTTP/2 200 OK\r\n", 0, false},
		{"SSH-2.0-OpenSSH\r\n", 0, false},
		{"HTTP/1.1 2x0 OK\r\n", 0, false},
		{"", 0, false},
	} {
		code, err := parseStatus([]byte(tc.line))
		if code != tc.code || (err == nil) != tc.ok {
			t.Errorf("parseStatus(%q)=%d,%v, want %d ok=%v", tc.line, code, err, tc.code, tc.ok)
		}
	}
}

// A peer that is not the daemon (closes at once, or talks garbage): the
// event is kept.
func TestHookOddPeers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		serve func(c net.Conn)
	}{
		{"closes without answering", func(c net.Conn) { c.Close() }},
		{"answers garbage", func(c net.Conn) { io.Copy(io.Discard, c); c.Write([]byte("hello\n")); c.Close() }},
		{"answers half a status line", func(c net.Conn) { io.Copy(io.Discard, c); c.Write([]byte("HTTP/1.1 2")); c.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := daemontest.ShortDir(t)
			ln, err := net.Listen("unix", hookproto.NewPaths(home).Socket)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					tc.serve(c)
				}
			}()
			defer func() { ln.Close(); <-done }()
			runHookBin(t, home, realPayload(t, "Stop", "")).checkSilent(t)
			if n := len(inbox(t, home)); n != 1 {
				t.Errorf("inbox: got %d events, want 1", n)
			}
		})
	}
}

// TestHookKeepsEventPastDeadline: an inbox append that cannot finish by
// the 300 ms deadline (here the inbox is locked by a drain for 500 ms; on a
// loaded machine, a multi-MiB payload) still keeps the event: the append may
// run on to InboxCeiling instead of being cut off by the watchdog.
func TestHookKeepsEventPastDeadline(t *testing.T) {
	home := daemontest.ShortDir(t)
	p := hookproto.NewPaths(home)
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p.Inbox, os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	time.AfterFunc(500*time.Millisecond, func() { syscall.Flock(fd, syscall.LOCK_UN); close(released) })
	defer func() { <-released }()
	payload := realPayload(t, "PreToolUse", "")
	r := runHookBin(t, home, payload, "WEAVE_HOOK_DEBUG=1")
	r.checkSilent(t)
	// The hook's own time, from its start: the watchdog ends it at the
	// ceiling; the second is for a timer firing late on a loaded machine.
	log, _ := os.ReadFile(p.HookLog)
	if ran := hookElapsed(t, string(log)); ran > hookproto.InboxCeiling+time.Second {
		t.Errorf("hook ran %v, past its ceiling %v", ran, hookproto.InboxCeiling)
	}
	if kept := inbox(t, home); len(kept) != 1 || !bytes.Equal(kept[0].Body, payload) {
		t.Fatalf("inbox: got %d events, want the event kept", len(kept))
	}
}

// hookElapsed reads elapsed= of the hook's debug line.
func hookElapsed(t *testing.T, line string) time.Duration {
	t.Helper()
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "elapsed="); ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("hook.log %q: %v", line, err)
			}
			return d
		}
	}
	t.Fatalf("hook.log %q: no elapsed=", line)
	return 0
}

// slowReader hands out the first half of its data, then waits before the
// rest: a loaded machine, or Claude Code still writing a large payload.
type slowReader struct {
	data  []byte
	pause time.Duration
	off   int
	slept bool
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.off >= len(r.data) {
		return 0, io.EOF
	}
	if r.off >= len(r.data)/2 && !r.slept {
		r.slept = true
		time.Sleep(r.pause)
	}
	end := len(r.data)
	if !r.slept {
		end = len(r.data) / 2
	}
	n := copy(p, r.data[r.off:end])
	r.off += n
	return n, nil
}

// TestHookKeepsSlowlyReadEvent: when reading the event from stdin outlasts
// the 300 ms deadline, the event is still kept (here in the inbox: no
// daemon), instead of the watchdog exiting mid-read. CI on a loaded machine
// lost a 16 MiB event this way.
func TestHookKeepsSlowlyReadEvent(t *testing.T) {
	home := daemontest.ShortDir(t)
	payload := realPayload(t, "PreToolUse", "")
	cmd := exec.Command(hookBin)
	cmd.Env = []string{"PATH=" + t.TempDir(), "HOME=" + t.TempDir(), hookproto.EnvHome + "=" + home}
	cmd.Stdin = &slowReader{data: payload, pause: 500 * time.Millisecond}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil || out.Len() > 0 {
		t.Fatalf("hook: err %v, stdout %q; want exit 0 and nothing on stdout", err, out.String())
	}
	if kept := inbox(t, home); len(kept) != 1 || !bytes.Equal(kept[0].Body, payload) {
		t.Fatalf("inbox: got %d events, want the event kept", len(kept))
	}
}
