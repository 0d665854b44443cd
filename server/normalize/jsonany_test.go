package normalize

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeJSONAny holds decodeJSONAny to json.Unmarshal into an any:
// the same value, and an error exactly when it fails.
func FuzzDecodeJSONAny(f *testing.F) {
	for _, s := range []string{
		`[{"role":"assistant","parts":[{"type":"text","content":"hi\nthere"},{"type":"tool_call","id":"t1","name":"Bash","arguments":{"command":"ls"}}],"finish_reason":"tool_use"}]`,
		`{"a":1,"a":2,"b":[],"c":{},"d":null,"e":true,"f":false,"g":-0.5e+3,"h":"\u00e9\ud83d\ude00\ud800"}`,
		` "x" `, `1e400`, `-`, `01`, `1.`, `.5`, `[1,]`, `{"a" 1}`, `{"a":1,}`, `[1] x`, "\"a\x01\"", "\"\xff\"", `"\q"`, `tru`, `nul`,
		strings.Repeat("[", 10001) + strings.Repeat("]", 10001), strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want any
		wantErr := json.Unmarshal([]byte(s), &want)
		got, err := decodeJSONAny(s)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("decodeJSONAny(%q): error %v, json.Unmarshal's %v", s, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeJSONAny(%q) = %#v, json.Unmarshal gives %#v", s, got, want)
		}
	})
}

// BenchmarkDecodeJSONAny: a model call's output messages (text and two
// tool calls), as gen_ai.output.messages carries them.
func BenchmarkDecodeJSONAny(b *testing.B) {
	text := strings.Repeat("let me check the failing test in store_test.go.\n", 20)
	doc, _ := json.Marshal([]any{map[string]any{"role": "assistant", "finish_reason": "tool_use", "parts": []any{
		map[string]any{"type": "text", "content": text},
		map[string]any{"type": "tool_call", "id": "toolu_01", "name": "Bash", "arguments": map[string]any{"command": "go test ./...", "timeout": 120000}},
		map[string]any{"type": "tool_call", "id": "toolu_02", "name": "Read", "arguments": map[string]any{"file_path": "/src/store.go"}}}}})
	s := string(doc)
	b.Run("decodeJSONAny", func(b *testing.B) {
		for b.Loop() {
			if _, err := decodeJSONAny(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Unmarshal", func(b *testing.B) {
		for b.Loop() {
			var v any
			if err := json.Unmarshal([]byte(s), &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
