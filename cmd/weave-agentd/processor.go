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

func newProcessor(cfg config.Config, logger *slog.Logger) daemon.Processor {
	return sessionProcessor{session.New(session.Settings{
		Privacy:            spans.Privacy{OmitContent: cfg.OmitContent, NoRedact: cfg.NoRedact},
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
