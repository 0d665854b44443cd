// Package session holds weave-agentd's per-session state machines: it folds
// hook events and transcript growth into the live span trees of Claude Code
// sessions (ARCHITECTURE §3–§4).
//
// The transcript is the ground truth (transcript.Builder, fed incrementally
// as files grow); hooks bring liveness and what the transcript lacks —
// turns and tools that started but whose lines have not landed yet,
// permission requests and decisions, failures, stop times, compaction
// triggers. Hook payloads arrive before the lines they describe, so nothing
// here waits for the transcript: a hook-only turn or tool is exported at
// once as an in-progress span (no end time) under the ids the transcript
// will later confirm (spanid/ids.go), and exported again when it ends.
//
// A Processor is not safe for concurrent use: the daemon serializes calls.
// It does file I/O (reading transcripts) but starts no goroutines.
package session

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// Settings configure a Processor.
type Settings struct {
	Privacy            spans.Privacy
	IntegrationVersion string
	// Input is how chat spans carry their input history
	// (spans.InputReference by default).
	Input spans.InputMode
	// IdleTimeout closes a turn that has seen no hook and no transcript
	// growth for this long (orphan_reason idle_timeout). Default 1h.
	IdleTimeout time.Duration
	// ForgetAfter drops a closed session's state this long after it ended.
	// Default 10 min.
	ForgetAfter time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
	// TranscriptRoots are the directories transcripts may be read from
	// (CheckTranscript; weave-agentd passes config.Config.TranscriptRoots:
	// Claude Code's projects directories and config.json's
	// transcript_dirs). Nil reads any transcript path:
	// tests, and callers that chose the files themselves.
	TranscriptRoots []string
}

// Stats describe the processor for `weave-agentd status`.
type Stats struct {
	LiveSessions   int   `json:"live_sessions"`
	OpenTurns      int   `json:"open_turns"`
	Events         int64 `json:"events"`
	IgnoredEvents  int64 `json:"ignored_events"`
	SpansEmitted   int64 `json:"spans_emitted"`
	MalformedLines int64 `json:"malformed_lines"`
	ReadErrors     int64 `json:"read_errors"`
	// TranscriptsRefused counts the distinct transcript paths not read
	// because they lie outside TranscriptRoots (CheckTranscript);
	// LastRefused is the latest.
	TranscriptsRefused int64  `json:"transcripts_refused"`
	LastRefused        string `json:"last_refused_transcript,omitempty"`
}

// Processor tracks every session weave-agentd has heard of.
type Processor struct {
	set      Settings
	log      *slog.Logger
	sessions map[string]*session // by session id
	byFile   map[string]*session // main and subagent transcript paths
	resolver *transcript.Resolver
	stats    Stats
	// deferring: inside Deferred, sessions are marked dirty, not rebuilt.
	deferring bool
	// refused remembers refused transcript paths (bounded), so each is
	// logged once.
	refused map[string]bool
	// rebuildAll builds every turn at every diff, fingerprints unused (the
	// reference the tests hold the incremental path to).
	rebuildAll bool
	// turnsBuilt counts spans.BuildTurn calls (tests and the benchmark).
	turnsBuilt int64
}

// New returns an empty Processor.
func New(s Settings) *Processor {
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = time.Hour
	}
	if s.ForgetAfter <= 0 {
		s.ForgetAfter = 10 * time.Minute
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	return &Processor{
		set: s, log: s.Logger,
		sessions: map[string]*session{}, byFile: map[string]*session{},
		resolver: transcript.NewResolver(), refused: map[string]bool{},
	}
}

// Stats reports the processor's counters.
func (p *Processor) Stats() Stats {
	st := p.stats
	st.LiveSessions, st.OpenTurns = 0, 0
	for _, s := range p.sessions {
		if s.ended.IsZero() {
			st.LiveSessions++
		}
		for _, lt := range s.live.Turns {
			if lt.Open() {
				st.OpenTurns++
			}
		}
	}
	return st
}

// SessionClosed reports whether the session ended (SessionEnd seen) or is
// unknown to this processor.
func (p *Processor) SessionClosed(id string) bool {
	s := p.sessions[id]
	return s == nil || !s.ended.IsZero()
}

