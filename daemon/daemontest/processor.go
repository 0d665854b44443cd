// Package daemontest provides a scriptable daemon.Processor for tests: it
// records every call and emits one finished span per hook event (ids
// derived from the event, so a replayed event yields the same span) and
// one per file change; and ShortDir, a home whose socket path fits.
package daemontest

import (
	"context"
	"crypto/sha256"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spans"
)

// Call is one Event call.
type Call struct {
	Event  hookproto.Event
	Replay bool
}

// Processor is safe for the tests to read while the daemon calls it.
type Processor struct {
	mu      sync.Mutex
	calls   []Call
	files   []string
	watches []string
	ended   map[string]bool
	ticks   int
	changed chan struct{}
	// deferring: inside Deferred; held are the spans it will return.
	deferring bool
	held      []spans.Span
	bursts    int
	rebuilds  []string
	// PanicOn makes Event panic for this hook event name (the daemon must
	// survive it).
	PanicOn string
	// Delay makes each Event take this long (a slow rebuild).
	Delay time.Duration
	// Pad adds an attribute of that many '0' characters to every span
	// (spool records large enough to damage away from their ids).
	Pad int
}

// span is SpanFor(ev), padded as p says.
func (p *Processor) span(ev hookproto.Event) spans.Span {
	sp := SpanFor(ev)
	if p.Pad > 0 {
		sp.SetAttr("test.pad", strings.Repeat("0", p.Pad))
	}
	return sp
}

// New returns an empty Processor.
func New() *Processor { return &Processor{ended: map[string]bool{}, changed: make(chan struct{}, 1)} }

func (p *Processor) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// Wait blocks until cond holds (re-checked after every Event and
// FileChanged call) or ctx ends.
func (p *Processor) Wait(ctx context.Context, cond func(p *Processor) bool) error {
	for {
		if cond(p) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.changed:
		}
	}
}

var _ daemon.Processor = (*Processor)(nil)

// SpanFor is the span Event emits for ev.
func SpanFor(ev hookproto.Event) spans.Span {
	t := sha256.Sum256([]byte(ev.SessionID))
	s := sha256.Sum256(append([]byte(ev.SessionID+"/"+ev.HookEventName+"/"), ev.ID[:]...))
	sp := spans.Span{Name: "hook " + ev.HookEventName, Kind: spans.KindInternal, Start: ev.ReceivedAt, End: ev.ReceivedAt.Add(time.Millisecond)}
	copy(sp.TraceID[:], t[:16])
	copy(sp.SpanID[:], s[:8])
	sp.SetAttr(semconv.KeySessionID, ev.SessionID)
	return sp
}

// Event implements daemon.Processor.
func (p *Processor) Event(ev hookproto.Event, replay bool) []spans.Span {
	if p.PanicOn != "" && ev.HookEventName == p.PanicOn {
		panic("daemontest: asked to panic on " + p.PanicOn)
	}
	time.Sleep(p.Delay)
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.notify()
	p.calls = append(p.calls, Call{ev, replay})
	if ev.HookEventName == hookproto.EventSessionEnd {
		p.ended[ev.SessionID] = true
	} else if ev.SessionID != "" {
		delete(p.ended, ev.SessionID) // a resumed session is open again
	}
	if p.deferring {
		p.held = append(p.held, p.span(ev))
		return nil
	}
	return []spans.Span{p.span(ev)}
}

// Deferred implements daemon.Processor: the spans of the events f feeds
// come out at the end, together.
func (p *Processor) Deferred(f func()) []spans.Span {
	p.mu.Lock()
	p.deferring = true
	p.bursts++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.deferring = false
		p.mu.Unlock()
	}()
	f()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.held
	p.held = nil
	return out
}

// Bursts counts Deferred calls.
func (p *Processor) Bursts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.bursts
}

// FileChanged implements daemon.Processor.
func (p *Processor) FileChanged(path string) []spans.Span {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.notify()
	p.files = append(p.files, path)
	sp := spans.Span{Name: "file " + filepath.Base(path), Kind: spans.KindInternal, Start: time.Unix(1, 0), End: time.Unix(2, 0)}
	h := sha256.Sum256([]byte(path))
	copy(sp.TraceID[:], h[:16])
	sp.SpanID[0] = byte(len(p.files))
	sp.SpanID[1] = 1
	return []spans.Span{sp}
}

// SetWatches sets what Watches returns.
func (p *Processor) SetWatches(paths ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watches = paths
}

// Watches implements daemon.Processor.
func (p *Processor) Watches() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.watches...)
}

// Tick implements daemon.Processor.
func (p *Processor) Tick(time.Time) []spans.Span {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ticks++
	return nil
}

// Close implements daemon.Processor.
func (p *Processor) Close(string) []spans.Span { return nil }

// Stats implements daemon.Processor.
func (p *Processor) Stats() daemon.ProcessorStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	live := map[string]bool{}
	for _, c := range p.calls {
		if c.Event.SessionID != "" && !p.ended[c.Event.SessionID] {
			live[c.Event.SessionID] = true
		}
	}
	return daemon.ProcessorStats{LiveSessions: len(live), Details: map[string]int{"events": len(p.calls)}}
}

// Rebuild implements daemon.Processor: the span Event emits for each of
// the session's events (the same ids, as a real rebuild gives).
func (p *Processor) Rebuild(id string, events []hookproto.Event) []spans.Span {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.notify()
	p.rebuilds = append(p.rebuilds, id)
	var out []spans.Span
	for _, ev := range events {
		if ev.SessionID == id {
			out = append(out, p.span(ev))
		}
	}
	return out
}

// Rebuilds returns the session ids Rebuild was called for.
func (p *Processor) Rebuilds() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.rebuilds...)
}

// SessionClosed implements daemon.Processor: closed after SessionEnd.
func (p *Processor) SessionClosed(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ended[id]
}

// Calls returns the Event calls so far.
func (p *Processor) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Call(nil), p.calls...)
}

// Files returns the FileChanged paths so far.
func (p *Processor) Files() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.files...)
}
