package geminisession

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spans"
)

// A turn whose prompt lands in the chat file after its BeforeAgent, and
// that no AfterAgent ends, is open; Tick closes it after IdleTimeout (orphan_reason idle_timeout),
// Close with its reason; an ended session is forgotten after ForgetAfter.
func TestIdleCloseForget(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	chat := `{"sessionId":"s1","projectHash":"h","startTime":"2026-12-06T20:00:00Z","kind":"main"}
{"id":"u1","timestamp":"2026-12-06T20:00:01Z","type":"user","content":[{"text":"hi"}]}
`
	for _, tc := range []struct {
		name, want string
		act        func(p *Processor) []spans.Span
	}{
		{"tick", "idle_timeout", func(p *Processor) []spans.Span { return p.Tick(t0.Add(2 * time.Hour)) }},
		{"close", "shutdown", func(p *Processor) []spans.Span { return p.Close("shutdown") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "session-2026-12-06T20-00-s1.jsonl")
			meta, _, _ := strings.Cut(chat, "\n")
			if err := os.WriteFile(path, []byte(meta+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			p := New(Settings{IdleTimeout: time.Hour, ForgetAfter: time.Minute, Now: func() time.Time { return t0 }})
			ev := func(name string) []spans.Span {
				return p.Event(hookproto.Event{SessionID: "s1", TranscriptPath: path, HookEventName: name, ReceivedAt: t0, Agent: hookproto.AgentGemini}, false)
			}
			ev(EventSessionStart)
			out := ev(EventBeforeAgent)
			if err := os.WriteFile(path, []byte(chat), 0o644); err != nil { // the prompt lands
				t.Fatal(err)
			}
			out = append(out, p.FileChanged(path)...)
			if len(out) == 0 || !out[0].End.IsZero() || p.Stats().LiveSessions != 1 || len(p.Watches()) != 1 {
				t.Fatalf("turn not running: %d spans, %d live, watches %v", len(out), p.Stats().LiveSessions, p.Watches())
			}
			if got := p.Tick(t0.Add(30 * time.Minute)); len(got) != 0 {
				t.Errorf("tick before the timeout emitted %d spans", len(got))
			}
			closed := tc.act(p)
			if len(closed) == 0 || closed[0].End.IsZero() || closed[0].Attributes[semconv.KeyOrphanReason] != tc.want {
				t.Fatalf("after %s: %+v", tc.name, closed)
			}
			ev(EventSessionEnd)
			p.Tick(t0.Add(10 * time.Hour))
			if p.Has("s1") || p.Owns(path) || !p.SessionClosed("s1") {
				t.Error("ended session not forgotten")
			}
		})
	}
}
