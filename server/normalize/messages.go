package normalize

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// This file converts every message format the supported producers send
// into the canonical parts schema (model.Message / model.Part): the OTel
// GenAI parts schema itself, OpenAI chat messages (tool_calls, content
// parts), OpenAI Responses items, Anthropic content blocks, Vercel AI SDK
// messages, Gemini contents / candidates, Bedrock converse blocks,
// LangChain serialized messages and generations, and plain strings.

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
	if cands, ok := m["candidates"].([]any); ok {
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
		// LangGraph node output: Command{update} / Send{args} objects.
		var msgs []model.Message
		for _, e := range out {
			msgs = append(msgs, parseAny(firstPresent(asMap(mapGet(e, "update")), "messages"), dir, depth+1)...)
			msgs = append(msgs, parseAny(firstPresent(asMap(mapGet(e, "args")), "messages"), dir, depth+1)...)
		}
		return msgs
	}
	if out, ok := m["output"].([]any); ok && isResponseItemList(out) {
		msgs := parseResponseItems(out, dirOutput, depth+1)
		// A Responses object has a status, not a finish reason.
		if fr := responsesFinishReason(m, out); fr != "" {
			for i := range msgs {
				if msgs[i].Role == "assistant" && msgs[i].FinishReason == "" {
					msgs[i].FinishReason = fr
				}
			}
		}
		return msgs
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
	// A single key holding text ({"question": "..."}, {"answer": "..."}).
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
	var msg model.Message
	role := mapStr(m, "role")
	if role == "" {
		// LangChain's dict form ({"type":"human","content":...}).
		if t := mapStr(m, "type"); t == "human" || t == "ai" || t == "system" || t == "tool" {
			role = t
		}
	}
	msg.Role = normRole(role)
	msg.Name = mapStr(m, "name")
	looksLike := msg.Role != ""

	if r := firstStr(m, "reasoning_content", "reasoning"); r != "" {
		msg.Parts = append(msg.Parts, model.Part{Type: model.PartReasoning, Content: r})
	}
	switch parts := m["parts"].(type) {
	case []any:
		msg.Parts = append(msg.Parts, parseParts(parts, depth+1)...)
		looksLike = true
	}
	switch c := m["content"].(type) {
	case string:
		if c != "" {
			msg.Parts = append(msg.Parts, model.Part{Type: model.PartText, Content: c})
		}
		looksLike = looksLike || msg.Role != ""
	case []any:
		msg.Parts = append(msg.Parts, parseParts(c, depth+1)...)
		looksLike = true
	case map[string]any:
		if _, hasParts := c["parts"]; hasParts {
			// ADK / Gemini LlmResponse {"content":{"role":"model","parts":[...]}}.
			inner, _ := parseMessageObj(c, dir, depth+1)
			if msg.Role == "" {
				msg.Role = inner.Role
			}
			msg.Parts = append(msg.Parts, inner.Parts...)
			looksLike = true
		} else if len(c) > 0 {
			msg.Parts = append(msg.Parts, model.Part{Type: model.PartText, Content: marshalJSON(c)})
		}
	}
	if msg.Role == "" && len(msg.Parts) == 0 {
		if t := mapStr(m, "text"); t != "" {
			msg.Parts = append(msg.Parts, model.Part{Type: model.PartText, Content: t})
			looksLike = looksLike || len(m) <= 4 || m["toolCalls"] != nil
		}
	}
	for _, key := range []string{"tool_calls", "toolCalls"} {
		if calls, ok := m[key].([]any); ok {
			for _, c := range calls {
				if p, ok := parseToolCall(asMap(c)); ok {
					msg.Parts = append(msg.Parts, p)
				}
			}
			looksLike = true
			break
		}
	}
	if fc, ok := m["function_call"].(map[string]any); ok {
		if p, ok := parseToolCall(map[string]any{"function": fc}); ok {
			msg.Parts = append(msg.Parts, p)
		}
	}
	// A tool message's text is the tool's result.
	if id := firstStr(m, "tool_call_id", "toolCallId", "tool_use_id"); id != "" || msg.Role == "tool" {
		for i, p := range msg.Parts {
			if p.Type == model.PartText {
				msg.Parts[i] = model.Part{Type: model.PartToolCallResponse, ID: id, Response: jsonArg(p.Content)}
			}
		}
		if msg.Role == "" {
			msg.Role = "tool"
		}
		looksLike = looksLike || id != ""
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

func firstStr(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s := mapStr(m, k); s != "" {
			return s
		}
	}
	return ""
}

// parseToolCall reads one tool call: OpenAI {id, function{name,
// arguments}}, LangChain {id, name, args}, AI SDK {toolCallId, toolName,
// input|args}, Anthropic tool_use {id, name, input}, Gemini
// functionCall {id, name, args}.
func parseToolCall(m map[string]any) (model.Part, bool) {
	if m == nil {
		return model.Part{}, false
	}
	p := model.Part{Type: model.PartToolCall}
	p.ID = firstStr(m, "call_id", "id", "toolCallId", "toolUseId", "tool_call_id")
	if fn, ok := m["function"].(map[string]any); ok {
		p.Name = mapStr(fn, "name")
		p.Arguments = jsonArg(firstPresent(fn, "arguments", "args"))
	}
	if p.Name == "" {
		p.Name = firstStr(m, "name", "toolName", "tool_name")
	}
	if p.Arguments == nil {
		p.Arguments = jsonArg(firstPresent(m, "arguments", "args", "input"))
	}
	if p.Name == "" && p.ID == "" {
		return model.Part{}, false
	}
	return p, true
}

func firstPresent(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok && v != nil {
			return v
		}
	}
	return nil
}

