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
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
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

// maxRefusedPaths bounds the refused paths remembered for logging.
const maxRefusedPaths = 1024

// allowed applies CheckTranscript; a refused path is counted and logged
// the first time it is refused.
func (p *Processor) allowed(path string) bool {
	if p.set.TranscriptRoots == nil {
		return true
	}
	err := CheckTranscript(path, p.set.TranscriptRoots)
	if err == nil {
		return true
	}
	if !p.refused[path] {
		if len(p.refused) >= maxRefusedPaths {
			clear(p.refused)
		}
		p.refused[path] = true
		p.stats.TranscriptsRefused++
		p.stats.LastRefused = path
		p.log.Warn("session: transcript refused, outside the Claude Code projects directories (add its projects directory to transcript_dirs in config.json if it is yours)",
			"path", path, "err", err)
	}
	return false
}

// session is one Claude Code session (one main transcript file).
type session struct {
	id      string
	path    string
	main    *fileState
	subs    map[string]*fileState // subagent transcript path → state
	live    spans.Live
	pending map[string]*pendingTool // hook tools not (yet) in the transcript
	// hookTurns are turns known from UserPromptSubmit, in order.
	hookTurns []string
	// dirty: changed while the processor was deferring (see Deferred).
	dirty bool
	// agentTurn is the turn (prompt_id of SubagentStart) that spawned each
	// subagent: a background subagent's tool hooks carry the prompt_id of
	// whatever turn is current when they fire, not of its own.
	agentTurn map[string]string
	lastSeen  time.Time
	ended     time.Time // SessionEnd receipt (zero while open)
	// exported is the hash of each span's last exported version.
	exported map[spanid.SpanID]uint64
	// built is the fingerprint (spans.Fingerprinter) of each turn, by key,
	// when its spans were last built and compared with exported: a turn
	// whose fingerprint is the same builds to the same spans, so diff
	// skips it.
	built map[string]uint64
	// running holds, by turn key, the spans the turn's last build exported
	// running, to close the ones a later build no longer produces (see
	// dropRunning).
	running map[string]map[spanid.SpanID]spans.Span
	// instructions are CLAUDE.md files InstructionsLoaded reported.
	instructions []string
}

type fileState struct {
	path string
	b    *transcript.Builder
	off  int64
	meta transcript.Meta
	// hasMeta: the subagent's .meta.json was read.
	hasMeta bool
}

