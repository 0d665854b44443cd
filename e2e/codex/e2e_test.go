//go:build e2e

// The Codex CLI end to end: each scenario of scenarios/ through the real
// `codex exec` with the real weave-hook (registered and trusted by
// `weave-hook install --agent codex`) → weave-agentd → weave-server, then
// checked through the read API against the rollout files Codex wrote:
// one chat span per model call, one execute_tool span per tool call (a
// subagent span per spawn_agent call, the compaction request's included),
// token sums equal, nothing left open, a compaction marker in the chat view
// per `compacted` line, every span in the session's conversation (resumes
// included); and `weave-agentd import` of the same files into a fresh
// server gives the same spans. Run it with `make e2e-codex` (it installs
// the pinned CLI).
package codex_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"github.com/weavetrace/weave/e2e/agentharness"
	"github.com/weavetrace/weave/e2e/codex"
	"github.com/weavetrace/weave/rollout"
	"github.com/weavetrace/weave/spans"
)

var suite = agentharness.Suite{Name: "codex", AgentName: rollout.AgentName}

func TestMain(m *testing.M) { os.Exit(suite.Main(m, codex.Install)) }

// truth is what the rollout files say, read as plain JSON.
type truth struct {
	responses            map[string][3]int64 // response id → input, output, cached
	calls                map[string]string   // call id → tool name
	turns, failed, total int
	compactions          int
	importSpans          int
	continued            map[string]bool
}

func readTruth(t *testing.T, sessions string) truth {
	t.Helper()
	tr := truth{responses: map[string][3]int64{}, calls: map[string]string{}, continued: map[string]bool{}}
	files, _ := filepath.Glob(filepath.Join(sessions, "*", "*", "*", "rollout-*.jsonl"))
	if len(files) == 0 {
		t.Fatalf("no rollout under %s", sessions)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sub := rollout.IsSubagentFile(f)
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var l struct {
				Type    string         `json:"type"`
				Payload map[string]any `json:"payload"`
			}
			if json.Unmarshal(sc.Bytes(), &l) != nil {
				continue
			}
			p := l.Payload
			switch l.Type {
			case "token_usage_record":
				u := p["usage"].(map[string]any)
				n := func(k string) int64 { v, _ := u[k].(float64); return int64(v) }
				tr.responses[p["response_id"].(string)] = [3]int64{n("input_tokens"), n("output_tokens"), n("cached_input_tokens")}
			case "response_item":
				if p["type"] == "function_call" || p["type"] == "custom_tool_call" {
					tr.calls[p["call_id"].(string)] = p["name"].(string)
				}
			case "event_msg":
				if p["type"] == "task_started" && !sub {
					tr.turns++
				}
				if p["type"] == "task_complete" && p["error"] != nil {
					tr.failed++
				}
			case "compacted":
				tr.compactions++
			}
		}
		if !sub {
			s, err := rollout.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			built := spans.Build(s, spans.Options{})
			tr.importSpans += len(built)
			maps.Copy(tr.continued, agentharness.Continued(built))
		}
	}
	return tr
}

// check compares what the read API holds with the rollouts.
func check(t *testing.T, what string, got []agentharness.APISpan, tr truth) {
	t.Helper()
	if len(got) != tr.importSpans {
		t.Errorf("%s: %d spans, import builds %d", what, len(got), tr.importSpans)
	}
	chats, tools, agents, roots, failedChats := map[string]int{}, map[string]int{}, map[string]int{}, 0, 0
	var in, out, cached int64
	for _, sp := range got {
		if sp.EndedAt == nil {
			t.Errorf("%s: %s left open", what, sp.SpanName)
		}
		switch sp.OperationName {
		case "chat":
			if sp.ProviderName != "openai" {
				t.Errorf("%s: %s provider %q", what, sp.SpanName, sp.ProviderName)
			}
			if sp.ResponseID == "" {
				failedChats++
			} else {
				chats[sp.ResponseID]++
			}
			for p, v := range map[*int64]*int64{&in: sp.InputTokens, &out: sp.OutputTokens, &cached: sp.CacheRead} {
				if v != nil {
					*p += *v
				}
			}
		case "execute_tool":
			tools[sp.ToolCallID]++
		case "invoke_agent":
			if sp.ParentSpanID == "" {
				roots++
				if sp.AgentName != "codex" || sp.SpanName != "invoke_agent codex" {
					t.Errorf("%s: root %q agent %q", what, sp.SpanName, sp.AgentName)
				}
			} else {
				agents[sp.ToolCallID]++
			}
		}
	}
	var wantIn, wantOut, wantCached int64
	for id, u := range tr.responses {
		if chats[id] != 1 {
			t.Errorf("%s: response %s has %d chat spans, want 1", what, id, chats[id])
		}
		wantIn, wantOut, wantCached = wantIn+u[0], wantOut+u[1], wantCached+u[2]
	}
	if len(chats) != len(tr.responses) || failedChats != tr.failed {
		t.Errorf("%s: %d chat spans with a response for %d model calls, %d failed for %d", what, len(chats), len(tr.responses), failedChats, tr.failed)
	}
	for id, name := range tr.calls {
		n := tools[id]
		if name == "spawn_agent" {
			n = agents[id]
		}
		if n != 1 {
			t.Errorf("%s: tool call %s (%s) has %d spans, want 1", what, id, name, n)
		}
	}
	if roots != tr.turns {
		t.Errorf("%s: %d turn roots, rollouts have %d turns", what, roots, tr.turns)
	}
	if in != wantIn || out != wantOut || cached != wantCached {
		t.Errorf("%s: tokens in/out/cached %d/%d/%d, rollouts %d/%d/%d", what, in, out, cached, wantIn, wantOut, wantCached)
	}
}

func TestCodexScenarios(t *testing.T) {
	if !suite.Isolated {
		t.Log("not root: Codex runs on the host network, pointed at the loopback mock")
	}
	scs, err := codex.Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	live, imported := agentharness.StartServer(t, suite.BinDir), agentharness.StartServer(t, suite.BinDir)
	total := 0
	for _, sc := range scs {
		t.Run(sc.Name, func(t *testing.T) {
			total += suite.Run(t, live, imported, sc.Name, func(env agentharness.Env) (*agentharness.Result, error) {
				return codex.Execute(context.Background(), env, sc)
			}, func(t *testing.T, res *agentharness.Result) agentharness.Truth {
				tr := readTruth(t, res.Sessions)
				return agentharness.Truth{Spans: tr.importSpans, Turns: tr.turns, Compactions: tr.compactions, Import: res.Sessions, Continued: tr.continued,
					Check: func(t *testing.T, what string, got []agentharness.APISpan) { check(t, what, got, tr) }}
			})
		})
	}
	fmt.Printf("e2e-codex: %d scenarios with the real Codex CLI %s, %d spans checked through the read API (live == import)\n", len(scs), codex.Version, total)
}
