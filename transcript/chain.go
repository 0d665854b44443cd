package transcript

// ChainedInput is the conversation c's request held, as the file records
// it: the input of each call c continues (Prev, looked up among calls,
// oldest first) followed by that call's output as an assistant message
// (unless it failed: its error was never sent), then c's own input.
func ChainedInput(calls []*LLMCall, c *LLMCall) []InputMessage {
	byID := make(map[string]*LLMCall, len(calls))
	for _, x := range calls {
		byID[x.MessageID] = x
	}
	chain := []*LLMCall{c}
	for p := byID[c.Prev]; p != nil && len(chain) <= len(calls); p = byID[p.Prev] {
		chain = append(chain, p)
	}
	var out []InputMessage
	for i := len(chain) - 1; i >= 0; i-- {
		x := chain[i]
		out = append(out, x.Input...)
		if i > 0 && x.APIError == nil && len(x.Blocks) > 0 {
			out = append(out, InputMessage{Role: "assistant", Blocks: x.Blocks})
		}
	}
	return out
}
