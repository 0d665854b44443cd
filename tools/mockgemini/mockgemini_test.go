package mockgemini

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// post sends a generate request whose newest content is last and returns
// the SSE chunks (stream) or the one response.
func post(t *testing.T, s *Server, method, last string) []map[string]any {
	t.Helper()
	body := `{"contents":[{"role":"user","parts":[{"text":"hi"}]},` + last + `]}`
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "/v1beta/models/gemini-2.5-pro:"+method+"?alt=sse", strings.NewReader(body)))
	if rec.Code != 200 {
		return []map[string]any{{"status": float64(rec.Code), "body": rec.Body.String()}}
	}
	var out []map[string]any
	if method == "generateContent" {
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return append(out, m)
	}
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "data: "); ok {
			var m map[string]any
			if err := json.Unmarshal([]byte(d), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}

// Steps with a Match answer the request whose newest content holds it
// first; a stream ends with the finish reason and usage (cached tokens
// once there is history); function calls come as functionCall parts;
// generateContent merges the chunks; errors use the API's envelope; every
// request is logged; unused steps are reported.
func TestScript(t *testing.T) {
	var log bytes.Buffer
	s := New([]Step{
		{Thought: "thinking", Text: "Checking now.", Calls: []Call{{Name: "read_file", Args: json.RawMessage(`{"file_path":"a"}`)}}},
		{Match: "functionResponse", Text: "Done."},
		{Status: 400},
		{Text: "never"},
	}, &log)
	chunks := post(t, s, "streamGenerateContent", `{"role":"user","parts":[{"functionResponse":{"name":"read_file","response":{"output":"x"}}}]}`)
	last := chunks[len(chunks)-1]
	cand := last["candidates"].([]any)[0].(map[string]any)
	if cand["finishReason"] != "STOP" || cand["content"].(map[string]any)["parts"].([]any)[0].(map[string]any)["text"] != "Done." {
		t.Errorf("matched step: %v", last)
	}
	if u := last["usageMetadata"].(map[string]any); u["cachedContentTokenCount"] == nil || u["promptTokenCount"].(float64) <= u["cachedContentTokenCount"].(float64) {
		t.Errorf("usage %v", u)
	}
	chunks = post(t, s, "streamGenerateContent", `{"role":"user","parts":[{"text":"go"}]}`)
	var text string
	var call map[string]any
	thought := false
	for _, c := range chunks {
		for _, p := range c["candidates"].([]any)[0].(map[string]any)["content"].(map[string]any)["parts"].([]any) {
			p := p.(map[string]any)
			switch {
			case p["thought"] == true:
				thought = true
			case p["functionCall"] != nil:
				call = p["functionCall"].(map[string]any)
			default:
				text += p["text"].(string)
			}
		}
	}
	if !thought || text != "Checking now." || call["name"] != "read_file" {
		t.Errorf("thought %v, text %q, call %v", thought, text, call)
	}
	if u := chunks[len(chunks)-1]["usageMetadata"].(map[string]any); u["thoughtsTokenCount"] == nil {
		t.Errorf("no thoughtsTokenCount: %v", u)
	}
	if got := post(t, s, "generateContent", `{"role":"user","parts":[{"text":"x"}]}`); got[0]["status"] != float64(400) || !strings.Contains(got[0]["body"].(string), `"INVALID_ARGUMENT"`) {
		t.Errorf("error step: %v", got)
	}
	if got := post(t, s, "generateContent", `{"role":"user","parts":[{"text":"x"}]}`); got[0]["responseId"] == nil || got[0]["usageMetadata"] == nil {
		t.Errorf("generateContent: %v", got)
	}
	if u := s.Unused(); len(u) != 0 {
		t.Errorf("unused %v", u)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "/v1beta/models/m:countTokens", strings.NewReader(`{"contents":[]}`)))
	if !strings.Contains(rec.Body.String(), "totalTokens") {
		t.Errorf("countTokens: %s", rec.Body)
	}
	if n := strings.Count(log.String(), "\n"); n != 5 {
		t.Errorf("%d log lines, want 5", n)
	}
}
