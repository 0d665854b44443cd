package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/config"
	"github.com/weavetrace/weave/daemon/daemontest"
	"github.com/weavetrace/weave/daemon/export/exporttest"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/journal"
	"github.com/weavetrace/weave/internal/serverproc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hangGuard bounds every wait: a hang becomes a failure, not a stuck run.
const hangGuard = 20 * time.Second

type harness struct {
	t         *testing.T
	p         hookproto.Paths
	proc      *daemontest.Processor
	rcv       *exporttest.Receiver
	d         *daemon.Daemon
	done      chan error
	cancel    context.CancelFunc
	logs      *serverproc.LogBuffer
	mu        sync.Mutex
	respawned int
}

type opts struct {
	rcv   *exporttest.Receiver
	proc  *daemontest.Processor
	idle  time.Duration
	noRun bool
	// backoff is the exporter's retry delay, min and max (0: defaults).
	backoff time.Duration
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// newHarness builds a daemon on home; start runs it.
func newHarness(t *testing.T, home string, o opts) *harness {
	t.Helper()
	h := &harness{t: t, p: hookproto.NewPaths(home), proc: o.proc, rcv: o.rcv, logs: &serverproc.LogBuffer{}}
	if h.proc == nil {
		h.proc = daemontest.New()
	}
	if h.rcv == nil {
		h.rcv = exporttest.NewReceiver().Start()
		t.Cleanup(h.rcv.Close)
	}
	cfg := config.NewDefaultConfig()
	cfg.Endpoint = h.rcv.URL()
	cfg.Project = "acme/agents"
	cfg.IdleTimeout = config.Duration(o.idle)
	cfg.PollInterval = config.Duration(20 * time.Millisecond)
	d, err := daemon.New(daemon.Settings{
		Paths: h.p, Config: cfg, Processor: h.proc, Version: "test",
		Logger:        slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TickInterval:  20 * time.Millisecond,
		ExportBackoff: o.backoff, ExportMaxBackoff: o.backoff,
		Respawn: func(hookproto.Paths) error {
			h.mu.Lock()
			h.respawned++
			h.mu.Unlock()
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) start() *harness {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- h.d.Run(ctx) }()
	select {
	case <-h.d.Ready():
	case err := <-h.done:
		h.t.Fatalf("daemon exited at start: %v", err)
	case <-time.After(hangGuard):
		h.t.Fatalf("daemon not ready after %v", hangGuard)
	}
	h.t.Cleanup(func() { h.stop() })
	return h
}

// stop shuts the daemon down (as SIGTERM does) and returns Run's error.
func (h *harness) stop() error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	h.cancel = nil
	select {
	case err := <-h.done:
		return err
	case <-time.After(hangGuard):
		h.t.Fatalf("daemon did not stop within %v", hangGuard)
		return nil
	}
}

func startDaemon(t *testing.T, o opts) *harness {
	return newHarness(t, daemontest.ShortDir(t), o).start()
}

// post sends one request the way weave-hook does (one write, half-close,
// read the status line) and returns the status and body.
func post(t *testing.T, p hookproto.Paths, raw []byte) (int, string) {
	t.Helper()
	c, err := net.Dial("unix", p.Socket)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangGuard))
	if _, err := c.Write(raw); err != nil {
		t.Fatalf("write: %v", err)
	}
	c.(*net.UnixConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func envelope(session, event string, extra string) *hookproto.Envelope {
	body := fmt.Sprintf(`{"session_id":%q,"transcript_path":"/nonexistent/%s.jsonl","cwd":"/w","hook_event_name":%q%s}`, session, session, event, extra)
	return &hookproto.Envelope{Proto: hookproto.Version, ID: hookproto.NewEventID(), ReceivedAt: time.Now().UTC(), TranscriptSize: -1, Body: []byte(body)}
}

func sendHook(t *testing.T, p hookproto.Paths, env *hookproto.Envelope) (int, string) {
	t.Helper()
	return post(t, p, env.AppendRequest(nil))
}

func (h *harness) waitCalls(n int) []daemontest.Call {
	h.t.Helper()
	if err := h.proc.Wait(waitCtx(h.t), func(p *daemontest.Processor) bool { return len(p.Calls()) >= n }); err != nil {
		h.t.Fatalf("waiting for %d processor calls: got %d", n, len(h.proc.Calls()))
	}
	return h.proc.Calls()
}

func (h *harness) waitSpans(n int) []exporttest.Span {
	h.t.Helper()
	if err := h.rcv.Wait(waitCtx(h.t), func(s []exporttest.Span) bool { return len(s) >= n }); err != nil {
		h.t.Fatalf("waiting for %d spans at the receiver: got %d (status %+v)", n, len(h.rcv.Spans()), h.d.Status().Export)
	}
	return h.rcv.Spans()
}

// The hook path end to end: a hook-shaped request is journaled before its
// 200, reaches the processor, and the processor's span reaches the OTLP
// receiver. Regression: the hook half-closes its side, which net/http
// reports as a cancelled request context; the handler once returned on
// that (an implicit, empty 200) before the journal had answered.
func TestHookToSpan(t *testing.T) {
	h := startDaemon(t, opts{})
	env := envelope("s1", "UserPromptSubmit", `,"prompt":"hi"`)
	code, body := sendHook(t, h.p, env)
	if code != http.StatusOK || body != "ok\n" {
		t.Fatalf("hook answer: got %d %q, want 200 %q", code, body, "ok\n")
	}
	if st := h.d.Status(); st.EventsReceived != 1 || st.Journal.EventsJournaled != 1 {
		t.Errorf("right after the 200: received %d, journaled %d, want 1 and 1", st.EventsReceived, st.Journal.EventsJournaled)
	}
	calls := h.waitCalls(1)
	if calls[0].Replay || calls[0].Event.ID != env.ID || calls[0].Event.Prompt != "hi" {
		t.Errorf("processor call: got %+v, want the live event", calls[0])
	}
	got := h.waitSpans(1)
	want := daemontest.SpanFor(calls[0].Event)
	if got[0].SpanID != want.SpanID.String() || got[0].Resource["wandb.project"] != "agents" || got[0].Path != "/agents/otel/v1/traces" {
		t.Errorf("received span: got %+v, want span %s on /agents/otel/v1/traces", got[0], want.SpanID)
	}
	// The journal has the event.
	h.stop()
	n := 0
	j, _, err := journal.Open(h.p.Journal, daemon.JournalSettings(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	j.Replay(func(r *journal.Record) error {
		var got hookproto.Envelope
		if r.Kind == journal.KindEvent && got.UnmarshalBinary(r.Event) == nil && got.ID == env.ID {
			n++
		}
		return nil
	})
	if n != 1 {
		t.Errorf("journal holds the event %d times, want 1", n)
	}
}

func TestLocalAPIRefusals(t *testing.T) {
	h := startDaemon(t, opts{})
	good := envelope("s1", "Stop", "")
	req := func(method, path string, hdr map[string]string, body string) []byte {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", method, path, hookproto.Host, len(body))
		for k, v := range hdr {
			fmt.Fprintf(&b, "%s: %s\r\n", k, v)
		}
		b.WriteString("\r\n" + body)
		return []byte(b.String())
	}
	for _, tc := range []struct {
		name string
		raw  []byte
		want int
	}{
		{"origin header (browser)", req("POST", hookproto.PathHook, map[string]string{"Origin": "http://evil.example"}, string(good.Body)), http.StatusForbidden},
		{"referer header (browser)", req("GET", hookproto.PathStatus, map[string]string{"Referer": "http://evil.example/"}, ""), http.StatusForbidden},
		{"unknown path", req("GET", "/localapi/v1/nope", nil, ""), http.StatusNotFound},
		{"wrong method", req("GET", hookproto.PathHook, nil, ""), http.StatusMethodNotAllowed},
		{"not json", req("POST", hookproto.PathHook, nil, "hello"), http.StatusBadRequest},
		{"no hook_event_name", req("POST", hookproto.PathHook, nil, `{"session_id":"s"}`), http.StatusBadRequest},
		{"bad event id header", req("POST", hookproto.PathHook, map[string]string{hookproto.HeaderEventID: "zz"}, string(good.Body)), http.StatusBadRequest},
		{"unsupported protocol", req("POST", hookproto.PathHook, map[string]string{hookproto.HeaderProto: "99"}, string(good.Body)), http.StatusUpgradeRequired},
		{"too large", req("POST", hookproto.PathHook, nil, `{"hook_event_name":"Stop","x":"`+strings.Repeat("a", hookproto.MaxPayload)+`"}`), http.StatusRequestEntityTooLarge},
		{"curl-style, no weave headers", req("POST", hookproto.PathHook, nil, string(good.Body)), http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, body := post(t, h.p, tc.raw); got != tc.want {
				t.Errorf("got %d (%q), want %d", got, body, tc.want)
			}
		})
	}
	st := h.d.Status()
	if st.Browser != 2 || st.BadRequests != 3 || st.BadProto != 1 || st.TooLarge != 1 || st.EventsReceived != 1 {
		t.Errorf("counters: got browser %d bad %d proto %d large %d received %d, want 2 3 1 1 1",
			st.Browser, st.BadRequests, st.BadProto, st.TooLarge, st.EventsReceived)
	}
}

// An event delivered late (after the hook gave up and kept it in its
// inbox) is journaled and processed once: a second delivery over the
// socket, and the inbox copy drained by the next daemon, are recognised.
func TestDuplicateEventID(t *testing.T) {
	home := daemontest.ShortDir(t)
	h := newHarness(t, home, opts{}).start()
	env := envelope("s1", "PreToolUse", `,"tool_name":"Bash","tool_use_id":"toolu_1"`)
	if code, body := sendHook(t, h.p, env); code != 200 || body != "ok\n" {
		t.Fatalf("first: got %d %q", code, body)
	}
	if code, body := sendHook(t, h.p, env); code != 200 || body != "ok duplicate\n" {
		t.Fatalf("second: got %d %q, want 200 ok duplicate", code, body)
	}
	h.waitCalls(1)
	h.stop()
	if calls := h.proc.Calls(); len(calls) != 1 {
		t.Errorf("processor got %d events, want 1", len(calls))
	}
	// The hook had also kept it in the inbox.
	if err := hookproto.AppendInbox(h.p, env, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, home, opts{rcv: h.rcv}).start()
	h2.waitCalls(1) // the replay
	h2.stop()
	if calls := h2.proc.Calls(); len(calls) != 1 || calls[0].Event.ID != env.ID {
		t.Errorf("next daemon replayed %d events, want the one event once", len(calls))
	}
	if st := h2.d.Status(); st.Journal.Duplicates != 1 || st.Journal.FromInbox != 0 {
		t.Errorf("inbox copy: got %d duplicates, %d from inbox, want 1 and 0", st.Journal.Duplicates, st.Journal.FromInbox)
	}
}

// Events a hook left in the inbox (daemon down) are drained at start and
// replayed; ones left while it runs are drained on a tick.
func TestInboxDrain(t *testing.T) {
	home := daemontest.ShortDir(t)
	p := hookproto.NewPaths(home)
	early := []*hookproto.Envelope{envelope("s1", "SessionStart", `,"source":"startup"`), envelope("s1", "UserPromptSubmit", "")}
	for _, e := range early {
		if err := hookproto.AppendInbox(p, e, time.Now().Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	h := newHarness(t, home, opts{}).start()
	calls := h.waitCalls(2)
	for i, c := range calls[:2] {
		if c.Event.ID != early[i].ID || !c.Replay {
			t.Errorf("start-up event %d: got %s replay=%v, want %s from the inbox, in order, as replay", i, c.Event.HookEventName, c.Replay, early[i].ID)
		}
	}
	late := envelope("s1", "Stop", "")
	if err := hookproto.AppendInbox(p, late, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	calls = h.waitCalls(3)
	if calls[2].Event.ID != late.ID || calls[2].Replay {
		t.Errorf("late inbox event: got %+v, want it processed live", calls[2])
	}
	if hookproto.InboxPending(p) {
		t.Errorf("inbox still pending after the drain")
	}
	if st := h.d.Status(); st.Journal.FromInbox != 3 {
		t.Errorf("from inbox: got %d, want 3", st.Journal.FromInbox)
	}
}

// A restart replays the events of sessions that are not closed, and only
// those; the new daemon's spans have the same ids (harmless duplicates).
// Events that queue up while the processor is busy are taken together
// (Processor.Deferred: one rebuild per session), and every one still
// reaches the processor and the receiver.
func TestEventsQueuedWhileBusyAreBatched(t *testing.T) {
	h := newHarness(t, daemontest.ShortDir(t), opts{})
	h.proc.Delay = 20 * time.Millisecond
	h.start()
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _ := sendHook(t, h.p, envelope(fmt.Sprintf("s%d", i%3), "PreToolUse", "")); code != 200 {
				t.Errorf("hook %d: got %d", i, code)
			}
		}()
	}
	wg.Wait()
	h.waitCalls(n)
	h.waitSpans(n)
	if b := h.proc.Bursts(); b == 0 || b >= n {
		t.Errorf("%d events took %d processor bursts: queued events were not batched", n, b)
	}
}

func TestReplayOpenSessions(t *testing.T) {
	home := daemontest.ShortDir(t)
	h := newHarness(t, home, opts{}).start()
	openEv := []*hookproto.Envelope{envelope("open", "UserPromptSubmit", ""), envelope("open", "PreToolUse", "")}
	closedEv := []*hookproto.Envelope{envelope("done", "UserPromptSubmit", ""), envelope("done", "SessionEnd", `,"reason":"other"`)}
	for _, e := range append(append([]*hookproto.Envelope{}, openEv...), closedEv...) {
		if code, _ := sendHook(t, h.p, e); code != 200 {
			t.Fatalf("hook: got %d", code)
		}
	}
	h.waitCalls(4)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	h2 := newHarness(t, home, opts{rcv: h.rcv}).start()
	calls := h2.waitCalls(2)
	h2.stop()
	calls = h2.proc.Calls()
	if len(calls) != 2 || calls[0].Event.ID != openEv[0].ID || calls[1].Event.ID != openEv[1].ID || !calls[0].Replay {
		var got []string
		for _, c := range calls {
			got = append(got, c.Event.SessionID+"/"+c.Event.HookEventName)
		}
		t.Errorf("replayed: got %v, want the 2 events of the open session, as replay", got)
	}
	if st := h2.d.Status(); st.Core.Replayed != 2 {
		t.Errorf("status replayed: got %d, want 2", st.Core.Replayed)
	}
}

// Socket and lock hygiene.
// listenAndHangUp serves path (a live socket of some other process) by
// closing every connection, until the test ends.
func listenAndHangUp(t *testing.T, path string) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
}

func TestSocketAndLock(t *testing.T) {
	t.Run("modes", func(t *testing.T) {
		h := startDaemon(t, opts{})
		for _, tc := range []struct {
			path string
			want os.FileMode
		}{{h.p.Home, 0o700}, {h.p.Socket, 0o600}, {h.p.Journal, 0o700}, {h.p.Spool, 0o700}} {
			fi, err := os.Stat(tc.path)
			if err != nil || fi.Mode().Perm() != tc.want {
				t.Errorf("%s: mode %v (%v), want %v", tc.path, fi.Mode().Perm(), err, tc.want)
			}
		}
		if holder := daemon.LockHolder(h.p); holder != strconv.Itoa(os.Getpid()) {
			t.Errorf("lock holder: got %s, want %d", holder, os.Getpid())
		}
	})
	t.Run("stale socket replaced", func(t *testing.T) {
		home := daemontest.ShortDir(t)
		p := hookproto.NewPaths(home)
		p.EnsureHome()
		ln, _ := net.Listen("unix", p.Socket)
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		ln.Close() // a SIGKILLed daemon's socket file
		h := newHarness(t, home, opts{}).start()
		if code, _ := sendHook(t, p, envelope("s", "Stop", "")); code != 200 {
			t.Errorf("after replacing a stale socket: got %d, want 200", code)
		}
		h.stop()
	})
	// A regular file (or FIFO, or symlink) at the socket's path: hooks
	// refuse it and start a daemon for every event, so the daemon replaces
	// it (it refused to start, and the events piled up in the inbox).
	t.Run("file that is no socket replaced", func(t *testing.T) {
		for name, plant := range map[string]func(path string) error{
			"regular file": func(path string) error { return os.WriteFile(path, []byte("x"), 0o600) },
			"fifo":         func(path string) error { return syscall.Mkfifo(path, 0o600) },
			"symlink":      func(path string) error { return os.Symlink("/nonexistent", path) },
		} {
			t.Run(name, func(t *testing.T) {
				home := daemontest.ShortDir(t)
				p := hookproto.NewPaths(home)
				p.EnsureHome()
				if err := plant(p.Socket); err != nil {
					t.Fatal(err)
				}
				h := newHarness(t, home, opts{}).start()
				if code, _ := sendHook(t, p, envelope("s", "Stop", "")); code != 200 {
					t.Errorf("after replacing a %s at the socket path: got %d, want 200", name, code)
				}
				h.stop()
			})
		}
	})
	t.Run("second daemon refused", func(t *testing.T) {
		h := startDaemon(t, opts{})
		h2 := newHarness(t, h.p.Home, opts{rcv: h.rcv})
		err := h2.d.Run(context.Background())
		if !errors.Is(err, daemon.ErrAlreadyRunning) {
			t.Errorf("second Run: got %v, want ErrAlreadyRunning", err)
		}
		if code, _ := sendHook(t, h.p, envelope("s", "Stop", "")); code != 200 {
			t.Errorf("the first daemon after the refused second: got %d, want 200", code)
		}
	})
	t.Run("live socket of another process", func(t *testing.T) {
		home := daemontest.ShortDir(t)
		p := hookproto.NewPaths(home)
		p.EnsureHome()
		listenAndHangUp(t, p.Socket)
		err := newHarness(t, home, opts{}).d.Run(context.Background())
		if !errors.Is(err, daemon.ErrAlreadyRunning) {
			t.Errorf("Run with a live socket: got %v, want ErrAlreadyRunning", err)
		}
		if _, err := os.Stat(p.Socket); err != nil {
			t.Errorf("the other process's socket was removed: %v", err)
		}
	})
	// Our home, but a live socket and the lock file belong to another user
	// (planted while the home was open to others): hooks will not talk to
	// that socket, so the daemon replaces both instead of deferring to it.
	t.Run("another user's socket and lock replaced", func(t *testing.T) {
		if os.Getuid() != 0 {
			t.Skip("needs root: it chowns the planted socket and lock to uid 65534")
		}
		home := daemontest.ShortDir(t)
		p := hookproto.NewPaths(home)
		p.EnsureHome()
		listenAndHangUp(t, p.Socket)
		if err := os.WriteFile(p.Lock, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{p.Socket, p.Lock} {
			if err := os.Lchown(f, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}
		h := newHarness(t, home, opts{}).start()
		if code, _ := sendHook(t, p, envelope("s", "Stop", "")); code != 200 {
			t.Errorf("after replacing another user's socket: got %d, want 200", code)
		}
		for _, f := range []string{p.Socket, p.Lock} {
			var st syscall.Stat_t
			if err := syscall.Lstat(f, &st); err != nil || int(st.Uid) != os.Getuid() {
				t.Errorf("%s: owner %d (%v), want this user", f, st.Uid, err)
			}
		}
		h.stop()
	})
	t.Run("shutdown removes only its own socket", func(t *testing.T) {
		h := startDaemon(t, opts{})
		// A successor rebinds the path (new inode) before we finish.
		os.Remove(h.p.Socket)
		ln, err := net.Listen("unix", h.p.Socket)
		if err != nil {
			t.Fatal(err)
		}
		ln.(*net.UnixListener).SetUnlinkOnClose(false)
		defer ln.Close()
		h.stop()
		if _, err := os.Stat(h.p.Socket); err != nil {
			t.Errorf("successor's socket removed by our shutdown: %v", err)
		}
	})
	t.Run("clean stop removes socket, releases lock", func(t *testing.T) {
		h := startDaemon(t, opts{})
		h.d.Stop()
		select {
		case err := <-h.done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(hangGuard):
			t.Fatal("no stop")
		}
		h.cancel = nil
		if _, err := os.Stat(h.p.Socket); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket after stop: %v, want removed", err)
		}
		f, _ := os.OpenFile(h.p.Lock, os.O_RDWR, 0)
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			t.Errorf("lock after stop: %v, want free", err)
		}
	})
}

// The endpoint is down: spans go to the spool; the daemon stops; the
// endpoint comes back; the next daemon delivers every span.
func TestSpoolAcrossRestart(t *testing.T) {
	home := daemontest.ShortDir(t)
	rcv := exporttest.NewReceiver().Start()
	defer rcv.Close()
	rcv.SetStatus(http.StatusServiceUnavailable)
	h := newHarness(t, home, opts{rcv: rcv}).start()
	var envs []*hookproto.Envelope
	for i := range 5 {
		e := envelope("s1", "PreToolUse", fmt.Sprintf(`,"tool_use_id":"toolu_%d"`, i))
		envs = append(envs, e)
		sendHook(t, h.p, e)
	}
	h.waitCalls(5)
	ctx := waitCtx(t)
	for h.d.Status().Export.SpansSpooled+h.d.Status().Export.SpansSent < 5 && ctx.Err() == nil {
		rcv.Wait(ctx, func([]exporttest.Span) bool { return h.d.Status().Export.SpansSpooled >= 5 })
	}
	st := h.d.Status()
	if st.Export.LastError == "" || st.Export.SpansSent != 0 {
		t.Errorf("while down: got %+v, want an error and nothing sent", st.Export)
	}
	h.stop()
	rcv.SetStatus(http.StatusOK)
	h2 := newHarness(t, home, opts{rcv: rcv}).start()
	// 5 spooled + 5 re-emitted by the replay (same ids).
	got := h2.waitSpans(10)
	ids := map[string]bool{}
	for _, s := range got {
		ids[s.SpanID] = true
	}
	if len(ids) != 5 {
		t.Errorf("distinct spans delivered: got %d, want 5", len(ids))
	}
	if err := h2.stop(); err != nil { // the exporter acknowledges a batch after the receiver has it
		t.Errorf("stop: %v", err)
	}
	if st := h2.d.Status(); st.Export.SpoolRecords != 0 || st.Export.SpansSent != 10 {
		t.Errorf("after delivery: spool %d records, %d spans sent, want 0 and 10", st.Export.SpoolRecords, st.Export.SpansSent)
	}
}

// Watched transcripts: growth reaches Processor.FileChanged.
func TestWatchedFileChanges(t *testing.T) {
	dir := t.TempDir()
	transcript := filepath.Join(dir, "s.jsonl")
	proc := daemontest.New()
	proc.SetWatches(transcript, dir)
	h := startDaemon(t, opts{proc: proc})
	sendHook(t, h.p, envelope("s1", "SessionStart", "")) // makes core refresh the watches
	h.waitCalls(1)
	if err := os.WriteFile(transcript, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := proc.Wait(waitCtx(t), func(p *daemontest.Processor) bool {
		for _, f := range p.Files() {
			if f == transcript {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatalf("no FileChanged for %s (got %v)", transcript, proc.Files())
	}
}

// A panicking processor call is contained: the daemon keeps serving.
func TestProcessorPanicContained(t *testing.T) {
	proc := daemontest.New()
	proc.PanicOn = "Notification"
	h := startDaemon(t, opts{proc: proc})
	sendHook(t, h.p, envelope("s1", "Notification", ""))
	if code, _ := sendHook(t, h.p, envelope("s1", "Stop", "")); code != 200 {
		t.Fatalf("after a panic: got %d, want 200", code)
	}
	h.waitCalls(1)
	if st := h.d.Status(); st.Core.ProcessorPanics != 1 {
		t.Errorf("panics: got %d, want 1", st.Core.ProcessorPanics)
	}
}

// Idle exit: no events and nothing to retry for IdleTimeout.
func TestIdleExit(t *testing.T) {
	h := newHarness(t, daemontest.ShortDir(t), opts{idle: 200 * time.Millisecond}).start()
	select {
	case err := <-h.done:
		if err != nil {
			t.Fatalf("idle exit: %v", err)
		}
		h.cancel = nil
	case <-time.After(hangGuard):
		t.Fatalf("no idle exit")
	}
	if !strings.Contains(h.logs.String(), "reason=idle") {
		t.Errorf("log does not record an idle exit:\n%s", h.logs.String())
	}
}

func TestStatusOverSocket(t *testing.T) {
	h := startDaemon(t, opts{})
	sendHook(t, h.p, envelope("s1", "UserPromptSubmit", ""))
	sendHook(t, h.p, envelope("s1", "Stop", ""))
	h.waitSpans(2)
	// The receiver has the spans before the exporter has read its answer
	// (and both spans may have gone in one request): wait for the count.
	var st daemon.Status
	for deadline := time.Now().Add(hangGuard); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if st, err = daemon.FetchStatus(context.Background(), h.p); err != nil {
			t.Fatal(err)
		}
		if st.Export.SpansSent >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if st.PID != os.Getpid() || st.EventsReceived != 2 || st.LiveSessions != 1 || st.Export.SpansSent != 2 ||
		st.Export.Endpoint != h.rcv.URL()+"/agents/otel/v1/traces" || st.Version != "test" {
		b, _ := json.MarshalIndent(st, "", "  ")
		t.Errorf("status: got\n%s", b)
	}
	h.stop()
	if _, err := daemon.FetchStatus(context.Background(), h.p); !errors.Is(err, daemon.ErrNotRunning) {
		t.Errorf("status after stop: got %v, want ErrNotRunning", err)
	}
}

// TestJournalSyncedInBackground: the hook's answer does not wait for an
// fsync, but every acknowledged event is fsynced within SyncInterval.
func TestJournalSyncedInBackground(t *testing.T) {
	h := startDaemon(t, opts{})
	before := h.d.Status().Journal.Fsyncs
	if code, _ := sendHook(t, h.p, envelope("s1", "UserPromptSubmit", `,"prompt":"hi"`)); code != http.StatusOK {
		t.Fatalf("hook answer %d", code)
	}
	ctx := waitCtx(t)
	for h.d.Status().Journal.Fsyncs == before {
		select {
		case <-ctx.Done():
			t.Fatalf("no fsync followed the acknowledged event (fsyncs %d)", before)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
