package main

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/daemontest"
	"github.com/weavetrace/weave/daemon/hookproto"
)

// otherUID plays another local user (root tests chown files to it).
const otherUID = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: it creates files owned by another uid (chown to 65534) to play the other local user")
	}
}

// listenAs listens on home's socket; the socket file is then chowned to
// uid when uid >= 0. It returns a counter of bytes received.
func listenAs(t *testing.T, home string, uid int) func() int64 {
	t.Helper()
	p := hookproto.NewPaths(home)
	ln, err := net.Listen("unix", p.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		if err := os.Lchown(p.Socket, uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan int64, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, c)
			got <- n // counted before answering: once a client has its answer, its bytes are counted
			c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return func() int64 {
		var total int64
		for {
			select {
			case n := <-got:
				total += n
			default:
				return total
			}
		}
	}
}

// Another user made WEAVE_HOME first and listens on its socket: the hook
// sends them nothing, writes nothing there, and exits 0 silently.
func TestHookRefusesAnotherUsersHome(t *testing.T) {
	needRoot(t)
	home := filepath.Join(daemontest.ShortDir(t), "w")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	received := listenAs(t, home, otherUID)
	if err := os.Chown(home, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	runHookBin(t, home, realPayload(t, "UserPromptSubmit", ""), "WEAVE_HOOK_DEBUG=1",
		hookproto.EnvAgentd+"="+fakeAgentd).checkSilent(t)
	if n := received(); n != 0 {
		t.Errorf("the other user's listener received %d bytes, want 0", n)
	}
	ents, _ := os.ReadDir(home)
	for _, e := range ents {
		if e.Name() != "agentd.sock" {
			t.Errorf("the hook wrote %s into another user's home", e.Name())
		}
	}
}

// A home writable by others (anyone could have planted its socket or
// inbox) is refused the same way, even when it is ours.
func TestHookRefusesWorldWritableHome(t *testing.T) {
	home := filepath.Join(daemontest.ShortDir(t), "w")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	received := listenAs(t, home, -1)
	if err := syscall.Chmod(home, 0o777); err != nil {
		t.Fatal(err)
	}
	runHookBin(t, home, realPayload(t, "Stop", ""), hookproto.EnvAgentd+"="+fakeAgentd).checkSilent(t)
	if n := received(); n != 0 {
		t.Errorf("listener in a world-writable home received %d bytes, want 0", n)
	}
	if _, err := os.Lstat(hookproto.NewPaths(home).Inbox); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("inbox written in a world-writable home: %v", err)
	}
}

// Our home, but the socket file is another user's: nothing is sent to it;
// the event is kept in our inbox.
func TestHookRefusesAnotherUsersSocket(t *testing.T) {
	needRoot(t)
	home := filepath.Join(daemontest.ShortDir(t), "w")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatal(err)
	}
	received := listenAs(t, home, otherUID)
	payload := realPayload(t, "PreToolUse", "")
	runHookBin(t, home, payload, hookproto.EnvAgentd+"=/nonexistent/weave-agentd").checkSilent(t)
	if n := received(); n != 0 {
		t.Errorf("the other user's socket received %d bytes, want 0", n)
	}
	if kept := inbox(t, home); len(kept) != 1 || string(kept[0].Body) != string(payload) {
		t.Errorf("inbox: got %d events, want the event kept", len(kept))
	}
}

// The kernel says who listens: a listener running as another uid gets no
// byte even when the socket file looks right (it could be swapped between
// the check and the connect).
func TestExchangeChecksPeerCredentials(t *testing.T) {
	if _, err := os.Stat("/proc/self"); err != nil {
		t.Skip("SO_PEERCRED is checked on Linux only")
	}
	home := daemontest.ShortDir(t)
	received := listenAs(t, home, -1)
	req := []byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	deadline := time.Now().Add(hangGuard)
	if _, err := exchangeAs(hookproto.NewPaths(home).Socket, req, deadline, os.Getuid()+1); !errors.Is(err, errForeignPeer) {
		t.Errorf("exchange expecting another uid: got %v, want errForeignPeer", err)
	}
	code, err := exchange(hookproto.NewPaths(home).Socket, req, deadline)
	if err != nil || code != http.StatusOK {
		t.Errorf("exchange with our own listener: got %d, %v, want 200", code, err)
	}
	n := received()
	if n != int64(len(req)) {
		t.Errorf("listener received %d bytes, want only the %d of the trusted exchange", n, len(req))
	}
}

// A symlinked inbox is never followed: the file it points at stays as it
// was (the hook could otherwise append to any file the user can write).
func TestHookDoesNotFollowInboxSymlink(t *testing.T) {
	home := filepath.Join(daemontest.ShortDir(t), "w")
	p := hookproto.NewPaths(home)
	if err := p.EnsureHome(); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p.Logs, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{p.Inbox, p.InboxOverflow, p.HookLog} {
		if err := os.Symlink(victim, link); err != nil {
			t.Fatal(err)
		}
	}
	runHookBin(t, home, realPayload(t, "Stop", ""), "WEAVE_HOOK_DEBUG=1",
		hookproto.EnvAgentd+"=/nonexistent/weave-agentd").checkSilent(t)
	if b, _ := os.ReadFile(victim); string(b) != "keep" {
		t.Errorf("the file behind the symlinks: got %q, want it untouched", b)
	}
}
