package spans_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

var update = flag.Bool("update", false, "rewrite golden files")

// capture is one main transcript file of a recorded session (the
// repository's testdata/, package fixtures).
type capture struct {
	corpus   string // cc-2.1.197, cc-2.1.330-weave, sdk-0.3.197, …
	scenario string
	path     string
}

func captures(t *testing.T) []capture {
	t.Helper()
	// The golden files are named after the corpus (testdata/golden/<corpus>).
	sets := map[string]string{
		"cc-2.1.197":  fixtures.ClaudeCode2197,
		"cc-2.1.330":  fixtures.ClaudeCode2330,
		"sdk-0.3.197": fixtures.AgentSDK03197,
		// Real Claude Code runs of e2e/scenarios (parallel identical
		// subagents, a subagent spawning its own, a background subagent
		// and command, an API error, a failing subagent, a fork, an
		// interrupt), with each CLI version.
		"cc-2.1.197-weave": fixtures.E2E2197,
		"cc-2.1.330-weave": fixtures.E2E2330,
	}
	var out []capture
	for corpus, set := range sets {
		root := fixtures.Path(t, set)
		files, err := filepath.Glob(filepath.Join(root, "*", "projects", "*", "*.jsonl"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no captures under %s (%v)", root, err)
		}
		for _, f := range files {
			rel, _ := filepath.Rel(root, f)
			out = append(out, capture{corpus: corpus, scenario: strings.SplitN(rel, string(filepath.Separator), 2)[0], path: f})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

func load(t *testing.T, path string) *transcript.Session {
	t.Helper()
	s, warns, err := transcript.Load(path, transcript.NewResolver())
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	for _, w := range warns {
		t.Errorf("Load(%s) warning: %v", path, w)
	}
	return s
}

// TestGoldenCaptures renders the span tree of every capture and compares it
// with testdata/golden/<corpus>/<scenario>/<session>.{tree.txt,jsonl}.
// The tree files were reviewed by hand against the transcripts.
func TestGoldenCaptures(t *testing.T) {
	for _, c := range captures(t) {
		name := c.corpus + "/" + c.scenario + "/" + strings.TrimSuffix(filepath.Base(c.path), ".jsonl")
		t.Run(name, func(t *testing.T) {
			s := load(t, c.path)
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

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./spans -update, then review the diff)\n--- got:\n%s", path, firstDiff(got, want))
	}
}

func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %.300s\nwant: %.300s", i+1, gl, wl)
		}
	}
	return ""
}

// renderTree draws the span forest for review: one line per span, with the
// attributes that matter to a reader.
func renderTree(s *transcript.Session, out []spans.Span) string {
	var b strings.Builder
	fmt.Fprintf(&b, "session %s conversation %s parent %q fork %q\n", s.ID, s.ConversationID, s.ParentSessionID, s.ForkKind)
	for _, t := range s.Turns {
		if t.Copied {
			fmt.Fprintf(&b, "turn %d %q copied from %s (not emitted here)\n", t.Number, t.Prompt, t.CopiedFrom)
		}
	}
	children := map[spanid.SpanID][]spans.Span{}
	var roots []spans.Span
	for _, sp := range out {
		if sp.ParentSpanID.IsZero() {
			roots = append(roots, sp)
		} else {
			children[sp.ParentSpanID] = append(children[sp.ParentSpanID], sp)
		}
	}
	var walk func(sp spans.Span, depth int)
	walk = func(sp spans.Span, depth int) {
		fmt.Fprintf(&b, "%s%s [%s] %s", strings.Repeat("  ", depth), sp.Name, sp.StatusCode, sp.SpanID)
		end := "running"
		if !sp.End.IsZero() {
			end = fmt.Sprintf("%dms", sp.End.Sub(sp.Start).Milliseconds())
		}
		fmt.Fprintf(&b, " %s", end)
		for _, k := range []string{semconv.KeyDisplayName, semconv.KeyInputTokens, semconv.KeyOutputTokens, semconv.KeyCacheReadTokens,
			semconv.KeyCacheCreateTokens, semconv.KeyErrorType, semconv.KeyAgentID, semconv.KeySubagentMatch, semconv.KeyOrphanReason,
			semconv.KeyCompactionTrigger, semconv.KeyTurnFailed} {
			if v, ok := sp.Attributes[k]; ok {
				fmt.Fprintf(&b, " %s=%v", strings.TrimPrefix(strings.TrimPrefix(k, "weave.claude_code."), "gen_ai."), v)
			}
		}
		b.WriteString("\n")
		for _, c := range children[sp.SpanID] {
			walk(c, depth+1)
		}
	}
	for _, r := range roots {
		fmt.Fprintf(&b, "trace %s\n", r.TraceID)
		walk(r, 1)
	}
	return b.String()
}

// rawLines reads a transcript's lines as generic JSON, independently of the
// transcript package, for the invariant checks.
func rawLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

type rawUsage struct{ in, out int64 }

// rawCalls returns, per assistant message.id of a file, its usage (from its
// last line) and the tool_use ids of the file.
func rawCalls(t *testing.T, path string) (map[string]rawUsage, map[string]string) {
	t.Helper()
	calls := map[string]rawUsage{}
	tools := map[string]string{}
	num := func(m map[string]any, k string) int64 { f, _ := m[k].(float64); return int64(f) }
	for _, l := range rawLines(t, path) {
		if l["type"] != "assistant" {
			continue
		}
		msg, _ := l["message"].(map[string]any)
		if msg == nil {
			continue
		}
		id, _ := msg["id"].(string)
		var u rawUsage
		if usage, _ := msg["usage"].(map[string]any); usage != nil && msg["model"] != "<synthetic>" {
			u = rawUsage{num(usage, "input_tokens") + num(usage, "cache_read_input_tokens") + num(usage, "cache_creation_input_tokens"), num(usage, "output_tokens")}
		}
		calls[id] = u
		content, _ := msg["content"].([]any)
		for _, c := range content {
			cb, _ := c.(map[string]any)
			if cb["type"] == "tool_use" {
				tid, _ := cb["id"].(string)
				name, _ := cb["name"].(string)
				tools[tid] = name
			}
		}
	}
	return calls, tools
}

// TestInvariants checks every capture against its own transcript, read
// independently of the transcript package:
//   - each distinct assistant message.id → exactly one chat span;
//   - each tool_use id → exactly one execute_tool span, Agent ones → the
//     subagent's invoke_agent span;
//   - each subagent → an invoke_agent under the turn that spawned it, with
//     its own chat and tool spans beneath it;
//   - token sums equal the transcript's;
//   - every parent exists; a second run gives identical output.
func TestInvariants(t *testing.T) {
	for _, c := range captures(t) {
		name := c.corpus + "/" + c.scenario + "/" + filepath.Base(c.path)
		t.Run(name, func(t *testing.T) {
			s := load(t, c.path)
			out := spans.Build(s, spans.Options{})

			// What this file owns: everything except lines copied from a
			// fork parent (those messages are the parent's).
			calls, tools := rawCalls(t, c.path)
			if s.ParentSessionID != "" {
				pc, pt := rawCalls(t, filepath.Join(filepath.Dir(c.path), s.ParentSessionID+".jsonl"))
				for id := range pc {
					delete(calls, id)
				}
				for id := range pt {
					delete(tools, id)
				}
			}
			var subCalls []map[string]rawUsage
			for _, sp := range transcript.SubagentPaths(c.path) {
				sc, st := rawCalls(t, sp)
				subCalls = append(subCalls, sc)
				for id, u := range sc {
					calls[id] = u
				}
				for id, n := range st {
					tools[id] = n
				}
			}

			byID := map[spanid.SpanID]spans.Span{}
			chatByResp := map[string]int{}
			var gotIn, gotOut int64
			toolSpans := map[string]int{}
			for _, sp := range out {
				if _, dup := byID[sp.SpanID]; dup {
					t.Errorf("span id %s emitted twice", sp.SpanID)
				}
				byID[sp.SpanID] = sp
				switch sp.Attributes[semconv.KeyOperationName] {
				case semconv.OpChat:
					id := sp.StringAttr(semconv.KeyResponseID)
					if id == "" { // a failed call: no response id
						for mid := range calls {
							if spanid.ChatSpanID(sp.TraceID, mid) == sp.SpanID {
								id = mid
							}
						}
					}
					chatByResp[id]++
					gotIn += sp.IntAttr(semconv.KeyInputTokens)
					gotOut += sp.IntAttr(semconv.KeyOutputTokens)
				case semconv.OpExecuteTool:
					toolSpans[sp.StringAttr(semconv.KeyToolCallID)]++
				case semconv.OpInvokeAgent:
					if id := sp.StringAttr(semconv.KeySpawningToolCallID); id != "" {
						toolSpans[id]++
					}
				}
			}
			var wantIn, wantOut int64
			for id, u := range calls {
				if chatByResp[id] != 1 {
					t.Errorf("message.id %s: got %d chat spans, want 1", id, chatByResp[id])
				}
				wantIn += u.in
				wantOut += u.out
			}
			if len(chatByResp) != len(calls) {
				t.Errorf("got chat spans for %d responses, want %d", len(chatByResp), len(calls))
			}
			if gotIn != wantIn || gotOut != wantOut {
				t.Errorf("tokens: got in=%d out=%d, want in=%d out=%d", gotIn, gotOut, wantIn, wantOut)
			}
			for id, name := range tools {
				if toolSpans[id] != 1 {
					t.Errorf("tool_use %s (%s): got %d spans, want 1", id, name, toolSpans[id])
				}
			}
			for id := range toolSpans {
				if _, ok := tools[id]; !ok {
					t.Errorf("span for tool_use %s not in the transcript", id)
				}
			}
			for _, sp := range out {
				if sp.ParentSpanID.IsZero() {
					if sp.Name != "invoke_agent claude-code" {
						t.Errorf("root %q, want invoke_agent claude-code", sp.Name)
					}
					continue
				}
				p, ok := byID[sp.ParentSpanID]
				if !ok || p.TraceID != sp.TraceID {
					t.Errorf("span %s %q: parent %s missing from its trace", sp.SpanID, sp.Name, sp.ParentSpanID)
				}
			}
			// Subagents: an invoke_agent whose chat spans are exactly the
			// subagent file's responses, under the turn that spawned it.
			for i, a := range s.Subagents {
				if a.Turn == nil || a.Turn.Copied {
					continue
				}
				var agentSpan *spans.Span
				for j := range out {
					if out[j].StringAttr(semconv.KeyAgentID) == a.AgentID {
						agentSpan = &out[j]
					}
				}
				if agentSpan == nil {
					t.Errorf("subagent %s: no invoke_agent span", a.AgentID)
					continue
				}
				if agentSpan.TraceID != spanid.TurnTraceID(a.Turn.Key) {
					t.Errorf("subagent %s: in trace %s, want its turn's %s", a.AgentID, agentSpan.TraceID, spanid.TurnTraceID(a.Turn.Key))
				}
				for id := range subCalls[i] {
					cs := byID[spanid.ChatSpanID(agentSpan.TraceID, id)]
					if cs.ParentSpanID != agentSpan.SpanID {
						t.Errorf("subagent %s: chat %s parent %s, want %s", a.AgentID, id, cs.ParentSpanID, agentSpan.SpanID)
					}
				}
				for _, tc := range a.Tools {
					id := spanid.ToolSpanID(agentSpan.TraceID, tc.ID)
					if tc.IsAgentCall() {
						id = spanid.AgentSpanID(agentSpan.TraceID, tc.ID)
					}
					if byID[id].ParentSpanID != agentSpan.SpanID {
						t.Errorf("subagent %s: tool %s not under it", a.AgentID, tc.ID)
					}
				}
			}
			// Determinism.
			again := spans.Build(load(t, c.path), spans.Options{})
			a, _ := json.Marshal(out)
			b, _ := json.Marshal(again)
			if !bytes.Equal(a, b) {
				t.Errorf("second run differs")
			}
		})
	}
}
