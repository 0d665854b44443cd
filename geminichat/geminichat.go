// Package geminichat reads Gemini CLI session files — the chat records
// Gemini CLI writes under ~/.gemini/tmp/<project>/chats/session-<time>-<id
// prefix>.jsonl — into the session model of package transcript, so
// spans.Build makes the same span tree of them as of a Claude Code
// transcript: a turn per prompt, a model call per "gemini" message (its
// text, thoughts and tool calls, its token counts with cached input), a
// tool call per entry of a message's toolCalls with its result.
// testdata/gemini/FINDINGS.md describes the format as Gemini CLI 0.61.0
// writes it.
//
// The file is a log of records folded in order: a metadata record
// (sessionId, projectHash, startTime, kind), message records (an "id":
// a later record with the same id replaces the message, keeping its
// place), {"$set": {...}} metadata updates whose "messages" replace the
// whole history, and {"$rewindTo": id}. A trace records what happened, so
// a message a later record took out of the history is kept; a prompt taken
// out before any answer is a turn whose model request failed (Gemini CLI
// takes a prompt back out of its history when the request fails).
//
// A line that is not JSON is skipped and counted; unknown record shapes
// and fields are ignored; a trailing line without its newline is held back
// (the writer has not finished it).
package geminichat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/weavetrace/weave/transcript"
)

// AgentName is gen_ai.agent.name of a Gemini CLI turn (the agent's name in
// the hook protocol too).
const AgentName = "gemini-cli"

// Provider is gen_ai.provider.name of Gemini CLI's model calls (the
// Gemini API; Vertex AI sessions are not told apart in the files).
const Provider = "gcp.gemini"

// message is one message record.
type message struct {
	ID        string          `json:"id"`
	Timestamp string          `json:"timestamp"`
	Type      string          `json:"type"`
	Content   json.RawMessage `json:"content"`
	Model     string          `json:"model"`
	Thoughts  []struct {
		Subject     string `json:"subject"`
		Description string `json:"description"`
	} `json:"thoughts"`
	Tokens *struct {
		Input    int64 `json:"input"`
		Output   int64 `json:"output"`
		Cached   int64 `json:"cached"`
		Thoughts int64 `json:"thoughts"`
		Tool     int64 `json:"tool"`
		Total    int64 `json:"total"`
	} `json:"tokens"`
	ToolCalls []toolCall `json:"toolCalls"`
}

type toolCall struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Args          json.RawMessage   `json:"args"`
	Result        []json.RawMessage `json:"result"`
	Status        string            `json:"status"`
	Timestamp     string            `json:"timestamp"`
	ResultDisplay json.RawMessage   `json:"resultDisplay"`
	// AgentID is the session id of the subagent an invoke_agent call ran
	// (its chat file is chats/<parent session id>/<agent id>.jsonl).
	AgentID string `json:"agentId"`
}

// part is a Gemini API content part as the records hold it.
type part struct {
	Text             *string `json:"text"`
	Thought          bool    `json:"thought"`
	FunctionResponse *struct {
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
	InlineData *struct {
		MimeType string `json:"mimeType"`
	} `json:"inlineData"`
}

// record is any line: metadata, message, $set or $rewindTo.
type record struct {
	message
	SessionID   string          `json:"sessionId"`
	ProjectHash string          `json:"projectHash"`
	StartTime   string          `json:"startTime"`
	Kind        string          `json:"kind"`
	Messages    json.RawMessage `json:"messages"`
	Set         json.RawMessage `json:"$set"`
	RewindTo    *string         `json:"$rewindTo"`
}

// Builder folds chat records, in file order.
type Builder struct {
	path      string
	sessionID string
	kind      string
	start     time.Time
	// order lists message ids by first appearance; msgs holds each one's
	// latest record; dropped marks messages a history rewrite took out.
	order   []string
	msgs    map[string]*message
	dropped map[string]bool
	// context is the session context of the first history rewrite.
	context []part
	// spawned maps an invoke_agent call's id to its subagent's session id
	// (filled by Session).
	spawned map[string]string
	Skipped int // lines that were not JSON
}

// NewBuilder starts a session read from path.
func NewBuilder(path string) *Builder {
	return &Builder{path: path, msgs: map[string]*message{}, dropped: map[string]bool{}}
}

// Add folds one record (a line without its newline).
func (b *Builder) Add(raw []byte) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	var r record
	if err := json.Unmarshal(raw, &r); err != nil {
		b.Skipped++
		return
	}
	switch {
	case r.RewindTo != nil:
		// The user rewound the conversation: what was said still happened.
	case len(r.Set) > 0:
		var set record
		if json.Unmarshal(r.Set, &set) == nil {
			b.meta(set)
			if len(set.Messages) > 0 {
				b.history(set.Messages, true)
			}
		}
	case r.ID != "":
		b.put(&r.message)
	case r.SessionID != "":
		b.meta(r)
		if len(r.Messages) > 0 {
			b.history(r.Messages, false)
		}
	}
}

