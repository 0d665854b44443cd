//go:build e2e

// The Gemini CLI end to end: each scenario of scenarios/ through the real
// `gemini -p` with the real weave-hook (registered by `weave-hook install
// --agent gemini`) → weave-agentd → weave-server, then checked through the
// read API against the chat files Gemini CLI wrote: one chat span per model
// call (gemini message, subagents' included), a failed one per failed run,
// one execute_tool span per tool call, a subagent span per invoke_agent call, token sums equal, nothing left open, a turn root per run;
// and `weave-agentd import` of the same files into a fresh server gives the
// same spans with the same times. Run it with `make e2e-gemini` (it
// installs the pinned CLI).
package gemini_test

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
	"github.com/weavetrace/weave/e2e/gemini"
	"github.com/weavetrace/weave/geminichat"
	"github.com/weavetrace/weave/spans"
)

var suite = agentharness.Suite{Name: "gemini", AgentName: geminichat.AgentName}

func TestMain(m *testing.M) { os.Exit(suite.Main(m, gemini.Install)) }

// truth is what the chat file says, read as plain JSON: each gemini
// message's last token counts, the tool call ids.
type truth struct {
	messages    map[string][3]int64 // id → input (+tool), output (+thoughts), cached
	calls       map[string]string   // tool call id → name
	spawns      map[string]bool     // invoke_agent calls that ran a subagent (agentId)
	importSpans int
	continued   map[string]bool
}

// readTruth reads every chat file under chats: the main ones (a resumed
// session started in another minute leaves a second file with only its
// metadata: see FINDINGS.md) and the subagents'.
func readTruth(t *testing.T, chats string) truth {
	t.Helper()
	tr := truth{messages: map[string][3]int64{}, calls: map[string]string{}, spawns: map[string]bool{}, continued: map[string]bool{}}
	mains, _ := filepath.Glob(filepath.Join(chats, "session-*.jsonl"))
	subs, _ := filepath.Glob(filepath.Join(chats, "*", "*.jsonl"))
	if len(mains) == 0 {
		t.Fatalf("no chat file in %s", chats)
	}
	var data []byte
	for _, f := range append(append([]string{}, mains...), subs...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, b...)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var m struct {
			ID        string           `json:"id"`
			Type      string           `json:"type"`
			Tokens    map[string]int64 `json:"tokens"`
			ToolCalls []struct {
				ID      string `json:"id"`
				Name    string `json:"name"`
				AgentID string `json:"agentId"`
			} `json:"toolCalls"`
		}
		if json.Unmarshal(sc.Bytes(), &m) != nil || m.Type != "gemini" {
			continue
		}
		k := m.Tokens
		tr.messages[m.ID] = [3]int64{k["input"] + k["tool"], k["output"] + k["thoughts"], k["cached"]}
		for _, tc := range m.ToolCalls {
			if tc.AgentID != "" {
				tr.spawns[tc.ID] = true
			} else {
				tr.calls[tc.ID] = tc.Name
			}
		}
	}
	for _, f := range mains {
		s, err := geminichat.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		built := spans.Build(s, spans.Options{})
		tr.importSpans += len(built)
		maps.Copy(tr.continued, agentharness.Continued(built))
	}
	return tr
}

// check compares what the read API holds with the chat file and the runs.
func check(t *testing.T, what string, got []agentharness.APISpan, tr truth, sc gemini.Scenario) {
	t.Helper()
	if len(got) != tr.importSpans {
		t.Errorf("%s: %d spans, import builds %d", what, len(got), tr.importSpans)
	}
	failed := 0
	for _, r := range sc.Runs {
		if r.Fail {
			failed++
		}
	}
	chats, tools, agents, roots, failedChats := map[string]int{}, map[string]int{}, map[string]int{}, 0, 0
	var in, out, cached int64
	for _, sp := range got {
		if sp.EndedAt == nil {
			t.Errorf("%s: %s left open", what, sp.SpanName)
		}
		switch sp.OperationName {
		case "chat":
			if sp.ProviderName != "gcp.gemini" {
				t.Errorf("%s: %s provider %q", what, sp.SpanName, sp.ProviderName)
			}
			if sp.StatusCode == "ERROR" {
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
				if sp.AgentName != geminichat.AgentName || sp.SpanName != "invoke_agent "+geminichat.AgentName {
					t.Errorf("%s: root %q agent %q", what, sp.SpanName, sp.AgentName)
				}
			} else {
				agents[sp.ToolCallID]++
			}
		}
	}
	var wantIn, wantOut, wantCached int64
	for id, u := range tr.messages {
		if chats[id] != 1 {
			t.Errorf("%s: gemini message %s has %d chat spans, want 1", what, id, chats[id])
		}
		wantIn, wantOut, wantCached = wantIn+u[0], wantOut+u[1], wantCached+u[2]
	}
	if len(chats) != len(tr.messages) || failedChats != failed {
		t.Errorf("%s: %d chat spans for %d model calls, %d failed for %d failed runs", what, len(chats), len(tr.messages), failedChats, failed)
	}
	for id, name := range tr.calls {
		if tools[id] != 1 {
			t.Errorf("%s: tool call %s (%s) has %d spans, want 1", what, id, name, tools[id])
		}
	}
	if len(tools) != len(tr.calls) {
		t.Errorf("%s: %d tool spans for %d tool calls", what, len(tools), len(tr.calls))
	}
	for id := range tr.spawns {
		if agents[id] != 1 {
			t.Errorf("%s: invoke_agent call %s has %d subagent spans, want 1", what, id, agents[id])
		}
	}
	if len(agents) != len(tr.spawns) {
		t.Errorf("%s: %d subagent spans for %d invoke_agent calls", what, len(agents), len(tr.spawns))
	}
	if roots != len(sc.Runs) {
		t.Errorf("%s: %d turn roots for %d runs", what, roots, len(sc.Runs))
	}
	if in != wantIn || out != wantOut || cached != wantCached {
		t.Errorf("%s: tokens in/out/cached %d/%d/%d, the chat file %d/%d/%d", what, in, out, cached, wantIn, wantOut, wantCached)
	}
}

func TestGeminiScenarios(t *testing.T) {
	if !suite.Isolated {
		t.Log("not root: Gemini CLI runs on the host network, pointed at the loopback mock")
	}
	scs, err := gemini.Scenarios()
	if err != nil {
		t.Fatal(err)
	}
	live, imported := agentharness.StartServer(t, suite.BinDir), agentharness.StartServer(t, suite.BinDir)
	total := 0
	for _, sc := range scs {
		t.Run(sc.Name, func(t *testing.T) {
			total += suite.Run(t, live, imported, sc.Name, func(env agentharness.Env) (*agentharness.Result, error) {
				return gemini.Execute(context.Background(), env, sc)
			}, func(t *testing.T, res *agentharness.Result) agentharness.Truth {
				tr := readTruth(t, res.Sessions)
				return agentharness.Truth{Spans: tr.importSpans, Turns: len(sc.Runs), Import: filepath.Join(res.Sessions, "..", ".."), SameTimes: true, Continued: tr.continued,
					Check: func(t *testing.T, what string, got []agentharness.APISpan) { check(t, what, got, tr, sc) }}
			})
		})
	}
	fmt.Printf("e2e-gemini: %d scenarios with the real Gemini CLI %s, %d spans checked through the read API (live == import)\n", len(scs), gemini.Version, total)
}
