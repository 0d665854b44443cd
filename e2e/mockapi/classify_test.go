package mockapi

import (
	"encoding/json"
	"testing"
)

func TestClassify(t *testing.T) {
	billing := `{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.330.1f2; cc_entrypoint=sdk-cli;"}`
	subBilling := `{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.e9c; cc_entrypoint=sdk-cli; cc_is_subagent=true;"}`
	tools := `[{"name": "Bash"}, {"name": "Agent"}]`
	for _, tc := range []struct {
		name, body string
		want       Kind
	}{
		{"main", `{"system": [` + billing + `, {"type": "text", "text": "You are an interactive agent"}], "tools": ` + tools + `, "messages": [{"role": "user", "content": "hi"}]}`, KindMain},
		{"main, string system", `{"system": "You are Claude Code", "tools": ` + tools + `, "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}`, KindMain},
		{"subagent", `{"system": [` + subBilling + `], "tools": [{"name": "Bash"}], "messages": [{"role": "user", "content": "Count the lines"}]}`, KindSubagent},
		{"compaction of the main agent", `{"system": [` + billing + `], "tools": ` + tools + `, "messages": [{"role": "user", "content": "hi"},
			{"role": "assistant", "content": [{"type": "text", "text": "x"}]},
			{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "ok"}, {"type": "text", "text": "CRITICAL: Respond with TEXT ONLY. Do NOT call any tools."}]}]}`, KindCompaction},
		{"compaction of a subagent", `{"system": [` + subBilling + `], "tools": [{"name": "Bash"}], "messages": [{"role": "user", "content": "Your task is to create a detailed summary of the conversation so far"}]}`, KindCompaction},
		{"an earlier compaction request does not count", `{"system": [` + billing + `], "tools": ` + tools + `, "messages": [{"role": "user", "content": "CRITICAL: Respond with TEXT ONLY"},
			{"role": "assistant", "content": [{"type": "text", "text": "<summary>"}]}, {"role": "user", "content": "next"}]}`, KindMain},
		{"classifier stage 1", `{"system": [` + billing + `, {"type": "text", "text": "You are a security monitor for autonomous AI coding agents.\n"}], "max_tokens": 64, "stop_sequences": ["</block>"], "messages": [{"role": "user", "content": "<transcript>"}]}`, KindClassifier},
		{"title by prompt", `{"system": [` + billing + `, {"type": "text", "text": "Generate a concise, sentence-case title (3-7 words)"}], "messages": [{"role": "user", "content": "<session>"}]}`, KindTitle},
		{"title by schema", `{"system": "name this", "output_config": {"format": {"type": "json_schema", "schema": {"properties": {"title": {"type": "string"}}}}}, "messages": [{"role": "user", "content": "x"}]}`, KindTitle},
		{"other structured output", `{"system": "x", "output_config": {"format": {"type": "json_schema", "schema": {"properties": {"isNewTopic": {}}}}}, "messages": []}`, KindSide},
		{"no tools", `{"system": [` + billing + `], "max_tokens": 512, "messages": [{"role": "user", "content": "quota"}]}`, KindSide},
		{"no system", `{"messages": [{"role": "user", "content": "x"}], "tools": [{"name": "Bash"}]}`, KindMain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Request
			if err := json.Unmarshal([]byte(tc.body), &r); err != nil {
				t.Fatal(err)
			}
			if got := r.Classify(); got != tc.want {
				t.Errorf("Classify() = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestRequestText(t *testing.T) {
	var r Request
	json.Unmarshal([]byte(`{"messages": [
	  {"role": "user", "content": [{"type": "text", "text": "listing"}, {"type": "text", "text": "the prompt"}]},
	  {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01a", "name": "Bash", "input": {}}, {"type": "text", "text": "same"}]},
	  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01a", "content": [{"type": "text", "text": "Exit code 3"}]},
	                               {"type": "tool_result", "tool_use_id": "toolu_01b", "content": "plain"}]}]}`), &r)
	if got := r.FirstUserText(); got != "listing\nthe prompt" {
		t.Errorf("FirstUserText %q", got)
	}
	if got := r.LastUserText(); got != "Exit code 3\nplain" {
		t.Errorf("LastUserText %q", got)
	}
	marks := r.threadMarks()
	if len(marks) != 2 || marks[0] != "toolu_01a" || marks[1] != textMark("same") {
		t.Errorf("threadMarks %v: want the tool id before the text", marks)
	}
}
