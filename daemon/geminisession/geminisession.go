// Package geminisession is weave-agentd's live path for Gemini CLI
// sessions: hook events (`weave-hook --agent gemini-cli`) and the
// session's chat file (package geminichat) → the same span trees as for
// Claude Code. The chat file is the ground truth; hooks name the file,
// say when a turn is over (AfterAgent) and when the session ends.
//
// Gemini CLI's hooks carry no turn or tool call id (testdata/gemini/
// FINDINGS.md), so a turn is shown from the moment its prompt is in the
// chat file (about 0.1 s after BeforeAgent) and a tool call once Gemini CLI
// writes its entry (when the response's calls are done): nothing is ever
// emitted under an id an import would not give.
//
// Each change reads the chat file again, overlays what only hooks know and
// returns the spans whose content changed (spans.Span.Hash), so a running
// turn's root goes out at once without an end time and again when it ends.
package geminisession

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/weavetrace/weave/daemon/agentsession"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/geminichat"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// Gemini CLI hook events (hookproto.Event.HookEventName).
const (
	EventSessionStart = "SessionStart"
	EventSessionEnd   = "SessionEnd"
	EventBeforeAgent  = "BeforeAgent"
	EventAfterAgent   = "AfterAgent"
	EventBeforeTool   = "BeforeTool"
	EventAfterTool    = "AfterTool"
)

// Settings configure a Processor; Roots are the directories session
// files may be read from.
type Settings = agentsession.Settings

// Stats describe the processor for `weave-agentd status`.
type Stats = agentsession.Stats

// Processor tracks every Gemini CLI session weave-agentd has heard of.
type Processor struct {
	set       Settings
	log       *slog.Logger
	sessions  map[string]*state
	byFile    map[string]*state
	stats     Stats
	deferring bool
	guard     agentsession.Guard
}

// state is one Gemini CLI session.
type state struct {
	id   string
	path string // the chat file ("" until a hook names it)
	live spans.Live
	// prompts: BeforeAgent seen, the turn not yet in the chat file.
	prompts int
	// stops: AfterAgent prompts whose turn is not marked stopped yet.
	stops    []stop
	exported map[spans.SpanID]uint64
	lastSeen time.Time
	ended    time.Time
	dirty    bool
}

type stop struct {
	prompt string
	at     time.Time
}

// New returns an empty Processor.
func New(s Settings) *Processor {
	s = s.WithDefaults()
	p := &Processor{set: s, log: s.Logger, sessions: map[string]*state{}, byFile: map[string]*state{}}
	p.guard = agentsession.Guard{Roots: s.Roots, What: "chat file", Log: s.Logger, Stats: &p.stats}
	return p
}

// Stats returns the processor's figures.
func (p *Processor) Stats() Stats {
	st := p.stats
	st.LiveSessions = 0
	for _, s := range p.sessions {
		if s.ended.IsZero() {
			st.LiveSessions++
		}
	}
	return st
}

// Has reports whether the processor tracks a session (the router asks).
func (p *Processor) Has(sessionID string) bool { return p.sessions[sessionID] != nil }

// Owns reports whether path is the chat file of a tracked session.
func (p *Processor) Owns(path string) bool { return p.byFile[path] != nil }

// SessionClosed reports whether a session has ended (SessionEnd).
func (p *Processor) SessionClosed(id string) bool {
	s := p.sessions[id]
	return s == nil || !s.ended.IsZero()
}

// Watches lists the chat files of live sessions.
func (p *Processor) Watches() []string {
	var out []string
	for path, s := range p.byFile {
		if s.ended.IsZero() {
			out = append(out, path)
		}
	}
	sort.Strings(out)
	return out
}

func (p *Processor) allowed(path string) bool { return p.guard.Allowed(path) }

func (p *Processor) session(id string) *state {
	s := p.sessions[id]
	if s == nil {
		s = &state{id: id, exported: map[spans.SpanID]uint64{},
			live: spans.Live{Turns: map[string]*spans.LiveTurn{}, Tools: map[string]*spans.LiveTool{}, Agents: map[string]*spans.LiveAgent{}}}
		p.sessions[id] = s
	}
	return s
}