// parseParts reads a parts / content-block list of any vendor.
func parseParts(list []any, depth int) []model.Part {
	var out []model.Part
	for _, e := range list {
		switch x := e.(type) {
		case string:
			if x != "" {
				out = append(out, model.Part{Type: model.PartText, Content: x})
			}
		case map[string]any:
			if p, ok := parsePart(x, depth+1); ok {
				out = append(out, p)
			}
		}
	}
	return out
}

func parsePart(m map[string]any, depth int) (model.Part, bool) {
	t := mapStr(m, "type")
	if k := mapStr(m, "kind"); t == "" && (k == "text" || k == "thinking") {
		t = k // pydantic-ai version 1 event content {"kind": …, "text": …}
	}
	switch t {
	case "":
		return parseUntypedPart(m, depth)
	case model.PartText, "input_text", "output_text":
		return model.Part{Type: model.PartText, Content: unwrapTextBlocks(firstRawStr(m, "content", "text"))}, true
	case "refusal":
		return model.Part{Type: model.PartText, Content: firstRawStr(m, "refusal", "content", "text")}, true
	case model.PartToolCall, "tool_use", "tool-call", "function_call", "server_tool_use":
		p, ok := parseToolCall(m)
		if t == "server_tool_use" {
			p.Type = model.PartServerToolCall
		}
		return p, ok
	case model.PartToolCallResponse, "tool_result", "tool-result", "function_call_output", "tool_call_result":
		p := model.Part{Type: model.PartToolCallResponse}
		p.ID = firstStr(m, "call_id", "id", "tool_use_id", "toolCallId", "tool_call_id")
		p.Response = toolResponse(firstPresent(m, "response", "result", "output", "content"))
		return p, true
	case model.PartReasoning, "thinking":
		c := firstRawStr(m, "content", "text", "thinking")
		if c == "" {
			if sum, ok := m["summary"].([]any); ok {
				var texts []string
				for _, s := range sum {
					if st := mapStr(s, "text"); st != "" {
						texts = append(texts, st)
					}
				}
				c = strings.Join(texts, "\n\n")
			}
		}
		return model.Part{Type: model.PartReasoning, Content: c}, c != ""
	case "redacted_thinking":
		return model.Part{}, false
	case model.PartServerToolCall, model.PartServerToolCallResponse:
		p := model.Part{Type: t, ID: mapStr(m, "id"), Name: mapStr(m, "name")}
		if t == model.PartServerToolCall {
			p.Arguments = jsonArg(firstPresent(m, "server_tool_call", "arguments"))
		} else {
			p.Response = jsonArg(firstPresent(m, "server_tool_call_response", "response"))
		}
		return p, true
	case model.PartBlob, model.PartFile, model.PartURI:
		if t == model.PartFile && m["file_id"] == nil && m["fileId"] == nil {
			return parseMediaBlock(t, m) // AI SDK / OpenAI file parts
		}
		return model.Part{
			Type:     t,
			MimeType: firstStr(m, "mime_type", "mimeType"),
			Modality: mapStr(m, "modality"),
			Content:  firstRawStr(m, "content"),
			FileID:   firstStr(m, "file_id", "fileId"),
			URI:      firstStr(m, "uri", "url"),
		}, true
	case "image_url":
		url := mapStr(m, "image_url", "url")
		if url == "" {
			url = mapStr(m, "image_url")
		}
		return mediaPart(url, "", "image"), url != ""
	case "input_image":
		if id := mapStr(m, "file_id"); id != "" {
			return model.Part{Type: model.PartFile, Modality: "image", FileID: id}, true
		}
		url := mapStr(m, "image_url")
		return mediaPart(url, "", "image"), url != ""
	case "image", "document", "input_file", "audio", "input_audio", "video":
		return parseMediaBlock(t, m)
	}
	// Any other typed part is kept as a generic part holding its JSON.
	return model.Part{Type: t, Content: marshalJSON(m)}, true
}

