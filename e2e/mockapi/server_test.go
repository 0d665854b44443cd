package mockapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/anthropics/anthropic-sdk-go/v2/packages/ssestream"
)

// startMock serves script (JSON) on an httptest server.
func startMock(t *testing.T, script string) (*Server, *httptest.Server) {
	t.Helper()
	sc, err := ParseScript([]byte(script), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(sc, filepath.Join(t.TempDir(), "requests.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(m)
	t.Cleanup(func() { ts.Close(); m.Close() })
	return m, ts
}

// body is a Claude Code-like request: the billing header block first.
func body(t *testing.T, stream bool, subagent bool, msgs ...Message) []byte {
	t.Helper()
	billing := "x-anthropic-billing-header: cc_version=2.1.197.abc; cc_entrypoint=sdk-cli;"
	if subagent {
		billing += " cc_is_subagent=true;"
	}
	b, err := json.Marshal(map[string]any{
		"model":      "claude-opus-4-8",
		"max_tokens": 64000,
		"stream":     stream,
		"system": []map[string]any{{"type": "text", "text": billing},
			{"type": "text", "text": "You are an interactive agent.", "cache_control": map[string]string{"type": "ephemeral", "ttl": "1h"}}},
		"tools":    []map[string]any{{"name": "Bash", "input_schema": map[string]any{"type": "object"}}},
		"messages": msgs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func user(text string) Message {
	b, _ := json.Marshal(text)
	return Message{Role: "user", Content: b}
}

func assistant(blocks ...map[string]any) Message {
	b, _ := json.Marshal(blocks)
	return Message{Role: "assistant", Content: b}
}

func toolResult(id, content string) Message {
	b, _ := json.Marshal([]map[string]any{{"type": "tool_result", "tool_use_id": id, "content": content}})
	return Message{Role: "user", Content: b}
}

func post(t *testing.T, url string, b []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/messages?beta=true", bytes.NewReader(b))
	req.Header.Set("content-type", "application/json")
	req.Header.Set("x-api-key", "secret-key")
	req.Header.Set("x-claude-code-session-id", "s1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// sseEvent is one decoded event.
type sseEvent struct {
	Name string
	Data map[string]json.RawMessage
}

// readStream decodes a streamed reply with the Anthropic Go SDK's SSE
// decoder and checks each event's name matches its data's type.
func readStream(t *testing.T, resp *http.Response) []sseEvent {
	t.Helper()
	if ct := resp.Header.Get("content-type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content-type %q, want text/event-stream", ct)
	}
	dec := ssestream.NewDecoder(resp)
	var events []sseEvent
	for dec.Next() {
		ev := dec.Event()
		var data map[string]json.RawMessage
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatalf("event %s: data %q: %v", ev.Type, ev.Data, err)
		}
		var typ string
		json.Unmarshal(data["type"], &typ)
		if typ != ev.Type {
			t.Errorf("event %q carries data of type %q", ev.Type, typ)
		}
		events = append(events, sseEvent{ev.Type, data})
	}
	if err := dec.Err(); err != nil {
		t.Fatal(err)
	}
	return events
}

// accumulated is a streamed message put back together.
type accumulated struct {
	ID, Model, StopReason string
	StopSequence          *string
	Content               []map[string]any
	StartUsage, EndUsage  map[string]any
}

func accumulate(t *testing.T, events []sseEvent) accumulated {
	t.Helper()
	var names []string
	for _, e := range events {
		names = append(names, e.Name)
	}
	// message_start, ping, (start, delta+, stop)*, message_delta, message_stop
	seq := strings.Join(names, " ")
	if !strings.HasPrefix(seq, "message_start ping ") || !strings.HasSuffix(seq, " message_delta message_stop") {
		t.Fatalf("event order: %s", seq)
	}
	var acc accumulated
	partial := map[int]*strings.Builder{}
	open := -1
	for _, e := range events {
		switch e.Name {
		case "message_start":
			var m struct {
				ID, Model  string
				Content    []any
				StopReason *string `json:"stop_reason"`
				Usage      map[string]any
			}
			json.Unmarshal(e.Data["message"], &m)
			if len(m.Content) != 0 || m.StopReason != nil {
				t.Errorf("message_start: content %v stop_reason %v, want empty and null", m.Content, m.StopReason)
			}
			acc.ID, acc.Model, acc.StartUsage = m.ID, m.Model, m.Usage
		case "content_block_start":
			var idx int
			json.Unmarshal(e.Data["index"], &idx)
			if idx != len(acc.Content) || open != -1 {
				t.Fatalf("content_block_start index %d with %d blocks, open %d", idx, len(acc.Content), open)
			}
			var b map[string]any
			json.Unmarshal(e.Data["content_block"], &b)
			acc.Content = append(acc.Content, b)
			partial[idx] = &strings.Builder{}
			open = idx
		case "content_block_delta":
			var idx int
			json.Unmarshal(e.Data["index"], &idx)
			if idx != open {
				t.Fatalf("delta for block %d while %d is open", idx, open)
			}
			var d map[string]string
			json.Unmarshal(e.Data["delta"], &d)
			b := acc.Content[idx]
			switch d["type"] {
			case "text_delta":
				b["text"] = b["text"].(string) + d["text"]
			case "thinking_delta":
				b["thinking"] = b["thinking"].(string) + d["thinking"]
			case "signature_delta":
				b["signature"] = d["signature"]
			case "input_json_delta":
				partial[idx].WriteString(d["partial_json"])
			default:
				t.Errorf("delta type %q", d["type"])
			}
		case "content_block_stop":
			var idx int
			json.Unmarshal(e.Data["index"], &idx)
			if idx != open {
				t.Fatalf("content_block_stop %d while %d is open", idx, open)
			}
			if b := acc.Content[idx]; b["type"] == "tool_use" {
				var in any
				if err := json.Unmarshal([]byte(partial[idx].String()), &in); err != nil {
					t.Fatalf("tool_use input %q: %v", partial[idx].String(), err)
				}
				b["input"] = in
			}
			open = -1
		case "message_delta":
			var d struct {
				Delta struct {
					StopReason   string  `json:"stop_reason"`
					StopSequence *string `json:"stop_sequence"`
				}
				Usage map[string]any
			}
			raw, _ := json.Marshal(e.Data)
			json.Unmarshal(raw, &d)
			acc.StopReason, acc.StopSequence, acc.EndUsage = d.Delta.StopReason, d.Delta.StopSequence, d.Usage
		}
	}
	return acc
}

const toolsScript = `{"main": [
  {"content": [
    {"type": "thinking", "thinking": "Let me check both files — in parallel, with a long enough thought to need several deltas."},
    {"type": "text", "text": "Checking both files at once: naïve ünïcode ✓ splits on rune boundaries."},
    {"type": "tool_use", "name": "Bash", "input": {"command": "cat out.txt", "description": "Show out.txt"}},
    {"type": "tool_use", "name": "Read", "input": {"file_path": "/tmp/wörk/notes.txt"}}
  ]},
  {"content": [{"type": "text", "text": "done"}]}
]}`

func TestStreamFraming(t *testing.T) {
	m, ts := startMock(t, toolsScript)
	resp := post(t, ts.URL, body(t, true, false, user("check the files")))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	acc := accumulate(t, readStream(t, resp))
	if !strings.HasPrefix(acc.ID, "msg_01") || acc.Model != "claude-opus-4-8" {
		t.Errorf("id %q model %q, want msg_01… and the request's model", acc.ID, acc.Model)
	}
	if acc.StopReason != "tool_use" || acc.StopSequence != nil {
		t.Errorf("stop_reason %q stop_sequence %v, want tool_use and null", acc.StopReason, acc.StopSequence)
	}
	if resp.Header.Get("request-id") == "" {
		t.Error("no request-id header")
	}
	// The stream carries exactly what the log says was sent, which is the
	// script with ids and a signature filled in.
	sent := m.Entries()[0].Reply
	want := make([]map[string]any, len(sent.Content))
	for i, b := range sent.Content {
		json.Unmarshal(blockJSON(b, false), &want[i])
	}
	if !reflect.DeepEqual(acc.Content, want) {
		t.Errorf("accumulated content\n got %v\nwant %v", acc.Content, want)
	}
	if len(want) != 4 || want[0]["signature"] == "" || !strings.HasPrefix(want[2]["id"].(string), "toolu_01") ||
		want[2]["id"] == want[3]["id"] {
		t.Errorf("sent blocks %v: want a signed thinking block and two tool_use blocks with distinct toolu_01 ids", want)
	}
	if got := want[3]["input"].(map[string]any)["file_path"]; got != "/tmp/wörk/notes.txt" {
		t.Errorf("tool input file_path %q", got)
	}
	if acc.StartUsage["output_tokens"].(float64) != 1 || acc.EndUsage["output_tokens"].(float64) != float64(sent.Usage.OutputTokens) {
		t.Errorf("usage start %v end %v, want output_tokens 1 then %d", acc.StartUsage, acc.EndUsage, sent.Usage.OutputTokens)
	}
	for _, k := range []string{"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation", "service_tier"} {
		if _, ok := acc.StartUsage[k]; !ok {
			t.Errorf("message_start usage lacks %s: %v", k, acc.StartUsage)
		}
	}
}

func TestNonStreaming(t *testing.T) {
	_, ts := startMock(t, toolsScript)
	resp := post(t, ts.URL, body(t, false, false, user("check the files")))
	if ct := resp.Header.Get("content-type"); ct != "application/json" {
		t.Errorf("content-type %q", ct)
	}
	var msg struct {
		ID, Type, Role, Model string
		Content               []map[string]any
		StopReason            string  `json:"stop_reason"`
		StopSequence          *string `json:"stop_sequence"`
		Usage                 apiUsage
	}
	if err := json.NewDecoder(resp.Body).Decode(&msg); err != nil {
		t.Fatal(err)
	}
	if msg.Type != "message" || msg.Role != "assistant" || len(msg.Content) != 4 || msg.StopReason != "tool_use" {
		t.Errorf("got %+v", msg)
	}
	if msg.Content[2]["type"] != "tool_use" || msg.Content[2]["input"].(map[string]any)["command"] != "cat out.txt" {
		t.Errorf("tool_use block %v", msg.Content[2])
	}
	u := msg.Usage
	if u.CacheCreation.Ephemeral1hInputTokens+u.CacheCreation.Ephemeral5mInputTokens != u.CacheCreationInputTokens || u.ServiceTier != "standard" {
		t.Errorf("usage %+v: the cache-write split must add up", u)
	}
}

func TestChunksKeepRunes(t *testing.T) {
	for _, s := range []string{"", "a", "ünïcode ✓ 🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉🎉", strings.Repeat("x", 100)} {
		got := chunks(s, 5)
		if strings.Join(got, "") != s {
			t.Errorf("chunks(%q) = %q: lost text", s, got)
		}
		for _, c := range got {
			if !utf8.ValidString(c) {
				t.Errorf("chunks(%q): piece %q is not whole runes", s, c)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, step       string
		status           int
		typ, msg, retry  string
		retryAfterHeader string
	}{
		{"prompt too long", `{"status": 400, "message": "` + PromptTooLong + `"}`, 400, "invalid_request_error", PromptTooLong, "false", ""},
		{"rate limited", `{"status": 429, "retry_after": 2}`, 429, "rate_limit_error", "mock: scripted rate_limit_error", "true", "2"},
		{"internal", `{"status": 500, "message": "boom"}`, 500, "api_error", "boom", "true", ""},
		{"overloaded", `{"status": 529}`, 529, "overloaded_error", "mock: scripted overloaded_error", "true", ""},
		{"overloaded, no retry", `{"status": 529, "should_retry": false}`, 529, "overloaded_error", "mock: scripted overloaded_error", "false", ""},
		{"typed", `{"status": 403, "type": "permission_error", "message": "no"}`, 403, "permission_error", "no", "false", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, ts := startMock(t, `{"main": [{"error": `+tc.step+`}]}`)
			resp := post(t, ts.URL, body(t, true, false, user("hi")))
			var env struct {
				Type  string
				Error struct{ Type, Message string }
				ReqID string `json:"request_id"`
			}
			json.NewDecoder(resp.Body).Decode(&env)
			if resp.StatusCode != tc.status || env.Type != "error" || env.Error.Type != tc.typ || env.Error.Message != tc.msg {
				t.Errorf("got %d %+v, want %d error %s %q", resp.StatusCode, env, tc.status, tc.typ, tc.msg)
			}
			if env.ReqID == "" || env.ReqID != resp.Header.Get("request-id") {
				t.Errorf("request_id %q, header %q: want the same", env.ReqID, resp.Header.Get("request-id"))
			}
			if got := resp.Header.Get("x-should-retry"); got != tc.retry {
				t.Errorf("x-should-retry %q, want %q", got, tc.retry)
			}
			if got := resp.Header.Get("retry-after"); got != tc.retryAfterHeader {
				t.Errorf("retry-after %q, want %q", got, tc.retryAfterHeader)
			}
			if err := m.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSideRequests(t *testing.T) {
	script := `{"main": [{"content": [{"type": "text", "text": "main answer"}]}],
	  "compact_summary": "<summary>scripted summary</summary>", "classifier_reason": "[Test] scripted", "title": "A scripted title"}`
	m, ts := startMock(t, script)
	text := func(resp *http.Response) (string, string, string) {
		t.Helper()
		var msg struct {
			Content      []struct{ Text string }
			StopReason   string `json:"stop_reason"`
			StopSequence string `json:"stop_sequence"`
		}
		if resp.Header.Get("content-type") == "application/json" {
			json.NewDecoder(resp.Body).Decode(&msg)
		} else {
			acc := accumulate(t, readStream(t, resp))
			msg.StopReason = acc.StopReason
			for _, b := range acc.Content {
				msg.Content = append(msg.Content, struct{ Text string }{b["text"].(string)})
			}
		}
		if len(msg.Content) != 1 {
			t.Fatalf("content %+v", msg.Content)
		}
		return msg.Content[0].Text, msg.StopReason, msg.StopSequence
	}
	// Compaction: the main request with a last text asking for a summary.
	compact := body(t, true, false, user("hi"), assistant(map[string]any{"type": "text", "text": "earlier"}),
		user("CRITICAL: Respond with TEXT ONLY. Do NOT call any tools.\n\nYour task is to create a detailed summary of the conversation so far"))
	if got, _, _ := text(post(t, ts.URL, compact)); got != "<summary>scripted summary</summary>" {
		t.Errorf("compaction got %q", got)
	}
	classifier := func(stage1 bool) []byte {
		req := map[string]any{"model": "claude-opus-4-8", "max_tokens": 8192,
			"system":   []map[string]string{{"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.197.1;"}, {"type": "text", "text": "You are a security monitor for autonomous AI coding agents.\n\n## Context"}},
			"messages": []Message{user("<transcript>\nBash curl …\n</transcript>")}}
		if stage1 {
			req["max_tokens"], req["stop_sequences"] = 64, []string{"</block>"}
		}
		b, _ := json.Marshal(req)
		return b
	}
	if got, stop, seq := text(post(t, ts.URL, classifier(true))); got != "<block>yes" || stop != "stop_sequence" || seq != "</block>" {
		t.Errorf("classifier stage 1: %q %q %q, want <block>yes stopped at </block>", got, stop, seq)
	}
	if got, _, _ := text(post(t, ts.URL, classifier(false))); got != "<block>yes</block><reason>[Test] scripted</reason>" {
		t.Errorf("classifier stage 2: %q", got)
	}
	title, _ := json.Marshal(map[string]any{"model": "claude-opus-4-8", "max_tokens": 64000, "stream": true,
		"system":        []map[string]string{{"type": "text", "text": "You are Claude Code."}, {"type": "text", "text": "Generate a concise, sentence-case title (3-7 words)"}},
		"messages":      []Message{user("<session>\nPlease create a file\n</session>")},
		"output_config": map[string]any{"format": map[string]any{"type": "json_schema", "schema": map[string]any{"type": "object", "properties": map[string]any{"title": map[string]string{"type": "string"}}}}}})
	if got, _, _ := text(post(t, ts.URL, title)); got != `{"title":"A scripted title"}` {
		t.Errorf("title: %q", got)
	}
	// None of them consumed the main track.
	if got, _, _ := text(post(t, ts.URL, body(t, false, false, user("hi")))); got != "main answer" {
		t.Errorf("main after side requests: %q", got)
	}
	kinds := []Kind{}
	for _, e := range m.Entries() {
		kinds = append(kinds, e.Kind)
	}
	if want := []Kind{KindCompaction, KindClassifier, KindClassifier, KindTitle, KindMain}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	if err := m.Check(); err != nil {
		t.Error(err)
	}
}

func TestClassifierAllow(t *testing.T) {
	_, ts := startMock(t, `{"classifier": "allow"}`)
	b, _ := json.Marshal(map[string]any{"model": "m", "max_tokens": 64, "stop_sequences": []string{"</block>"},
		"system": "You are a security monitor for autonomous AI coding agents.", "messages": []Message{user("x")}})
	var msg struct{ Content []struct{ Text string } }
	json.NewDecoder(post(t, ts.URL, b).Body).Decode(&msg)
	if len(msg.Content) != 1 || msg.Content[0].Text != "<block>no" {
		t.Errorf("got %+v, want <block>no", msg)
	}
}

// Two subagents with the same prompt run in parallel; whatever order
// their requests arrive in, each follows its own steps.
func TestSubagentConversations(t *testing.T) {
	step := func(tool string) string {
		return `{"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "` + tool + `"}}]}`
	}
	script := `{"subagents": [
	  {"prompt_contains": "Count the lines", "steps": [` + step("wc -l a") + `, {"content": [{"type": "text", "text": "2 lines"}]}]},
	  {"prompt_contains": "Count the lines", "steps": [` + step("wc -l b") + `, {"content": [{"type": "text", "text": "3 lines"}]}]},
	  {"prompt_contains": "Other", "steps": [{"content": [{"type": "text", "text": "other"}]}]}
	]}`
	m, ts := startMock(t, script)
	first := func() map[string]any {
		resp := post(t, ts.URL, body(t, false, true, user("listing…\nCount the lines of notes.txt")))
		var msg struct{ Content []map[string]any }
		json.NewDecoder(resp.Body).Decode(&msg)
		return msg.Content[0]
	}
	a, b := first(), first()
	if a["input"].(map[string]any)["command"] != "wc -l a" || b["input"].(map[string]any)["command"] != "wc -l b" {
		t.Fatalf("first steps %v %v", a, b)
	}
	next := func(tu map[string]any) string {
		resp := post(t, ts.URL, body(t, false, true, user("listing…\nCount the lines of notes.txt"),
			assistant(map[string]any{"type": "tool_use", "id": tu["id"], "name": "Bash", "input": tu["input"]}),
			toolResult(tu["id"].(string), "2 notes.txt")))
		var msg struct{ Content []struct{ Text string } }
		json.NewDecoder(resp.Body).Decode(&msg)
		return msg.Content[0].Text
	}
	// b continues first.
	if got := next(b); got != "3 lines" {
		t.Errorf("b's second step: %q, want 3 lines", got)
	}
	if got := next(a); got != "2 lines" {
		t.Errorf("a's second step: %q, want 2 lines", got)
	}
	err := m.Check()
	if err == nil || !strings.Contains(err.Error(), `subagents[2] ("Other"): 1 required step(s) not used`) {
		t.Errorf("Check: %v, want the unused Other agent reported", err)
	}
	// A conversation the mock never answered is reported, not guessed.
	post(t, ts.URL, body(t, false, true, user("x"), assistant(map[string]any{"type": "tool_use", "id": "toolu_01unknown", "name": "Bash", "input": map[string]any{}})))
	if err := m.Check(); err == nil || !strings.Contains(err.Error(), "continues a conversation the mock did not answer") {
		t.Errorf("Check: %v", err)
	}
}

func TestCheck(t *testing.T) {
	script := `{"main": [
	  {"expect": {"last_user_contains": "hello"}, "content": [{"type": "text", "text": "one"}]},
	  {"content": [{"type": "text", "text": "two"}]},
	  {"optional": true, "error": {"status": 529}}
	]}`
	m, ts := startMock(t, script)
	post(t, ts.URL, body(t, false, false, user("goodbye")))
	err := m.Check()
	for _, want := range []string{`main step 0 (request 1): last user message lacks "hello"`, "main: 1 required step(s) not used (1 of 3 used)"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: %v, want it to say %q", err, want)
		}
	}
	post(t, ts.URL, body(t, false, false, user("hello")))
	post(t, ts.URL, body(t, false, false, user("hello")))
	resp := post(t, ts.URL, body(t, false, false, user("hello")))
	var msg struct{ Content []struct{ Text string } }
	json.NewDecoder(resp.Body).Decode(&msg)
	if len(msg.Content) != 1 || !strings.Contains(msg.Content[0].Text, "script exhausted") {
		t.Errorf("after the script: %+v", msg)
	}
	if err := m.Check(); err == nil || !strings.Contains(err.Error(), "request 4: main: script exhausted") {
		t.Errorf("Check: %v, want the exhausted request", err)
	}
}

func TestUsage(t *testing.T) {
	m, ts := startMock(t, `{"main": [
	  {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "echo hi"}}]},
	  {"content": [{"type": "text", "text": "done"}]},
	  {"usage": {"input_tokens": 6, "cache_read_input_tokens": 185000, "cache_creation_input_tokens": 2000}, "content": [{"type": "text", "text": "big"}]},
	  {"usage": {"cache_creation": {"ephemeral_5m_input_tokens": 10, "ephemeral_1h_input_tokens": 20}}, "content": [{"type": "text", "text": "split"}]}
	]}`)
	first := body(t, false, false, user("hi"))
	post(t, ts.URL, first)
	tu := m.Entries()[0].Reply.Content[0]
	second := body(t, false, false, user("hi"), assistant(map[string]any{"type": "tool_use", "id": tu.ID, "name": "Bash", "input": tu.Input}), toolResult(tu.ID, "hi"))
	post(t, ts.URL, second)
	post(t, ts.URL, second)
	post(t, ts.URL, second)
	e := m.Entries()
	u0, u1, u2, u3 := e[0].Reply.Usage, e[1].Reply.Usage, e[2].Reply.Usage, e[3].Reply.Usage
	if u0.CacheReadInputTokens != 0 || u0.InputTokens != uncachedTail || u0.CacheCreationInputTokens == 0 || u0.CacheCreation.Ephemeral1hInputTokens != u0.CacheCreationInputTokens {
		t.Errorf("first request usage %+v: want all but %d tokens written to the 1h cache", u0, uncachedTail)
	}
	total0 := u0.InputTokens + u0.CacheCreationInputTokens
	if u1.CacheReadInputTokens != total0 || u1.InputTokens+u1.CacheReadInputTokens+u1.CacheCreationInputTokens <= total0 {
		t.Errorf("second request usage %+v: want the first's %d tokens read from the cache and the growth written", u1, total0)
	}
	if u2.InputTokens != 6 || u2.CacheReadInputTokens != 185000 || u2.CacheCreationInputTokens != 2000 || u2.CacheCreation.Ephemeral1hInputTokens != 2000 {
		t.Errorf("overridden usage %+v", u2)
	}
	if u3.CacheCreationInputTokens != 30 || u3.CacheCreation.Ephemeral5mInputTokens != 10 {
		t.Errorf("split override %+v: want the total to be the split's sum", u3)
	}
	if u0.OutputTokens < toolUseTokens {
		t.Errorf("tool_use output tokens %d", u0.OutputTokens)
	}
	// Without a 1h breakpoint the writes go to the 5-minute cache.
	u, _ := estimateUsage(1000, 0, true, false, 1)
	if u.CacheCreation.Ephemeral5mInputTokens != 997 || u.CacheCreation.Ephemeral1hInputTokens != 0 {
		t.Errorf("5m usage %+v", u)
	}
}

func TestOtherEndpoints(t *testing.T) {
	_, ts := startMock(t, `{}`)
	resp, err := http.Head(ts.URL + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("HEAD /: %v %v", resp, err)
	}
	resp, _ = http.Post(ts.URL+"/v1/messages/count_tokens", "application/json", bytes.NewReader(body(t, false, false, user("hi"))))
	var ct struct {
		InputTokens int64 `json:"input_tokens"`
	}
	json.NewDecoder(resp.Body).Decode(&ct)
	if ct.InputTokens <= 0 {
		t.Errorf("count_tokens: %+v", ct)
	}
	resp, _ = http.Get(ts.URL + "/v1/models")
	var list struct {
		Data    []struct{ ID, Type string }
		HasMore bool `json:"has_more"`
	}
	json.NewDecoder(resp.Body).Decode(&list)
	if len(list.Data) == 0 || list.Data[0].Type != "model" {
		t.Errorf("models: %+v", list)
	}
	resp, _ = http.Get(ts.URL + "/v1/nothing")
	var env struct{ Error struct{ Type string } }
	json.NewDecoder(resp.Body).Decode(&env)
	if resp.StatusCode != 404 || env.Error.Type != "not_found_error" {
		t.Errorf("unknown path: %d %+v", resp.StatusCode, env)
	}
	resp, _ = http.Post(ts.URL+"/v1/messages", "application/json", strings.NewReader("{not json"))
	if resp.StatusCode != 400 {
		t.Errorf("bad body: %d, want 400", resp.StatusCode)
	}
}

func TestRequestLog(t *testing.T) {
	sc, _ := ParseScript([]byte(toolsScript), nil)
	path := filepath.Join(t.TempDir(), "requests.jsonl")
	m, err := New(sc, path)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(m)
	post(t, ts.URL, body(t, true, false, user("first")))
	http.Head(ts.URL + "/")
	ts.Close()
	m.Close()
	f, _ := os.Open(path)
	defer f.Close()
	var entries []Entry
	sc2 := bufio.NewScanner(f)
	sc2.Buffer(nil, 1<<20)
	for sc2.Scan() {
		var e Entry
		if err := json.Unmarshal(sc2.Bytes(), &e); err != nil {
			t.Fatalf("log line %q: %v", sc2.Text(), err)
		}
		entries = append(entries, e)
	}
	if len(entries) != 2 {
		t.Fatalf("%d log lines, want 2", len(entries))
	}
	e := entries[0]
	if e.Seq != 1 || e.Kind != KindMain || e.Track != "main" || e.Step != 0 || !e.Reply.Stream || e.Reply.Usage == nil || len(e.Reply.Content) != 4 {
		t.Errorf("entry %+v", e)
	}
	if _, ok := e.Headers["x-api-key"]; ok || e.Headers["x-claude-code-session-id"] != "s1" {
		t.Errorf("headers %v: want the session id kept and the key dropped", e.Headers)
	}
	if !bytes.Contains(e.Body, []byte(`"first"`)) {
		t.Errorf("body not logged: %s", e.Body)
	}
	if entries[1].Method != "HEAD" || entries[1].Reply.Status != 200 {
		t.Errorf("HEAD entry %+v", entries[1])
	}
}

func TestConditionalSteps(t *testing.T) {
	script := `{"main": [
	  {"content": [{"type": "tool_use", "name": "Agent", "input": {"prompt": "look"}}]},
	  {"when": {"last_user_contains": "Async agent launched"}, "content": [{"type": "text", "text": "waiting for it"}]},
	  {"expect": {"last_user_contains": "found it"}, "content": [{"type": "text", "text": "final"}]},
	  {"when": {"last_user_contains": "task-notification"}, "content": [{"type": "text", "text": "second notification"}]}
	]}`
	answer := func(t *testing.T, ts *httptest.Server, last string) string {
		t.Helper()
		var msg struct{ Content []struct{ Text string } }
		json.NewDecoder(post(t, ts.URL, body(t, false, false, user(last))).Body).Decode(&msg)
		return msg.Content[0].Text
	}
	t.Run("the agent waited for", func(t *testing.T) {
		m, ts := startMock(t, script)
		answer(t, ts, "go")
		if got := answer(t, ts, "the agent found it"); got != "final" {
			t.Errorf("got %q, want the conditional step skipped", got)
		}
		if err := m.Check(); err != nil {
			t.Errorf("Check: %v (conditional steps are not required)", err)
		}
	})
	t.Run("the agent in the background", func(t *testing.T) {
		m, ts := startMock(t, script)
		answer(t, ts, "go")
		for _, tc := range []struct{ last, want string }{
			{"Async agent launched successfully", "waiting for it"},
			{"<task-notification> found it", "final"},
			{"<task-notification> the other one", "second notification"},
		} {
			if got := answer(t, ts, tc.last); got != tc.want {
				t.Errorf("after %q: got %q, want %q", tc.last, got, tc.want)
			}
		}
		if err := m.Check(); err != nil {
			t.Error(err)
		}
	})
}

func TestRepeatedStep(t *testing.T) {
	m, ts := startMock(t, `{"main": [
	  {"repeat": 3, "error": {"status": 400, "message": "refused"}},
	  {"content": [{"type": "text", "text": "after"}]}
	]}`)
	status := func() int { return post(t, ts.URL, body(t, false, false, user("x"))).StatusCode }
	if got := status(); got != 400 {
		t.Fatalf("first: %d", got)
	}
	if err := m.Check(); err == nil || !strings.Contains(err.Error(), "main: 1 required step(s) not used") {
		t.Errorf("Check after one use: %v, want only the step after the repeated one missing", err)
	}
	if a, b, c := status(), status(), status(); a != 400 || b != 400 || c != 200 {
		t.Errorf("got %d %d %d, want the error twice more, then the next step", a, b, c)
	}
	if err := m.Check(); err != nil {
		t.Error(err)
	}
}