// Watches lists the files and folders the daemon should watch: each live
// session's transcript and folder (the file is created late), and its
// subagents folder and files. An ended session's files stay watched until
// it is forgotten: Claude Code writes its transcript asynchronously, and
// the last lines (the /exit command's turn) may land after SessionEnd.
func (p *Processor) Watches() []string {
	set := map[string]bool{}
	for _, s := range p.sessions {
		set[s.path] = true
		for path := range s.subs {
			set[path] = true
		}
		if !s.ended.IsZero() {
			continue
		}
		set[filepath.Dir(s.path)] = true
		set[transcript.SubagentDir(s.path)] = true
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FileChanged reads what a watched file gained and returns changed spans.
// A change to a session folder or subagents folder discovers new files.
func (p *Processor) FileChanged(path string) []spans.Span {
	if s := p.byFile[path]; s != nil {
		p.read(s)
		return p.diff(s)
	}
	var out []spans.Span
	for _, s := range p.sessions {
		if !s.ended.IsZero() {
			continue
		}
		if path == filepath.Dir(s.path) || path == transcript.SubagentDir(s.path) || strings.HasPrefix(path, transcript.SubagentDir(s.path)+string(filepath.Separator)) {
			if strings.HasSuffix(path, ".jsonl") {
				p.trackSubagent(s, path)
			}
			p.read(s)
			out = append(out, p.diff(s)...)
		}
	}
	return out
}

// Tick closes turns idle past IdleTimeout and forgets sessions that ended
// long enough ago.
func (p *Processor) Tick(now time.Time) []spans.Span {
	var out []spans.Span
	for id, s := range p.sessions {
		if !s.ended.IsZero() {
			if now.Sub(s.ended) > p.set.ForgetAfter {
				p.forget(id, s)
			}
			continue
		}
		if now.Sub(s.lastSeen) > p.set.IdleTimeout && s.hasOpen() {
			p.read(s)
			s.closeOpen("idle_timeout", now)
			out = append(out, p.diff(s)...)
		}
	}
	return out
}

// Close ends everything still open with orphan_reason = reason.
func (p *Processor) Close(reason string) []spans.Span {
	now := p.set.Now()
	var out []spans.Span
	ids := make([]string, 0, len(p.sessions))
	for id := range p.sessions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		s := p.sessions[id]
		if s.ended.IsZero() && s.hasOpen() {
			p.read(s)
			s.closeOpen(reason, now)
			out = append(out, p.diff(s)...)
		}
	}
	return out
}

func (p *Processor) forget(id string, s *session) {
	delete(p.sessions, id)
	if p.byFile[s.path] == s {
		delete(p.byFile, s.path)
	}
	for path := range s.subs {
		delete(p.byFile, path)
	}
	p.resolver.Forget(s.path)
}

// Rebuild builds one session's spans from scratch in a processor of its
// own (the live state is not touched): its journaled events replayed in
// order, or, with none, its transcript alone, found under TranscriptRoots
// as <project>/<sessionID>.jsonl. It returns every span of the session,
// nil when there is nothing to build from. The daemon re-sends from them
// the spans a damaged spool record lost; ids are deterministic, so they
// are the ones lost.
func (p *Processor) Rebuild(sessionID string, events []hookproto.Event) []spans.Span {
	if len(events) == 0 {
		path := p.findTranscript(sessionID)
		if path == "" {
			return nil
		}
		at := p.set.Now()
		if fi, err := os.Stat(path); err == nil {
			at = fi.ModTime()
		}
		events = []hookproto.Event{{SessionID: sessionID, TranscriptPath: path, HookEventName: hookproto.EventSessionStart, ReceivedAt: at}}
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

// Deferred runs f, during which Event, FileChanged, Tick and Close only
// update state and return no spans, then diffs each session they touched
// once and returns the spans that changed. A diff builds only the turns
// that changed, but assembling the session model and fingerprinting its
// turns still passes over the whole session (well under a millisecond for
// 300 turns), and a turn that changes at every event of a burst is built
// once, so the daemon feeds a burst of queued events, or the journal at
// start-up, through one call instead of diffing after each.
func (p *Processor) Deferred(f func()) []spans.Span {
	p.deferring = true
	defer func() { p.deferring = false }()
	f()
	p.deferring = false
	ids := make([]string, 0, len(p.sessions))
	for id, s := range p.sessions {
		if s.dirty {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []spans.Span
	for _, id := range ids {
		out = append(out, p.diff(p.sessions[id])...)
	}
	return out
}
