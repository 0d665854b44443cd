package spanid

import (
	"crypto/sha256"
)

// Deterministic IDs. Every id is a prefix of a SHA-256 over a versioned
// label and stable inputs, so re-processing a transcript, a retry, a daemon
// restart or a backfill import yields the same ids, which the store
// replaces rather than duplicates:
//
//	trace_id            = sha256("weave/v1/trace\x00" + turnKey)[:16]
//	turn root span_id   = sha256("weave/v1/span\x00" + trace_id + "\x00root")[:8]
//	chat span_id        = sha256(... + "\x00chat\x00" + message.id)[:8]
//	execute_tool span_id= sha256(... + "\x00tool\x00" + tool_use_id)[:8]
//	subagent span_id    = sha256(... + "\x00agent\x00" + spawning tool_use_id)[:8]
//	orphan subagent     = sha256(... + "\x00agent-id\x00" + agent_id)[:8]
//
// where turnKey is the turn's promptId (what hooks carry as prompt_id), or
// "uuid:" + the prompt line's original uuid when there is none (see
// transcript.Turn.Key), and trace_id is the lowercase hex of the trace id.
// An all-zero result (never seen in practice) is replaced by flipping the
// last byte, so every id is valid OTLP.

const idVersion = "weave/v1/"

// TurnTraceID derives a turn's trace id from its key.
func TurnTraceID(turnKey string) TraceID {
	sum := sha256.Sum256([]byte(idVersion + "trace\x00" + turnKey))
	var t TraceID
	copy(t[:], sum[:16])
	if t == (TraceID{}) {
		t[15] = 1
	}
	return t
}

func spanID(trace TraceID, parts ...string) SpanID {
	h := sha256.New()
	h.Write([]byte(idVersion + "span\x00" + trace.String()))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	var sum [32]byte
	h.Sum(sum[:0])
	var s SpanID
	copy(s[:], sum[:8])
	if s.IsZero() {
		s[7] = 1
	}
	return s
}

// RootSpanID is the id of a turn's invoke_agent root.
func RootSpanID(trace TraceID) SpanID { return spanID(trace, "root") }

// ChatSpanID is the id of the chat span of one API response.
func ChatSpanID(trace TraceID, messageID string) SpanID { return spanID(trace, "chat", messageID) }

// ToolSpanID is the id of the execute_tool span of one tool call.
func ToolSpanID(trace TraceID, toolUseID string) SpanID { return spanID(trace, "tool", toolUseID) }

// AgentSpanID is the id of the invoke_agent span of the subagent spawned by
// the Agent call toolUseID.
func AgentSpanID(trace TraceID, toolUseID string) SpanID { return spanID(trace, "agent", toolUseID) }

// OrphanAgentSpanID is the id of a subagent no Agent call could be found for.
func OrphanAgentSpanID(trace TraceID, agentID string) SpanID {
	return spanID(trace, "agent-id", agentID)
}
