package hookproto

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/weavetrace/weave/daemon/frame"
)

// EventID identifies one hook invocation (random, 128 bits).
type EventID [16]byte

// NewEventID returns a random id. It is an idempotency key, not a secret:
// math/rand/v2's per-process generator is seeded by the runtime from the
// OS, and using it keeps crypto packages out of weave-hook.
func NewEventID() EventID {
	var id EventID
	binary.LittleEndian.PutUint64(id[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(id[8:], rand.Uint64())
	return id
}

func (id EventID) String() string { return hex.EncodeToString(id[:]) }

// MarshalText renders the id as 32 hex digits.
func (id EventID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses 32 hex digits.
func (id *EventID) UnmarshalText(b []byte) error {
	v, err := ParseEventID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

// IsZero reports whether the id is unset.
func (id EventID) IsZero() bool { return id == EventID{} }

// ParseEventID parses 32 hex digits.
func ParseEventID(s string) (EventID, error) {
	var id EventID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("hookproto: bad event id %q: want 32 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("hookproto: bad event id %q: %w", s, err)
	}
	return id, nil
}

// Envelope is one hook event as the hook received it: the raw payload and
// the receipt metadata. It travels as an HTTP request (AppendRequest / FromHeaders)
// or as an inbox or journal record (MarshalBinary / UnmarshalBinary).
type Envelope struct {
	Proto      int
	ID         EventID
	ReceivedAt time.Time
	// TranscriptSize is the size of transcript_path at receipt, -1 unknown.
	TranscriptSize int64
	// OriginalSize is the payload size Claude Code wrote when Body was cut
	// at MaxPayload, else 0.
	OriginalSize int64
	// Body is the raw hook JSON (possibly cut, see OriginalSize).
	Body []byte
	// Agent is the agent that ran the hook (one of Agents; "" is Claude Code).
	Agent string
}

// AgentName is e.Agent, with Claude Code for "".
func (e *Envelope) AgentName() string {
	if e.Agent == "" {
		return AgentClaudeCode
	}
	return e.Agent
}

// Truncated reports whether Body was cut at MaxPayload.
func (e *Envelope) Truncated() bool { return e.OriginalSize > int64(len(e.Body)) }

// AppendRequest appends the whole HTTP/1.1 request carrying e to b: the
// request line for PathHook, the headers and the body. weave-hook writes it
// with one write(2) and needs no HTTP client library.
func (e *Envelope) AppendRequest(b []byte) []byte {
	b = append(b, "POST "+PathHook+" HTTP/1.1\r\nHost: "+Host+
		"\r\nUser-Agent: weave-hook\r\nContent-Type: application/json\r\nConnection: close\r\n"...)
	b = appendHeader(b, "Content-Length", strconv.Itoa(len(e.Body)))
	b = appendHeader(b, HeaderProto, strconv.Itoa(e.Proto))
	b = appendHeader(b, HeaderEventID, e.ID.String())
	b = appendHeader(b, HeaderReceivedAt, e.ReceivedAt.UTC().Format(time.RFC3339Nano))
	b = appendHeader(b, HeaderTranscriptSize, strconv.FormatInt(e.TranscriptSize, 10))
	if e.Truncated() {
		b = appendHeader(b, HeaderOriginalSize, strconv.FormatInt(e.OriginalSize, 10))
	}
	if e.Agent != "" && e.Agent != AgentClaudeCode {
		b = appendHeader(b, HeaderAgent, e.Agent)
	}
	b = append(b, "\r\n"...)
	return append(b, e.Body...)
}

func appendHeader(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// ErrUnsupportedProto is returned by FromHeaders for a Weave-Proto the
// daemon does not speak (the daemon answers 426).
var ErrUnsupportedProto = errors.New("hookproto: unsupported protocol version")

// FromHeaders rebuilds an envelope from request headers (get is
// http.Header.Get or equivalent) and the body. A missing
// event id, receipt time or transcript size is tolerated (curl users):
// the id stays zero (no de-duplication), the receipt time becomes now and
// the size -1. A malformed one is an error.
func FromHeaders(get func(string) string, body []byte, now time.Time) (Envelope, error) {
	e := Envelope{Proto: Version, ReceivedAt: now, TranscriptSize: -1, Body: body}
	if v := get(HeaderProto); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil {
			return e, fmt.Errorf("hookproto: %s %q: not an integer", HeaderProto, v)
		}
		e.Proto = p
	}
	if !Supported(e.Proto) {
		return e, fmt.Errorf("%w %d (this daemon speaks %d and %d)", ErrUnsupportedProto, e.Proto, Version, Version-1)
	}
	if v := get(HeaderEventID); v != "" {
		id, err := ParseEventID(v)
		if err != nil {
			return e, err
		}
		e.ID = id
	}
	if v := get(HeaderReceivedAt); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return e, fmt.Errorf("hookproto: %s %q: %w", HeaderReceivedAt, v, err)
		}
		e.ReceivedAt = t
	}
	if v := get(HeaderTranscriptSize); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < -1 {
			return e, fmt.Errorf("hookproto: %s %q: want an integer >= -1", HeaderTranscriptSize, v)
		}
		e.TranscriptSize = n
	}
	if v := get(HeaderOriginalSize); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < int64(len(body)) {
			return e, fmt.Errorf("hookproto: %s %q: want an integer >= the body size %d", HeaderOriginalSize, v, len(body))
		}
		e.OriginalSize = n
	}
	if v := get(HeaderAgent); v != "" {
		a, ok := ParseAgent(v)
		if !ok {
			return e, fmt.Errorf("hookproto: %s %q: want one of %v", HeaderAgent, v, Agents)
		}
		e.Agent = a
	}
	return e, nil
}

