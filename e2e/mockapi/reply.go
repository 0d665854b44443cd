package mockapi

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"unicode/utf8"
)

// message is an assistant message as the API returns it.
type message struct {
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Role         string   `json:"role"`
	Model        string   `json:"model"`
	Content      []Block  `json:"-"`
	StopReason   string   `json:"-"`
	StopSequence string   `json:"-"`
	Usage        apiUsage `json:"-"`
}

// apiUsage is the usage object of a reply, every field present.
type apiUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreation            struct {
		Ephemeral5mInputTokens int64 `json:"ephemeral_5m_input_tokens"`
		Ephemeral1hInputTokens int64 `json:"ephemeral_1h_input_tokens"`
	} `json:"cache_creation"`
	OutputTokens int64  `json:"output_tokens"`
	ServiceTier  string `json:"service_tier"`
}

// blockJSON is a content block in its reply form; empty gives the form
// content_block_start opens it with (text "", input {}).
func blockJSON(b Block, empty bool) json.RawMessage {
	var v any
	switch b.Type {
	case "text":
		t := b.Text
		if empty {
			t = ""
		}
		v = struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}{"text", t}
	case "thinking":
		th, sig := b.Thinking, b.Signature
		if empty {
			th, sig = "", ""
		}
		v = struct {
			Type      string `json:"type"`
			Thinking  string `json:"thinking"`
			Signature string `json:"signature"`
		}{"thinking", th, sig}
	case "tool_use":
		in := b.Input
		if empty {
			in = json.RawMessage("{}")
		}
		v = struct {
			Type  string          `json:"type"`
			ID    string          `json:"id"`
			Name  string          `json:"name"`
			Input json.RawMessage `json:"input"`
		}{"tool_use", b.ID, b.Name, in}
	}
	out, _ := json.Marshal(v)
	return out
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// full is the non-streaming reply body.
func (m *message) full() []byte {
	content := make([]json.RawMessage, len(m.Content))
	for i, b := range m.Content {
		content[i] = blockJSON(b, false)
	}
	out, _ := json.Marshal(struct {
		*message
		Content      []json.RawMessage `json:"content"`
		StopReason   *string           `json:"stop_reason"`
		StopSequence *string           `json:"stop_sequence"`
		Usage        apiUsage          `json:"usage"`
	}{m, content, nullable(m.StopReason), nullable(m.StopSequence), m.Usage})
	return out
}

// Chunk sizes of the streamed deltas (the API streams a few tokens each).
const (
	textChunk = 24
	jsonChunk = 16
)

// writeStream sends m as the API's server-sent events: message_start,
// ping, per block content_block_start / deltas / content_block_stop,
// message_delta (stop reason, final usage), message_stop.
func (m *message) writeStream(w http.ResponseWriter) {
	flusher, _ := w.(http.Flusher)
	event := func(name string, data any) {
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, b)
	}
	type delta struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Delta any    `json:"delta"`
	}
	start := m.Usage
	start.OutputTokens = 1
	event("message_start", map[string]any{"type": "message_start", "message": struct {
		*message
		Content      []any    `json:"content"`
		StopReason   *string  `json:"stop_reason"`
		StopSequence *string  `json:"stop_sequence"`
		Usage        apiUsage `json:"usage"`
	}{m, []any{}, nil, nil, start}})
	event("ping", map[string]string{"type": "ping"})
	for i, b := range m.Content {
		event("content_block_start", map[string]any{"type": "content_block_start", "index": i, "content_block": blockJSON(b, true)})
		var deltas []any
		switch b.Type {
		case "text":
			for _, c := range chunks(b.Text, textChunk) {
				deltas = append(deltas, map[string]string{"type": "text_delta", "text": c})
			}
		case "thinking":
			for _, c := range chunks(b.Thinking, textChunk) {
				deltas = append(deltas, map[string]string{"type": "thinking_delta", "thinking": c})
			}
			deltas = append(deltas, map[string]string{"type": "signature_delta", "signature": b.Signature})
		case "tool_use":
			for _, c := range chunks(string(b.Input), jsonChunk) {
				deltas = append(deltas, map[string]string{"type": "input_json_delta", "partial_json": c})
			}
		}
		for _, d := range deltas {
			event("content_block_delta", delta{Type: "content_block_delta", Index: i, Delta: d})
		}
		event("content_block_stop", map[string]any{"type": "content_block_stop", "index": i})
		if flusher != nil {
			flusher.Flush()
		}
	}
	event("message_delta", map[string]any{
		"type":  "message_delta",
		"delta": map[string]*string{"stop_reason": nullable(m.StopReason), "stop_sequence": nullable(m.StopSequence)},
		"usage": map[string]int64{
			"input_tokens":                m.Usage.InputTokens,
			"cache_creation_input_tokens": m.Usage.CacheCreationInputTokens,
			"cache_read_input_tokens":     m.Usage.CacheReadInputTokens,
			"output_tokens":               m.Usage.OutputTokens,
		},
	})
	event("message_stop", map[string]string{"type": "message_stop"})
	if flusher != nil {
		flusher.Flush()
	}
}

// chunks splits s into pieces of about n bytes on rune boundaries.
func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 {
			_, cut = utf8.DecodeRuneInString(s)
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" || len(out) == 0 {
		out = append(out, s)
	}
	return out
}

// errorBody is the API's error envelope.
func errorBody(typ, msg, requestID string) []byte {
	out, _ := json.Marshal(map[string]any{
		"type":       "error",
		"error":      map[string]string{"type": typ, "message": msg},
		"request_id": requestID,
	})
	return out
}

const base62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newID is prefix + 24 random base62 characters, like the API's ids
// (msg_01…, toolu_01…, req_011…).
func newID(prefix string) string {
	b := make([]byte, 24)
	rand.Read(b)
	for i := range b {
		b[i] = base62[int(b[i])%len(base62)]
	}
	return prefix + string(b)
}
