package spans

import (
	"bytes"
	"encoding/json"

	"github.com/weavetrace/weave/transcript"
)

// message and part follow the OTel GenAI parts schema
// (gen-ai-input-messages.json / gen-ai-output-messages.json).
type message struct {
	Role         string `json:"role"`
	Parts        []part `json:"parts"`
	FinishReason string `json:"finish_reason,omitempty"`
}

type part struct {
	Type      string          `json:"type"`
	Content   string          `json:"content,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Response  *string         `json:"response,omitempty"`
	MimeType  string          `json:"mime_type,omitempty"`
	Modality  string          `json:"modality,omitempty"`
}

func marshalNoEscape(v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func (b *builder) messagesJSON(ms []message) string { return marshalNoEscape(ms) }
func (b *builder) partsJSON(ps []part) string       { return marshalNoEscape(ps) }

// finishReason maps Anthropic's stop_reason onto the schema's values.
func finishReason(stop string) string {
	switch stop {
	case "":
		return ""
	case "end_turn", "stop_sequence", "pause_turn":
		return "stop"
	case "tool_use":
		return "tool_call"
	case "max_tokens", "model_context_window_exceeded":
		return "length"
	case "refusal":
		return "content_filter"
	}
	return stop
}

// outputMessage renders an API response as one assistant message. With
// textOnly, only text parts are kept (for agent-level outputs).
func (b *builder) outputMessage(c *transcript.LLMCall, textOnly bool) *message {
	m := message{Role: "assistant", FinishReason: finishReason(c.StopReason)}
	if c.APIError != nil {
		m.FinishReason = "error"
	}
	for _, bl := range c.Blocks {
		switch bl.Type {
		case transcript.BlockText:
			if bl.Text != "" {
				m.Parts = append(m.Parts, part{Type: "text", Content: b.red.text(bl.Text)})
			}
		case transcript.BlockThinking:
			if !textOnly && bl.Thinking != "" {
				m.Parts = append(m.Parts, part{Type: "reasoning", Content: b.red.text(bl.Thinking)})
			}
		case transcript.BlockRedactedThinking:
			if !textOnly {
				m.Parts = append(m.Parts, part{Type: "reasoning", Content: "[redacted]"})
			}
		case transcript.BlockToolUse, transcript.BlockServerToolUse:
			if !textOnly {
				typ := "tool_call"
				if bl.Type == transcript.BlockServerToolUse {
					typ = "server_tool_call"
				}
				m.Parts = append(m.Parts, part{Type: typ, ID: bl.ID, Name: bl.Name, Arguments: b.red.json(compactJSON(bl.Input))})
			}
		}
	}
	if len(m.Parts) == 0 {
		return nil
	}
	return &m
}

// inputMessages renders what was added to the context before a call.
func (b *builder) inputMessages(in []transcript.InputMessage) []message {
	var out []message
	for _, im := range in {
		m := message{Role: im.Role}
		for _, bl := range im.Blocks {
			switch bl.Type {
			case transcript.BlockText:
				if bl.Text != "" {
					m.Parts = append(m.Parts, part{Type: "text", Content: b.red.text(bl.Text)})
				}
			case transcript.BlockToolResult:
				resp := b.red.text(transcript.ContentText(bl.Content))
				m.Parts = append(m.Parts, part{Type: "tool_call_response", ID: bl.ToolUseID, Response: &resp})
			case transcript.BlockImage, transcript.BlockDocument:
				p := part{Type: "blob", Modality: "image"}
				if bl.Type == transcript.BlockDocument {
					p.Modality = "document"
				}
				if bl.Source != nil {
					p.MimeType = bl.Source.MediaType
				}
				m.Parts = append(m.Parts, p)
			}
		}
		if len(m.Parts) > 0 {
			out = append(out, m)
		}
	}
	return out
}
