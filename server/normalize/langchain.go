package normalize

import "github.com/weavetrace/weave/server/model"

// This file reads LangChain serialized messages and generations, and
// recognizes LangGraph outputs.

func isLangChainSerialized(m map[string]any) bool {
	if m == nil {
		return false
	}
	_, hasLC := m["lc"]
	_, hasKw := m["kwargs"].(map[string]any)
	return hasLC && hasKw
}

var langChainRoles = map[string]string{
	"HumanMessage": "user", "HumanMessageChunk": "user",
	"AIMessage": "assistant", "AIMessageChunk": "assistant",
	"SystemMessage": "system", "SystemMessageChunk": "system",
	"ToolMessage": "tool", "ToolMessageChunk": "tool",
	"FunctionMessage": "tool", "ChatMessage": "",
}

// parseLangChain reads a LangChain serialized message
// ({"lc":1,"type":"constructor","id":[…,"AIMessage"],"kwargs":{…}}).
func parseLangChain(m map[string]any, dir direction, depth int) (model.Message, bool) {
	kw := asMap(m["kwargs"])
	var class string
	if ids, ok := m["id"].([]any); ok && len(ids) > 0 {
		class, _ = ids[len(ids)-1].(string)
	}
	role, known := langChainRoles[class]
	if !known || role == "" {
		role = normRole(mapStr(kw, "role"))
	}
	inner := map[string]any{"role": role, "content": kw["content"]}
	if calls, ok := kw["tool_calls"].([]any); ok && len(calls) > 0 {
		inner["tool_calls"] = calls
	} else if calls := mapGet(kw, "additional_kwargs", "tool_calls"); calls != nil {
		inner["tool_calls"] = calls
	}
	if id := mapStr(kw, "tool_call_id"); id != "" {
		inner["tool_call_id"] = id
	}
	if role != "tool" {
		if n := mapStr(kw, "name"); n != "" {
			inner["name"] = n
		}
	}
	msg, ok := parseMessageObj(inner, dir, depth+1)
	if msg.FinishReason == "" {
		msg.FinishReason = mapStr(kw, "response_metadata", "finish_reason")
	}
	return msg, ok
}

// parseGenerations reads a LangChain LLMResult's generations.
func parseGenerations(gens []any, dir direction, depth int) []model.Message {
	var out []model.Message
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			var msg model.Message
			ok := false
			if lm, isMap := x["message"].(map[string]any); isMap {
				msg, ok = parseMessageObj(lm, dirOutput, depth+1)
			}
			if !ok {
				if t := mapStr(x, "text"); t != "" {
					msg, ok = textMessage("assistant", t), true
				}
			}
			if !ok {
				return
			}
			if fr := mapStr(x, "generationInfo", "finish_reason"); fr != "" {
				msg.FinishReason = fr
			} else if fr := mapStr(x, "generation_info", "finish_reason"); fr != "" {
				msg.FinishReason = fr
			}
			out = append(out, msg)
		}
	}
	walk(gens)
	return out
}

func isLangGraphOutput(list []any) bool {
	for _, e := range list {
		if mapStr(e, "lg_name") == "" {
			return false
		}
	}
	return len(list) > 0
}

// parseLangGraphOutput reads a LangGraph node's output: Command{update} /
// Send{args} objects.
func parseLangGraphOutput(out []any, dir direction, depth int) []model.Message {
	var msgs []model.Message
	for _, e := range out {
		msgs = append(msgs, parseAny(firstPresent(asMap(mapGet(e, "update")), "messages"), dir, depth+1)...)
		msgs = append(msgs, parseAny(firstPresent(asMap(mapGet(e, "args")), "messages"), dir, depth+1)...)
	}
	return msgs
}
