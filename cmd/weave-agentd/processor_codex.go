package main

import (
	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/codexsession"
)

// codexProcessor adapts codexsession to daemon.AgentProcessor.
type codexProcessor struct{ *codexsession.Processor }

// Stats implements daemon.Processor.
func (p codexProcessor) Stats() daemon.ProcessorStats {
	st := p.Processor.Stats()
	return daemon.ProcessorStats{LiveSessions: st.LiveSessions, TranscriptsRefused: st.TranscriptsRefused,
		LastRefused: st.LastRefused, Details: st}
}
