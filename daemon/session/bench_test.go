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

// BenchmarkEventLongSession: one hook event (a PreToolUse of the running
// turn) in a session of 300 turns (3 tool calls each, 2,400 spans): what a
// hook costs the daemon late in a long session. The processor builds only
// the turns whose fingerprint changed (turns-built/op: 1); what is left
// grows with the session only through cheap passes (overlay, Link,
// fingerprints).
func BenchmarkEventLongSession(b *testing.B) {
	p, path, clock := longSession(b)
	ev := func(name, pid string) hookproto.Event {
		return hookproto.Event{SessionID: "sess-long", TranscriptPath: path, HookEventName: name, PromptID: pid, ReceivedAt: clock}
	}
	if out := p.Event(ev(hookproto.EventSessionStart, ""), false); len(out) != 2400 {
		b.Fatalf("first event: %d spans, want 2400", len(out))
	}
	built := p.turnsBuilt
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := ev(hookproto.EventPreToolUse, "p0299")
		e.ToolUseID, e.ToolName = fmt.Sprintf("toolu_new_%d", i), "Bash"
		p.Event(e, false)
	}
	b.ReportMetric(float64(p.turnsBuilt-built)/float64(b.N), "turns-built/op")
}

// longSession writes a transcript of 300 turns (3 tool calls each, 2,400
// spans) and returns a Processor that has not read it yet, its path, and
// the time of its last line.
func longSession(b testing.TB) (*Processor, string, time.Time) {
	dir := b.TempDir()
	path := filepath.Join(dir, "projects", "p", "sess-long.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.Fatal(err)
	}
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
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return New(Settings{IntegrationVersion: "test"}), path, clock
}
