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
	agentsession.Table[*state]
	log *slog.Logger
}

// state is one Gemini CLI session.
type state struct {
	agentsession.Session
	path string // the chat file ("" until a hook names it)
	// prompts: BeforeAgent seen, the turn not yet in the chat file.
	prompts int
	// stops: AfterAgent prompts whose turn is not marked stopped yet.
	stops []stop
}

func (s *state) Core() *agentsession.Session { return &s.Session }

type stop struct {
	prompt string
	at     time.Time
}

// New returns an empty Processor.
func New(s Settings) *Processor {
	p := &Processor{}
	p.Init(s, "chat file", p.diff)
	p.log = p.Set.Logger
	return p
}

func (p *Processor) session(id string) *state {
	s := p.Sessions[id]
	if s == nil {
		s = &state{Session: agentsession.NewSession(id)}
		p.Sessions[id] = s
	}
	return s
}

// Event folds one hook event of a Gemini CLI session.
func (p *Processor) Event(ev hookproto.Event, replay bool) []spans.Span {
	now, ok := p.Arrive(&ev)
	if !ok {
		return nil
	}
	s := p.session(ev.SessionID)
	s.Seen(now, ev.HookEventName == EventSessionEnd) // resumed: gemini --resume
	if ev.TranscriptPath != "" && ev.TranscriptPath != s.path && p.Guard.Allowed(ev.TranscriptPath) {
		if s.path != "" {
			delete(p.ByFile, s.path)
		}
		s.path = ev.TranscriptPath
		p.ByFile[s.path] = s
	}
	switch ev.HookEventName {
	case EventSessionStart:
		s.Live.Source = ev.Source
	case EventBeforeAgent:
		s.supersede(now)
		s.prompts++
	case EventAfterAgent:
		s.stops = append(s.stops, stop{prompt: ev.Prompt, at: now})
	case EventSessionEnd:
		s.prompts = 0
		s.CloseOpen("session_ended", now)
		s.Ended = now
	case EventBeforeTool, EventAfterTool:
		// No call id to name the tool by: its span comes with its entry in
		// the chat file.
	default:
		p.Figures.IgnoredEvents++
	}
	return p.Update(s)
}

// supersede ends the open turns: a new prompt started.
func (s *state) supersede(now time.Time) {
	for _, lt := range s.Live.Turns {
		if lt.Open() {
			lt.Superseded = now
		}
	}
}

// Rebuild builds one session's spans from scratch: from its journaled
// events, or with none from its chat file alone, found under Roots.
func (p *Processor) Rebuild(sessionID string, events []hookproto.Event) []spans.Span {
	if len(events) == 0 {
		path := ""
		for _, root := range p.Set.Roots {
			if path = geminichat.FindSession(root, sessionID); path != "" {
				break
			}
		}
		if path == "" {
			return nil
		}
		at := p.Set.Now()
		if fi, err := os.Stat(path); err == nil {
			at = fi.ModTime()
		}
		events = []hookproto.Event{{SessionID: sessionID, TranscriptPath: path, HookEventName: EventSessionStart, ReceivedAt: at, Agent: hookproto.AgentGemini}}
	}
	q := New(p.Set)
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
			p.Figures.ReadErrors++
			p.log.Warn("geminisession: read chat file", "path", s.path, "err", err)
		}
		b = geminichat.NewBuilder(s.path)
	}
	ts := b.Session()
	geminichat.Link(b, ts) // subagents: their files are complete once the call is written
	if ts.ID == "" || ts.ID != s.ID {
		ts.ID, ts.ConversationID = s.ID, s.ID
	}
	for _, t := range ts.Turns {
		lt := s.Live.Turns[t.Key]
		if lt == nil {
			lt = &spans.LiveTurn{}
			if s.prompts > 0 {
				s.prompts--
				s.supersede(t.Start)
			} else {
				lt.Stopped = t.End
			}
			s.Live.Turns[t.Key] = lt
		}
	}
	kept := s.stops[:0]
	for _, st := range s.stops {
		if t := openTurn(ts, s.Live, st.prompt); t != nil {
			s.Live.Turns[t.Key].Stopped = st.at
		} else if st.at.After(p.Set.Now().Add(-time.Minute)) {
			kept = append(kept, st) // its turn may not be read yet
		}
	}
	s.stops = kept
	for _, t := range ts.Turns {
		// A stopped turn ends where its chat file says, as an import has it.
		if lt := s.Live.Turns[t.Key]; !lt.Stopped.IsZero() && !t.End.IsZero() {
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
	ts := p.snapshot(s)
	if ts == nil {
		return nil
	}
	live := s.Live
	return agentsession.Changed(ts, &live, p.Set, s.Exported)
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
