package normalize

import (
	"bytes"
	"encoding/json"
	"strings"
)

// This file reads tool results and tool call arguments into the JSON
// form Part.Response and Part.Arguments keep.

// toolResponse normalizes a tool result: AI SDK {"type":"json","value":…}
// wrappers, Anthropic / Bedrock content-block lists and LangChain
// ToolMessages are unwrapped to their content.
func toolResponse(v any) json.RawMessage {
	return jsonArg(unwrapToolResult(v, 0))
}

// unwrapToolResult unwraps a tool result (toolResponse), depth levels of
// wrapping down.
func unwrapToolResult(v any, depth int) any {
	if depth > 4 {
		return v
	}
	switch x := v.(type) {
	case string:
		return unwrapToolResultString(x, depth)
	case map[string]any:
		return unwrapToolResultObject(x, depth)
	case []any:
		return joinResultBlocks(x)
	}
	return v
}

// unwrapToolResultString unwraps a tool result sent as JSON text: to the
// text inside, or to a LangChain ToolMessage's content; any other JSON
// stays the text it came as.
func unwrapToolResultString(x string, depth int) any {
	d, ok := decodeMaybeJSON(x)
	if !ok {
		return x
	}
	if _, isStr := d.(string); isStr {
		return x
	}
	u := unwrapToolResult(d, depth+1)
	if s, ok := u.(string); ok {
		return s
	}
	if isLangChainSerialized(asMap(d)) || isLangChainSerialized(asMap(mapGet(d, "output"))) {
		return u
	}
	return x
}

// unwrapToolResultObject unwraps a LangChain ToolMessage (alone or as
// {"output": …}) and an AI SDK {"type":"json","value":…} wrapper.
func unwrapToolResultObject(x map[string]any, depth int) any {
	if isLangChainSerialized(x) {
		return unwrapToolResult(mapGet(x, "kwargs", "content"), depth+1)
	}
	if out, ok := x["output"].(map[string]any); ok && len(x) == 1 && isLangChainSerialized(out) {
		return unwrapToolResult(out, depth+1)
	}
	if t := mapStr(x, "type"); (t == "json" || t == "text" || t == "error-text" || t == "error-json") && len(x) <= 3 {
		if val, ok := x["value"]; ok {
			return val
		}
	}
	return x
}

// joinResultBlocks turns a list of text / json blocks into their
// concatenated text; any other list is returned as is.
func joinResultBlocks(x []any) any {
	var texts []string
	for _, e := range x {
		m, ok := e.(map[string]any)
		if !ok {
			return x
		}
		switch {
		case mapStr(m, "type") == "text" || (m["type"] == nil && m["text"] != nil):
			texts = append(texts, firstRawStr(m, "text"))
		case m["json"] != nil:
			texts = append(texts, marshalJSON(m["json"]))
		default:
			return x
		}
	}
	return strings.Join(texts, "")
}

// jsonArg returns v as JSON for Part.Arguments / Part.Response: strings
// holding a JSON object or array become that JSON (compacted, key order
// kept), other strings become JSON strings, values are encoded.
func jsonArg(v any) json.RawMessage {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		t := strings.TrimSpace(x)
		if t == "" {
			return nil
		}
		if (t[0] == '{' || t[0] == '[') && json.Valid([]byte(t)) {
			var b bytes.Buffer
			if json.Compact(&b, []byte(t)) == nil {
				return b.Bytes()
			}
		}
		return json.RawMessage(marshalJSON(x))
	}
	return json.RawMessage(marshalJSON(v))
}

// marshalJSON encodes v without HTML escaping; maps come out with sorted
// keys, so the output is deterministic.
func marshalJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}
