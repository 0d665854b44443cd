package normalize

import (
	"sort"
	"strconv"
	"strings"
)

// This file reassembles list-valued data that producers flatten into
// indexed attribute keys: OpenInference's llm.input_messages.{i}.message.*
// and Traceloop's / OTel ≤1.36 gen_ai.prompt.{i}.* / gen_ai.completion.{i}.*.

// tree collects the keys "prefix.<a>.<b>…" into nested maps keyed by the
// dot-separated segments (numeric segments stay string keys) and marks
// them consumed. It returns nil when there is no such key.
func (a *attrSet) tree(prefix string) map[string]any {
	p := prefix + "."
	var root map[string]any
	for _, k := range a.keys {
		rest, ok := strings.CutPrefix(k, p)
		if !ok || rest == "" {
			continue
		}
		v := rawValue(a.vals[k])
		if v == nil {
			continue
		}
		a.used[k] = true
		if root == nil {
			root = map[string]any{}
		}
		segs := strings.Split(rest, ".")
		node := root
		for i, s := range segs {
			if i == len(segs)-1 {
				if _, isMap := node[s].(map[string]any); !isMap {
					node[s] = v
				}
				break
			}
			next, ok := node[s].(map[string]any)
			if !ok {
				if _, isLeaf := node[s]; isLeaf {
					break // a leaf already sits here; keep it
				}
				next = map[string]any{}
				node[s] = next
			}
			node = next
		}
	}
	return root
}

// indexed returns the values of a map keyed by decimal indexes, in index
// order; non-numeric keys are ignored.
func indexed(v any) []any {
	m, ok := v.(map[string]any)
	if !ok {
		if l, ok := v.([]any); ok {
			return l
		}
		return nil
	}
	type kv struct {
		i int
		v any
	}
	var items []kv
	for k, e := range m {
		i, err := strconv.Atoi(k)
		if err != nil || i < 0 {
			continue
		}
		items = append(items, kv{i, e})
	}
	sort.Slice(items, func(x, y int) bool { return items[x].i < items[y].i })
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = it.v
	}
	return out
}

// openInferenceMessages turns the tree under llm.input_messages /
// llm.output_messages into message objects parseMessageObj understands.
func openInferenceMessages(root map[string]any) []any {
	var out []any
	for _, node := range indexed(root) {
		msg := asMap(mapGet(node, "message"))
		if msg == nil {
			continue
		}
		m := map[string]any{"role": msg["role"]}
		if n := mapStr(msg, "name"); n != "" {
			m["name"] = n
		}
		if id := mapStr(msg, "tool_call_id"); id != "" {
			m["tool_call_id"] = id
		}
		var calls []any
		for _, tc := range indexed(msg["tool_calls"]) {
			call := asMap(mapGet(tc, "tool_call"))
			if call == nil {
				continue
			}
			calls = append(calls, map[string]any{
				"id":       call["id"],
				"function": asMap(call["function"]),
			})
		}
		if len(calls) > 0 {
			m["tool_calls"] = calls
		}
		if c, ok := msg["content"].(string); ok && c != "" {
			m["content"] = c
		} else if contents := indexed(msg["contents"]); len(contents) > 0 {
			var blocks []any
			for _, c := range contents {
				mc := asMap(mapGet(c, "message_content"))
				switch mapStr(mc, "type") {
				case "text", "input_text", "output_text", "":
					if t := firstRawStr(mc, "text"); t != "" {
						blocks = append(blocks, map[string]any{"type": "text", "text": t})
					}
				case "image":
					if u := mapStr(mc, "image", "image", "url"); u != "" {
						blocks = append(blocks, map[string]any{"type": "image_url", "image_url": map[string]any{"url": u}})
					}
				case "audio":
					if u := mapStr(mc, "audio", "audio", "url"); u != "" {
						blocks = append(blocks, map[string]any{"type": "image_url", "image_url": map[string]any{"url": u}})
					}
				case "tool_use":
					// Also listed under tool_calls; take it from there when present.
					if len(calls) == 0 {
						if call := asMap(mapGet(c, "tool_call")); call != nil {
							blocks = append(blocks, map[string]any{
								"type":  "tool_use",
								"id":    call["id"],
								"name":  mapGet(call, "function", "name"),
								"input": mapGet(call, "function", "arguments"),
							})
						}
					}
				}
			}
			if len(blocks) > 0 {
				m["content"] = blocks
			}
		}
		out = append(out, m)
	}
	return out
}

// flatMessages turns the tree under gen_ai.prompt / gen_ai.completion
// (Traceloop, OTel ≤1.36 flattened form) into message objects.
func flatMessages(root map[string]any) []any {
	var out []any
	for _, node := range indexed(root) {
		n := asMap(node)
		if n == nil {
			if s, ok := node.(string); ok {
				out = append(out, s)
			}
			continue
		}
		m := map[string]any{}
		for _, k := range []string{"role", "name", "tool_call_id", "finish_reason"} {
			if v, ok := n[k]; ok {
				m[k] = v
			}
		}
		if c, ok := n["content"].(string); ok {
			// Anthropic content blocks arrive as a JSON string.
			if d, ok := decodeMaybeJSON(c); ok {
				if l, isList := d.([]any); isList {
					m["content"] = l
				} else {
					m["content"] = c
				}
			}
		}
		var calls []any
		for _, tc := range indexed(n["tool_calls"]) {
			t := asMap(tc)
			if t == nil {
				continue
			}
			calls = append(calls, map[string]any{
				"id":       t["id"],
				"function": map[string]any{"name": t["name"], "arguments": t["arguments"]},
			})
		}
		if fc := asMap(n["function_call"]); fc != nil {
			calls = append(calls, map[string]any{"function": fc})
		}
		if len(calls) > 0 {
			m["tool_calls"] = calls
		}
		out = append(out, m)
	}
	return out
}
