package chatview

import (
	"slices"
	"testing"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
)

// claudeCodeTurn is a Claude Code turn: the turn root, three chat calls (the
// second with thinking and two parallel tool calls) and three tools, one of
// which failed. The root carries the turn's summed usage and the last
// call's text as its output, as a turn root that mirrors its children does.
func claudeCodeTurn() []model.Span {
	return build(
		span(1, 1, 0, "invoke_agent claude-code").op(model.OpInvokeAgent).agent("claude-code").
			times(0, 9000).model("claude-sonnet-4-5").usage(330, 90, 1000, 200).
			input("user", "Run echo hello, then read notes.txt").
			output(text("Done: hello, and notes.txt says hi.")).
			session("sess-a", "", "sess-a").
			set(func(s *model.Span) { s.SystemInstructions = []string{"You are Claude Code.", "Be brief."} }),
		span(1, 2, 1, "chat claude-sonnet-4-5").op(model.OpChat).times(10, 1200).model("claude-sonnet-4-5").
			usage(100, 20, 300, 200).input("user", "Run echo hello, then read notes.txt").
			output(text("I'll run it."), call("toolu_1", "Bash", `{"command":"echo hello"}`)).
			set(func(s *model.Span) { s.FinishReasons = []string{"tool_use"} }),
		span(1, 3, 1, "execute_tool Bash").tool("Bash", "toolu_1", `{"command":"echo hello"}`, "hello\n").times(1300, 1500),
		span(1, 4, 1, "chat claude-sonnet-4-5").op(model.OpChat).times(1600, 4000).model("claude-sonnet-4-5").
			usage(110, 40, 350, 0).
			output(reasoning("Two more reads in parallel."), text("Reading both."),
				call("toolu_2", "Read", `{"file_path":"notes.txt"}`), call("toolu_3", "Read", `{"file_path":"missing.txt"}`)),
		span(1, 5, 1, "execute_tool Read").tool("Read", "toolu_2", `{"file_path":"notes.txt"}`, "hi").times(4100, 4200),
		span(1, 6, 1, "execute_tool Read").tool("Read", "toolu_3", `{"file_path":"missing.txt"}`, "File does not exist.").
			times(4100, 4150).fail("tool_error", "File does not exist."),
		span(1, 7, 1, "chat claude-sonnet-4-5").op(model.OpChat).times(4300, 8900).model("claude-sonnet-4-5").
			usage(120, 30, 350, 0).output(text("Done: hello, and notes.txt says hi.")).
			set(func(s *model.Span) { s.FinishReasons = []string{"end_turn"} }),
	)
}

// subagentTurn has a general-purpose subagent that itself starts a nested
// Explore subagent; the subagents' outputs mirror their last chat.
func subagentTurn() []model.Span {
	return build(
		span(2, 1, 0, "invoke_agent claude-code").op(model.OpInvokeAgent).agent("claude-code").times(0, 20000).
			model("claude-opus-4-1").input("user", "Use a subagent to count files").output(text("There are 3 files.")),
		span(2, 2, 1, "chat claude-opus-4-1").op(model.OpChat).times(5, 900).model("claude-opus-4-1").usage(50, 10, 0, 0).
			output(call("toolu_a", "Agent", `{"subagent_type":"general-purpose","prompt":"Count the files"}`)),
		span(2, 3, 1, "invoke_agent general-purpose").op(model.OpInvokeAgent).agent("general-purpose").times(1000, 18000).
			model("claude-opus-4-1").input("user", "Count the files").output(text("3 files.")).
			set(func(s *model.Span) {
				s.AgentID = "a1b2c3"
				s.CustomAttrsString = map[string]string{semconv.KeySpawningToolCallID: "toolu_a"}
			}),
		span(2, 4, 3, "chat claude-opus-4-1").op(model.OpChat).times(1100, 2000).model("claude-opus-4-1").usage(40, 8, 0, 0).
			output(call("toolu_b", "Agent", `{"subagent_type":"Explore","prompt":"List the directory"}`)),
		span(2, 5, 3, "invoke_agent Explore").op(model.OpInvokeAgent).agent("Explore").times(2100, 9000).
			input("user", "List the directory").output(text("a.txt b.txt c.txt")),
		span(2, 6, 5, "chat claude-haiku-4-5").op(model.OpChat).times(2200, 3000).model("claude-haiku-4-5").usage(30, 5, 0, 0).
			output(call("toolu_c", "Bash", `{"command":"ls"}`)),
		span(2, 7, 5, "execute_tool Bash").tool("Bash", "toolu_c", `{"command":"ls"}`, "a.txt\nb.txt\nc.txt").times(3100, 3300),
		span(2, 8, 5, "chat claude-haiku-4-5").op(model.OpChat).times(3400, 8900).model("claude-haiku-4-5").usage(35, 6, 0, 0).
			output(text("a.txt b.txt c.txt")),
		span(2, 9, 3, "chat claude-opus-4-1").op(model.OpChat).times(9100, 17900).model("claude-opus-4-1").usage(45, 7, 0, 0).
			output(text("3 files.")),
		span(2, 10, 1, "chat claude-opus-4-1").op(model.OpChat).times(18100, 19900).model("claude-opus-4-1").usage(60, 9, 0, 0).
			output(text("There are 3 files.")),
	)
}

