package mockapi

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// Kind is what a POST /v1/messages request is for.
type Kind string

const (
	// KindMain: the main agent's request; consumes Script.Main.
	KindMain Kind = "main"
	// KindSubagent: a subagent's request (the billing header of its system
	// prompt says cc_is_subagent=true); consumes Script.Subagents.
	KindSubagent Kind = "subagent"
	// KindCompaction: the normal request (same system and tools, for the
	// cache) with a last user text asking for a TEXT ONLY summary.
	KindCompaction Kind = "compaction"
	// KindClassifier: auto mode's permission classifier, asked in two
	// stages (max_tokens 64 with stop sequence </block>, then 8192).
	KindClassifier Kind = "classifier"
	// KindTitle: title generation (system prompt asks for a sentence-case
	// title, output_config.format is a JSON schema with "title").
	KindTitle Kind = "title"
	// KindSide: anything else without tools.
	KindSide Kind = "side"
)

// Markers Claude Code's requests carry (2.1.197 and 2.1.330).
const (
	compactionMarker  = "CRITICAL: Respond with TEXT ONLY"
	compactionMarker2 = "Your task is to create a detailed summary of the conversation"
	classifierMarker  = "You are a security monitor for autonomous AI coding agents"
	titleMarker       = "sentence-case title"
	subagentMarker    = "cc_is_subagent=true"
)

// Request is the part of a Messages API request body the mock reads.
type Request struct {
	Model         string            `json:"model"`
	MaxTokens     int               `json:"max_tokens"`
	Stream        bool              `json:"stream"`
	System        json.RawMessage   `json:"system"`
	Messages      []Message         `json:"messages"`
	Tools         []json.RawMessage `json:"tools"`
	StopSequences []string          `json:"stop_sequences"`
	OutputConfig  struct {
		Format *struct {
			Type   string          `json:"type"`
			Schema json.RawMessage `json:"schema"`
		} `json:"format"`
	} `json:"output_config"`
}

// Message is one message of a request; Content is a string or blocks.
type Message struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// contentBlock is any request content block, only the fields read here.
type contentBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	ID        string          `json:"id"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
}

func (m Message) blocks() []contentBlock {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return []contentBlock{{Type: "text", Text: s}}
	}
	var bs []contentBlock
	json.Unmarshal(m.Content, &bs)
	return bs
}

// text is the message's text: text blocks and tool results, one per line.
func (m Message) text() string {
	var parts []string
	for _, b := range m.blocks() {
		switch b.Type {
		case "text":
			parts = append(parts, b.Text)
		case "tool_result":
			var s string
			if json.Unmarshal(b.Content, &s) == nil {
				parts = append(parts, s)
				continue
			}
			var inner []contentBlock
			json.Unmarshal(b.Content, &inner)
			for _, ib := range inner {
				if ib.Type == "text" {
					parts = append(parts, ib.Text)
				}
			}
		}
	}
	return strings.Join(parts, "\n")
}

// SystemText is the system prompt's text (a string or text blocks).
func (r *Request) SystemText() string {
	var s string
	if json.Unmarshal(r.System, &s) == nil {
		return s
	}
	var bs []contentBlock
	json.Unmarshal(r.System, &bs)
	parts := make([]string, 0, len(bs))
	for _, b := range bs {
		parts = append(parts, b.Text)
	}
	return strings.Join(parts, "\n")
}

// LastUserText is the text of the last user message.
func (r *Request) LastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].text()
		}
	}
	return ""
}

// FirstUserText is the text of the first user message (a subagent's
// prompt, after the listings Claude Code puts before it).
func (r *Request) FirstUserText() string {
	for _, m := range r.Messages {
		if m.Role == "user" {
			return m.text()
		}
	}
	return ""
}

// Classify tells what a request is for. The order matters: a compaction
// request is a main or subagent request with one more user text.
func (r *Request) Classify() Kind {
	last := r.LastUserText()
	if strings.Contains(last, compactionMarker) || strings.Contains(last, compactionMarker2) {
		return KindCompaction
	}
	sys := r.SystemText()
	if strings.Contains(sys, classifierMarker) {
		return KindClassifier
	}
	if strings.Contains(sys, titleMarker) || r.asksForTitle() {
		return KindTitle
	}
	if len(r.Tools) == 0 {
		return KindSide
	}
	if strings.Contains(sys, subagentMarker) {
		return KindSubagent
	}
	return KindMain
}

// asksForTitle: structured output whose schema has a "title" property.
func (r *Request) asksForTitle() bool {
	f := r.OutputConfig.Format
	if f == nil || f.Type != "json_schema" {
		return false
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	json.Unmarshal(f.Schema, &schema)
	_, ok := schema.Properties["title"]
	return ok
}

// wantsOneHourCache reports whether the request's cache breakpoints ask
// for the 1-hour lifetime (Claude Code does for its system prompt).
func wantsOneHourCache(body []byte) bool {
	return bytes.Contains(body, []byte(`"ttl":"1h"`))
}

// threadMarks are what identify the conversation a request continues:
// the tool_use ids of its assistant messages (unique), then their texts
// (which two parallel subagents may share), newest first. The mock
// records the marks of each reply it sends.
func (r *Request) threadMarks() []string {
	var ids, texts []string
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role != "assistant" {
			continue
		}
		for _, b := range r.Messages[i].blocks() {
			switch b.Type {
			case "tool_use":
				ids = append(ids, b.ID)
			case "text":
				if strings.TrimSpace(b.Text) != "" {
					texts = append(texts, textMark(b.Text))
				}
			}
		}
	}
	return append(ids, texts...)
}

func textMark(text string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(text)))
	return "text:" + hex.EncodeToString(sum[:8])
}
