package mockapi

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestParseScriptErrors(t *testing.T) {
	for _, tc := range []struct{ name, script, want string }{
		{"not JSON", `{`, "unexpected EOF"},
		{"unknown field", `{"mian": []}`, `unknown field "mian"`},
		{"unknown step field", `{"main": [{"contnet": []}]}`, `unknown field "contnet"`},
		{"trailing data", `{} {}`, "data after the JSON object"},
		{"empty step", `{"main": [{}]}`, "main[0]: neither content nor error"},
		{"block type", `{"main": [{"content": [{"type": "image"}]}]}`, `main[0]: content[0]: block type "image"`},
		{"empty text", `{"main": [{"content": [{"type": "text"}]}]}`, "text block without text"},
		{"mixed block", `{"main": [{"content": [{"type": "text", "text": "x", "name": "Bash"}]}]}`, "text block with fields of another block type"},
		{"tool without name", `{"main": [{"content": [{"type": "tool_use", "input": {}}]}]}`, "tool_use block without a name"},
		{"tool input not an object", `{"main": [{"content": [{"type": "tool_use", "name": "Bash", "input": [1]}]}]}`, "input is not a JSON object"},
		{"tool input null", `{"main": [{"content": [{"type": "tool_use", "name": "Bash", "input": null}]}]}`, "input is not a JSON object"},
		{"tool id", `{"main": [{"content": [{"type": "tool_use", "name": "Bash", "id": "x1"}]}]}`, `tool_use id "x1"`},
		{"empty thinking", `{"main": [{"content": [{"type": "thinking"}]}]}`, "thinking block without thinking"},
		{"stop reason", `{"main": [{"stop_reason": "done", "content": [{"type": "text", "text": "x"}]}]}`, `stop_reason "done"`},
		{"stop sequence", `{"main": [{"stop_sequence": "</x>", "content": [{"type": "text", "text": "x"}]}]}`, "stop_sequence without"},
		{"negative usage", `{"main": [{"usage": {"input_tokens": -1}, "content": [{"type": "text", "text": "x"}]}]}`, "negative token count"},
		{"negative split", `{"main": [{"usage": {"cache_creation": {"ephemeral_1h_input_tokens": -2}}, "content": [{"type": "text", "text": "x"}]}]}`, "negative token count -2"},
		{"delay", `{"main": [{"delay_ms": -5, "content": [{"type": "text", "text": "x"}]}]}`, "delay_ms -5"},
		{"error and content", `{"main": [{"error": {"status": 500}, "content": [{"type": "text", "text": "x"}]}]}`, "an error step has no content"},
		{"error status", `{"main": [{"error": {"status": 200}}]}`, "error status 200"},
		{"retry after", `{"main": [{"error": {"status": 429, "retry_after": -1}}]}`, "retry_after -1"},
		{"required after optional", `{"main": [{"optional": true, "error": {"status": 529}}, {"content": [{"type": "text", "text": "x"}]}]}`, "main[1]: a required step after an optional one"},
		{"repeat", `{"main": [{"repeat": -1, "error": {"status": 500}}]}`, "repeat -1"},
		{"agent without steps", `{"subagents": [{"prompt_contains": "x"}]}`, "subagents[0]: no steps"},
		{"agent step", `{"subagents": [{"steps": [{}]}]}`, "subagents[0].steps[0]: neither content nor error"},
		{"classifier", `{"classifier": "maybe"}`, `classifier "maybe"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseScript([]byte(tc.script), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "mockapi: script: ") {
				t.Errorf("ParseScript(%s) error %v, want one saying %q", tc.script, err, tc.want)
			}
		})
	}
}

func TestParseScriptSubstitutes(t *testing.T) {
	work := `/tmp/a "quoted" dir\with` // needs escaping inside JSON
	s, err := ParseScript([]byte(`{"main": [{"content": [
	  {"type": "tool_use", "name": "Read", "input": {"file_path": "@WORK@/notes.txt"}},
	  {"type": "text", "text": "in @WORK@, not @OTHER@"}]}]}`), map[string]string{"WORK": work})
	if err != nil {
		t.Fatal(err)
	}
	var in struct {
		FilePath string `json:"file_path"`
	}
	json.Unmarshal(s.Main[0].Content[0].Input, &in)
	if in.FilePath != work+"/notes.txt" {
		t.Errorf("file_path %q", in.FilePath)
	}
	if got := s.Main[0].Content[1].Text; got != "in "+work+", not @OTHER@" {
		t.Errorf("text %q", got)
	}
	if got := string(s.Main[0].Content[0].Input); strings.Contains(got, " ") && !strings.Contains(got, `a \"quoted\" dir`) {
		t.Errorf("input not compacted: %s", got)
	}
}

// FuzzParseScript: any input either fails with a clear error or gives a
// script that survives a round trip through its JSON form unchanged.
func FuzzParseScript(f *testing.F) {
	for _, seed := range []string{
		toolsScript,
		`{"main": [{"error": {"status": 400, "message": "prompt is too long: 3 tokens > 2 maximum"}}, {"optional": true, "error": {"status": 529, "retry_after": 0}}]}`,
		`{"subagents": [{"prompt_contains": "Count", "steps": [{"delay_ms": 10, "content": [{"type": "tool_use", "name": "Bash", "input": {"command": "wc -l @WORK@/x"}}]}]}], "classifier": "allow"}`,
		`{"main": [{"usage": {"input_tokens": 6, "cache_creation": {"ephemeral_5m_input_tokens": 1}}, "expect": {"last_user_contains": "x"}, "stop_reason": "stop_sequence", "stop_sequence": "</block>", "content": [{"type": "text", "text": "<block>no"}]}], "compact_summary": "s", "title": "t", "side_text": "ok"}`,
		`{"main": [{"content": [{"type": "tool_use", "name": "Bash", "id": "toolu_01x", "input": {"a": [1, {"b": null}]}}]}]}`,
		`{"main": [{"optional": true, "error": {"status": 400}}, {"when": {"last_user_contains": "Async agent launched"}, "repeat": 3, "content": [{"type": "text", "text": "w"}]}]}`,
		`{}`, `[]`, `null`, `{"main": null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseScript(data, map[string]string{"WORK": "/w"})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "mockapi: script: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := ParseScript(out, nil)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if !reflect.DeepEqual(s, again) {
			t.Fatalf("round trip changed the script:\n%#v\n%#v", s, again)
		}
	})
}
