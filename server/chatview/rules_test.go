package chatview

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/model"
)

func TestUsageNotCountedTwice(t *testing.T) {
	tests := []struct {
		name  string
		spans []model.Span
		want  Usage
	}{
		{
			name: "root_total_ignored_when_children_report",
			spans: build(
				span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10).usage(1000, 1000, 1000, 1000),
				span(1, 2, 1, "chat m").op(model.OpChat).times(1, 2).usage(10, 1, 0, 0),
				span(1, 3, 1, "chat m").op(model.OpChat).times(3, 4).usage(20, 2, 0, 0),
			),
			want: Usage{InputTokens: 30, OutputTokens: 3, UnpricedCount: 2},
		},
		{
			name: "root_counted_when_alone",
			spans: build(
				span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10).usage(7, 3, 1, 2),
				span(1, 2, 1, "execute_tool t").tool("t", "c", "{}", "").times(1, 2),
			),
			want: Usage{InputTokens: 7, OutputTokens: 3, CacheReadInputTokens: 1, CacheCreationInputTokens: 2, UnpricedCount: 1},
		},
		{
			name: "nested_agent_totals_ignored",
			spans: build(
				span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10).usage(500, 50, 0, 0),
				span(1, 2, 1, "chat m").op(model.OpChat).times(1, 2).usage(10, 1, 0, 0),
				span(1, 3, 1, "invoke_agent sub").op(model.OpInvokeAgent).agent("sub").times(3, 9).usage(100, 10, 0, 0),
				span(1, 4, 3, "chat m").op(model.OpChat).times(4, 5).usage(40, 4, 0, 0),
				span(1, 5, 3, "execute_tool x").tool("x", "c", "{}", "").times(6, 7),
			),
			want: Usage{InputTokens: 50, OutputTokens: 5, UnpricedCount: 2},
		},
		{
			name: "sibling_with_own_usage_and_sibling_without",
			spans: build(
				span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10),
				span(1, 2, 1, "invoke_agent sub").op(model.OpInvokeAgent).agent("sub").times(1, 5).usage(100, 10, 0, 0),
				span(1, 3, 2, "execute_tool x").tool("x", "c", "{}", "").times(2, 3),
				span(1, 4, 1, "chat m").op(model.OpChat).times(6, 7).usage(5, 1, 0, 0),
			),
			want: Usage{InputTokens: 105, OutputTokens: 11, UnpricedCount: 2},
		},
		{
			name: "reported_zero_is_usage",
			spans: build(
				span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10).usage(9, 9, 0, 0),
				span(1, 2, 1, "chat m").op(model.OpChat).times(1, 2).usage(0, 0, 0, 0),
			),
			want: Usage{UnpricedCount: 1},
		},
		{
			name: "costs_summed_unpriced_counted",
			spans: build(
				span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10).usage(500, 50, 0, 0).cost(0.5),
				span(1, 2, 1, "chat m").op(model.OpChat).times(1, 2).usage(10, 1, 0, 0).cost(0.1),
				span(1, 3, 1, "chat m").op(model.OpChat).times(3, 4).usage(20, 2, 0, 0).cost(0.2),
				span(1, 4, 1, "chat x").op(model.OpChat).times(5, 6).usage(5, 5, 0, 0),
			),
			want: Usage{InputTokens: 35, OutputTokens: 8, CostUSD: 0.3, UnpricedCount: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Build(tt.spans).Usage
			if got != tt.want {
				t.Errorf("usage: got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestMirroringGuard(t *testing.T) {
	tests := []struct {
		name string
		in   []model.Span
		want []string
	}{
		{
			name: "agent_output_mirrors_child_chat",
			in: build(
				span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10).output(text("same")),
				span(1, 2, 1, "chat m").op(model.OpChat).times(1, 9).output(text("same")),
			),
			want: []string{"agent_start:0000000000000001", "assistant_message:0000000000000002"},
		},
		{
			name: "agent_output_shown_when_children_silent",
			in: build(
				span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10).output(text("answer")),
				span(1, 2, 1, "chat m").op(model.OpChat).times(1, 9).usage(1, 1, 0, 0),
			),
			want: []string{"agent_start:0000000000000001", "assistant_message:0000000000000001"},
		},
		{
			name: "tool_only_call_does_not_silence_agent",
			in: build(
				span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10).output(text("answer")),
				span(1, 2, 1, "chat m").op(model.OpChat).times(1, 2).output(call("c1", "t", "{}")),
				span(1, 3, 1, "execute_tool t").tool("t", "c1", "{}", "ok").times(3, 4),
			),
			want: []string{
				"agent_start:0000000000000001", "assistant_message:0000000000000002",
				"tool_call:0000000000000003", "assistant_message:0000000000000001",
			},
		},
		{
			name: "inner_agent_output_silences_outer",
			in: build(
				span(1, 1, 0, "invoke_agent outer").op(model.OpInvokeAgent).agent("outer").times(0, 10).output(text("x")),
				span(1, 2, 1, "invoke_agent inner").op(model.OpInvokeAgent).agent("inner").times(1, 9).output(text("x")),
			),
			want: []string{"agent_start:0000000000000001", "agent_start:0000000000000002", "assistant_message:0000000000000002"},
		},
		{
			name: "text_under_a_tool_counts",
			in: build(
				span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10).output(text("x")),
				span(1, 2, 1, "execute_tool t").tool("t", "c", "{}", "").times(1, 9),
				span(1, 3, 2, "chat m").op(model.OpChat).times(2, 8).output(text("x")),
			),
			want: []string{"agent_start:0000000000000001", "tool_call:0000000000000002", "assistant_message:0000000000000003"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := kinds(Build(tt.in).Messages); !slices.Equal(got, tt.want) {
				t.Errorf("messages: got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTreeEdgeCases(t *testing.T) {
	tool := func(id, parent int, start int) *sb {
		return span(1, id, parent, "execute_tool t").tool("t", fmt.Sprint(id), "{}", "").times(start, start+1)
	}
	tests := []struct {
		name string
		in   []model.Span
		want []string
	}{
		{"empty", nil, []string{}},
		{
			name: "parent_cycle_kept",
			in:   build(tool(1, 2, 5), tool(2, 1, 6), tool(3, 0, 0)),
			want: []string{"tool_call:0000000000000003", "tool_call:0000000000000001", "tool_call:0000000000000002"},
		},
		{
			name: "self_parent_is_root",
			in:   build(tool(1, 1, 0), tool(2, 1, 1)),
			want: []string{"tool_call:0000000000000001", "tool_call:0000000000000002"},
		},
		{
			name: "missing_parent_promoted",
			in:   build(tool(1, 0, 0), tool(2, 77, 1), tool(3, 2, 2)),
			want: []string{"tool_call:0000000000000001", "tool_call:0000000000000002", "tool_call:0000000000000003"},
		},
		{
			name: "no_start_time_last",
			in:   build(span(1, 1, 0, "execute_tool t").tool("t", "c", "{}", ""), tool(2, 0, 5)),
			want: []string{"tool_call:0000000000000002", "tool_call:0000000000000001"},
		},
		{
			name: "finished_copy_beats_running_copy",
			in: build(
				span(1, 1, 0, "execute_tool t").tool("t", "c", "{}", "done").times(0, 4),
				span(1, 1, 0, "execute_tool t").tool("t", "c", "{}", "").times(0, -1),
			),
			want: []string{"tool_call:0000000000000001"},
		},
		{
			name: "unnamed_agent_has_no_divider",
			in: build(
				span(1, 1, 0, "invoke_agent").op(model.OpInvokeAgent).times(0, 9),
				tool(2, 1, 1),
			),
			want: []string{"tool_call:0000000000000002"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Build(tt.in)
			if k := kinds(got.Messages); !slices.Equal(k, tt.want) {
				t.Errorf("messages: got %v, want %v", k, tt.want)
			}
		})
	}

	t.Run("finished_copy_kept_in_either_order", func(t *testing.T) {
		done := span(1, 1, 0, "execute_tool t").tool("t", "c", "{}", "done").times(0, 4)
		running := span(1, 1, 0, "execute_tool t").tool("t", "c", "{}", "").times(0, -1)
		for _, in := range [][]model.Span{build(done, running), build(running, done)} {
			got := Build(in)
			if got.Running || got.Messages[0].ToolResult != "done" {
				t.Errorf("got running=%v result=%q, want running=false result=%q", got.Running, got.Messages[0].ToolResult, "done")
			}
		}
	})
	t.Run("names_from_span_names", func(t *testing.T) {
		got := Build(build(
			span(1, 1, 0, "invoke_agent").op(model.OpInvokeAgent).times(0, 9),
			span(1, 2, 1, "execute_tool WebFetch").op(model.OpExecuteTool).times(1, 2),
		))
		m := got.Messages[0]
		if m.ToolName != "WebFetch" || m.AgentName != "" {
			t.Errorf("got tool %q agent %q, want tool %q agent %q", m.ToolName, m.AgentName, "WebFetch", "")
		}
	})
	t.Run("deep_chain", func(t *testing.T) {
		const n = 100000
		in := make([]model.Span, n)
		for i := range in {
			in[i] = tool(i+1, i, i).s
		}
		got := Build(in)
		if len(got.Messages) != n || got.SpanCount != n {
			t.Errorf("got %d messages, %d spans, want %d each", len(got.Messages), got.SpanCount, n)
		}
	})
}

func TestSessionFallsBackToAnySpan(t *testing.T) {
	got := Build(build(
		span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 9),
		span(1, 2, 1, "chat m").op(model.OpChat).times(1, 2).session("s2", "s1", "conv"),
	))
	if got.SessionID != "s2" || got.ParentSessionID != "s1" || got.ConversationID != "conv" {
		t.Errorf("got session %q parent %q conversation %q, want s2 s1 conv", got.SessionID, got.ParentSessionID, got.ConversationID)
	}
}

// FuzzBuild builds random forests from the fuzz input and checks the walk's
// invariants: no panic, one tool_call per tool span, one agent_start per
// named agent, at most one user_message, and a token total no larger than
// the sum of every span's usage.
func FuzzBuild(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 1, 2, 2, 1, 3, 3, 0, 2})
	f.Add([]byte{5, 5, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 3, 0, 3, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		const width = 3 // bytes per span: parent, op, flags
		ops := []string{model.OpInvokeAgent, model.OpChat, model.OpExecuteTool, "", model.OpGenerateContent}
		var in []model.Span
		var sum int64
		for i := 0; i+width <= len(data) && i/width < 64; i += width {
			id := i/width + 1
			parent := int(data[i]) % (len(data)/width + 2)
			b := span(1, id, parent, "s").op(ops[int(data[i+1])%len(ops)])
			flags := data[i+2]
			end := int(flags&0x0f) + 1
			if flags&0x10 != 0 {
				end = -1
			}
			b.times(int(binary.BigEndian.Uint16([]byte{flags, data[i]})%100), 100+end)
			if flags&0x20 != 0 {
				b.usage(int64(flags), 1, 0, 0)
				sum += int64(flags) + 1
			}
			if flags&0x40 != 0 {
				b.output(text("out"))
			}
			if flags&0x80 != 0 {
				b.agent("ag").input("user", "in")
			}
			in = append(in, b.s)
		}
		got := Build(in)
		var tools, agents, users int
		for _, s := range in {
			if s.OperationName == model.OpExecuteTool {
				tools++
			}
			if s.OperationName == model.OpInvokeAgent && s.AgentName != "" {
				agents++
			}
		}
		count := map[string]int{}
		for _, m := range got.Messages {
			count[m.Type]++
		}
		users = count[TypeUserMessage]
		if count[TypeToolCall] != tools || count[TypeAgentStart] != agents || users > 1 {
			t.Fatalf("got %v, want %d tool_call, %d agent_start, ≤ 1 user_message", count, tools, agents)
		}
		u := got.Usage
		if u.InputTokens+u.OutputTokens > sum {
			t.Fatalf("usage %+v exceeds the sum of all spans' usage %d", u, sum)
		}
	})
}

