// Package agentsession is what the live paths of the agents other than
// Claude Code (daemon/codexsession, daemon/geminisession) share: their
// settings and figures, the check that a session file lies in the agent's
// own directories, and emitting only the spans whose content changed.
package agentsession

import (
	"io"
	"log/slog"
	"time"

	"github.com/weavetrace/weave/daemon/session"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// Settings configure an agent's Processor.
type Settings struct {
	Privacy            spans.Privacy
	IntegrationVersion string
	// IdleTimeout closes a turn with no hook and no file growth for this
	// long (orphan_reason idle_timeout). Default 1h.
	IdleTimeout time.Duration
	// ForgetAfter drops an ended session's state this long after its end.
	ForgetAfter time.Duration
	Logger      *slog.Logger
	Now         func() time.Time
	// Roots are the directories the agent's session files may be read from
	// (session.CheckTranscript). Nil reads any path (tests, imports).
	Roots []string
}

// WithDefaults fills what s leaves unset.
func (s Settings) WithDefaults() Settings {
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
	return s
}

// Stats describe a processor for `weave-agentd status`.
type Stats struct {
	LiveSessions       int    `json:"live_sessions"`
	Events             int64  `json:"events"`
	IgnoredEvents      int64  `json:"ignored_events"`
	SpansEmitted       int64  `json:"spans_emitted"`
	ReadErrors         int64  `json:"read_errors"`
	TranscriptsRefused int64  `json:"transcripts_refused"`
	LastRefused        string `json:"last_refused_transcript,omitempty"`
}

// Guard refuses session files outside Roots, counting and logging each
// refused path once.
type Guard struct {
	Roots   []string
	What    string // "rollout", "chat file": for the log
	Log     *slog.Logger
	Stats   *Stats
	refused map[string]bool
}

// Allowed reports whether path may be read.
func (g *Guard) Allowed(path string) bool {
	if g.Roots == nil {
		return true
	}
	err := session.CheckTranscript(path, g.Roots)
	if err == nil {
		return true
	}
	if g.refused == nil || len(g.refused) >= 1024 {
		g.refused = map[string]bool{}
	}
	if !g.refused[path] {
		g.refused[path] = true
		g.Stats.TranscriptsRefused++
		g.Stats.LastRefused = path
		g.Log.Warn("agentsession: "+g.What+" refused, outside the agent's directories", "path", path, "err", err)
	}
	return false
}

// Changed builds every turn of ts with live and returns the spans whose
// content differs from what exported (span id → spans.Span.Hash) last
// recorded, recording them.
func Changed(ts *transcript.Session, live *spans.Live, set Settings, exported map[spanid.SpanID]uint64) []spans.Span {
	opts := spans.Options{Privacy: set.Privacy, IntegrationVersion: set.IntegrationVersion, Live: live}
	var out []spans.Span
	for _, t := range ts.Turns {
		for _, sp := range spans.BuildTurn(ts, t, opts) {
			h := sp.Hash()
			if exported[sp.SpanID] == h {
				continue
			}
			exported[sp.SpanID] = h
			out = append(out, sp)
		}
	}
	return out
}