func (b *Builder) meta(r record) {
	if r.SessionID != "" {
		b.sessionID = r.SessionID
	}
	if r.Kind != "" {
		b.kind = r.Kind
	}
	if t := parseTime(r.StartTime); !t.IsZero() && b.start.IsZero() {
		b.start = t
	}
}

// history folds a list of messages; replace marks a rewrite of the whole
// history ($set.messages): messages it leaves out are dropped, and it
// adds none: Gemini CLI rewrites the history on resume with new timestamps,
// without models, tokens or tool calls, and with synthetic messages
// ("<id>_response"), and before the first prompt to hold only the
// session context it sends.
func (b *Builder) history(raw json.RawMessage, replace bool) {
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return
	}
	kept := map[string]bool{}
	for _, m := range list {
		var msg message
		if json.Unmarshal(m, &msg) == nil && msg.ID != "" {
			if _, ok := b.msgs[msg.ID]; !ok && !replace {
				b.put(&msg)
			}
			if ps := parts(msg.Content); b.context == nil && msg.Type == "user" && isSessionContext(ps) {
				b.context = ps
			}
			delete(b.dropped, msg.ID)
			kept[msg.ID] = true
		}
	}
	if replace {
		for _, id := range b.order {
			if !kept[id] {
				b.dropped[id] = true
			}
		}
	}
}

func (b *Builder) put(m *message) {
	if _, ok := b.msgs[m.ID]; !ok {
		if len(b.order) >= maxMessages {
			return
		}
		b.order = append(b.order, m.ID)
	}
	b.msgs[m.ID] = m
	delete(b.dropped, m.ID)
}

// maxMessages bounds the messages of one session (a hostile file cannot
// grow the builder without end).
const maxMessages = 1 << 20

// maxLegacy bounds a legacy single-document chat file.
const maxLegacy = 256 << 20

// AddDocument folds a legacy chat file: one JSON object holding the
// metadata and every message.
func (b *Builder) AddDocument(data []byte) {
	var r record
	if err := json.Unmarshal(data, &r); err != nil {
		b.Skipped++
		return
	}
	b.meta(r)
	b.history(r.Messages, false)
}

// Tail reads the complete lines of r (a chat file from offset on) into b
// and returns the offset after the last complete line: a line still being
// written (no newline yet) is left for the next read.
func (b *Builder) Tail(r io.Reader, offset int64) (int64, error) {
	return transcript.TailLines(r, offset, b.Add)
}

// ReadFile builds the session of one chat file: JSONL, or the single JSON
// document (session-*.json) Gemini CLI wrote before it logged records.
func ReadFile(path string) (*Builder, error) {
	f, err := transcript.Open(path) // regular files only, no symlink
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := NewBuilder(path)
	if strings.HasSuffix(path, ".json") {
		data, err := io.ReadAll(io.LimitReader(f, maxLegacy+1))
		if err != nil {
			return nil, fmt.Errorf("geminichat: %s: %w", path, err)
		}
		if len(data) > maxLegacy {
			return nil, fmt.Errorf("geminichat: %s: larger than %d bytes", path, maxLegacy)
		}
		b.AddDocument(data)
		return b, nil
	}
	if _, err := b.Tail(f, 0); err != nil {
		return nil, fmt.Errorf("geminichat: %s: %w", path, err)
	}
	return b, nil
}

// Load reads a chat file and returns its session.
// Load reads a chat file and returns its session, with the subagents its
// invoke_agent calls ran read from their own chat files and linked.
func Load(path string) (*transcript.Session, error) {
	b, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := b.Session()
	Link(b, s)
	return s, nil
}

