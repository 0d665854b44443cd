package normalize

import "strings"

// OpenLIT: gen_ai.* (read by the gen_ai mapping) plus a few keys of its
// own. Older OpenLIT versions put the prompt and completion in
// gen_ai.content.prompt / gen_ai.content.completion attributes (newer ones
// in events of those names); the gen_ai mapping reads both forms. OpenLIT
// reports Anthropic's input_tokens as the API returns them, without the
// cached tokens.
var openLitMapping = mapping{
	name: "openlit",
	detect: func(c *spanCtx) bool {
		if strings.HasPrefix(c.scope.Name(), "@openlit/") || strings.HasPrefix(c.scope.Name(), "openlit") {
			return true
		}
		// Not the resource's telemetry.sdk.name: OpenLIT's provider also
		// exports other libraries' spans (the Anthropic SDK's own).
		return strings.EqualFold(c.a.peekStr("telemetry.sdk.name"), "openlit") || c.a.has("openlit.agent.version_hash")
	},
	renames: []rename{
		{"gen_ai.tool.args", fToolCallArguments},
	},
	extract: func(c *spanCtx) {
		if isAnthropic(c) {
			c.inputsDisjoint = true
		}
	},
}