// Event folds one hook event of a Gemini CLI session.
func (p *Processor) Event(ev hookproto.Event, replay bool) []spans.Span {
	p.stats.Events++
	if ev.SessionID == "" {
		p.stats.IgnoredEvents++
		return nil
	}
	s := p.session(ev.SessionID)
	now := ev.ReceivedAt
	if now.IsZero() {
		now = p.set.Now()
	}
	s.lastSeen = now
	if !s.ended.IsZero() && ev.HookEventName != EventSessionEnd {
		s.ended = time.Time{} // resumed (gemini --resume)
	}
	if ev.TranscriptPath != "" && ev.TranscriptPath != s.path && p.allowed(ev.TranscriptPath) {
		if s.path != "" {
			delete(p.byFile, s.path)
		}
		s.path = ev.TranscriptPath
		p.byFile[s.path] = s
	}
	switch ev.HookEventName {
	case EventSessionStart:
		s.live.Source = ev.Source
	case EventBeforeAgent:
		s.supersede(now)
		s.prompts++
	case EventAfterAgent:
		s.stops = append(s.stops, stop{prompt: ev.Prompt, at: now})
	case EventSessionEnd:
		s.prompts = 0
		s.closeOpen("session_ended", now)
		s.ended = now
	case EventBeforeTool, EventAfterTool:
		// No call id to name the tool by: its span comes with its entry in
		// the chat file.
	default:
		p.stats.IgnoredEvents++
	}
	return p.diff(s)
}

// supersede ends the open turns: a new prompt started.
func (s *state) supersede(now time.Time) {
	for _, lt := range s.live.Turns {
		if lt.Open() {
			lt.Superseded = now
		}
	}
}

// closeOpen ends every open turn with reason.
func (s *state) closeOpen(reason string, now time.Time) {
	for _, lt := range s.live.Turns {
		if lt.Open() {
			lt.Closed, lt.ClosedAt = reason, now
		}
	}
}

func (s *state) hasOpen() bool {
	for _, lt := range s.live.Turns {
		if lt.Open() {
			return true
		}
	}
	return false
}

// FileChanged handles growth of a watched chat file.
func (p *Processor) FileChanged(path string) []spans.Span {
	s := p.byFile[path]
	if s == nil {
		return nil
	}
	s.lastSeen = p.set.Now()
	return p.diff(s)
}

// Tick closes turns idle past IdleTimeout and forgets ended sessions.
func (p *Processor) Tick(now time.Time) []spans.Span {
	var out []spans.Span
	for id, s := range p.sessions {
		if !s.ended.IsZero() {
			if now.Sub(s.ended) > p.set.ForgetAfter {
				delete(p.sessions, id)
				delete(p.byFile, s.path)
			}
			continue
		}
		if now.Sub(s.lastSeen) > p.set.IdleTimeout && s.hasOpen() {
			s.closeOpen("idle_timeout", now)
			out = append(out, p.diff(s)...)
		}
	}
	return out
}

// Close ends everything still open with reason.
func (p *Processor) Close(reason string) []spans.Span {
	now := p.set.Now()
	var out []spans.Span
	for _, id := range p.ids(func(s *state) bool { return s.ended.IsZero() && s.hasOpen() }) {
		s := p.sessions[id]
		s.closeOpen(reason, now)
		out = append(out, p.diff(s)...)
	}
	return out
}