// orphanTurn lost its turn root (not stored yet) and has a subagent whose
// parent tool span is missing: both subtrees become synthetic roots.
func orphanTurn() []model.Span {
	return build(
		span(3, 2, 1, "chat claude-sonnet-4-5").op(model.OpChat).times(10, 500).model("claude-sonnet-4-5").
			usage(10, 2, 0, 0).input("user", "hello?").output(text("Hi.")),
		span(3, 3, 99, "invoke_agent general-purpose").op(model.OpInvokeAgent).agent("general-purpose").times(600, 2000).
			input("user", "Look around").output(text("Nothing here.")).
			set(func(s *model.Span) {
				s.CustomAttrsString = map[string]string{semconv.KeyOrphanReason: "no_matching_agent_call"}
			}),
		span(3, 4, 3, "execute_tool Glob").tool("Glob", "toolu_g", `{"pattern":"*"}`, "").times(700, 800),
	)
}

// runningTurn is a live turn: the root and a tool are still running.
func runningTurn() []model.Span {
	return build(
		span(4, 1, 0, "invoke_agent claude-code").op(model.OpInvokeAgent).agent("claude-code").times(0, -1).
			input("user", "Build the project"),
		span(4, 2, 1, "chat claude-sonnet-4-5").op(model.OpChat).times(10, 800).model("claude-sonnet-4-5").
			usage(80, 15, 0, 0).output(call("toolu_m", "Bash", `{"command":"make"}`)),
		span(4, 3, 1, "execute_tool Bash").tool("Bash", "toolu_m", `{"command":"make"}`, "").times(900, -1),
	)
}

// compactionTurns: a turn whose root carries the compaction columns (a
// manual /compact before the turn), and one with two compaction events in
// the middle of the turn.
func compactionColumnsTurn() []model.Span {
	return build(
		span(5, 1, 0, "invoke_agent claude-code").op(model.OpInvokeAgent).agent("claude-code").times(0, 3000).
			input("user", "Continue").output(text("Continuing.")).
			set(func(s *model.Span) {
				s.CompactionSummary = "The user asked to refactor main.go; done up to step 3."
				s.CompactionItemsBefore = 42
				s.CompactionItemsAfter = 1
				s.CustomAttrsString = map[string]string{semconv.KeyCompactionTrigger: "manual"}
				s.CustomAttrsInt = map[string]int64{semconv.KeyCompactionPreTokens: 15231}
			}),
		span(5, 2, 1, "chat claude-sonnet-4-5").op(model.OpChat).times(100, 2900).model("claude-sonnet-4-5").
			usage(20, 4, 0, 0).output(text("Continuing.")),
	)
}

