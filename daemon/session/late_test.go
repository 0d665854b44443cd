package session

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

// Claude Code writes its transcript asynchronously: the lines of the
// `/exit` command (a turn of its own) may land after the daemon handled
// SessionEnd. The session's transcript stays watched until the session is
// forgotten, and those lines still become a (finished) turn. Seen in the
// e2e test's TUI scenarios on a loaded machine: the live server lacked
// the /exit turn that import built.
func TestLinesAfterSessionEnd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "projects", "p", "s3.jsonl")
	os.MkdirAll(filepath.Dir(path), 0o755)
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	n := 0
	write := func(lines ...map[string]any) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, l := range lines {
			n++
			l["uuid"], l["sessionId"] = "u"+string(rune('a'+n)), "s3"
			l["timestamp"] = t0.Add(time.Duration(n) * time.Second).Format(time.RFC3339Nano)
			b, _ := json.Marshal(l)
			f.Write(append(b, '\n'))
		}
	}
	write(map[string]any{"type": "user", "promptId": "P1", "message": map[string]any{"role": "user", "content": "say hi"}},
		map[string]any{"type": "assistant", "message": map[string]any{"id": "msg_1", "role": "assistant", "model": "claude-opus-4-8",
			"content": []any{map[string]any{"type": "text", "text": "hi"}}, "stop_reason": "end_turn", "usage": map[string]any{"input_tokens": 3, "output_tokens": 1}}})
	p := New(Settings{ForgetAfter: 10 * time.Minute})
	base := func(name, prompt string) map[string]any {
		return map[string]any{"hook_event_name": name, "session_id": "s3", "transcript_path": path, "prompt_id": prompt}
	}
	p.Event(event(t, base("UserPromptSubmit", "P1"), t0), false)
	p.Event(event(t, base("Stop", "P1"), t0.Add(3*time.Second)), false)
	p.Event(event(t, base("SessionEnd", "P2"), t0.Add(4*time.Second)), false)
	if !slices.Contains(p.Watches(), path) {
		t.Fatalf("Watches() = %v after SessionEnd, want the transcript still watched", p.Watches())
	}
	write(map[string]any{"type": "user", "promptId": "P2", "message": map[string]any{"role": "user",
		"content": "<command-name>/exit</command-name>\n            <command-message>exit</command-message>\n            <command-args></command-args>"}},
		map[string]any{"type": "user", "promptId": "P2", "message": map[string]any{"role": "user", "content": "<local-command-stdout>Goodbye!</local-command-stdout>"}})
	var root *spans.Span
	out := p.FileChanged(path)
	for i := range out {
		if out[i].TraceID == spanid.TurnTraceID("P2") && out[i].ParentSpanID.IsZero() {
			root = &out[i]
		}
	}
	if root == nil {
		t.Fatalf("the lines written after SessionEnd gave %d spans, want the /exit turn's root", len(out))
	}
	if root.End.IsZero() {
		t.Errorf("the /exit turn is running, want it finished (the session ended)")
	}
	// Forgotten sessions are no longer watched.
	p.Tick(t0.Add(time.Hour))
	if slices.Contains(p.Watches(), path) {
		t.Errorf("Watches() = %v after the session was forgotten", p.Watches())
	}
}
