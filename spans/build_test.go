package spans_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

var contentKeys = []string{spans.KeyInputMessages, spans.KeyOutputMessages, spans.KeySystemInstructions,
	spans.KeyToolCallArguments, spans.KeyToolCallResult, spans.KeyCompactionSummary, spans.KeyAgentDescription}

func TestOmitContent(t *testing.T) {
	for _, c := range captures(t) {
		s := load(t, c.path)
		for _, sp := range spans.Build(s, spans.Options{Privacy: spans.Privacy{OmitContent: true}}) {
			for _, k := range contentKeys {
				if _, ok := sp.Attributes[k]; ok {
					t.Errorf("%s: span %q carries %s with content omitted", c.path, sp.Name, k)
				}
			}
			if dn := sp.StringAttr(spans.KeyDisplayName); strings.Contains(dn, ":") {
				t.Errorf("%s: display name %q leaks content", c.path, dn)
			}
			for _, e := range sp.Events {
				if _, ok := e.Attributes[spans.KeyCompactionSummary]; ok {
					t.Errorf("%s: event %s carries the summary", c.path, e.Name)
				}
			}
			if sp.ParentSpanID.IsZero() && sp.Attributes[spans.KeyContentOmitted] != true {
				t.Errorf("%s: root lacks %s", c.path, spans.KeyContentOmitted)
			}
		}
	}
}

func TestRedactionInSpans(t *testing.T) {
	dir := t.TempDir()
	secret := "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7Zx6Yw5Vu4Ts3Rq2Po1Nm0Lk9Ji8-AbCdEfAA"
	lines := []string{
		`{"type":"user","uuid":"u1","sessionId":"s","promptId":"p","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"use key ` + secret + `"}}`,
		`{"type":"assistant","uuid":"a1","sessionId":"s","timestamp":"2026-01-01T00:00:01Z","message":{"id":"m1","role":"assistant","model":"claude-x","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"curl -H 'x-api-key: ` + secret + `' api"}}],"stop_reason":"tool_use"}}`,
		`{"type":"user","uuid":"u2","sessionId":"s","promptId":"p","timestamp":"2026-01-01T00:00:02Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"echoed ` + secret + `"}]}}`,
	}
	path := filepath.Join(dir, "s.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := load(t, path)
	out := spans.Build(s, spans.Options{})
	all, _ := json.Marshal(out)
	if strings.Contains(string(all), "Zx9Yw8Vu7") {
		t.Fatalf("secret exported: %s", all)
	}
	if got := out[0].IntAttr(spans.KeyRedactions); got != 7 {
		t.Errorf("root %s = %d, want 7 (root prompt and display name, chat input and tool_call, tool arguments, display name and result)", spans.KeyRedactions, got)
	}
	open := spans.Build(s, spans.Options{Privacy: spans.Privacy{NoRedact: true}})
	all, _ = json.Marshal(open)
	if !strings.Contains(string(all), "Zx9Yw8Vu7") {
		t.Errorf("NoRedact: secret missing from output")
	}
}

func TestProviderFromModel(t *testing.T) {
	tests := []struct{ model, want string }{
		{"claude-opus-4-8", "anthropic"},
		{"claude-3-5-sonnet-v2@20241022", "gcp.vertex_ai"},
		{"anthropic.claude-3-5-sonnet-20241022-v2:0", "aws.bedrock"},
		{"us.anthropic.claude-sonnet-4-20250514-v1:0", "aws.bedrock"},
		{"gpt-4o", "openai"},
		{"<synthetic>", ""},
		{"", ""},
		{"my-local-model", ""},
	}
	for _, tc := range tests {
		if got := spans.ProviderFromModel(tc.model); got != tc.want {
			t.Errorf("ProviderFromModel(%q) = %q, want %q", tc.model, got, tc.want)
		}
	}
}

func TestSpanJSONRoundTrip(t *testing.T) {
	for _, c := range captures(t)[:3] {
		for _, sp := range spans.Build(load(t, c.path), spans.Options{}) {
			b, err := json.Marshal(sp)
			if err != nil {
				t.Fatal(err)
			}
			var back spans.Span
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			b2, _ := json.Marshal(back)
			if string(b) != string(b2) {
				t.Errorf("round trip changed the span:\n%s\n%s", b, b2)
			}
		}
	}
	_ = transcript.ForkCLI
}
