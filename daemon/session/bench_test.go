package session

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
)

// BenchmarkEventLongSession: one hook event in a session of 300 turns (3
// tool calls each, 2,400 spans): the processor rebuilds the session's
// spans at every event, so this is what a hook costs the daemon late in a
// long session. (Queued events share one rebuild, see Deferred.)
func BenchmarkEventLongSession(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "projects", "p", "sess-long.jsonl")
	os.MkdirAll(filepath.Dir(path), 0o755)
	var sb strings.Builder
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	line := func(m map[string]any) {
		n++
		clock = clock.Add(time.Second)
		m["uuid"] = fmt.Sprintf("u%06d", n)
		m["sessionId"] = "sess-long"
		m["timestamp"] = clock.Format(time.RFC3339Nano)
		raw, _ := json.Marshal(m)
		sb.Write(raw)
		sb.WriteByte('\n')
	}
	for turn := 0; turn < 300; turn++ {
		pid := fmt.Sprintf("p%04d", turn)
		line(map[string]any{"type": "user", "promptId": pid, "message": map[string]any{"role": "user", "content": fmt.Sprintf("prompt %d: please fix the bug in module %d", turn, turn)}})
		for k := 0; k < 3; k++ {
			tid := fmt.Sprintf("toolu_%04d_%d", turn, k)
			mid := fmt.Sprintf("msg_%04d_%d", turn, k)
			line(map[string]any{"type": "assistant", "requestId": "req_" + mid, "message": map[string]any{"id": mid, "role": "assistant", "model": "claude-opus-4-8",
				"content":     []any{map[string]any{"type": "tool_use", "id": tid, "name": "Bash", "input": map[string]any{"command": fmt.Sprintf("go test ./pkg%d", k)}}},
				"stop_reason": "tool_use", "usage": map[string]any{"input_tokens": 3, "cache_read_input_tokens": 10000, "output_tokens": 50}}})
			line(map[string]any{"type": "user", "promptId": pid, "message": map[string]any{"role": "user", "content": []any{map[string]any{"type": "tool_result", "tool_use_id": tid, "content": strings.Repeat("ok output line\n", 50)}}}})
		}
		mid := fmt.Sprintf("msg_%04d_end", turn)
		line(map[string]any{"type": "assistant", "requestId": "req_" + mid, "message": map[string]any{"id": mid, "role": "assistant", "model": "claude-opus-4-8",
			"content": []any{map[string]any{"type": "text", "text": "Done: the tests pass now. " + strings.Repeat("details ", 100)}}, "stop_reason": "end_turn", "usage": map[string]any{"input_tokens": 3, "output_tokens": 200}}})
	}
	os.WriteFile(path, []byte(sb.String()), 0o644)
	p := New(Settings{IntegrationVersion: "test"})
	ev := func(name, pid string) hookproto.Event {
		return hookproto.Event{SessionID: "sess-long", TranscriptPath: path, HookEventName: name, PromptID: pid, ReceivedAt: clock}
	}
	if out := p.Event(ev(hookproto.EventSessionStart, ""), false); len(out) != 2400 {
		b.Fatalf("first event: %d spans, want 2400", len(out))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := ev(hookproto.EventPreToolUse, "p0299")
		e.ToolUseID, e.ToolName = fmt.Sprintf("toolu_new_%d", i), "Bash"
		p.Event(e, false)
	}
}