type pendingTool struct {
	id, name, agentID, promptID string
	input                       json.RawMessage
	start                       time.Time
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

// session returns the session with id, creating it (and reading its
// transcript from the start) the first time any event names it: an unknown
// id is never dropped (a fork's first hooks, a daemon restart).
func (p *Processor) session(id, path string) *session {
	if path != "" && !p.allowed(path) {
		path = "" // the session goes on from its hooks alone
	}
	if s := p.sessions[id]; s != nil {
		if s.path == "" && path != "" {
			s.path = path
			s.main = &fileState{path: path, b: transcript.NewBuilder(path)}
			p.byFile[path] = s
		}
		return s
	}
	s := &session{id: id, path: path, subs: map[string]*fileState{}, pending: map[string]*pendingTool{},
		exported: map[spanid.SpanID]uint64{}, built: map[string]uint64{}, running: map[string]map[spanid.SpanID]spans.Span{}, agentTurn: map[string]string{},
		live: spans.Live{Turns: map[string]*spans.LiveTurn{}, Tools: map[string]*spans.LiveTool{}, Agents: map[string]*spans.LiveAgent{}}}
	if path != "" {
		s.main = &fileState{path: path, b: transcript.NewBuilder(path)}
		// A transcript path naming another session (SessionStart of a
		// --fork-session in 2.1.197 carries the parent's): keep the file
		// mapped to the session it belongs to.
		if p.byFile[path] == nil || sessionOf(path) == id {
			p.byFile[path] = s
		}
		for _, sp := range transcript.SubagentPaths(path) {
			p.trackSubagent(s, sp)
		}
	}
	p.sessions[id] = s
	return s
}

func sessionOf(path string) string {
	return strings.TrimSuffix(filepath.Base(path), ".jsonl")
}

func (p *Processor) trackSubagent(s *session, path string) {
	if s.subs[path] != nil || !strings.HasSuffix(path, ".jsonl") || !p.allowed(path) {
		return
	}
	s.subs[path] = &fileState{path: path, b: transcript.SubagentBuilder(path)}
	p.byFile[path] = s
}

// read feeds every tracked file's new complete lines to its builder.
func (p *Processor) read(s *session) {
	if s.main != nil {
		p.readFile(s.main)
	}
	for _, fs := range s.subs {
		p.readFile(fs)
		if !fs.hasMeta {
			if m, err := transcript.ReadMeta(fs.path); err == nil {
				fs.meta, fs.hasMeta = m, true
			}
		}
	}
}

func (p *Processor) readFile(fs *fileState) {
	if !p.allowed(fs.path) { // again: it may have been swapped for a symlink
		return
	}
	f, err := transcript.Open(fs.path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			p.stats.ReadErrors++
			p.log.Warn("transcript unreadable", "path", fs.path, "err", err)
		}
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < fs.off {
		// The file shrank (rewritten): start over.
		fs.b, fs.off = rebuilder(fs), 0
	}
	if _, err := f.Seek(fs.off, io.SeekStart); err != nil {
		p.stats.ReadErrors++
		return
	}
	d := transcript.NewDecoder(f, fs.off)
	for {
		l, err := d.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				p.stats.ReadErrors++
			}
			break
		}
		fs.b.Add(l)
	}
	st := d.Stats()
	p.stats.MalformedLines += st.Malformed + st.TooLong
	fs.off = d.Offset()
}

func rebuilder(fs *fileState) *transcript.Builder {
	if filepath.Base(filepath.Dir(fs.path)) == "subagents" {
		return transcript.SubagentBuilder(fs.path)
	}
	return transcript.NewBuilder(fs.path)
}

