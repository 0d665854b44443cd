package normalize

import (
	"encoding/json"
	"strings"

	"github.com/weavetrace/weave/server/model"
)

// This file reads the parts of a message (content blocks, tool calls,
// media) of every vendor into model.Part.

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
		return reasoningPart(m)
	case "redacted_thinking":
		return model.Part{}, false
	case model.PartServerToolCall, model.PartServerToolCallResponse:
		return serverToolPart(t, m), true
	case model.PartBlob, model.PartFile, model.PartURI:
		return schemaMediaPart(t, m)
	case "image_url", "input_image":
		return openAIImagePart(t, m)
	case "image", "document", "input_file", "audio", "input_audio", "video":
		return parseMediaBlock(t, m)
	}
	// Any other typed part is kept as a generic part holding its JSON.
	return model.Part{Type: t, Content: marshalJSON(m)}, true
}

// reasoningPart reads a reasoning / thinking part: its text, else the
// texts of its summary (OpenAI Responses).
func reasoningPart(m map[string]any) (model.Part, bool) {
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
}

// serverToolPart reads the schema's server_tool_call and
// server_tool_call_response parts.
func serverToolPart(t string, m map[string]any) model.Part {
	p := model.Part{Type: t, ID: mapStr(m, "id"), Name: mapStr(m, "name")}
	if t == model.PartServerToolCall {
		p.Arguments = jsonArg(firstPresent(m, "server_tool_call", "arguments"))
	} else {
		p.Response = jsonArg(firstPresent(m, "server_tool_call_response", "response"))
	}
	return p
}

// schemaMediaPart reads the schema's blob, file and uri parts (a file part
// without a file id is an AI SDK / OpenAI file part).
func schemaMediaPart(t string, m map[string]any) (model.Part, bool) {
	if t == model.PartFile && m["file_id"] == nil && m["fileId"] == nil {
		return parseMediaBlock(t, m)
	}
	return model.Part{
		Type:     t,
		MimeType: firstStr(m, "mime_type", "mimeType"),
		Modality: mapStr(m, "modality"),
		Content:  firstRawStr(m, "content"),
		FileID:   firstStr(m, "file_id", "fileId"),
		URI:      firstStr(m, "uri", "url"),
	}, true
}

// openAIImagePart reads OpenAI chat image_url and Responses input_image
// parts.
func openAIImagePart(t string, m map[string]any) (model.Part, bool) {
	if t == "image_url" {
		url := mapStr(m, "image_url", "url")
		if url == "" {
			url = mapStr(m, "image_url")
		}
		return mediaPart(url, "", "image"), url != ""
	}
	if id := mapStr(m, "file_id"); id != "" {
		return model.Part{Type: model.PartFile, Modality: "image", FileID: id}, true
	}
	url := mapStr(m, "image_url")
	return mediaPart(url, "", "image"), url != ""
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
