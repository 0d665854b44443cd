package normalize

import (
	"sort"
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// This file converts every message format the supported producers send
// into the canonical parts schema (model.Message / model.Part): the OTel
// GenAI parts schema itself, OpenAI chat messages (tool_calls, content
// parts), OpenAI Responses items, Anthropic content blocks, Vercel AI SDK
// messages, Gemini contents / candidates, Bedrock converse blocks,
// LangChain serialized messages and generations, and plain strings. Here
// are the entry points, the containers and message objects; parts.go reads
// the parts, toolresult.go tool results and arguments, responses.go OpenAI
// Responses items, langchain.go LangChain's forms, system.go system
// instructions.

// direction tells the parsers which role a message without one gets.
type direction int

const (
	dirInput direction = iota
	dirOutput
)

func (d direction) defaultRole() string {
	if d == dirOutput {
		return "assistant"
	}
	return "user"
}

// parseMessages converts any supported container of messages.
func parseMessages(v any, dir direction) []model.Message {
	return compactMessages(parseAny(v, dir, 0))
}

// maxDepth bounds the recursion on hostile nesting.
const maxDepth = 16

func parseAny(v any, dir direction, depth int) []model.Message {
	if depth > maxDepth {
		return nil
	}
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if strings.TrimSpace(x) == "" {
			return nil
		}
		if d, ok := decodeMaybeJSON(x); ok {
			if s, isStr := d.(string); !isStr || s != x {
				return parseAny(d, dir, depth+1)
			}
		}
		return []model.Message{textMessage(dir.defaultRole(), x)}
	case []any:
		return parseList(x, dir, depth+1)
	case map[string]any:
		return parseContainer(x, dir, depth+1)
	default:
		if s := anyString(x); s != "" {
			return []model.Message{textMessage(dir.defaultRole(), s)}
		}
	}
	return nil
}

func textMessage(role, text string) model.Message {
	return model.Message{Role: role, Parts: []model.Part{{Type: model.PartText, Content: text}}}
}

func parseList(list []any, dir direction, depth int) []model.Message {
	if len(list) == 0 {
		return nil
	}
	// A batch of message lists (LangChain's [[...]]).
	if _, nested := list[0].([]any); nested {
		var out []model.Message
		for _, e := range list {
			out = append(out, parseAny(e, dir, depth+1)...)
		}
		return out
	}
	if isResponseItemList(list) {
		return parseResponseItems(list, dir, depth)
	}
	var out []model.Message
	for _, e := range list {
		switch x := e.(type) {
		case string:
			if strings.TrimSpace(x) != "" {
				out = append(out, textMessage(dir.defaultRole(), x))
			}
		case map[string]any:
			if m, ok := parseMessageObj(x, dir, depth+1); ok {
				out = append(out, m)
				continue
			}
			out = append(out, parseContainer(x, dir, depth+1)...)
		default:
			if s := anyString(x); s != "" {
				out = append(out, textMessage(dir.defaultRole(), s))
			}
		}
	}
	return out
}

// parseContainer handles an object: a request or response envelope, one
// message, or an arbitrary value (kept as JSON text).
func parseContainer(m map[string]any, dir direction, depth int) []model.Message {
	if depth > maxDepth {
		return nil
	}
	if isLangChainSerialized(m) {
		if msg, ok := parseLangChain(m, dir, depth); ok {
			return []model.Message{msg}
		}
	}
	if gens, ok := m["generations"].([]any); ok {
		return parseGenerations(gens, dir, depth)
	}
	if choices, ok := m["choices"].([]any); ok {
		return parseChoices(choices, depth)
	}
	if cands, ok := m["candidates"].([]any); ok {
		return parseCandidates(cands, depth)
	}
	if msgs, ok := m["messages"]; ok {
		switch msgs.(type) {
		case []any, string, map[string]any:
			return parseAny(msgs, dir, depth+1)
		}
	}
	if contents, ok := m["contents"].([]any); ok {
		return parseList(contents, dir, depth+1)
	}
	if out, ok := m["output"].([]any); ok && isLangGraphOutput(out) {
		return parseLangGraphOutput(out, dir, depth)
	}
	if out, ok := m["output"].([]any); ok && isResponseItemList(out) {
		return parseResponsesOutput(m, out, depth)
	}
	if in, ok := m["input"]; ok && (m["model"] != nil || m["instructions"] != nil) {
		// An OpenAI Responses request.
		return parseAny(in, dirInput, depth+1)
	}
	if p, ok := m["prompt"]; ok && (len(m) <= 3) {
		// AI SDK ai.prompt {"system","prompt"}, completion requests.
		return parseAny(p, dirInput, depth+1)
	}
	if isResultObject(m) {
		return resultMessages(m)
	}
	if msg, ok := parseMessageObj(m, dir, depth+1); ok {
		return []model.Message{msg}
	}
	return objectText(m, dir)
}

