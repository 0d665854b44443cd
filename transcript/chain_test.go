package transcript

import (
	"fmt"
	"testing"
)

// ChainedInput walks Prev back through the calls: oldest input first, each
// answer after its input, a failed call's input without an answer, a call
// continuing nothing (after a compaction) starts over.
func TestChainedInput(t *testing.T) {
	msg := func(role, text string) []InputMessage {
		return []InputMessage{{Role: role, Blocks: []Block{{Type: BlockText, Text: text}}}}
	}
	a := &LLMCall{MessageID: "a", Input: msg("user", "q1"), Blocks: []Block{{Type: BlockText, Text: "a1"}}}
	f := &LLMCall{MessageID: "f", Prev: "a", Input: msg("user", "q2"), Blocks: []Block{{Type: BlockText, Text: "unsent"}}, APIError: &APIError{Type: "api_error"}}
	b := &LLMCall{MessageID: "b", Prev: "f", Input: msg("user", "q3")}
	c := &LLMCall{MessageID: "c", Input: msg("user", "summary")}
	calls := []*LLMCall{a, f, b, c}
	render := func(ms []InputMessage) string {
		var s string
		for _, m := range ms {
			for _, bl := range m.Blocks {
				s += fmt.Sprintf("%s:%s ", m.Role, bl.Text)
			}
		}
		return s
	}
	for _, tc := range []struct {
		c    *LLMCall
		want string
	}{
		{a, "user:q1 "},
		{b, "user:q1 assistant:a1 user:q2 user:q3 "},
		{c, "user:summary "},
	} {
		if got := render(ChainedInput(calls, tc.c)); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.c.MessageID, got, tc.want)
		}
	}
}
