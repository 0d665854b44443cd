package normalize

import "strings"

// The Anthropic SDK's own span (scope com.anthropic.sdk.*, name
// anthropic.messages.create): plain gen_ai.* keys whose input_tokens
// already include the cached tokens, plus the raw stop reason. Its
// non-standard gen_ai.usage.cache_write.input_tokens is read by the gen_ai
// mapping.
var anthropicMapping = mapping{
	name: "anthropic",
	extract: func(c *spanCtx) {
		if strings.HasPrefix(c.scope.Name(), "com.anthropic") || strings.HasPrefix(c.out.SpanName, "anthropic.messages.") {
			c.inputsInclusive = true
		}
	},
	renames: []rename{
		{"anthropic.message.stop_reason", fFinishReasons},
	},
}
