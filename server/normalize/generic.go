package normalize

import "github.com/weavetrace/weave/server/model"

// The last resort, for hand-instrumented spans (the W&B OTLP docs' own
// examples set input.value / output.value on plain spans): generic input /
// output keys, as messages or, on a tool span, as the tool's arguments and
// result; a bare cost_usd as the call's cost.
var genericMapping = mapping{
	name: "generic",
	renames: []rename{
		// Claude Code's own telemetry names a request's cost cost_usd.
		{"cost_usd", fCost},
	},
	extract: extractGeneric,
}

var (
	genericInputKeys  = []string{"input.value", "input", "inputs"}
	genericOutputKeys = []string{"output.value", "output", "outputs"}
)

func extractGeneric(c *spanCtx) {
	tool := canonicalOperation(c.op()) == model.OpExecuteTool
	for _, k := range genericInputKeys {
		if !c.a.has(k) || c.a.used[k] {
			continue
		}
		v, _ := c.a.jsonish(k)
		if tool {
			c.setStr(fToolCallArguments, textOf(v))
		} else {
			c.setMessagesFrom(fInputMessages, v)
		}
	}
	for _, k := range genericOutputKeys {
		if !c.a.has(k) || c.a.used[k] {
			continue
		}
		v, _ := c.a.jsonish(k)
		if tool {
			c.setStr(fToolCallResult, textOf(unwrapToolResult(v, 0)))
		} else {
			c.setMessagesFrom(fOutputMessages, v)
		}
	}
}
