package main

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/daemontest"
	"github.com/weavetrace/weave/daemon/hookproto"
)

// endless is a stdin that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// A stdin past MaxPayload is read only maxDiscard further, to learn its
// size: one that runs on for good (or for GiBs) kept the hook reading until
// its ceiling, and the event it already had was lost.
func TestReadPayloadEndlessStdin(t *testing.T) {
	defer func(d int64) { maxDiscard = d }(maxDiscard)
	maxDiscard = 1 << 20
	type result struct {
		body []byte
		orig int64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		body, orig, err := readPayload(endless{})
		done <- result{body, orig, err}
	}()
	select {
	case r := <-done:
		if r.err != nil || len(r.body) != hookproto.MaxPayload || r.orig != hookproto.MaxPayload+maxDiscard {
			t.Errorf("readPayload: %d bytes kept, size %d, %v; want %d kept, size %d (at least)",
				len(r.body), r.orig, r.err, hookproto.MaxPayload, hookproto.MaxPayload+maxDiscard)
		}
	case <-time.After(hangGuard):
		t.Fatal("readPayload reads an endless stdin for good")
	}
}

// A panic in hook mode (here in the daemon start) is recovered: the hook
// returns, so main exits 0 printing nothing, instead of exiting 2 with a
// stack trace on stderr (which would block the tool call and be shown to
// the model).
func TestHookRecoversPanic(t *testing.T) {
	home := daemontest.ShortDir(t)
	t.Setenv(hookproto.EnvHome, home)
	t.Setenv("WEAVE_HOOK_DEBUG", "")
	stopped := false
	deps := hookDeps{
		afterFunc:   func(time.Duration, func()) func() bool { return func() bool { stopped = true; return true } },
		exit:        func() { t.Error("the watchdog exited") },
		appendInbox: hookproto.AppendInbox,
		startDaemon: func(hookproto.Paths) error { panic(errors.New("boom")) },
	}
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("runHook panicked: %v", r)
			}
		}()
		runHookWith(deps, time.Now(), bytes.NewReader(realPayload(t, "Stop", "")), "")
	}()
	if !stopped {
		t.Errorf("the watchdog was not stopped")
	}
	if n := len(inbox(t, home)); n != 1 {
		t.Errorf("inbox: got %d events, want the event kept before the panic", n)
	}
}