// firstRawStr is firstStr without trimming (text keeps its whitespace).
func firstRawStr(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := m[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// parseUntypedPart reads Gemini parts ({text} / {functionCall} /
// {functionResponse} / {inlineData} / {fileData}) and Bedrock converse
// blocks ({text} / {toolUse} / {toolResult} / {reasoningContent}).
func parseUntypedPart(m map[string]any, depth int) (model.Part, bool) {
	// Gemini parts come camelCase from JS / REST and snake_case from
	// Python's pydantic dumps (ADK's llm_request / llm_response).
	if fc := asMap(firstPresent(m, "functionCall", "function_call")); fc != nil {
		return parseToolCall(fc)
	}
	if fr := asMap(firstPresent(m, "functionResponse", "function_response")); fr != nil {
		return model.Part{Type: model.PartToolCallResponse, ID: mapStr(fr, "id"), Response: jsonArg(fr["response"])}, true
	}
	if tu, ok := m["toolUse"].(map[string]any); ok {
		return parseToolCall(tu)
	}
	if tr, ok := m["toolResult"].(map[string]any); ok {
		return model.Part{Type: model.PartToolCallResponse, ID: mapStr(tr, "toolUseId"), Response: toolResponse(tr["content"])}, true
	}
	if rc, ok := m["reasoningContent"].(map[string]any); ok {
		c := mapStr(rc, "reasoningText", "text")
		return model.Part{Type: model.PartReasoning, Content: c}, c != ""
	}
	if d := asMap(firstPresent(m, "inlineData", "inline_data")); d != nil {
		mt := firstStr(d, "mimeType", "mime_type")
		return model.Part{Type: model.PartBlob, MimeType: mt, Modality: modalityOf(mt), Content: mapStr(d, "data")}, true
	}
	if d := asMap(firstPresent(m, "fileData", "file_data")); d != nil {
		mt := firstStr(d, "mimeType", "mime_type")
		return model.Part{Type: model.PartURI, MimeType: mt, Modality: modalityOf(mt), URI: firstStr(d, "fileUri", "file_uri")}, true
	}
	if t, ok := m["text"].(string); ok {
		if th, _ := m["thought"].(bool); th {
			return model.Part{Type: model.PartReasoning, Content: t}, t != ""
		}
		return model.Part{Type: model.PartText, Content: t}, true
	}
	if c, ok := m["content"].(string); ok {
		return model.Part{Type: model.PartText, Content: c}, true
	}
	if len(m) == 0 {
		return model.Part{}, false
	}
	if j, ok := m["json"]; ok {
		return model.Part{Type: model.PartText, Content: marshalJSON(j)}, true
	}
	return model.Part{Type: model.PartText, Content: marshalJSON(m)}, true
}

// parseMediaBlock reads image / audio / file / document blocks of the
// Anthropic, OpenAI, AI SDK and LangChain formats.
func parseMediaBlock(t string, m map[string]any) (model.Part, bool) {
	modality := map[string]string{"image": "image", "audio": "audio", "input_audio": "audio", "video": "video"}[t]
	if modality == "" {
		modality = "document"
	}
	if src, ok := m["source"].(map[string]any); ok { // Anthropic
		mt := firstStr(src, "media_type", "mediaType")
		switch mapStr(src, "type") {
		case "base64":
			return model.Part{Type: model.PartBlob, MimeType: mt, Modality: modality, Content: mapStr(src, "data")}, true
		case "url":
			return mediaPart(mapStr(src, "url"), mt, modality), true
		case "file":
			return model.Part{Type: model.PartFile, MimeType: mt, Modality: modality, FileID: mapStr(src, "file_id")}, true
		case "text":
			return model.Part{Type: model.PartText, Content: mapStr(src, "data")}, true
		}
	}
	if ia, ok := m["input_audio"].(map[string]any); ok { // OpenAI chat
		return model.Part{Type: model.PartBlob, MimeType: "audio/" + mapStr(ia, "format"), Modality: "audio", Content: mapStr(ia, "data")}, true
	}
	if f, ok := m["file"].(map[string]any); ok { // OpenAI chat file part
		if id := mapStr(f, "file_id"); id != "" {
			return model.Part{Type: model.PartFile, Modality: modality, FileID: id}, true
		}
		return mediaPart(mapStr(f, "file_data"), "", modality), true
	}
	mt := firstStr(m, "mediaType", "mime_type", "mimeType")
	if id := mapStr(m, "file_id"); id != "" {
		return model.Part{Type: model.PartFile, MimeType: mt, Modality: modality, FileID: id}, true
	}
	for _, k := range []string{"image", "data", "url", "base64", "file_data", "image_url"} {
		if s := mapStr(m, k); s != "" {
			if k == "base64" {
				return model.Part{Type: model.PartBlob, MimeType: mt, Modality: modality, Content: s}, true
			}
			return mediaPart(s, mt, modality), true
		}
	}
	return model.Part{Type: t, Content: marshalJSON(m)}, true
}

// mediaPart turns a URL or data URL (or bare base64) into a uri / blob part.
func mediaPart(s, mimeType, modality string) model.Part {
	if rest, ok := strings.CutPrefix(s, "data:"); ok {
		meta, data, _ := strings.Cut(rest, ",")
		mt := strings.TrimSuffix(meta, ";base64")
		if mimeType == "" {
			mimeType = mt
		}
		if modality == "" || modality == "document" {
			modality = modalityOf(mimeType)
		}
		return model.Part{Type: model.PartBlob, MimeType: mimeType, Modality: modality, Content: data}
	}
	if strings.Contains(s, "://") {
		return model.Part{Type: model.PartURI, MimeType: mimeType, Modality: modality, URI: s}
	}
	return model.Part{Type: model.PartBlob, MimeType: mimeType, Modality: modality, Content: s}
}

func modalityOf(mimeType string) string {
	switch {
	case strings.HasPrefix(mimeType, "image/"):
		return "image"
	case strings.HasPrefix(mimeType, "audio/"):
		return "audio"
	case strings.HasPrefix(mimeType, "video/"):
		return "video"
	}
	return "document"
}

// toolResponse normalizes a tool result: AI SDK {"type":"json","value":…}
// wrappers, Anthropic / Bedrock content-block lists and LangChain
// ToolMessages are unwrapped to their content.
func toolResponse(v any) json.RawMessage {
	return jsonArg(unwrapToolResult(v, 0))
}

func unwrapToolResult(v any, depth int) any {
	if depth > 4 {
		return v
	}
	switch x := v.(type) {
	case string:
		if d, ok := decodeMaybeJSON(x); ok {
			if _, isStr := d.(string); !isStr {
				u := unwrapToolResult(d, depth+1)
				if s, ok := u.(string); ok {
					return s
				}
				if isLangChainSerialized(asMap(d)) || isLangChainSerialized(asMap(mapGet(d, "output"))) {
					return u
				}
			}
		}
		return x
	case map[string]any:
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
	case []any:
		// A list of text / json blocks becomes their concatenated text.
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
	return v
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

// systemTexts reads system instructions: a parts list, a plain string, a
// JSON string of either, an Anthropic system-block list or a Gemini
// Content.
func systemTexts(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		if d, ok := decodeMaybeJSON(x); ok {
			if s, isStr := d.(string); !isStr || s != x {
				return systemTexts(d)
			}
		}
		if strings.TrimSpace(x) == "" {
			return nil
		}
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			switch y := e.(type) {
			case string:
				if y != "" {
					out = append(out, y)
				}
			case map[string]any:
				if p, ok := parsePart(y, 0); ok && p.Type == model.PartText && p.Content != "" {
					out = append(out, p.Content)
				} else if inner := systemTexts(y["parts"]); len(inner) > 0 {
					out = append(out, inner...)
				}
			}
		}
		return out
	case map[string]any:
		if parts, ok := x["parts"]; ok {
			return systemTexts(parts)
		}
		if t := firstRawStr(x, "content", "text"); t != "" {
			return []string{t}
		}
	}
	return nil
}

// systemFromMessages returns the text of system-role messages.
func systemFromMessages(msgs []model.Message) []string {
	var out []string
	for _, m := range msgs {
		if m.Role != "system" {
			continue
		}
		if t := m.Text(); t != "" {
			out = append(out, t)
		}
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

func isLangGraphOutput(list []any) bool {
	for _, e := range list {
		if mapStr(e, "lg_name") == "" {
			return false
		}
	}
	return len(list) > 0
}

// unwrapTextBlocks undoes a producer's JSON-encoding of a content-block
// list into a text part (Traceloop's LangChain instrumentation sends
// `[{"type":"text","text":"…"}]` as the text): a text made only of such
// text blocks becomes their joined text; any other text is returned as is.
func unwrapTextBlocks(s string) string {
	if !strings.HasPrefix(s, `[{"type":"text"`) {
		return s
	}
	var blocks []map[string]any
	if json.Unmarshal([]byte(s), &blocks) != nil || len(blocks) == 0 {
		return s
	}
	texts := make([]string, 0, len(blocks))
	for _, b := range blocks {
		t, ok := b["text"].(string)
		if mapStr(b, "type") != "text" || !ok || len(b) != 2 {
			return s
		}
		texts = append(texts, t)
	}
	return strings.Join(texts, "\n\n")
}
