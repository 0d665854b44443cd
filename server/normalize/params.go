package normalize

import "strings"

// Model parameters (the model_parameters column): the request's
// generation settings, from the first source that has any, in the order
// of the mappings: weave.request.* (weave), then the gen_ai.request
// object or its gen_ai.request.* keys (gen_ai), llm.invocation_parameters
// (OpenInference), ai.settings.* (AI SDK). A flattened key keeps its
// dotted rest as the name ("gen_ai.request.choice.count" → "choice.count");
// the request model has its own column and is left out.

// prefixed returns the values of the keys "prefix.<rest>" by rest, marking
// them consumed, except those whose rest is, or is under, one of skip
// (left for their own mapping or the custom maps).
func (a *attrSet) prefixed(prefix string, skip ...string) map[string]any {
	p := prefix + "."
	var out map[string]any
	for _, k := range a.keys {
		rest, ok := strings.CutPrefix(k, p)
		if !ok || rest == "" || skipped(skip, rest) {
			continue
		}
		v := rawValue(a.vals[k])
		if v == nil {
			continue
		}
		a.used[k] = true
		if out == nil {
			out = map[string]any{}
		}
		out[rest] = v
	}
	return out
}

func skipped(skip []string, rest string) bool {
	for _, x := range skip {
		if rest == x || strings.HasPrefix(rest, x+".") {
			return true
		}
	}
	return false
}

// requestParams reads an object attribute (a map value or JSON text) and
// its flattened keys, the flattened keys winning.
func requestParams(c *spanCtx, key string) map[string]any {
	out := map[string]any{}
	if d, ok := c.a.jsonish(key); ok {
		for k, v := range asMap(d) {
			out[k] = v
		}
	}
	for k, v := range c.a.prefixed(key, "model") {
		out[k] = v
	}
	return out
}

// aiSDKSettings are the AI SDK's call settings that are not generation
// parameters.
var aiSDKSettings = []string{"maxRetries", "headers", "abortSignal"}
