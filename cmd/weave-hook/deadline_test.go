package main

import (
	"bytes"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/daemontest"
	"github.com/weavetrace/weave/daemon/hookproto"
)

// simClock is a discrete-event clock for runHookWith, so the order of the
// hook's deadlines is tested without depending on real time: the hook runs
// in its own goroutine and waits only on this clock; whenever it waits (or
// returns), the test fires the clock's timers one at a time, earliest
// first (ties in the order they were set), until one wakes it.
type simClock struct {
	mu     sync.Mutex
	now    time.Duration // since the hook's start
	seq    int
	timers []*simTimer
	// turn: the hook goroutine waits on the clock (false) or returned (true).
	turn chan bool
}

type simTimer struct {
	at      time.Duration
	seq     int
	f       func()
	wakes   bool // f wakes the hook goroutine
	stopped bool
}

func newSimClock() *simClock { return &simClock{turn: make(chan bool)} }

func (c *simClock) add(at time.Duration, f func(), wakes bool) *simTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &simTimer{at: max(at, c.now), seq: c.seq, f: f, wakes: wakes}
	c.seq++
	c.timers = append(c.timers, t)
	return t
}

// afterFunc is hookDeps.afterFunc.
func (c *simClock) afterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	now := c.now
	c.mu.Unlock()
	t := c.add(now+d, f, false)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped && slices.Contains(c.timers, t)
		t.stopped = true
		return was
	}
}

// sleepUntil blocks the hook goroutine until the clock reaches at.
func (c *simClock) sleepUntil(at time.Duration) {
	woken := make(chan struct{})
	c.add(at, func() { close(woken) }, true)
	c.turn <- false
	<-woken
}

func (c *simClock) sleep(d time.Duration) {
	c.mu.Lock()
	now := c.now
	c.mu.Unlock()
	c.sleepUntil(now + d)
}

// fireNext fires the earliest timer and reports whether it woke the hook.
func (c *simClock) fireNext(t *testing.T) bool {
	c.mu.Lock()
	live := c.timers[:0]
	for _, tm := range c.timers {
		if !tm.stopped {
			live = append(live, tm)
		}
	}
	c.timers = live
	if len(c.timers) == 0 {
		c.mu.Unlock()
		t.Fatal("the hook waits on the clock with no timer set")
	}
	i := 0
	for j, tm := range c.timers {
		if tm.at < c.timers[i].at || (tm.at == c.timers[i].at && tm.seq < c.timers[i].seq) {
			i = j
		}
	}
	tm := c.timers[i]
	c.timers = slices.Delete(c.timers, i, i+1)
	c.now = tm.at
	c.mu.Unlock()
	tm.f()
	return tm.wakes
}

// run runs hook in its own goroutine under the clock until it returns.
func (c *simClock) run(t *testing.T, hook func()) {
	go func() {
		hook()
		c.turn <- true
	}()
	for !<-c.turn {
		for !c.fireNext(t) {
		}
	}
}

func (c *simClock) elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// An inbox append that cannot finish (a slow disk, a payload of many MiB
// on a loaded machine) gives up at its deadline early enough that the
// failure path after it — the loss counted by reason in inbox.overflow,
// the daemon started — runs before the watchdog's exit at InboxCeiling.
// With the append's deadline at the ceiling itself, the exit came first:
// the event was lost uncounted and no daemon was started.
func TestHookFailedAppendRunsBeforeCeiling(t *testing.T) {
	home := daemontest.ShortDir(t)
	t.Setenv(hookproto.EnvHome, home)
	t.Setenv("WEAVE_HOOK_DEBUG", "")
	p := hookproto.NewPaths(home)
	c := newSimClock()
	var exitedAt, startedAt time.Duration = -1, -1
	var appendDeadline time.Duration
	start := time.Now()
	deps := hookDeps{
		afterFunc: c.afterFunc,
		exit: func() {
			if exitedAt < 0 {
				exitedAt = c.elapsed()
			}
		},
		appendInbox: func(p hookproto.Paths, env *hookproto.Envelope, deadline time.Time) error {
			// The append never finishes by itself: it gives up at its
			// deadline, as AppendInbox does, then fails (and counts the
			// loss) as the real one does past its deadline.
			appendDeadline = deadline.Sub(start)
			c.sleepUntil(appendDeadline)
			return hookproto.AppendInbox(p, env, time.Time{})
		},
		startDaemon: func(hookproto.Paths) error {
			c.sleep(20 * time.Millisecond) // fork and exec on a loaded machine
			startedAt = c.elapsed()
			return nil
		},
	}
	// No daemon listens: the event goes to the inbox, and a daemon is to
	// be started.
	payload := realPayload(t, "UserPromptSubmit", "")
	c.run(t, func() { runHookWith(deps, start, bytes.NewReader(payload), "") })

	if appendDeadline >= hookproto.InboxCeiling {
		t.Errorf("the inbox append's deadline is %v after the start, not before the ceiling %v", appendDeadline, hookproto.InboxCeiling)
	}
	switch {
	case startedAt < 0:
		t.Errorf("no daemon was started (the hook exited at %v)", exitedAt)
	case exitedAt >= 0 && exitedAt <= startedAt:
		t.Errorf("the watchdog exited at %v, before the daemon start finished at %v", exitedAt, startedAt)
	}
	st, err := hookproto.DrainInbox(p, func(hookproto.Envelope) error { return nil }, func() error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.AppendFailed != 1 || st.Overflow != 0 {
		t.Errorf("events counted lost: %d (append failed), %d (inbox full); want 1, 0", st.AppendFailed, st.Overflow)
	}
}
