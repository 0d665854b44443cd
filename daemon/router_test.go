package daemon

import (
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/spans"
)

func TestAgentOf(t *testing.T) {
	for _, tc := range []struct {
		agent, path, want string
	}{
		{"", "/home/u/.claude/projects/-w/0b7c.jsonl", hookproto.AgentClaudeCode},
		{hookproto.AgentCodex, "", hookproto.AgentCodex},
		{hookproto.AgentGemini, "/x", hookproto.AgentGemini},
		// A hook registered by hand without --agent, in Codex.
		{"", "/home/u/.codex/sessions/2026/12/06/rollout-2026-12-06T19-03-20-01a24cbd-3d73-7b40-a458-fd7c33b7ddb1.jsonl", hookproto.AgentCodex},
		{hookproto.AgentClaudeCode, "/home/u/.codex/sessions/2026/12/06/rollout-x.jsonl", hookproto.AgentCodex},
		{"", "/home/u/.claude/projects/-w/rollout-notes.jsonl", hookproto.AgentClaudeCode},
		// The same in Gemini CLI.
		{"", "/home/u/.gemini/tmp/work/chats/session-2026-12-06T21-22-a8122c6c.jsonl", hookproto.AgentGemini},
		{"", "/home/u/.claude/projects/-w/session-notes.jsonl", hookproto.AgentClaudeCode},
	} {
		if got := AgentOf(hookproto.Event{Agent: tc.agent, TranscriptPath: tc.path}); got != tc.want {
			t.Errorf("AgentOf(%q, %q) = %q, want %q", tc.agent, tc.path, got, tc.want)
		}
	}
}

// fakeAgent records the sessions it was handed; it emits no spans.
type fakeAgent struct {
	got  []string
	mine map[string]bool
}

func (f *fakeAgent) Event(ev hookproto.Event, replay bool) []spans.Span {
	f.got = append(f.got, ev.SessionID)
	f.mine[ev.SessionID] = true
	return nil
}
func (f *fakeAgent) Has(id string) bool                             { return f.mine[id] }
func (f *fakeAgent) Owns(path string) bool                          { return false }
func (f *fakeAgent) SessionClosed(string) bool                      { return false }
func (f *fakeAgent) FileChanged(string) []spans.Span                { return nil }
func (f *fakeAgent) Watches() []string                              { return nil }
func (f *fakeAgent) Tick(time.Time) []spans.Span                    { return nil }
func (f *fakeAgent) Close(string) []spans.Span                      { return nil }
func (f *fakeAgent) Stats() ProcessorStats                          { return ProcessorStats{} }
func (f *fakeAgent) Deferred(fn func()) []spans.Span                { fn(); return nil }
func (f *fakeAgent) Rebuild(string, []hookproto.Event) []spans.Span { return nil }

func TestRouterEvent(t *testing.T) {
	claude := &fakeAgent{mine: map[string]bool{}}
	codex := &fakeAgent{mine: map[string]bool{}}
	r := &Router{Claude: claude, Agents: map[string]AgentProcessor{hookproto.AgentCodex: codex}}
	r.Event(hookproto.Event{SessionID: "a", HookEventName: "Stop"}, false)
	r.Event(hookproto.Event{SessionID: "b", HookEventName: "Stop", Agent: hookproto.AgentCodex}, false)
	r.Event(hookproto.Event{SessionID: "c", HookEventName: "AfterAgent", Agent: hookproto.AgentGemini}, false) // no processor: dropped
	if len(claude.got) != 1 || claude.got[0] != "a" || len(codex.got) != 1 || codex.got[0] != "b" || r.unrouted != 1 {
		t.Errorf("claude got %v, codex got %v", claude.got, codex.got)
	}
	if r.SessionClosed("b") {
		t.Error("SessionClosed(b) was not asked of the codex processor")
	}
}