// ids lists the sessions keep selects, sorted.
func (p *Processor) ids(keep func(*state) bool) []string {
	var ids []string
	for id, s := range p.sessions {
		if keep(s) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Deferred runs f with rebuilds postponed, then rebuilds each touched
// session once.
func (p *Processor) Deferred(f func()) []spans.Span {
	p.deferring = true
	defer func() { p.deferring = false }()
	f()
	p.deferring = false
	var out []spans.Span
	for _, id := range p.ids(func(s *state) bool { return s.dirty }) {
		out = append(out, p.diff(p.sessions[id])...)
	}
	return out
}

// Rebuild builds one session's spans from scratch: from its journaled
// events, or with none from its chat file alone, found under Roots.
func (p *Processor) Rebuild(sessionID string, events []hookproto.Event) []spans.Span {
	if len(events) == 0 {
		path := ""
		for _, root := range p.set.Roots {
			if path = geminichat.FindSession(root, sessionID); path != "" {
				break
			}
		}
		if path == "" {
			return nil
		}
		at := p.set.Now()
		if fi, err := os.Stat(path); err == nil {
			at = fi.ModTime()
		}
		events = []hookproto.Event{{SessionID: sessionID, TranscriptPath: path, HookEventName: EventSessionStart, ReceivedAt: at, Agent: hookproto.AgentGemini}}
	}
	q := New(p.set)
	return q.Deferred(func() {
		for _, ev := range events {
			if ev.SessionID == sessionID {
				q.Event(ev, true)
			}
		}
	})
}

// snapshot reads the session's chat file and overlays what hooks know:
// a turn first seen while a BeforeAgent waits for it is running, an
// earlier one (history of a resumed session, a daemon started late) is
// over; AfterAgent stops the newest open turn of its prompt. Nil until a
// hook names the file.
func (p *Processor) snapshot(s *state) *transcript.Session {
	if s.path == "" {
		return nil
	}
	b, err := geminichat.ReadFile(s.path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			p.stats.ReadErrors++
			p.log.Warn("geminisession: read chat file", "path", s.path, "err", err)
		}
		b = geminichat.NewBuilder(s.path)
	}
	ts := b.Session()
	geminichat.Link(b, ts) // subagents: their files are complete once the call is written
	if ts.ID == "" || ts.ID != s.id {
		ts.ID, ts.ConversationID = s.id, s.id
	}
	for _, t := range ts.Turns {
		lt := s.live.Turns[t.Key]
		if lt == nil {
			lt = &spans.LiveTurn{}
			if s.prompts > 0 {
				s.prompts--
				s.supersede(t.Start)
			} else {
				lt.Stopped = t.End
			}
			s.live.Turns[t.Key] = lt
		}
	}
	kept := s.stops[:0]
	for _, st := range s.stops {
		if t := openTurn(ts, s.live, st.prompt); t != nil {
			s.live.Turns[t.Key].Stopped = st.at
		} else if st.at.After(p.set.Now().Add(-time.Minute)) {
			kept = append(kept, st) // its turn may not be read yet
		}
	}
	s.stops = kept
	for _, t := range ts.Turns {
		// A stopped turn ends where its chat file says, as an import has it.
		if lt := s.live.Turns[t.Key]; !lt.Stopped.IsZero() && !t.End.IsZero() {
			lt.Stopped = t.End
		}
	}
	return ts
}

// openTurn is the newest open turn whose prompt is prompt (else the newest
// open one).
func openTurn(ts *transcript.Session, live spans.Live, prompt string) *transcript.Turn {
	var any *transcript.Turn
	for i := len(ts.Turns) - 1; i >= 0; i-- {
		t := ts.Turns[i]
		if !live.Turns[t.Key].Open() {
			continue
		}
		if t.Prompt == prompt {
			return t
		}
		if any == nil {
			any = t
		}
	}
	return any
}

// diff rebuilds s and returns the spans that changed since last returned.
func (p *Processor) diff(s *state) []spans.Span {
	if p.deferring {
		s.dirty = true
		return nil
	}
	s.dirty = false
	ts := p.snapshot(s)
	if ts == nil {
		return nil
	}
	live := s.live
	out := agentsession.Changed(ts, &live, p.set, s.exported)
	p.stats.SpansEmitted += int64(len(out))
	return out
}

// Roots are the directories Gemini CLI's chat files may be read from:
// ~/.gemini/tmp and, when set, $GEMINI_CLI_HOME/.gemini/tmp.
func Roots(home string, getenv func(string) string) []string {
	roots := []string{} // never nil: nil would read any path
	if home != "" {
		roots = append(roots, filepath.Join(home, ".gemini", "tmp"))
	}
	if d := getenv("GEMINI_CLI_HOME"); d != "" && filepath.IsAbs(d) {
		roots = append(roots, filepath.Join(d, ".gemini", "tmp"))
	}
	return roots
}
