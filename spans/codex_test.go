package spans_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/rollout"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

// codexCaptures are the main (non-subagent) rollout files of the recorded
// Codex sessions.
func codexCaptures(t *testing.T) []capture {
	t.Helper()
	root := fixtures.Path(t, fixtures.Codex0169)
	files, err := filepath.Glob(filepath.Join(root, "*", fixtures.MainGlob(fixtures.Codex0169)))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Codex captures under %s (%v)", root, err)
	}
	var out []capture
	for _, f := range files {
		if rollout.IsSubagentFile(f) {
			continue
		}
		rel, _ := filepath.Rel(root, f)
		out = append(out, capture{corpus: "codex-0.169.0", scenario: strings.SplitN(rel, string(filepath.Separator), 2)[0], path: f})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// TestGoldenCodex renders the span tree of every Codex capture
// (testdata/golden/codex-0.169.0/<scenario>/<thread>.{tree.txt,jsonl}).
func TestGoldenCodex(t *testing.T) {
	for _, c := range codexCaptures(t) {
		name := c.corpus + "/" + c.scenario + "/" + strings.TrimSuffix(filepath.Base(c.path), ".jsonl")
		t.Run(name, func(t *testing.T) {
			s, err := rollout.Load(c.path)
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

// TestInvariantsCodex checks each Codex capture's spans against its rollout
// files read independently: a chat span per token_usage_record (response
// id) plus one per failed request, an execute_tool span per function call
// (a spawn_agent call becomes the subagent's invoke_agent), token sums
// equal to the records', the openai provider, the codex agent root, every
// parent present, every span ended.
func TestInvariantsCodex(t *testing.T) {
	for _, c := range codexCaptures(t) {
		t.Run(c.scenario, func(t *testing.T) {
			s, err := rollout.Load(c.path)
			if err != nil {
				t.Fatal(err)
			}
			out := spans.Build(s, spans.Options{})
			files, _ := filepath.Glob(filepath.Join(filepath.Dir(c.path), "*.jsonl"))
			var wantIn, wantOut, wantCached int64
			responses := map[string]bool{}
			calls := map[string]string{} // call_id → name
			failed := 0
			for _, f := range files {
				for _, l := range rolloutLines(t, f) {
					p, _ := l["payload"].(map[string]any)
					switch l["type"] {
					case "token_usage_record":
						responses[p["response_id"].(string)] = true
						u := p["usage"].(map[string]any)
						wantIn += int64(u["input_tokens"].(float64))
						wantOut += int64(u["output_tokens"].(float64))
						wantCached += int64(u["cached_input_tokens"].(float64))
					case "response_item":
						if p["type"] == "function_call" {
							calls[p["call_id"].(string)] = p["name"].(string)
						}
					case "event_msg":
						if p["type"] == "task_complete" && p["error"] != nil {
							failed++
						}
					}
				}
			}
			byID := map[spanid.SpanID]spans.Span{}
			for _, sp := range out {
				byID[sp.SpanID] = sp
			}
			var gotIn, gotOut, gotCached int64
			chats, failedChats := map[string]int{}, 0
			tools, agents := map[string]int{}, map[string]int{}
			for _, sp := range out {
				if !sp.ParentSpanID.IsZero() {
					if _, ok := byID[sp.ParentSpanID]; !ok {
						t.Errorf("%s: parent %s missing", sp.Name, sp.ParentSpanID)
					}
				} else if sp.Name != "invoke_agent codex" || sp.Attributes[semconv.KeyAgentName] != "codex" {
					t.Errorf("root %q agent %v, want invoke_agent codex", sp.Name, sp.Attributes[semconv.KeyAgentName])
				}
				if sp.End.IsZero() {
					t.Errorf("%s left open", sp.Name)
				}
				switch sp.Attributes[semconv.KeyOperationName] {
				case semconv.OpChat:
					if got := sp.StringAttr(semconv.KeyProviderName); got != "openai" {
						t.Errorf("%s: provider %q, want openai", sp.Name, got)
					}
					if id := sp.StringAttr(semconv.KeyResponseID); id != "" {
						chats[id]++
					} else {
						failedChats++
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
			for id := range responses {
				if chats[id] != 1 {
					t.Errorf("response %s: %d chat spans, want 1", id, chats[id])
				}
			}
			if len(chats) != len(responses) || failedChats != failed {
				t.Errorf("%d chat spans for %d responses and %d failed calls for %d failed turns", len(chats), len(responses), failedChats, failed)
			}
			for id, name := range calls {
				got := tools[id]
				if name == "spawn_agent" {
					got = agents[id]
				}
				if got != 1 {
					t.Errorf("call %s (%s): %d spans, want 1", id, name, got)
				}
			}
			if gotIn != wantIn || gotOut != wantOut || gotCached != wantCached {
				t.Errorf("tokens in/out/cached %d/%d/%d, rollouts say %d/%d/%d", gotIn, gotOut, gotCached, wantIn, wantOut, wantCached)
			}
		})
	}
}

func rolloutLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}