// snapshot assembles the session model: the builders' transcript state,
// overlaid with what only hooks know so far (turns and tools whose lines
// have not landed), then linked and placed in its fork chain. The builders'
// values are not modified except through Link, which recomputes its
// outputs from scratch every time.
func (p *Processor) snapshot(s *session) *transcript.Session {
	var base *transcript.Session
	if s.main != nil {
		base = s.main.b.Session()
	} else {
		base = &transcript.Session{ID: s.id}
	}
	ts := *base
	if ts.ID == "" || ts.ID != s.id && len(ts.Turns) == 0 {
		ts.ID = s.id
	}
	paths := make([]string, 0, len(s.subs))
	for path := range s.subs {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	ts.Subagents = nil
	for _, path := range paths {
		fs := s.subs[path]
		if len(fs.b.Session().Turns) == 0 {
			continue // not written yet, or never (compaction's SubagentStop)
		}
		ts.Subagents = append(ts.Subagents, transcript.SubagentFrom(path, fs.b, fs.meta))
	}
	if s.path != "" {
		p.resolver.Forget(s.path)
		p.resolver.Resolve(base)
		ts.ParentSessionID, ts.ConversationID, ts.ForkKind = base.ParentSessionID, base.ConversationID, base.ForkKind
	}
	ts.Turns = s.overlay(base, ts.Subagents)
	transcript.Link(&ts)
	return &ts
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

// diff returns the session's spans that changed since they were last
// returned (while deferring: marks the session for Deferred to rebuild).
//
// It builds only the turns whose fingerprint changed since they were last
// built: everything BuildTurn reads for a turn is in its fingerprint
// (spans.Fingerprinter), and the spans of an unchanged turn are those
// exported holds, since only building that turn writes its span ids
// (derived from its key). Turns sharing a key, and turns the fingerprint
// cannot vouch for, are built every time.
func (p *Processor) diff(s *session) []spans.Span {
	if p.deferring {
		s.dirty = true
		return nil
	}
	s.dirty = false
	ts := p.snapshot(s)
	live := s.live
	opts := spans.Options{Privacy: p.set.Privacy, IntegrationVersion: p.set.IntegrationVersion, Live: &live, Input: p.set.Input}
	fp := spans.NewFingerprinter(ts, &live, opts.Input)
	keys := make(map[string]int, len(ts.Turns))
	for _, t := range ts.Turns {
		if !t.Copied {
			keys[t.Key]++
		}
	}
	var out []spans.Span
	b := turnBuilds{}
	for _, t := range ts.Turns {
		if t.Copied {
			continue
		}
		sum, ok := fp.Turn(t)
		ok = ok && keys[t.Key] == 1 && !p.rebuildAll
		if was, seen := s.built[t.Key]; ok && seen && was == sum {
			continue
		}
		p.turnsBuilt++
		for _, sp := range spans.BuildTurn(ts, t, opts) {
			b.note(t, sp)
			h := sp.Hash()
			if s.exported[sp.SpanID] == h {
				continue
			}
			s.exported[sp.SpanID] = h
			out = append(out, sp)
		}
		if ok {
			s.built[t.Key] = sum
		} else {
			delete(s.built, t.Key)
		}
	}
	out = append(out, s.dropRunning(b, keys)...)
	p.stats.SpansEmitted += int64(len(out))
	return out
}

// overlay returns copies of the transcript's turns with the tools only
// hooks know about added, plus the turns only hooks know about yet.
func (s *session) overlay(ts *transcript.Session, subs []*transcript.Subagent) []*transcript.Turn {
	byKey := make(map[string]*transcript.Turn, len(ts.Turns)+len(s.hookTurns))
	out := make([]*transcript.Turn, 0, len(ts.Turns)+len(s.hookTurns))
	copies := make([]transcript.Turn, len(ts.Turns))
	for i, t := range ts.Turns {
		c := &copies[i]
		*c = *t
		out = append(out, c)
		if !t.Copied {
			byKey[t.Key] = c
		}
	}
	n := len(ts.Turns)
	for _, key := range s.hookTurns {
		if byKey[key] != nil || copiedKey(ts, key) {
			continue
		}
		lt := s.live.Turns[key]
		n++
		t := &transcript.Turn{Key: key, PromptID: key, Number: n, Start: lt.Start, End: lt.Start, Origin: "user"}
		byKey[key] = t
		out = append(out, t)
	}
	// Tools the hooks started that the transcript does not show yet.
	ids := make([]string, 0, len(s.pending))
	for id := range s.pending {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		pt := s.pending[id]
		if s.inTranscript(id) {
			delete(s.pending, id)
			continue
		}
		t := byKey[s.toolTurn(pt, subs)]
		if t == nil {
			t = lastOwn(out)
		}
		if t == nil {
			continue
		}
		// Tools run inside a subagent (agent_id) stay with the turn until
		// the subagent's transcript shows them; Link cannot place them
		// earlier, and the transcript's version replaces this one.
		t.Tools = append(append([]*transcript.ToolCall(nil), t.Tools...),
			&transcript.ToolCall{ID: id, Name: pt.name, Input: pt.input, Start: pt.start})
	}
	return out
}

// inTranscript reports whether the session's transcripts (main or a
// subagent's) hold the tool call.
func (s *session) inTranscript(id string) bool {
	if s.main != nil && s.main.b.ToolCall(id) != nil {
		return true
	}
	for _, fs := range s.subs {
		if fs.b.ToolCall(id) != nil {
			return true
		}
	}
	return false
}

// toolTurn is the key of the turn a hook-only tool belongs to: its
// subagent's turn for a tool run inside one (SubagentStart's prompt_id,
// else the prompt id on the subagent's transcript lines), else its own
// prompt_id.
func (s *session) toolTurn(pt *pendingTool, subs []*transcript.Subagent) string {
	if pt.agentID == "" {
		return pt.promptID
	}
	if k := s.agentTurn[pt.agentID]; k != "" {
		return k
	}
	for _, a := range subs {
		if a.AgentID == pt.agentID && a.PromptID != "" {
			return a.PromptID
		}
	}
	return pt.promptID
}

func lastOwn(turns []*transcript.Turn) *transcript.Turn {
	for i := len(turns) - 1; i >= 0; i-- {
		if !turns[i].Copied {
			return turns[i]
		}
	}
	return nil
}

func copiedKey(ts *transcript.Session, key string) bool {
	for _, t := range ts.Turns {
		if t.Key == key && t.Copied {
			return true
		}
	}
	return false
}

func (s *session) turn(key string) *spans.LiveTurn {
	lt := s.live.Turns[key]
	if lt == nil {
		lt = &spans.LiveTurn{}
		s.live.Turns[key] = lt
	}
	return lt
}

// ensureTurn makes sure a turn that hooks report (by prompt_id) is known,
// even when its UserPromptSubmit was missed (daemon started mid-turn).
func (s *session) ensureTurn(key string, now time.Time) {
	if key == "" {
		return
	}
	if s.live.Turns[key] == nil {
		s.turn(key).Start = now
		s.hookTurns = appendOnce(s.hookTurns, key)
	}
}

// currentTurn returns the live turn for prompt_id, else the newest one.
func (s *session) currentTurn(key string) *spans.LiveTurn {
	if key != "" {
		s.ensureTurn(key, time.Time{})
		return s.live.Turns[key]
	}
	if n := len(s.hookTurns); n > 0 {
		return s.live.Turns[s.hookTurns[n-1]]
	}
	return nil
}

func (s *session) tool(id string) *spans.LiveTool {
	lt := s.live.Tools[id]
	if lt == nil {
		lt = &spans.LiveTool{}
		s.live.Tools[id] = lt
	}
	return lt
}

func (s *session) agent(id string) *spans.LiveAgent {
	la := s.live.Agents[id]
	if la == nil {
		la = &spans.LiveAgent{}
		s.live.Agents[id] = la
	}
	return la
}

// matchPermission finds the open tool a PermissionRequest is about: it has
// no tool_use_id, so match by tool name and input, newest first.
func (s *session) matchPermission(name string, input json.RawMessage) *spans.LiveTool {
	var best *spans.LiveTool
	for _, lt := range s.live.Tools {
		if lt.Name != name || !lt.End.IsZero() || !jsonEqual(lt.Input, input) {
			continue
		}
		if best == nil || lt.Start.After(best.Start) {
			best = lt
		}
	}
	return best
}

func (s *session) hasOpen() bool {
	for _, lt := range s.live.Turns {
		if lt.Open() {
			return true
		}
	}
	for _, lt := range s.live.Tools {
		if lt.End.IsZero() && lt.Closed == "" {
			return true
		}
	}
	return false
}

// closeOpen ends every open turn and tool with an orphan reason.
func (s *session) closeOpen(reason string, now time.Time) {
	for _, lt := range s.live.Turns {
		if lt.Open() {
			lt.Closed, lt.ClosedAt = reason, now
		}
	}
	for _, lt := range s.live.Tools {
		if lt.End.IsZero() && lt.Closed == "" {
			lt.Closed = reason
			if hasEvent(lt.Events, semconv.EventPermissionRequest) && !hasEvent(lt.Events, semconv.EventPermissionResolved) {
				lt.Events = append(lt.Events, spans.Event{Name: semconv.EventPermissionResolved, Time: now,
					Attributes: map[string]any{semconv.KeyPermissionApproved: false}})
			}
		}
	}
	for _, la := range s.live.Agents {
		if la.Stopped.IsZero() {
			la.Stopped = now
		}
	}
}

func hasEvent(evs []spans.Event, name string) bool {
	for _, e := range evs {
		if e.Name == name {
			return true
		}
	}
	return false
}

func appendOnce(list []string, v string) []string {
	for _, x := range list {
		if x == v {
			return list
		}
	}
	return append(list, v)
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return string(a) == string(b)
	}
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return string(ax) == string(by)
}