// Binary form of an envelope (little endian), the payload of an inbox
// record and of a journal event record:
//
//	offset size
//	0      2    proto (uint16)
//	2      2    flags (uint16): low byte the agent's code (index in Agents,
//	            0 Claude Code; since Version 2), high byte reserved (0)
//	4      16   event id
//	20     8    received at, Unix nanoseconds (int64)
//	28     8    transcript size (int64, -1 unknown)
//	36     8    original size (int64, 0 unless truncated)
//	44     n    body
const envelopeHeaderSize = 44

// MagicInbox marks inbox records (package frame; payload: an Envelope's
// binary form).
var MagicInbox = frame.Magic{'W', 'V', 'I', 'B'}

// AppendBinary appends the binary form of e to b.
func (e *Envelope) AppendBinary(b []byte) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(e.Proto))
	b = binary.LittleEndian.AppendUint16(b, agentCode(e.Agent))
	b = append(b, e.ID[:]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(e.ReceivedAt.UnixNano()))
	b = binary.LittleEndian.AppendUint64(b, uint64(e.TranscriptSize))
	b = binary.LittleEndian.AppendUint64(b, uint64(e.OriginalSize))
	return append(b, e.Body...)
}

// UnmarshalBinary reads the form AppendBinary writes. Body aliases b.
func (e *Envelope) UnmarshalBinary(b []byte) error {
	if len(b) < envelopeHeaderSize {
		return fmt.Errorf("hookproto: envelope of %d bytes, want at least %d", len(b), envelopeHeaderSize)
	}
	out := Envelope{
		Proto:          int(binary.LittleEndian.Uint16(b[0:])),
		ReceivedAt:     time.Unix(0, int64(binary.LittleEndian.Uint64(b[20:]))).UTC(),
		TranscriptSize: int64(binary.LittleEndian.Uint64(b[28:])),
		OriginalSize:   int64(binary.LittleEndian.Uint64(b[36:])),
		Body:           b[envelopeHeaderSize:],
	}
	if code := binary.LittleEndian.Uint16(b[2:]) & 0xff; code != 0 {
		out.Agent = agentName(code)
	}
	copy(out.ID[:], b[4:20])
	if out.TranscriptSize < -1 {
		return fmt.Errorf("hookproto: envelope transcript size %d", out.TranscriptSize)
	}
	if out.OriginalSize < 0 || (out.OriginalSize != 0 && out.OriginalSize < int64(len(out.Body))) {
		return fmt.Errorf("hookproto: envelope original size %d for a %d-byte body", out.OriginalSize, len(out.Body))
	}
	*e = out
	return nil
}
