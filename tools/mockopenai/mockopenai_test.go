package mockopenai

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// post sends a Responses request whose last input item is last and returns
// the SSE events' data objects.
func post(t *testing.T, h http.Handler, last string) []map[string]any {
	t.Helper()
	body := `{"model":"gpt-5.1-codex","stream":true,"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]},` + last + `]}`
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/responses", strings.NewReader(body)))
	var out []map[string]any
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var m map[string]any
			if err := json.Unmarshal([]byte(d), &m); err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
	}
	return out
}

// Steps with a Match answer the request whose newest item holds it, before
// any step without one; a call's "$OUTPUT.agent_id" takes the value from
// the newest function_call_output; usage says cached tokens; every request
// is logged; unused steps are reported.
func TestScript(t *testing.T) {
	var log bytes.Buffer
	s := New([]Step{
		{Text: "first"},
		{Match: "agent_id", Calls: []Call{{Namespace: "multi_agent_v1", Name: "wait_agent", Args: json.RawMessage(`{"targets":["$OUTPUT.agent_id"]}`)}}},
		{Match: "never", Text: "unused"},
	}, &log)
	evs := post(t, s, `{"type":"function_call_output","call_id":"c1","output":"{\"agent_id\":\"thread-7\"}"}`)
	var call map[string]any
	for _, e := range evs {
		if e["type"] == "response.output_item.done" {
			call = e["item"].(map[string]any)
		}
	}
	if call == nil || call["arguments"] != `{"targets":["thread-7"]}` || call["namespace"] != "multi_agent_v1" {
		t.Errorf("call %v", call)
	}
	evs = post(t, s, `{"type":"message","role":"user","content":[{"type":"input_text","text":"next"}]}`)
	last := evs[len(evs)-1]
	if last["type"] != "response.completed" {
		t.Fatalf("last event %v", last["type"])
	}
	u := last["response"].(map[string]any)["usage"].(map[string]any)
	if u["input_tokens_details"].(map[string]any)["cached_tokens"].(float64) <= 0 {
		t.Errorf("usage %v: no cached tokens on a conversation's second call", u)
	}
	if got := s.Unused(); len(got) != 1 || got[0] != 2 {
		t.Errorf("Unused = %v, want [2]", got)
	}
	if n := strings.Count(log.String(), "\n"); n != 2 {
		t.Errorf("%d request log lines, want 2", n)
	}
}

func TestErrorStatus(t *testing.T) {
	s := New([]Step{{Status: 500}}, nil)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/responses", strings.NewReader(`{"input":[]}`)))
	if rec.Code != 500 {
		t.Errorf("status %d, want 500", rec.Code)
	}
}
