package hookproto

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
	"time"
)

// The agent travels in the Weave-Agent header and in the envelope's flags;
// Claude Code (the default) is sent as neither, so a version-1 record or
// request reads as Claude Code.
func TestAgentRoundTrip(t *testing.T) {
	for _, agent := range []string{"", AgentClaudeCode, AgentCodex, AgentGemini} {
		e := Envelope{Proto: Version, ID: NewEventID(), ReceivedAt: time.Unix(1700000000, 5).UTC(), TranscriptSize: -1, Body: []byte(`{"hook_event_name":"Stop"}`), Agent: agent}
		want := e.AgentName()
		var got Envelope
		if err := got.UnmarshalBinary(e.AppendBinary(nil)); err != nil {
			t.Fatal(err)
		}
		if got.AgentName() != want {
			t.Errorf("binary: agent %q, want %q", got.AgentName(), want)
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(e.AppendRequest(nil))))
		if err != nil {
			t.Fatal(err)
		}
		if h := req.Header.Get(HeaderAgent); (h != "") != (want != AgentClaudeCode) {
			t.Errorf("agent %q: header %q", agent, h)
		}
		fh, err := FromHeaders(req.Header.Get, e.Body, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if fh.AgentName() != want {
			t.Errorf("headers: agent %q, want %q", fh.AgentName(), want)
		}
		ev, err := Decode(fh)
		if err != nil || ev.Agent != want {
			t.Errorf("Decode: agent %q (%v), want %q", ev.Agent, err, want)
		}
	}
	// A version-1 record (flags 0) is Claude Code's.
	e := Envelope{Proto: 1, Body: []byte(`{}`)}
	var got Envelope
	if err := got.UnmarshalBinary(e.AppendBinary(nil)); err != nil || got.AgentName() != AgentClaudeCode {
		t.Errorf("v1 record: %q %v", got.AgentName(), err)
	}
	if _, err := FromHeaders(http.Header{HeaderAgent: {"cursor"}}.Get, nil, time.Now()); err == nil {
		t.Error("an unknown Weave-Agent was accepted")
	}
	for in, want := range map[string]string{"claude": AgentClaudeCode, "codex": AgentCodex, "gemini": AgentGemini, "gemini-cli": AgentGemini} {
		if got, ok := ParseAgent(in); !ok || got != want {
			t.Errorf("ParseAgent(%q) = %q %v", in, got, ok)
		}
	}
}
