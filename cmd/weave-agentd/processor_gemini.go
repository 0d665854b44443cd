package main

import (
	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/geminisession"
)

// geminiProcessor adapts geminisession to daemon.AgentProcessor.
type geminiProcessor struct{ *geminisession.Processor }

// Stats implements daemon.Processor.
func (p geminiProcessor) Stats() daemon.ProcessorStats {
	st := p.Processor.Stats()
	return daemon.ProcessorStats{LiveSessions: st.LiveSessions, TranscriptsRefused: st.TranscriptsRefused,
		LastRefused: st.LastRefused, Details: st}
}
