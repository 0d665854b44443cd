package hookproto

import "time"

// Version is the hook wire-protocol version this package speaks. Version 2
// added the agent (HeaderAgent, and the low byte of an envelope record's
// flags); a version-1 event is Claude Code's.
const Version = 2

// Supported reports whether a daemon built from this package accepts
// protocol version v: the current one and the previous one.
func Supported(v int) bool { return v >= 1 && (v == Version || v == Version-1) }

// HTTP over the Unix socket. The host is fixed and fake (the socket is the
// address); it only makes URLs readable and lets `curl --unix-socket` work:
//
//	curl --unix-socket ~/.weave/agentd.sock http://local-weave.sock/localapi/v1/status
const (
	Host         = "local-weave.sock"
	BaseURL      = "http://" + Host
	PathHook     = "/localapi/v1/hook"
	PathStatus   = "/localapi/v1/status"
	PathShutdown = "/localapi/v1/shutdown"
)

// Request headers the hook sends with every event.
const (
	// HeaderProto carries Version as a decimal integer.
	HeaderProto = "Weave-Proto"
	// HeaderEventID is a random 128-bit id (32 lowercase hex digits) the
	// daemon uses to journal an event once even when the hook also wrote it
	// to the inbox (a late answer past the hook's deadline).
	HeaderEventID = "Weave-Event-Id"
	// HeaderReceivedAt is when the hook process got the event, RFC 3339
	// with nanoseconds, UTC.
	HeaderReceivedAt = "Weave-Received-At"
	// HeaderTranscriptSize is the size in bytes of transcript_path when the
	// hook ran, or -1 when it was unknown (no transcript_path among the
	// first ScanWindow bytes of the payload, or no such file yet).
	HeaderTranscriptSize = "Weave-Transcript-Size"
	// HeaderOriginalSize is present only when the body was cut at
	// MaxPayload: the size of the payload Claude Code wrote.
	HeaderOriginalSize = "Weave-Original-Size"
	// HeaderAgent names the agent that ran the hook (AgentCodex,
	// AgentGemini); absent means AgentClaudeCode. Since Version 2.
	HeaderAgent = "Weave-Agent"
)

// Limits and timing.
const (
	// MaxPayload is the most of a hook payload that is forwarded. Claude
	// Code caps tool_response at about 30 kB, but tool_input (a Write of a
	// big file) is not capped. A longer payload is cut here and marked with
	// HeaderOriginalSize; the daemon salvages every top-level field that
	// lies entirely within the kept bytes (see Decode).
	MaxPayload = 16 << 20
	// ScanWindow bounds the hook's search for "transcript_path": it walks
	// the top-level keys of at most this many leading bytes and never
	// parses the payload. Claude Code writes transcript_path second.
	ScanWindow = 64 << 10
	// HookDeadline is weave-hook's one hard total deadline, measured from
	// process start: reading stdin, dialing, writing, waiting for the
	// answer and, when that fails, the inbox append and the daemon start.
	// The network part ends at NetDeadline so the fallback fits inside.
	HookDeadline = 300 * time.Millisecond
	// NetDeadline is when the hook stops waiting for the daemon.
	NetDeadline = 250 * time.Millisecond
	// InboxCeiling bounds the one case allowed past HookDeadline: reading
	// the event from stdin or appending it to the inbox (until
	// InboxDeadline), when under way as the deadline passes (a multi-MiB payload on a loaded machine), may
	// finish, so the event is kept rather than lost; the hook exits at
	// InboxCeiling whatever happens.
	InboxCeiling = 2 * time.Second
	// InboxDeadline is when the inbox append gives up (AppendInbox's
	// deadline), a HookDeadline before InboxCeiling: what follows a failed
	// append — counting the loss by reason in inbox.overflow, starting the
	// daemon — gets as long as a whole hook run, rather than racing the
	// ceiling's exit (which would lose the event uncounted).
	InboxDeadline = InboxCeiling - HookDeadline
)

// Status codes the daemon answers on PathHook, and what the hook does.
//
//	200 OK                      journaled (or already journaled: a duplicate id); done
//	400 Bad Request             not a hook event (not a JSON object, no hook_event_name);
//	                            the hook drops it: no retry can fix it (the daemon counts it)
//	403 Forbidden               Origin/Referer present (a browser); never sent by the hook
//	413 Request Entity Too Large body over MaxPayload; never sent by the hook
//	426 Upgrade Required        unsupported Weave-Proto; the hook keeps the event in the inbox
//	503 Service Unavailable     shutting down; the hook keeps the event in the inbox
//
// Any other answer, no answer by NetDeadline, or a broken connection: the
// hook keeps the event in the inbox.
