package normalize

import "github.com/weavetrace/weave/server/model"

// This file reads OpenAI Responses API items (input and output lists)
// into messages.

// isResponseItemList reports whether list holds OpenAI Responses items.
func isResponseItemList(list []any) bool {
	for _, e := range list {
		switch mapStr(e, "type") {
		case "function_call", "function_call_output", "reasoning", "web_search_call", "file_search_call", "computer_call":
			return true
		case "message":
			if mapGet(e, "content") != nil {
				return true
			}
		}
	}
	return false
}

// parseResponseItems folds Responses API items into messages: function
// calls join the preceding assistant message, outputs become tool
// messages.
func parseResponseItems(list []any, dir direction, depth int) []model.Message {
	var out []model.Message
	assistant := func() *model.Message {
		if n := len(out); n > 0 && out[n-1].Role == "assistant" {
			return &out[n-1]
		}
		out = append(out, model.Message{Role: "assistant"})
		return &out[len(out)-1]
	}
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, textMessage(dir.defaultRole(), s))
			}
			continue
		}
		switch t := mapStr(m, "type"); t {
		case "function_call":
			if p, ok := parseToolCall(m); ok {
				a := assistant()
				a.Parts = append(a.Parts, p)
			}
		case "function_call_output":
			out = append(out, model.Message{Role: "tool", Parts: []model.Part{{
				Type: model.PartToolCallResponse, ID: firstStr(m, "call_id", "id"), Response: toolResponse(m["output"]),
			}}})
		case "reasoning":
			if p, ok := parsePart(m, depth+1); ok {
				a := assistant()
				a.Parts = append(a.Parts, p)
			}
		case "message", "":
			msg, ok := parseMessageObj(m, dir, depth+1)
			if !ok {
				continue
			}
			if msg.Role == "assistant" {
				a := assistant()
				a.Parts = append(a.Parts, msg.Parts...)
				continue
			}
			out = append(out, msg)
		default:
			a := assistant()
			a.Parts = append(a.Parts, model.Part{Type: model.PartServerToolCall, ID: mapStr(m, "id"), Name: t, Arguments: jsonArg(m)})
		}
	}
	return out
}

// responsesFinishReason derives a finish reason from a Responses API
// object's status and output items.
func responsesFinishReason(m map[string]any, items []any) string {
	switch mapStr(m, "status") {
	case "completed":
		for _, it := range items {
			if mapStr(it, "type") == "function_call" {
				return "tool_call"
			}
		}
		return "stop"
	case "incomplete":
		return "length"
	case "failed":
		return "error"
	}
	return ""
}

// parseResponsesOutput reads a Responses object's output items; its
// assistant messages get the finish reason its status implies (a
// Responses object has a status, not a finish reason).
func parseResponsesOutput(m map[string]any, out []any, depth int) []model.Message {
	msgs := parseResponseItems(out, dirOutput, depth+1)
	if fr := responsesFinishReason(m, out); fr != "" {
		for i := range msgs {
			if msgs[i].Role == "assistant" && msgs[i].FinishReason == "" {
				msgs[i].FinishReason = fr
			}
		}
	}
	return msgs
}
