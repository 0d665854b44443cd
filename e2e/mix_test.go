//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/weavetrace/weave/e2e/harness"
	"github.com/weavetrace/weave/e2e/scenarios"
	"github.com/weavetrace/weave/transcript"
)

// TestSourceMix runs scenarios with each mix of trace sources into one
// weave-server — Claude Code's native telemetry only (no weave-hook; over
// OTLP/HTTP, and over OTLP/gRPC as Claude Code's quickstart sets it up),
// the hooks only, both — and checks through the read API that each session is
// one conversation with its turns, tool calls and tokens as the transcript
// has them, and, with both sources, the span count of the hooks path alone
// with no native span left.
func TestSourceMix(t *testing.T) {
	srv := startServer(t)
	for _, name := range []string{"subagent", "tools"} {
		for _, mix := range []string{"native", "native-grpc", "hooks", "both"} {
			t.Run(name+"/"+mix, func(t *testing.T) {
				project := fmt.Sprintf("e2e-mix/%s-%s", mix, name)
				projects := runMix(t, name, mix, srv, project)
				tr := readTruth(t, projects)
				want := importSpans(t, projects)
				snap := srv.settleStable(t, project)
				if len(snap.conversations.Conversations) != len(tr.conversations) {
					t.Fatalf("%d conversations, want %d", len(snap.conversations.Conversations), len(tr.conversations))
				}
				var usageWant [2]int64
				for _, u := range tr.usage {
					usageWant[0] += u[0]
					usageWant[1] += u[1]
				}
				var usageGot [2]int64
				for _, c := range snap.conversations.Conversations {
					turns := tr.conversations[c.ConversationID]
					if c.TurnCount != len(turns) {
						t.Errorf("conversation %s: %d turns, want %d", c.ConversationID, c.TurnCount, len(turns))
					}
					usageGot[0] += c.InputTokens
					usageGot[1] += c.OutputTokens
					v := snap.views[c.ConversationID]
					calls := map[string]bool{}
					for _, tv := range v.Turns {
						for _, m := range tv.Messages {
							if m.ToolCallID != "" {
								calls[m.ToolCallID] = true
							}
						}
					}
					for _, turn := range turns {
						tools := append([]*transcript.ToolCall(nil), turn.Tools...)
						for _, a := range turn.Subagents {
							tools = append(tools, a.Tools...)
						}
						for _, tc := range tools {
							if !tc.IsAgentCall() && !calls[tc.ID] {
								t.Errorf("conversation %s: tool call %s (%s) missing from the chat view", c.ConversationID, tc.ID, tc.Name)
							}
						}
					}
				}
				if usageGot != usageWant {
					t.Errorf("tokens (input, output) %v, want the transcript's %v", usageGot, usageWant)
				}
				var native spanFilterList
				srv.post(t, "/genai/spans/query", map[string]any{"project_id": project, "limit": 1000,
					"filters": []map[string]any{{"field": "custom_attrs_string.weave.claude_code.telemetry", "op": "eq", "value": "native"}}}, &native)
				switch mix {
				case "hooks", "both":
					if snap.spans != want || native.Total != 0 {
						t.Errorf("%d spans (%d native), want the hooks path's %d and no native one", snap.spans, native.Total, want)
					}
				case "native", "native-grpc":
					if native.Total == 0 || native.Total != snap.spans {
						t.Errorf("%d spans, %d native: want every span native", snap.spans, native.Total)
					}
				}
			})
		}
	}
}

type spanFilterList struct {
	Total int `json:"total"`
}

// runMix runs one scenario with the given sources and returns its
// projects directory (the transcripts).
func runMix(t *testing.T, name, mix string, srv *server, project string) string {
	t.Helper()
	sc, ok := scenarios.Get(name)
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	dir, err := os.MkdirTemp("", "weave-e2e-mix-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("scenario %s (%s): its files are kept in %s", name, mix, dir)
		} else {
			os.RemoveAll(dir)
		}
	})
	home := filepath.Join(dir, "weave")
	cfg := harness.Config{Claude: claudeBin, Dir: dir, AgentSDK: agentSDK, Log: os.Stderr}
	if mix == "hooks" || mix == "both" {
		hook := filepath.Join(binDir, "weave-hook")
		cfg.WeaveHook = hook
		cfg.HookCommand = fmt.Sprintf("WEAVE_HOME=%s WEAVE_ENDPOINT=%s WEAVE_PROJECT=%s %s", home, srv.url, project, hook)
		t.Cleanup(func() { stopDaemon(t, home) })
	}
	switch mix {
	case "native", "both":
		cfg.Env = append(harness.NativeTelemetryEnv("http/protobuf", srv.url), "OTEL_RESOURCE_ATTRIBUTES=wandb.project="+project)
	case "native-grpc":
		cfg.Env = append(harness.NativeTelemetryEnv("grpc", srv.grpcURL), "OTEL_RESOURCE_ATTRIBUTES=wandb.project="+project)
	}
	s, err := harness.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sc.Run(s)
	if err := s.Close(); err != nil {
		t.Fatalf("scenario %s: %v", name, err)
	}
	return s.ProjectsDir()
}

// settleStable waits until the project's span count has not changed for
// two seconds and nothing runs (native telemetry comes in every half
// second and when the CLI exits; the hooks path after the transcript's
// last lines).
func (s *server) settleStable(t *testing.T, project string) snapshot {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	last, since := -1, time.Now()
	for {
		var sl, active spanList
		s.post(t, "/genai/spans/query", map[string]any{"project_id": project, "limit": 1}, &sl)
		s.post(t, "/genai/spans/active", map[string]any{"project_id": project, "limit": 1000}, &active)
		if sl.Total != last || len(active.Spans) > 0 {
			last, since = sl.Total, time.Now()
		}
		if sl.Total > 0 && time.Since(since) > 2*time.Second {
			return s.snapshot(t, project)
		}
		if time.Now().After(deadline) {
			t.Fatalf("project %s did not settle: %d spans, %d running", project, sl.Total, len(active.Spans))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
