package daemon

import (
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/spans"
)

// Processor turns hook events and transcript growth into spans. The
// daemon calls it from one goroutine only, so it needs no locking; it must
// not block for long (it runs between the hook socket and the exporter).
// Package daemon/session implements it.
type Processor interface {
	// Event handles one journaled hook event. replay is true for events
	// re-read from the journal at start-up (the daemon died or stopped
	// before or after handling them; their transcripts may be far ahead).
	// It returns the spans to export now.
	Event(ev hookproto.Event, replay bool) []spans.Span
	// FileChanged: a watched transcript / subagent file or directory
	// changed (fsnotify or the poll fallback). path is a path Watches
	// returned, or a file directly inside a directory it returned (which
	// may belong to no session: ignore it then). Returns spans to export.
	FileChanged(path string) []spans.Span
	// Watches lists the files and directories to watch right now. Called
	// after every Event, FileChanged and Tick; paths that do not exist yet
	// are fine (their creation is noticed).
	Watches() []string
	// Tick runs idle timeouts; returns spans to export. Called about once
	// a second.
	Tick(now time.Time) []spans.Span
	// Close ends everything still open with
	// weave.claude_code.orphan_reason = reason and returns the final spans.
	// The daemon does not call it on a normal shutdown (sessions survive a
	// restart through the journal).
	Close(reason string) []spans.Span
	// Stats for `status`.
	Stats() ProcessorStats
	// Deferred runs f, during which Event, FileChanged, Tick and Close only
	// update state and return no spans, and then returns the spans that
	// changed: each session touched is rebuilt once, however many events
	// f fed it.
	Deferred(f func()) []spans.Span
	// Rebuild builds one session's spans from scratch, apart from the live
	// state: from events (its journaled hook events, in order) and its
	// transcript, or with no events from its transcript alone if it can be
	// found. It returns every span the session has (nil: nothing is left
	// to build from). The daemon calls it for the spans of a damaged spool
	// record and re-sends those of them that were lost.
	Rebuild(sessionID string, events []hookproto.Event) []spans.Span
	// SessionClosed reports whether a session has ended (for journal
	// compaction). The daemon asks after each event of the session and
	// after each Tick; once true, the session's events are not replayed
	// at the next start (unless a later event reopens it).
	SessionClosed(sessionID string) bool
}

// ProcessorStats is what `weave-agentd status` shows about the processor.
type ProcessorStats struct {
	LiveSessions int `json:"live_sessions"`
	// TranscriptsRefused counts transcript paths the processor would not
	// read (outside the Claude Code projects directories); LastRefused is
	// the latest.
	TranscriptsRefused int64  `json:"transcripts_refused"`
	LastRefused        string `json:"last_refused_transcript,omitempty"`
	// Details is any further figures the processor wants shown (rendered
	// as JSON), e.g. its own stats struct.
	Details any `json:"details,omitempty"`
}
