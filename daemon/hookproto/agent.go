package hookproto

// Agents whose hooks weave-hook forwards. The hook learns which one ran it
// from its command line (`weave-hook --agent codex`, as `weave-hook install`
// registers it); a payload without one is Claude Code's (every hook before
// protocol version 2). The daemon also recognises a Codex or Gemini CLI
// session file in transcript_path, for a hook registered by hand.
const (
	AgentClaudeCode = "claude-code"
	AgentCodex      = "codex"
	AgentGemini     = "gemini-cli"
)

// Agents lists the agents in the order of their wire codes (Claude Code is
// code 0, the default).
var Agents = []string{AgentClaudeCode, AgentCodex, AgentGemini}

// agentCode is an agent's code in the envelope's flags (low byte); an
// unknown name is 0 (Claude Code).
func agentCode(name string) uint16 {
	for i, a := range Agents {
		if a == name {
			return uint16(i)
		}
	}
	return 0
}

// agentName is the name of a code; an unknown code is Claude Code.
func agentName(code uint16) string {
	if int(code) < len(Agents) {
		return Agents[code]
	}
	return AgentClaudeCode
}

// ParseAgent maps what a user or a command line names (claude, claude-code,
// codex, gemini, gemini-cli) to an agent; ok is false for anything else.
func ParseAgent(s string) (agent string, ok bool) {
	switch s {
	case "claude", AgentClaudeCode:
		return AgentClaudeCode, true
	case AgentCodex:
		return AgentCodex, true
	case "gemini", AgentGemini:
		return AgentGemini, true
	}
	return "", false
}