// objectText is the message of an object that holds no message: the text
// of its single key ({"question": "..."}, {"answer": "..."}), else the
// object as JSON text.
func objectText(m map[string]any, dir direction) []model.Message {
	if len(m) == 1 {
		for _, v := range m {
			if s, ok := v.(string); ok && strings.TrimSpace(s) != "" {
				return []model.Message{textMessage(dir.defaultRole(), s)}
			}
		}
	}
	if len(m) == 0 {
		return nil
	}
	return []model.Message{textMessage(dir.defaultRole(), marshalJSON(m))}
}

// parseChoices reads OpenAI chat completion choices (and legacy
// completions' text).
func parseChoices(choices []any, depth int) []model.Message {
	var out []model.Message
	for _, c := range choices {
		cm, ok := c.(map[string]any)
		if !ok {
			continue
		}
		var msg model.Message
		if mm, ok := cm["message"].(map[string]any); ok {
			msg, _ = parseMessageObj(mm, dirOutput, depth+1)
		} else if t := mapStr(cm, "text"); t != "" { // legacy completions
			msg = textMessage("assistant", t)
		}
		if msg.Role == "" {
			msg.Role = "assistant"
		}
		if fr := mapStr(cm, "finish_reason"); fr != "" {
			msg.FinishReason = fr
		}
		out = append(out, msg)
	}
	return out
}

// parseCandidates reads Gemini response candidates.
func parseCandidates(cands []any, depth int) []model.Message {
	var out []model.Message
	for _, c := range cands {
		cm, ok := c.(map[string]any)
		if !ok {
			continue
		}
		msg, _ := parseMessageObj(asMap(cm["content"]), dirOutput, depth+1)
		if msg.Role == "" {
			msg.Role = "assistant"
		}
		msg.FinishReason = firstStr(cm, "finishReason", "finish_reason")
		out = append(out, msg)
	}
	return out
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

// roleAliases maps vendor role names onto the schema's roles.
var roleAliases = map[string]string{
	"human":     "user",
	"user":      "user",
	"ai":        "assistant",
	"assistant": "assistant",
	"model":     "assistant",
	"bot":       "assistant",
	"system":    "system",
	"developer": "system",
	"tool":      "tool",
	"function":  "tool",
	"ipython":   "tool",
}

func normRole(r string) string {
	r = strings.ToLower(strings.TrimSpace(r))
	if a, ok := roleAliases[r]; ok {
		return a
	}
	return r
}

// parseMessageObj reads one message object. ok is false when m does not
// look like a message.
func parseMessageObj(m map[string]any, dir direction, depth int) (model.Message, bool) {
	if m == nil || depth > maxDepth {
		return model.Message{}, false
	}
	if isLangChainSerialized(m) {
		return parseLangChain(m, dir, depth)
	}
	msg := model.Message{Role: normRole(messageRole(m)), Name: mapStr(m, "name")}
	looksLike := msg.Role != ""
	if r := firstStr(m, "reasoning_content", "reasoning"); r != "" {
		msg.Parts = append(msg.Parts, model.Part{Type: model.PartReasoning, Content: r})
	}
	if parts, ok := m["parts"].([]any); ok {
		msg.Parts = append(msg.Parts, parseParts(parts, depth+1)...)
		looksLike = true
	}
	if contentParts(&msg, m["content"], dir, depth) {
		looksLike = true
	}
	if msg.Role == "" && len(msg.Parts) == 0 {
		if t := mapStr(m, "text"); t != "" {
			msg.Parts = append(msg.Parts, model.Part{Type: model.PartText, Content: t})
			looksLike = looksLike || len(m) <= 4 || m["toolCalls"] != nil
		}
	}
	if toolCallParts(&msg, m) {
		looksLike = true
	}
	if toolResultParts(&msg, m) {
		looksLike = true
	}
	msg.FinishReason = firstStr(m, "finish_reason", "finishReason", "stop_reason")
	if !looksLike {
		return model.Message{}, false
	}
	if msg.Role == "" {
		msg.Role = dir.defaultRole()
	}
	return msg, true
}

// messageRole is a message object's role as sent: role, else the type of
// LangChain's dict form ({"type":"human","content":...}).
func messageRole(m map[string]any) string {
	if role := mapStr(m, "role"); role != "" {
		return role
	}
	if t := mapStr(m, "type"); t == "human" || t == "ai" || t == "system" || t == "tool" {
		return t
	}
	return ""
}

// contentParts appends the parts of a message's content: a string, a
// parts list, an ADK / Gemini content object or any other object (as JSON
// text). It reports whether the content alone makes the object a message.
func contentParts(msg *model.Message, content any, dir direction, depth int) bool {
	switch c := content.(type) {
	case string:
		if c != "" {
			msg.Parts = append(msg.Parts, model.Part{Type: model.PartText, Content: c})
		}
	case []any:
		msg.Parts = append(msg.Parts, parseParts(c, depth+1)...)
		return true
	case map[string]any:
		if _, hasParts := c["parts"]; hasParts {
			// ADK / Gemini LlmResponse {"content":{"role":"model","parts":[...]}}.
			inner, _ := parseMessageObj(c, dir, depth+1)
			if msg.Role == "" {
				msg.Role = inner.Role
			}
			msg.Parts = append(msg.Parts, inner.Parts...)
			return true
		} else if len(c) > 0 {
			msg.Parts = append(msg.Parts, model.Part{Type: model.PartText, Content: marshalJSON(c)})
		}
	}
	return false
}

// toolCallParts appends a message's tool calls (OpenAI tool_calls, AI SDK
// toolCalls, the legacy function_call). It reports whether a tool call
// list was there, which makes the object a message.
func toolCallParts(msg *model.Message, m map[string]any) bool {
	listed := false
	for _, key := range []string{"tool_calls", "toolCalls"} {
		if calls, ok := m[key].([]any); ok {
			for _, c := range calls {
				if p, ok := parseToolCall(asMap(c)); ok {
					msg.Parts = append(msg.Parts, p)
				}
			}
			listed = true
			break
		}
	}
	if fc, ok := m["function_call"].(map[string]any); ok {
		if p, ok := parseToolCall(map[string]any{"function": fc}); ok {
			msg.Parts = append(msg.Parts, p)
		}
	}
	return listed
}

// toolResultParts turns a tool message's text into the tool's result. It
// reports whether the object names the tool call it answers, which makes
// it a message.
func toolResultParts(msg *model.Message, m map[string]any) bool {
	id := firstStr(m, "tool_call_id", "toolCallId", "tool_use_id")
	if id == "" && msg.Role != "tool" {
		return false
	}
	for i, p := range msg.Parts {
		if p.Type == model.PartText {
			msg.Parts[i] = model.Part{Type: model.PartToolCallResponse, ID: id, Response: jsonArg(p.Content)}
		}
	}
	if msg.Role == "" {
		msg.Role = "tool"
	}
	return id != ""
}

func firstStr(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s := mapStr(m, k); s != "" {
			return s
		}
	}
	return ""
}

