package daemon

import (
	"context"
	"errors"
	"iter"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/journal"
	"github.com/weavetrace/weave/daemon/watch"
	"github.com/weavetrace/weave/spans"
)

// core owns the Processor: every call into it happens on core's goroutine.
type core struct {
	log     *slog.Logger
	proc    Processor
	events  <-chan hookproto.Event
	markers chan<- closedMarker
	w       *watch.Watcher
	exp     *export.Exporter
	expCtx  context.Context // the exporter's lifetime: spans are handed over even while core shuts down
	now     func() time.Time
	tick    time.Duration
	idle    time.Duration // 0: never idle-exit

	// inboxPending reports whether the inbox has records; drain asks the
	// journaler to drain it.
	inboxPending func() bool
	drain        func()
	idleExit     func() // asks the daemon to shut down

	replayPath string
	replaySize int64
	replayed   chan struct{} // closed once the start-up replay is done

	// Rebuilding the spans of damaged spool records (rebuild.go).
	lookups     chan<- lookupReq
	lookupReply chan lookupResult
	lookupBusy  bool
	rebuilds    []export.Damaged

	open        map[string]bool // sessions fed to the processor and not closed
	lastWatches []string

	mu           sync.Mutex
	pstats       ProcessorStats
	lastActivity time.Time
	replayedN    int64
	replayStats  journal.Stats
	spansOut     int64
	panics       int64
	openN        int
}

// CoreStats are core's figures for `status`.
type CoreStats struct {
	Processor    ProcessorStats `json:"processor"`
	LastActivity time.Time      `json:"last_activity"`
	Replayed     int64          `json:"events_replayed_at_start"`
	SpansOut     int64          `json:"spans_produced"`
	OpenSessions int            `json:"journal_open_sessions"`
	// ProcessorPanics counts processor calls that panicked (recovered).
	ProcessorPanics int64 `json:"processor_panics"`
	// ReplayDone: the start-up replay of the journal has finished.
	ReplayDone bool `json:"replay_done"`
}

func (c *core) stats() CoreStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	done := false
	select {
	case <-c.replayed:
		done = true
	default:
	}
	return CoreStats{Processor: c.pstats, LastActivity: c.lastActivity, Replayed: c.replayedN, SpansOut: c.spansOut,
		OpenSessions: c.openN, ProcessorPanics: c.panics, ReplayDone: done}
}

// run replays the journal snapshot, then serves events, file changes and
// ticks until ctx ends; then it processes the events already forwarded to
// it (they are journaled; handing their spans over now saves a replay).
func (c *core) run(ctx context.Context) {
	c.mu.Lock()
	c.lastActivity = c.now()
	c.mu.Unlock()
	c.replay()
	c.afterChange()
	close(c.replayed)
	c.requestRebuild() // what a previous run left to rebuild
	t := time.NewTicker(c.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			for {
				select {
				case ev := <-c.events:
					c.event(ev, false)
				default:
					c.afterChange()
					return
				}
			}
		case ev := <-c.events:
			c.burst(ev)
			c.afterChange()
		case <-c.w.Changes():
			for _, p := range c.w.Take() {
				c.export(c.call(func() []spans.Span { return c.proc.FileChanged(p) }))
			}
			c.touch()
			c.checkClosed(nil)
			c.afterChange()
		case res := <-c.lookupReply:
			c.rebuild(res)
			c.afterChange()
		case <-t.C:
			c.onTick()
		}
	}
}

func (c *core) replay() {
	if c.replayPath == "" {
		return
	}
	start := time.Now()
	var n int64
	var st journal.Stats
	var err error
	journaled := func(yield func(hookproto.Event) bool) {
		st, err = journal.ReplayOpenFile(c.replayPath, c.replaySize, JournalSettings(c.log), func(r *journal.Record) error {
			ev, ok := journaledEvent(r)
			if !ok {
				return nil // journaled before a decoder change; nothing to do with it
			}
			n++
			if !yield(ev) {
				return errStopped
			}
			return nil
		})
	}
	// One rebuild per session at the end, not one per journaled event.
	c.deferred(true, journaled)
	if err != nil && !errors.Is(err, errStopped) {
		c.log.Error("daemon: replay journal", "err", err)
	}
	c.mu.Lock()
	c.replayedN, c.replayStats = n, st
	c.mu.Unlock()
	c.log.Info("daemon: replayed the journal", "events", n, "corrupt_regions", st.Corrupt, "duration", time.Since(start))
}

func (c *core) event(ev hookproto.Event, replay bool) {
	c.checkClosed(c.apply(ev, replay))
}

// maxBurst bounds how many queued events one burst takes.
const maxBurst = 256

