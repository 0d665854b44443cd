package main

import (
	"log/slog"
	"os"
	"path/filepath"

	"github.com/weavetrace/weave/daemon"
	"github.com/weavetrace/weave/daemon/codexsession"
	"github.com/weavetrace/weave/daemon/config"
	"github.com/weavetrace/weave/daemon/geminisession"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/session"
	"github.com/weavetrace/weave/spans"
)

// sessionProcessor adapts the session state machines to daemon.Processor.
type sessionProcessor struct{ *session.Processor }

// The privacy settings come from cfg.Privacy (omit_content, no_redact, the
// user's redact rules); the chat input mode from cfg.Input (chat_input).
func newProcessor(cfg config.Config, privacy spans.Privacy, logger *slog.Logger) daemon.Processor {
	input, _ := cfg.Input() // validated by config.Load
	claude := sessionProcessor{session.New(session.Settings{
		Privacy:            privacy,
		Input:              input,
		IntegrationVersion: version,
		IdleTimeout:        cfg.TurnIdleTimeout.D(),
		Logger:             logger,
		TranscriptRoots:    cfg.TranscriptRoots(os.Getenv),
	})}
	codex := codexProcessor{codexsession.New(codexsession.Settings{
		Privacy:            privacy,
		IntegrationVersion: version,
		IdleTimeout:        cfg.TurnIdleTimeout.D(),
		Logger:             logger,
		Roots:              codexRoots(os.Getenv),
	})}
	home, _ := os.UserHomeDir()
	gemini := geminiProcessor{geminisession.New(geminisession.Settings{
		Privacy:            privacy,
		IntegrationVersion: version,
		IdleTimeout:        cfg.TurnIdleTimeout.D(),
		Logger:             logger,
		Roots:              geminisession.Roots(home, os.Getenv),
	})}
	return &daemon.Router{Claude: claude, Agents: map[string]daemon.AgentProcessor{hookproto.AgentCodex: codex, hookproto.AgentGemini: gemini}}
}

// codexRoots are the directories Codex rollout files may be read from:
// ~/.codex/sessions and $CODEX_HOME/sessions.
func codexRoots(getenv func(string) string) []string {
	var roots []string
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(home, ".codex", "sessions"))
	}
	if d := getenv("CODEX_HOME"); d != "" && filepath.IsAbs(d) {
		roots = append(roots, filepath.Join(d, "sessions"))
	}
	return roots
}

// Stats implements daemon.Processor.
func (p sessionProcessor) Stats() daemon.ProcessorStats {
	st := p.Processor.Stats()
	return daemon.ProcessorStats{LiveSessions: st.LiveSessions, TranscriptsRefused: st.TranscriptsRefused,
		LastRefused: st.LastRefused, Details: st}
}