// Link reads the chat files of the subagents s's invoke_agent calls ran
// (recursively, chats/<parent session id>/<agent id>.jsonl beside b's
// file) and attaches each to its call and to its turn of s. A subagent
// whose file cannot be read leaves its call a plain tool call.
func Link(b *Builder, s *transcript.Session) {
	chats := filepath.Dir(b.path)
	if filepath.Base(chats) != "chats" {
		chats = filepath.Dir(chats)
	}
	seen := map[string]bool{s.ID: true}
	var link func(b *Builder, parentID string, turns []*transcript.Turn, main *transcript.Turn, parent *transcript.Subagent, depth int)
	link = func(b *Builder, parentID string, turns []*transcript.Turn, main *transcript.Turn, parent *transcript.Subagent, depth int) {
		for _, t := range turns {
			mt := main
			if mt == nil {
				mt = t
			}
			for _, tc := range t.Tools {
				id := b.spawned[tc.ID]
				if id == "" || seen[id] || !safeName(id) || !safeName(parentID) || len(seen) > 1000 || depth > 32 {
					continue
				}
				cb, err := ReadFile(filepath.Join(chats, parentID, id+".jsonl"))
				if err != nil {
					continue
				}
				seen[id] = true
				cs := cb.Session()
				a := subagent(cs, tc)
				a.Turn, a.ParentAgent, a.Parent, a.Match = mt, parent, tc, transcript.MatchMeta
				tc.Subagent = a
				mt.Subagents = append(mt.Subagents, a)
				s.Subagents = append(s.Subagents, a)
				link(cb, id, cs.Turns, mt, a, depth+1)
			}
		}
	}
	link(b, s.ID, s.Turns, nil, nil, 0)
}

// subagent is a subagent's session as a transcript.Subagent: every turn's
// calls and tools, its first prompt, the agent named in the call.
func subagent(cs *transcript.Session, tc *transcript.ToolCall) *transcript.Subagent {
	var in struct {
		AgentName string `json:"agent_name"`
	}
	_ = json.Unmarshal(tc.Input, &in)
	a := &transcript.Subagent{AgentID: cs.ID, AgentType: in.AgentName, ToolUseID: tc.ID, Path: cs.Path}
	for _, t := range cs.Turns {
		if a.Prompt == "" {
			a.Prompt = t.Prompt
		}
		if a.Start.IsZero() || t.Start.Before(a.Start) {
			a.Start = t.Start
		}
		if t.End.After(a.End) {
			a.End = t.End
		}
		a.Calls = append(a.Calls, t.Calls...)
		a.Tools = append(a.Tools, t.Tools...)
	}
	return a
}

