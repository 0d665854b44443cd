package chatview

import (
	"fmt"
	"strings"
	"testing"

	"github.com/weavetrace/weave/server/model"
)

// bigTurn is a long Claude Code turn: calls chat calls, each followed by a
// tool, every fifth tool a subagent with its own three calls and tool.
func bigTurn(trace, calls int) []model.Span {
	body := strings.Repeat("lorem ipsum dolor sit amet ", 40)
	var bs []*sb
	id := 1
	bs = append(bs, span(trace, id, 0, "invoke_agent claude-code").op(model.OpInvokeAgent).agent("claude-code").
		times(0, calls*1000+1000).input("user", "do the big thing").output(text(body)))
	next := func() int { id++; return id }
	for i := range calls {
		t := i * 1000
		bs = append(bs, span(trace, next(), 1, "chat m").op(model.OpChat).times(t+1, t+400).model("m").
			usage(1000, 50, 20000, 0).output(text(body), call(fmt.Sprint(i), "Bash", `{"command":"ls"}`)))
		if i%5 == 4 {
			sub := next()
			bs = append(bs, span(trace, sub, 1, "invoke_agent Explore").op(model.OpInvokeAgent).agent("Explore").
				times(t+401, t+990).input("user", "explore").output(text(body)))
			for j := range 3 {
				bs = append(bs, span(trace, next(), sub, "chat m").op(model.OpChat).times(t+402+j*100, t+450+j*100).
					model("m").usage(500, 20, 0, 0).output(text(body)))
			}
			bs = append(bs, span(trace, next(), sub, "execute_tool Grep").tool("Grep", "g", `{}`, body).times(t+700, t+800))
			continue
		}
		bs = append(bs, span(trace, next(), 1, "execute_tool Bash").tool("Bash", fmt.Sprint(i), `{"command":"ls"}`, body).times(t+401, t+990))
	}
	return build(bs...)
}

func BenchmarkBuild(b *testing.B) {
	for _, calls := range []int{10, 100, 1000} {
		in := bigTurn(1, calls)
		b.Run(fmt.Sprintf("spans=%d", len(in)), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Build(in)
			}
		})
	}
}

func BenchmarkBuildConversation(b *testing.B) {
	var in []model.Span
	for turn := 1; turn <= 100; turn++ {
		in = append(in, bigTurn(turn, 20)...)
	}
	b.Run(fmt.Sprintf("turns=100/spans=%d", len(in)), func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			BuildConversation("c", in)
		}
	})
}
