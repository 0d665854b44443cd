package spans_test

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/weavetrace/weave/geminichat"
	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

// geminiCaptures are the main chat files of the recorded Gemini CLI
// sessions.
func geminiCaptures(t *testing.T) []capture {
	t.Helper()
	root := fixtures.Path(t, fixtures.Gemini061)
	files, err := filepath.Glob(filepath.Join(root, "*", fixtures.MainGlob(fixtures.Gemini061)))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Gemini CLI captures under %s (%v)", root, err)
	}
	var out []capture
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		out = append(out, capture{corpus: "gemini-0.61.0", scenario: strings.SplitN(rel, string(filepath.Separator), 2)[0], path: f})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// TestGoldenGemini renders the span tree of every Gemini CLI capture
// (testdata/golden/gemini-0.61.0/<scenario>.{tree.txt,jsonl}).
func TestGoldenGemini(t *testing.T) {
	for _, c := range geminiCaptures(t) {
		name := c.corpus + "/" + c.scenario
		t.Run(name, func(t *testing.T) {
			s, err := geminichat.Load(c.path)
			if err != nil {
				t.Fatal(err)
			}
			out := spans.Build(s, spans.Options{IntegrationVersion: "test"})
			var jl bytes.Buffer
			for _, sp := range out {
				b, err := json.Marshal(sp)
				if err != nil {
					t.Fatal(err)
				}
				jl.Write(b)
				jl.WriteByte('\n')
			}
			golden(t, filepath.Join("testdata", "golden", name+".tree.txt"), []byte(renderTree(s, out)))
			golden(t, filepath.Join("testdata", "golden", name+".jsonl"), jl.Bytes())
		})
	}
}

// TestInvariantsGemini checks each Gemini CLI capture's spans against its
// chat files (main and subagents) and hook log read independently: a chat
// span per gemini message id, plus a failed one per turn that got no
// AfterAgent hook; an execute_tool span per tool call id, a subagent
// invoke_agent span per call that ran one (agentId); token sums equal to the messages'
// last token counts (input with tool-use prompt tokens, output with
// thoughts, cached); the gcp.gemini provider; gemini-cli turn roots; every
// parent present, every span ended.
func TestInvariantsGemini(t *testing.T) {
	for _, c := range geminiCaptures(t) {
		t.Run(c.scenario, func(t *testing.T) {
			s, err := geminichat.Load(c.path)
			if err != nil {
				t.Fatal(err)
			}
			out := spans.Build(s, spans.Options{})
			type tokens struct{ Input, Output, Cached, Thoughts, Tool int64 }
			msgs := map[string]tokens{}
			calls := map[string]bool{}
			spawns := map[string]bool{} // invoke_agent calls that ran a subagent
			subs, _ := filepath.Glob(filepath.Join(filepath.Dir(c.path), "*", "*.jsonl"))
			var lines []map[string]any
			for _, f := range append([]string{c.path}, subs...) {
				lines = append(lines, rolloutLines(t, f)...)
			}
			for _, l := range lines {
				if l["type"] != "gemini" {
					continue
				}
				var tk tokens
				if m, ok := l["tokens"].(map[string]any); ok {
					for k, p := range map[string]*int64{"input": &tk.Input, "output": &tk.Output, "cached": &tk.Cached, "thoughts": &tk.Thoughts, "tool": &tk.Tool} {
						f, _ := m[k].(float64)
						*p = int64(f)
					}
				}
				msgs[l["id"].(string)] = tk
				tcs, _ := l["toolCalls"].([]any)
				for _, tc := range tcs {
					tc := tc.(map[string]any)
					if tc["agentId"] != nil {
						spawns[tc["id"].(string)] = true
					} else {
						calls[tc["id"].(string)] = true
					}
				}
			}
			var wantIn, wantOut, wantCached int64
			for _, tk := range msgs {
				wantIn += tk.Input + tk.Tool
				wantOut += tk.Output + tk.Thoughts
				wantCached += tk.Cached
			}
			failed := 0
			for _, h := range rolloutLines(t, filepath.Join(filepath.Dir(c.path), "..", "..", "..", "hooks.jsonl")) {
				switch h["event"] {
				case "BeforeAgent":
					failed++
				case "AfterAgent":
					failed--
				}
			}
			byID := map[spanid.SpanID]spans.Span{}
			for _, sp := range out {
				byID[sp.SpanID] = sp
			}
			var gotIn, gotOut, gotCached int64
			chats, failedChats, tools, agents := map[string]int{}, 0, map[string]int{}, map[string]int{}
			for _, sp := range out {
				if !sp.ParentSpanID.IsZero() {
					if _, ok := byID[sp.ParentSpanID]; !ok {
						t.Errorf("%s: parent %s missing", sp.Name, sp.ParentSpanID)
					}
				} else if sp.Name != "invoke_agent gemini-cli" || sp.Attributes[semconv.KeyAgentName] != geminichat.AgentName {
					t.Errorf("root %q agent %v, want invoke_agent gemini-cli", sp.Name, sp.Attributes[semconv.KeyAgentName])
				}
				if sp.End.IsZero() {
					t.Errorf("%s left open", sp.Name)
				}
				switch sp.Attributes[semconv.KeyOperationName] {
				case semconv.OpChat:
					if got := sp.StringAttr(semconv.KeyProviderName); got != "gcp.gemini" {
						t.Errorf("%s: provider %q, want gcp.gemini", sp.Name, got)
					}
					if sp.StatusCode == spans.StatusError {
						failedChats++
					} else {
						chats[sp.StringAttr(semconv.KeyResponseID)]++
					}
					gotIn += sp.IntAttr(semconv.KeyInputTokens)
					gotOut += sp.IntAttr(semconv.KeyOutputTokens)
					gotCached += sp.IntAttr(semconv.KeyCacheReadTokens)
				case semconv.OpExecuteTool:
					tools[sp.StringAttr(semconv.KeyToolCallID)]++
				case semconv.OpInvokeAgent:
					if id := sp.StringAttr(semconv.KeySpawningToolCallID); id != "" {
						agents[id]++
					}
				}
			}
			for id := range spawns {
				if agents[id] != 1 {
					t.Errorf("invoke_agent call %s: %d subagent spans, want 1", id, agents[id])
				}
			}
			if len(agents) != len(spawns) {
				t.Errorf("%d subagent spans for %d invoke_agent calls", len(agents), len(spawns))
			}
			for id := range msgs {
				if chats[id] != 1 {
					t.Errorf("gemini message %s: %d chat spans, want 1", id, chats[id])
				}
			}
			if len(chats) != len(msgs) || failedChats != failed {
				t.Errorf("%d chat spans for %d gemini messages and %d failed calls for %d turns without AfterAgent", len(chats), len(msgs), failedChats, failed)
			}
			for id := range calls {
				if tools[id] != 1 {
					t.Errorf("tool call %s: %d spans, want 1", id, tools[id])
				}
			}
			if len(tools) != len(calls) {
				t.Errorf("%d tool spans for %d tool calls", len(tools), len(calls))
			}
			if gotIn != wantIn || gotOut != wantOut || gotCached != wantCached {
				t.Errorf("tokens in/out/cached %d/%d/%d, the chat file says %d/%d/%d", gotIn, gotOut, gotCached, wantIn, wantOut, wantCached)
			}
		})
	}
}
