// Package spanid holds the trace and span ids of weave's spans and their
// deterministic derivation (ids.go): weave-agentd gives a turn's spans the
// ids derived from the transcript, and weave-server derives the same ids for
// Claude Code's native telemetry, so both copies of a call land on one span.
//
// It is a leaf (standard library only), shared by both sides.
package spanid

import (
	"encoding/hex"
	"fmt"
)

// TraceID is a 16-byte trace id.
type TraceID [16]byte

// SpanID is an 8-byte span id.
type SpanID [8]byte

func (t TraceID) String() string { return hex.EncodeToString(t[:]) }
func (s SpanID) String() string  { return hex.EncodeToString(s[:]) }

// IsZero reports whether the id is unset.
func (s SpanID) IsZero() bool { return s == SpanID{} }

// ParseTraceID parses 32 hex digits.
func ParseTraceID(s string) (TraceID, error) {
	var t TraceID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(t) {
		return t, fmt.Errorf("spanid: bad trace id %q", s)
	}
	copy(t[:], b)
	return t, nil
}

// ParseSpanID parses 16 hex digits.
func ParseSpanID(s string) (SpanID, error) {
	var id SpanID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("spanid: bad span id %q", s)
	}
	copy(id[:], b)
	return id, nil
}