// burst handles ev and the events already queued behind it with one
// rebuild per session (Processor.Deferred): when events come faster than
// a session rebuilds, the daemon catches up instead of falling further
// behind. A lone event is handled at once, as before.
func (c *core) burst(ev hookproto.Event) {
	queued := func(yield func(hookproto.Event) bool) {
		if !yield(ev) {
			return
		}
		for range maxBurst - 1 {
			select {
			case next := <-c.events:
				if !yield(next) {
					return
				}
			default:
				return
			}
		}
	}
	c.deferred(false, queued)
}

// errStopped ends a journal read whose consumer stopped early.
var errStopped = errors.New("daemon: stopped")

// deferred applies events (replayed from the journal, or live) inside one
// Processor.Deferred call: each event updates state, then each session
// they touched is rebuilt once, the spans exported and the sessions
// checked for closing.
func (c *core) deferred(replay bool, events iter.Seq[hookproto.Event]) {
	var ids []string
	out := c.call(func() []spans.Span {
		return c.proc.Deferred(func() {
			for ev := range events {
				ids = append(ids, c.apply(ev, replay)...)
			}
		})
	})
	c.export(out)
	c.checkClosed(uniq(ids))
}

// apply feeds one event to the processor, exports the spans it returns
// (none inside Deferred) and records its session as open. It returns the
// session id, to check for closing once the spans are out.
func (c *core) apply(ev hookproto.Event, replay bool) []string {
	c.export(c.call(func() []spans.Span { return c.proc.Event(ev, replay) }))
	if !replay {
		c.touch()
	}
	if ev.SessionID == "" {
		return nil
	}
	c.open[ev.SessionID] = true
	return []string{ev.SessionID}
}

func uniq(ids []string) []string {
	slices.Sort(ids)
	return slices.Compact(ids)
}

// call runs a Processor method, turning a panic into a logged, counted
// error: one bad event must not take the daemon (and every session) down.
func (c *core) call(f func() []spans.Span) (out []spans.Span) {
	defer func() {
		if r := recover(); r != nil {
			c.mu.Lock()
			c.panics++
			c.mu.Unlock()
			c.log.Error("daemon: processor panicked", "panic", r)
			out = nil
		}
	}()
	return f()
}

func (c *core) touch() {
	c.mu.Lock()
	c.lastActivity = c.now()
	c.mu.Unlock()
}

func (c *core) export(ss []spans.Span) {
	if len(ss) == 0 {
		return
	}
	c.mu.Lock()
	c.spansOut += int64(len(ss))
	c.mu.Unlock()
	if err := c.exp.Enqueue(c.expCtx, ss); err != nil {
		c.log.Error("daemon: spans not handed to the exporter", "spans", len(ss), "err", err)
	}
}

// checkClosed writes a closed marker for each session (of ids, or every
// open one when ids is nil) the processor now reports closed.
func (c *core) checkClosed(ids []string) {
	if ids == nil {
		for id := range c.open {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if !c.open[id] {
			continue
		}
		closed := false
		c.call(func() []spans.Span { closed = c.proc.SessionClosed(id); return nil })
		if closed {
			delete(c.open, id)
			select {
			case c.markers <- closedMarker{sessionID: id, at: c.now()}:
			default:
				// The journaler is backed up; the marker only saves replay
				// work, the session will be seen closed next time.
			}
		}
	}
}

// afterChange refreshes the watch set and the stats snapshot.
func (c *core) afterChange() {
	var w []string
	c.call(func() []spans.Span { w = c.proc.Watches(); return nil })
	sort.Strings(w)
	if !slices.Equal(w, c.lastWatches) {
		c.lastWatches = w
		c.w.Set(w)
	}
	var ps ProcessorStats
	c.call(func() []spans.Span { ps = c.proc.Stats(); return nil })
	c.mu.Lock()
	c.pstats = ps
	c.openN = len(c.open)
	c.mu.Unlock()
}

func (c *core) onTick() {
	now := c.now()
	c.export(c.call(func() []spans.Span { return c.proc.Tick(now) }))
	c.checkClosed(nil)
	c.afterChange()
	c.requestRebuild()
	if c.inboxPending() {
		c.drain() // a hook gave up on us (or raced our start): take its events
		c.touch()
		return
	}
	c.mu.Lock()
	idleFor := now.Sub(c.lastActivity)
	c.mu.Unlock()
	if c.idle > 0 && idleFor >= c.idle && c.exp.Idle() && len(c.events) == 0 {
		c.log.Info("daemon: idle, exiting", "idle_for", idleFor.Round(time.Second))
		c.idleExit()
	}
}