func firstPresent(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok && v != nil {
			return v
		}
	}
	return nil
}

// compactMessages drops empty text parts and then messages left with no
// parts.
func compactMessages(msgs []model.Message) []model.Message {
	out := msgs[:0]
	for _, m := range msgs {
		parts := m.Parts[:0]
		for _, p := range m.Parts {
			if p.Type == model.PartText && p.Content == "" {
				continue
			}
			parts = append(parts, p)
		}
		m.Parts = parts
		if len(m.Parts) == 0 {
			continue
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// isResultObject recognizes an AI SDK / Mastra generation result
// ({text, toolCalls, reasoning, files, …}).
func isResultObject(m map[string]any) bool {
	if _, ok := m["text"].(string); !ok || m["role"] != nil || m["content"] != nil {
		return false
	}
	for _, k := range []string{"toolCalls", "files", "reasoning", "reasoningText", "sources", "warnings", "finishReason", "steps", "usage", "response"} {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

func resultMessages(m map[string]any) []model.Message {
	msg := model.Message{Role: "assistant", FinishReason: mapStr(m, "finishReason")}
	switch r := m["reasoning"].(type) {
	case string:
		msg.Parts = append(msg.Parts, model.Part{Type: model.PartReasoning, Content: r})
	case []any:
		for _, e := range r {
			if t := firstRawStr(asMap(e), "text", "content"); t != "" {
				msg.Parts = append(msg.Parts, model.Part{Type: model.PartReasoning, Content: t})
			}
		}
	}
	if len(msg.Parts) == 0 {
		if r := firstRawStr(m, "reasoningText"); r != "" {
			msg.Parts = append(msg.Parts, model.Part{Type: model.PartReasoning, Content: r})
		}
	}
	msg.Parts = append(msg.Parts, model.Part{Type: model.PartText, Content: firstRawStr(m, "text")})
	if calls, ok := m["toolCalls"].([]any); ok {
		for _, c := range calls {
			if p, ok := parseToolCall(asMap(c)); ok {
				msg.Parts = append(msg.Parts, p)
			}
		}
	}
	return compactMessages([]model.Message{msg})
}