// TestParallelCalls: calls of one agent whose time ranges overlap share a
// parallel group (the waterfall's overlap, shown in the chat view; issue
// 16 item 8); calls in sequence, or of different agents, do not.
func TestParallelCalls(t *testing.T) {
	root := func() *sb {
		return span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 100)
	}
	tool := func(id, parent, start, end int) *sb {
		return span(1, id, parent, "execute_tool t").tool("t", fmt.Sprint("c", id), "{}", "").times(start, end)
	}
	sub := func(id, start, end int) *sb {
		return span(1, id, 1, "invoke_agent sub").op(model.OpInvokeAgent).agent("sub").times(start, end)
	}
	tests := []struct {
		name  string
		spans []model.Span
		want  map[int]int // span → its group's first span (0: none)
	}{
		{"two_overlapping", build(root(), tool(2, 1, 10, 20), tool(3, 1, 12, 18)), map[int]int{2: 2, 3: 2}},
		{"sequence", build(root(), tool(2, 1, 10, 20), tool(3, 1, 20, 30), tool(4, 1, 31, 40)), map[int]int{2: 0, 3: 0, 4: 0}},
		{"chained_overlaps_are_one_group", build(root(), tool(2, 1, 10, 20), tool(3, 1, 15, 30), tool(4, 1, 25, 40), tool(5, 1, 50, 60)),
			map[int]int{2: 2, 3: 2, 4: 2, 5: 0}},
		{"running_call_overlaps_every_later_one", build(root(), tool(2, 1, 10, -1), tool(3, 1, 40, 50)), map[int]int{2: 2, 3: 2}},
		{"two_groups", build(root(), tool(2, 1, 10, 20), tool(3, 1, 11, 19), tool(4, 1, 30, 40), tool(5, 1, 35, 45)),
			map[int]int{2: 2, 3: 2, 4: 4, 5: 4}},
		{"subagents_in_parallel", build(root(), sub(2, 10, 50), sub(3, 11, 40), tool(4, 2, 12, 20), tool(5, 3, 13, 22)),
			// The subagents ran together; each one's single tool call overlaps
			// the other's, but they are calls of different agents.
			map[int]int{2: 2, 3: 2, 4: 0, 5: 0}},
		{"subagent_beside_a_tool", build(root(), sub(2, 10, 50), tool(3, 1, 20, 30)), map[int]int{2: 2, 3: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Build(tc.spans)
			got := map[int]int{}
			for _, m := range v.Messages {
				if m.Type != TypeToolCall && !(m.Type == TypeAgentStart && m.Depth > 0) {
					if m.ParallelGroup != "" {
						t.Errorf("%s %s: got parallel group %q, want none (not a call)", m.Type, m.SpanID, m.ParallelGroup)
					}
					continue
				}
				var id, g int
				fmt.Sscanf(m.SpanID, "%x", &id)
				if m.ParallelGroup != "" {
					fmt.Sscanf(m.ParallelGroup, "%x", &g)
				}
				got[id] = g
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("groups (call → first call of its group): got %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWorkplace: a turn says where it ran, from its root, else from the
// first span that records it (issue 16 item 9).
func TestWorkplace(t *testing.T) {
	where := func(cwd, branch string) func(*model.Span) {
		return func(s *model.Span) {
			s.CustomAttrsString = map[string]string{semconv.KeyCwd: cwd, semconv.KeyGitBranch: branch}
		}
	}
	root := span(1, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10)
	v := Build(build(root.set(where("/src/weave", "main")), span(1, 2, 1, "chat m").op(model.OpChat).times(1, 2).set(where("/elsewhere", "x"))))
	if v.WorkingDir != "/src/weave" || v.GitBranch != "main" {
		t.Errorf("from the root: got %q %q, want /src/weave main", v.WorkingDir, v.GitBranch)
	}
	v = Build(build(span(2, 1, 0, "invoke_agent a").op(model.OpInvokeAgent).agent("a").times(0, 10), span(2, 2, 1, "chat m").op(model.OpChat).times(1, 2).set(where("/src/other", "dev"))))
	if v.WorkingDir != "/src/other" || v.GitBranch != "dev" {
		t.Errorf("from a span: got %q %q, want /src/other dev", v.WorkingDir, v.GitBranch)
	}
}
