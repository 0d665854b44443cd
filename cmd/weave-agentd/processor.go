package main

import (
	"log/slog"
	"os"

	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/config"
	"github.com/weavetrace/weave/daemon/session"
	"github.com/weavetrace/weave/spans"
)

// sessionProcessor adapts the session state machines to daemon.Processor.
type sessionProcessor struct{ *session.Processor }

// The privacy settings come from cfg.Privacy (omit_content, no_redact, the
// user's redact rules).
func newProcessor(cfg config.Config, privacy spans.Privacy, logger *slog.Logger) daemon.Processor {
	return sessionProcessor{session.New(session.Settings{
		Privacy:            privacy,
		IntegrationVersion: version,
		IdleTimeout:        cfg.TurnIdleTimeout.D(),
		Logger:             logger,
		TranscriptRoots:    cfg.TranscriptRoots(os.Getenv),
	})}
}

// Stats implements daemon.Processor.
func (p sessionProcessor) Stats() daemon.ProcessorStats {
	st := p.Processor.Stats()
	return daemon.ProcessorStats{LiveSessions: st.LiveSessions, TranscriptsRefused: st.TranscriptsRefused,
		LastRefused: st.LastRefused, Details: st}
}