// safeName: an id usable as one path element.
func safeName(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`)
}

// SessionID is the session id the records name ("" before the metadata).
func (b *Builder) SessionID() string { return b.sessionID }

// IsSubagent reports whether the file is a subagent's chat (kind
// "subagent", written under chats/<parent session id>/).
func (b *Builder) IsSubagent() bool { return b.kind == "subagent" }

func parseTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// parts decodes a message's content: a string is one text part.
func parts(raw json.RawMessage) []part {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []part{{Text: &s}}
	}
	var ps []part
	if json.Unmarshal(raw, &ps) == nil {
		return ps
	}
	var p part
	if json.Unmarshal(raw, &p) == nil {
		return []part{p}
	}
	return nil
}

// text joins a message's text parts (thought parts left out).
func text(ps []part) string {
	var out []string
	for _, p := range ps {
		if p.Text != nil && !p.Thought && *p.Text != "" {
			out = append(out, *p.Text)
		}
	}
	return strings.Join(out, "\n")
}

// isPrompt reports whether a user message is a prompt: text (and images)
// only, and not the session context Gemini CLI sends ahead of the first
// prompt.
func isPrompt(ps []part) bool {
	has := false
	for _, p := range ps {
		switch {
		case p.FunctionResponse != nil:
			return false
		case p.Text != nil && *p.Text != "":
			has = true
		}
	}
	return has && !isSessionContext(ps)
}

// isSessionContext: the session context Gemini CLI sends with the first
// prompt (in the same user content), kept only in its history rewrites.
func isSessionContext(ps []part) bool {
	return strings.HasPrefix(strings.TrimSpace(text(ps)), "<session_context>")
}

// ProjectRoot is the directory a chat file's project was run in: the
// .project_root file Gemini CLI keeps beside chats/ ("" when missing).
func ProjectRoot(path string) string {
	dir := filepath.Dir(path)
	if filepath.Base(dir) != "chats" {
		dir = filepath.Dir(dir) // a subagent's chats/<parent id>/
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(dir), ".project_root"))
	if err != nil || len(b) > 4096 {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Session builds the session model of what was read so far.
func (b *Builder) Session() *transcript.Session {
	s := &transcript.Session{Path: b.path, ID: b.sessionID, Agent: AgentName, Provider: Provider, Cwd: ProjectRoot(b.path)}
	b.spawned = map[string]string{}
	if s.ID == "" {
		s.ID = idFromPath(b.path)
	}
	s.ConversationID = s.ID
	var (
		t     *transcript.Turn
		input []transcript.InputMessage
		last  time.Time // the newest time seen before the next model call
		tools = map[string]*transcript.ToolCall{}
		// prev is the latest call that answered: the history the next
		// request continues (a failed request's prompt is taken back out).
		prev string
		// context is the session context Gemini CLI sends with the first
		// prompt (in the same user content).
		context = toolResults(b.context, nil)
	)
	// answered[i]: a gemini message follows the i-th message before the
	// next prompt.
	answered := make([]bool, len(b.order))
	for i, seen := len(b.order)-1, false; i >= 0; i-- {
		answered[i] = seen
		switch m := b.msgs[b.order[i]]; {
		case m.Type == "gemini":
			seen = true
		case m.Type == "user" && isPrompt(parts(m.Content)):
			seen = false
		}
	}
	for i, id := range b.order {
		m := b.msgs[id]
		ts := parseTime(m.Timestamp)
		switch m.Type {
		case "user":
			ps := parts(m.Content)
			if isPrompt(ps) {
				t = &transcript.Turn{Key: m.ID, PromptID: m.ID, Number: len(s.Turns) + 1, Prompt: text(ps), Start: ts, End: ts, Origin: "user"}
				s.Turns = append(s.Turns, t)
				input = append(input[:0:0], transcript.InputMessage{Role: "user", Blocks: []transcript.Block{{Type: transcript.BlockText, Text: t.Prompt}}})
				if prev == "" {
					input = append(append([]transcript.InputMessage{}, context...), input...)
				}
				if b.dropped[m.ID] && !answered[i] {
					// Taken back out of the history before any answer: the
					// model request failed.
					t.Calls = append(t.Calls, &transcript.LLMCall{
						MessageID: m.ID + ":failed", Start: ts, End: ts, Input: input, Prev: prev,
						APIError: &transcript.APIError{Type: "api_error", Message: "the model request failed (Gemini CLI took the prompt back out of its history)"},
					})
					input = nil
				}
			} else if t != nil {
				input = append(input, toolResults(ps, tools)...)
			}
		case "gemini":
			if t == nil {
				continue
			}
			start := last
			if start.IsZero() || start.After(ts) || start.Before(t.Start) {
				start = t.Start
			}
			c := b.call(m, start, ts, input, t, tools)
			c.Prev, prev = prev, c.MessageID
			t.Calls = append(t.Calls, c)
			input = nil
		}
		if ts.After(last) {
			last = ts
		}
		for _, tc := range m.ToolCalls {
			if e := parseTime(tc.Timestamp); e.After(last) {
				last = e
			}
		}
		if t != nil && last.After(t.End) {
			t.End = last
		}
	}
	return s
}

// call is the model call of one gemini message and its tool calls.
func (b *Builder) call(m *message, start, end time.Time, input []transcript.InputMessage, t *transcript.Turn, tools map[string]*transcript.ToolCall) *transcript.LLMCall {
	c := &transcript.LLMCall{MessageID: m.ID, RequestID: m.ID, Model: m.Model, Start: start, End: end, Input: input, StopReason: "stop"}
	for _, th := range m.Thoughts {
		txt := strings.TrimSpace(strings.TrimSpace(th.Subject) + "\n" + strings.TrimSpace(th.Description))
		if txt != "" {
			c.Blocks = append(c.Blocks, transcript.Block{Type: transcript.BlockThinking, Thinking: txt})
		}
	}
	if txt := text(parts(m.Content)); txt != "" {
		c.Blocks = append(c.Blocks, transcript.Block{Type: transcript.BlockText, Text: txt})
	}
	for _, raw := range m.ToolCalls {
		id := raw.ID
		if id == "" {
			id = fmt.Sprintf("%s:tool%d", m.ID, len(c.Blocks))
		}
		in := raw.Args
		if !json.Valid(in) {
			in = json.RawMessage("{}")
		}
		c.Blocks = append(c.Blocks, transcript.Block{Type: transcript.BlockToolUse, ID: id, Name: raw.Name, Input: in})
		c.StopReason = "tool_calls"
		tc := tools[id]
		if tc == nil {
			tc = &transcript.ToolCall{ID: id}
			tools[id] = tc
			t.Tools = append(t.Tools, tc)
		}
		tc.Name, tc.Input, tc.CallMessageID, tc.Start = raw.Name, in, m.ID, end
		if raw.AgentID != "" {
			tc.Spawns = true
			b.spawned[id] = raw.AgentID
		}
		switch raw.Status {
		case "success", "error", "cancelled":
			tc.HasResult = true
			tc.IsError = raw.Status != "success"
			tc.Result = resultText(raw.Result)
			tc.End = parseTime(raw.Timestamp)
			if tc.End.Before(tc.Start) {
				tc.End = tc.Start
			}
			if json.Valid(raw.ResultDisplay) && string(raw.ResultDisplay) != `""` {
				tc.ToolUseResult = raw.ResultDisplay
			}
		}
	}
	if m.Tokens != nil {
		k := m.Tokens
		c.HasUsage = true
		c.Usage = transcript.Usage{
			InputTokens:          max(k.Input+k.Tool-k.Cached, 0),
			CacheReadInputTokens: k.Cached,
			OutputTokens:         k.Output + k.Thoughts,
		}
		if k.Thoughts > 0 {
			c.Usage.OutputTokensDetails = &struct {
				ThinkingTokens int64 `json:"thinking_tokens"`
			}{k.Thoughts}
		}
	}
	return c
}

// toolResults are a user message's functionResponse parts as tool results.
func toolResults(ps []part, tools map[string]*transcript.ToolCall) []transcript.InputMessage {
	var out []transcript.InputMessage
	for _, p := range ps {
		if p.FunctionResponse == nil {
			if p.Text != nil && *p.Text != "" {
				out = append(out, transcript.InputMessage{Role: "user", Blocks: []transcript.Block{{Type: transcript.BlockText, Text: *p.Text}}})
			}
			continue
		}
		fr := p.FunctionResponse
		res := responseText(fr.Response)
		content, _ := json.Marshal(res)
		tc := tools[fr.ID]
		out = append(out, transcript.InputMessage{Role: "tool", Blocks: []transcript.Block{{Type: transcript.BlockToolResult, ToolUseID: fr.ID, Content: content, IsError: tc != nil && tc.IsError}}})
	}
	return out
}

// resultText is what a tool call's result parts told the model.
func resultText(result []json.RawMessage) string {
	var out []string
	for _, raw := range result {
		var p part
		if json.Unmarshal(raw, &p) != nil {
			continue
		}
		switch {
		case p.FunctionResponse != nil:
			out = append(out, responseText(p.FunctionResponse.Response))
		case p.Text != nil:
			out = append(out, *p.Text)
		case p.InlineData != nil:
			out = append(out, "["+p.InlineData.MimeType+"]")
		}
	}
	return strings.Join(out, "\n")
}

// responseText is a functionResponse's response: its "output" or "error"
// string, else its JSON.
func responseText(raw json.RawMessage) string {
	var r struct {
		Output *string `json:"output"`
		Error  *string `json:"error"`
	}
	if json.Unmarshal(raw, &r) == nil {
		switch {
		case r.Output != nil && r.Error == nil:
			return *r.Output
		case r.Error != nil && r.Output == nil:
			return *r.Error
		}
	}
	return string(raw)
}

// idFromPath is what a chat file's name says of its session: the id prefix
// of session-<time>-<prefix>.jsonl, or a subagent file's whole name.
func idFromPath(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	if i := strings.LastIndexByte(base, '-'); strings.HasPrefix(base, "session-") && i >= 0 {
		return base[i+1:]
	}
	return base
}

// Files lists the main chat files under root (a ~/.gemini/tmp directory):
// <project>/chats/session-*.jsonl and the older session-*.json, sorted.
// Subagent chats (chats/<parent id>/) are left out.
func Files(root string) []string {
	var out []string
	for _, pat := range []string{"session-*.jsonl", "session-*.json"} {
		m, _ := filepath.Glob(filepath.Join(root, "*", "chats", pat))
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

// FindSession is the main chat file of session id under root ("" when
// none): a file named for the id's first eight characters whose records
// name the id, the one with the most messages (a session resumed in
// another minute leaves a second file holding only its metadata).
func FindSession(root, id string) string {
	if len(id) < 8 {
		return ""
	}
	best, most := "", -1
	for _, f := range Files(root) {
		if strings.HasSuffix(strings.TrimSuffix(strings.TrimSuffix(f, ".jsonl"), ".json"), "-"+id[:8]) {
			if b, err := ReadFile(f); err == nil && b.SessionID() == id && len(b.order) > most {
				best, most = f, len(b.order)
			}
		}
	}
	return best
}
