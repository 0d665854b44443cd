package rollout

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/spans"
)

// FuzzBuilder feeds arbitrary bytes as rollout lines: the builder never
// panics, Tail never moves past a line without its newline, and the span
// builder accepts whatever session comes out.
func FuzzBuilder(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures.Path(f, fixtures.Codex0169), "*", fixtures.MainGlob(fixtures.Codex0169)))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// Seeds: each recorded line on its own (the base instructions make
		// whole files too big to mutate usefully).
		for _, l := range bytes.Split(b, []byte("\n")) {
			if len(l) < 4096 {
				f.Add(append(l, '\n'))
			}
		}
	}
	f.Add([]byte(`{"type":"event_msg","payload":{"type":"task_complete","turn_id":"x","error":{"codex_error_info":{"http":{}}}}}` + "\n"))
	// A turn with a call, a compaction (its summary call first), the call
	// after it.
	f.Add([]byte(`{"type":"event_msg","payload":{"type":"task_started","turn_id":"t"}}` + "\n" +
		`{"type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"q"}]}}` + "\n" +
		`{"type":"token_usage_record","payload":{"turn_id":"t","response_id":"r1","usage":{"input_tokens":9,"output_tokens":1}}}` + "\n" +
		`{"type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"s"}]}}` + "\n" +
		`{"type":"token_usage_record","payload":{"turn_id":"t","response_id":"r2","usage":{"input_tokens":5,"output_tokens":1}}}` + "\n" +
		`{"type":"compacted","payload":{"message":"s","compaction_response_id":"r2","replacement_history":[{"type":"message","role":"user","content":[{"type":"input_text","text":"q"}]},{"type":"function_call_output","call_id":"c","output":"o"}]}}` + "\n" +
		`{"type":"token_usage_record","payload":{"turn_id":"t","response_id":"r3","usage":{"input_tokens":7,"output_tokens":1}}}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBuilder("/s/rollout-2026-01-01T00-00-00-00000000-0000-0000-0000-000000000000.jsonl")
		off, err := b.Tail(bytes.NewReader(data), 0)
		if err != nil {
			t.Fatal(err)
		}
		if off > int64(len(data)) || (off > 0 && data[off-1] != '\n') {
			t.Fatalf("offset %d of %d bytes is not after a newline", off, len(data))
		}
		if i := bytes.LastIndexByte(data, '\n'); int64(i+1) != off {
			t.Fatalf("offset %d, want %d (after the last newline)", off, i+1)
		}
		Link(b, map[string]*Builder{})
		spans.Build(b.Session(), spans.Options{})
	})
}
