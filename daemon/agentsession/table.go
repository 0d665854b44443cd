package agentsession

import (
	"sort"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

// Session is what every agent's live path keeps of one session.
type Session struct {
	ID       string
	Live     spans.Live
	Exported map[spanid.SpanID]uint64 // span id → spans.Span.Hash last emitted
	LastSeen time.Time
	Ended    time.Time // SessionEnd (zero while the session runs)
	Dirty    bool      // changed while rebuilds were deferred
}

// NewSession returns an empty session.
func NewSession(id string) Session {
	return Session{ID: id, Exported: map[spanid.SpanID]uint64{},
		Live: spans.Live{Turns: map[string]*spans.LiveTurn{}, Tools: map[string]*spans.LiveTool{}, Agents: map[string]*spans.LiveAgent{}}}
}

// Turn returns the live turn of key, made on first use.
func (s *Session) Turn(key string) *spans.LiveTurn {
	lt := s.Live.Turns[key]
	if lt == nil {
		lt = &spans.LiveTurn{}
		s.Live.Turns[key] = lt
	}
	return lt
}

// CloseOpen ends every open turn and tool with reason.
func (s *Session) CloseOpen(reason string, now time.Time) {
	for _, lt := range s.Live.Turns {
		if lt.Open() {
			lt.Closed, lt.ClosedAt = reason, now
		}
	}
	for _, lt := range s.Live.Tools {
		if lt.End.IsZero() && lt.Closed == "" {
			lt.Closed = reason
		}
	}
}

// Seen records an event of the session at now: a session that had ended
// runs again on any event but its end (the agent resumed it).
func (s *Session) Seen(now time.Time, end bool) {
	s.LastSeen = now
	if !end {
		s.Ended = time.Time{}
	}
}

// HasOpen reports whether a turn is still open.
func (s *Session) HasOpen() bool {
	for _, lt := range s.Live.Turns {
		if lt.Open() {
			return true
		}
	}
	return false
}

// Table is an agent's sessions and the files they own, with what every
// agent's Processor does alike: figures, file ownership, watches, idle
// timeouts, forgetting ended sessions, closing and deferred rebuilds. The
// agent's package supplies the rebuild (Diff).
type Table[S interface{ Core() *Session }] struct {
	Set      Settings
	Figures  Stats
	Sessions map[string]S
	ByFile   map[string]S
	Guard    Guard
	// Diff rebuilds a session and returns the spans that changed.
	Diff      func(S) []spans.Span
	deferring bool
}

// Init readies t for set; what names the agent's files in the log.
func (t *Table[S]) Init(set Settings, what string, diff func(S) []spans.Span) {
	t.Set = set.WithDefaults()
	t.Sessions, t.ByFile, t.Diff = map[string]S{}, map[string]S{}, diff
	t.Guard = Guard{Roots: t.Set.Roots, What: what, Log: t.Set.Logger, Stats: &t.Figures}
}

// Update rebuilds s now, or once the deferred work is done.
func (t *Table[S]) Update(s S) []spans.Span {
	if t.deferring {
		s.Core().Dirty = true
		return nil
	}
	s.Core().Dirty = false
	out := t.Diff(s)
	t.Figures.SpansEmitted += int64(len(out))
	return out
}

// Arrive counts one hook event and returns the time it was received (the
// clock's now when the event carries none); ok is false, and the event
// counted as ignored, when it names no session.
func (t *Table[S]) Arrive(ev *hookproto.Event) (now time.Time, ok bool) {
	t.Figures.Events++
	if ev.SessionID == "" {
		t.Figures.IgnoredEvents++
		return time.Time{}, false
	}
	now = ev.ReceivedAt
	if now.IsZero() {
		now = t.Set.Now()
	}
	return now, true
}

// Stats returns the figures, with the live sessions counted.
func (t *Table[S]) Stats() Stats {
	st := t.Figures
	st.LiveSessions = 0
	for _, s := range t.Sessions {
		if s.Core().Ended.IsZero() {
			st.LiveSessions++
		}
	}
	return st
}

// Has reports whether a session is tracked (the router asks).
func (t *Table[S]) Has(id string) bool { _, ok := t.Sessions[id]; return ok }

// Owns reports whether path is a file of a tracked session.
func (t *Table[S]) Owns(path string) bool { _, ok := t.ByFile[path]; return ok }

// SessionClosed reports whether a session has ended (SessionEnd).
func (t *Table[S]) SessionClosed(id string) bool {
	s, ok := t.Sessions[id]
	return !ok || !s.Core().Ended.IsZero()
}

// Watches lists the files of live sessions.
func (t *Table[S]) Watches() []string {
	var out []string
	for path, s := range t.ByFile {
		if s.Core().Ended.IsZero() {
			out = append(out, path)
		}
	}
	sort.Strings(out)
	return out
}

// FileChanged handles growth of a watched file.
func (t *Table[S]) FileChanged(path string) []spans.Span {
	s, ok := t.ByFile[path]
	if !ok {
		return nil
	}
	s.Core().LastSeen = t.Set.Now()
	return t.Update(s)
}

// Tick closes turns idle past IdleTimeout and forgets sessions ended
// ForgetAfter ago.
func (t *Table[S]) Tick(now time.Time) []spans.Span {
	var out []spans.Span
	for _, id := range t.ids(func(S) bool { return true }) {
		s := t.Sessions[id]
		c := s.Core()
		if !c.Ended.IsZero() {
			if now.Sub(c.Ended) > t.Set.ForgetAfter {
				t.forget(id, s)
			}
			continue
		}
		if now.Sub(c.LastSeen) > t.Set.IdleTimeout && c.HasOpen() {
			c.CloseOpen("idle_timeout", now)
			out = append(out, t.Update(s)...)
		}
	}
	return out
}

func (t *Table[S]) forget(id string, s S) {
	delete(t.Sessions, id)
	for path, o := range t.ByFile {
		if o.Core() == s.Core() {
			delete(t.ByFile, path)
		}
	}
}

// Close ends everything still open with reason.
func (t *Table[S]) Close(reason string) []spans.Span {
	now := t.Set.Now()
	var out []spans.Span
	for _, id := range t.ids(func(s S) bool { return s.Core().Ended.IsZero() && s.Core().HasOpen() }) {
		s := t.Sessions[id]
		s.Core().CloseOpen(reason, now)
		out = append(out, t.Update(s)...)
	}
	return out
}

// Deferred runs f with rebuilds postponed, then rebuilds each touched
// session once.
func (t *Table[S]) Deferred(f func()) []spans.Span {
	t.deferring = true
	defer func() { t.deferring = false }()
	f()
	t.deferring = false
	var out []spans.Span
	for _, id := range t.ids(func(s S) bool { return s.Core().Dirty }) {
		out = append(out, t.Update(t.Sessions[id])...)
	}
	return out
}

// ids lists the sessions keep selects, sorted.
func (t *Table[S]) ids(keep func(S) bool) []string {
	var ids []string
	for id, s := range t.Sessions {
		if keep(s) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}