func compactionEventsTurn() []model.Span {
	return build(
		span(6, 1, 0, "invoke_agent claude-code").op(model.OpInvokeAgent).agent("claude-code").times(0, 9000).
			input("user", "Keep going").
			set(func(s *model.Span) {
				s.CompactionSummary = "second summary"
				s.CompactionItemsBefore = 30
				s.CompactionItemsAfter = 2
				s.Events = []model.Event{
					{Name: semconv.EventCompaction, Time: at(5000), Attributes: map[string]any{
						semconv.KeyCompactionTrigger: "auto", semconv.KeyCompactionPreTokens: "190000"}},
					{Name: "weave.notification", Time: at(1000)},
					{Name: semconv.EventCompaction, Time: at(2000), Attributes: map[string]any{
						semconv.KeyCompactionSummary: "first summary", semconv.KeyCompactionItemsBefore: float64(50),
						semconv.KeyCompactionItemsAfter: int64(3), semconv.KeyCompactionTrigger: "auto"}},
				}
			}),
		span(6, 2, 1, "chat claude-sonnet-4-5").op(model.OpChat).times(100, 1900).model("claude-sonnet-4-5").
			output(text("Step one.")),
		span(6, 3, 1, "chat claude-sonnet-4-5").op(model.OpChat).times(2100, 4900).model("claude-sonnet-4-5").
			output(text("Step two.")),
		span(6, 4, 1, "chat claude-sonnet-4-5").op(model.OpChat).times(5100, 8900).model("claude-sonnet-4-5").
			output(text("Step three.")),
	)
}

// agentsSDKTurn is an OpenAI Agents SDK / ADK shape: an agent whose single
// chat child reports usage but no output, so the agent's own output is
// shown, with the subtree's tokens; and a failed LLM call.
func agentsSDKTurn() []model.Span {
	return build(
		span(7, 1, 0, "invoke_agent Assistant").op(model.OpInvokeAgent).agent("Assistant").times(0, 3000).
			set(func(s *model.Span) { s.AgentVersion = "1.2.0"; s.ProviderName = "openai" }).
			input("system", "You are helpful.").input("user", "What is 2+2?").output(text("4")),
		span(7, 2, 1, "chat gpt-4.1").op(model.OpChat).times(100, 1000).
			set(func(s *model.Span) { s.RequestModel = "gpt-4.1"; s.ProviderName = "openai" }).
			usage(25, 0, 0, 0).fail("rate_limit_error", "429 Too Many Requests"),
		span(7, 3, 1, "chat gpt-4.1").op(model.OpChat).times(1100, 2900).
			set(func(s *model.Span) {
				s.RequestModel = "gpt-4.1"
				s.ResponseModel = "gpt-4.1-2025-04-14"
				s.ProviderName = "openai"
			}).
			usage(25, 1, 0, 0),
	)
}

func TestBuildGolden(t *testing.T) {
	tests := []struct {
		name  string
		spans []model.Span
	}{
		{"claude_code_turn", claudeCodeTurn()},
		{"subagent_turn", subagentTurn()},
		{"orphan_turn", orphanTurn()},
		{"running_turn", runningTurn()},
		{"compaction_columns", compactionColumnsTurn()},
		{"compaction_events", compactionEventsTurn()},
		{"agents_sdk_turn", agentsSDKTurn()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Input order must not matter.
			in := slices.Clone(tt.spans)
			slices.Reverse(in)
			got := Build(in)
			checkGolden(t, tt.name, got)
			again := Build(tt.spans)
			if !slices.Equal(kinds(again.Messages), kinds(got.Messages)) {
				t.Errorf("order depends on input order: got %v, want %v", kinds(again.Messages), kinds(got.Messages))
			}
		})
	}
}

func TestBuildConversationGolden(t *testing.T) {
	// Three turns: two in the root session, then one in a fork of it. The
	// spans arrive interleaved and out of order.
	turn := func(trace, base int, session, parent, prompt, answer string) []model.Span {
		return build(
			span(trace, 1, 0, "invoke_agent claude-code").op(model.OpInvokeAgent).agent("claude-code").
				times(base, base+2000).input("user", prompt).output(text(answer)).session(session, parent, "sess-root"),
			span(trace, 2, 1, "chat claude-sonnet-4-5").op(model.OpChat).times(base+10, base+1900).
				model("claude-sonnet-4-5").usage(100, 10, 50, 5).output(text(answer)).session(session, parent, "sess-root"),
		)
	}
	var all []model.Span
	all = append(all, turn(12, 60000, "sess-fork", "sess-root", "Try another way", "Other way done.")...)
	all = append(all, turn(10, 0, "sess-root", "", "First", "One.")...)
	all = append(all, turn(11, 30000, "sess-root", "", "Second", "Two.")...)
	all[0], all[5] = all[5], all[0]
	checkGolden(t, "conversation_fork", BuildConversation("sess-root", all))
}
