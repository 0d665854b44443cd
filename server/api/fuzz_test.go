package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// FuzzAPIBodies sends arbitrary bodies to every POST endpoint. Whatever the
// body, the answer is 200 with a JSON object, or an error envelope whose
// status is the one the table gives its code, and never a 5xx.
func FuzzAPIBodies(f *testing.F) {
	h := New(Settings{Store: seededFake(), MaxBodyBytes: 64 << 10})
	paths := slices.Sorted(func(yield func(string) bool) {
		for p := range goodBodies {
			if !yield(p) {
				return
			}
		}
	})
	for i, p := range paths {
		f.Add(uint8(i), goodBodies[p])
	}
	for _, seed := range []string{
		`{"project_id":"p/x","filters":[{"field":"input_tokens","op":"in","value":[1,"a",true]}],"sort":[{"field":"started_at","direction":"asc"}],"limit":5}`,
		`{"project_id":"p/x","from":"2026-05-01T00:00:00Z","to":"2026-05-01T00:00:00.000000001Z"}`,
		`{"project_id":"p/x","ref":"agent_conversation/%E2%82%AC","kind":"label","value":"x"}`,
		`{"project_id":"p/x","ref":"agent_span/0123456789abcdef","trace_id":"0123456789abcdef0123456789abcdef","kind":"score","name":"n","data_type":"numeric","value":1e308,"min":-1e308,"max":1e308}`,
		`{"project_id":"p/x","filters":[{"field":"score.helpfulness","op":"gte","value":4},{"field":"score.tone","op":"eq","value":"x"}]}`,
		`{"project_id":"p/x","query":"\"quoted phrase\" word","roles":["tool_call"]}`,
		`{"project_id":"p/x","bucket_seconds":9223372036854775807}`,
		`{"project_id":"p/x","limit":1e400}`,
		`{"project_id":"\ud800"}`,
		`null`, `""`, `{"project_id":null}`, "{\"project_id\":\"p/x\"}\x00",
	} {
		for i := range paths {
			f.Add(uint8(i), seed)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body string) {
		path := paths[int(which)%len(paths)]
		r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if path == "/genai/export" && w.Code == http.StatusOK {
			// JSON lines, none for an empty selection.
			for line := range strings.Lines(w.Body.String()) {
				if !json.Valid([]byte(line)) || !strings.HasPrefix(line, "{") {
					t.Fatalf("%s %q: line %q is not a JSON object", path, body, line)
				}
			}
			return
		}
		var out map[string]json.RawMessage
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %q: answer is not a JSON object: %v", path, body, err)
		}
		if w.Code >= 500 {
			t.Fatalf("%s %q: got %d %s, want no server error", path, body, w.Code, w.Body)
		}
		if w.Code == http.StatusOK {
			return
		}
		var env struct {
			Error *Error `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || env.Error == nil || env.Error.Message == "" {
			t.Fatalf("%s %q: status %d with a body that is not an error envelope: %s", path, body, w.Code, w.Body)
		}
		if StatusOf(env.Error.Code) != w.Code {
			t.Fatalf("%s %q: status %d, but code %s maps to %d", path, body, w.Code, env.Error.Code, StatusOf(env.Error.Code))
		}
	})
}

// FuzzCanonicalRef parses arbitrary refs in any of the three forms: a
// ref it accepts has a canonical form that is its own canonical form, and
// both URI forms of it come back to it.
func FuzzCanonicalRef(f *testing.F) {
	for _, seed := range []string{
		"agent_span/ABCDEF0123456789", "agent_turn/" + traceHex, "agent_conversation/trace:abc", "agent_conversation/a%2Fb%20c",
		"agent/claude-code", "agent/my%20agent", "weave:///p/x/agent_turn/" + traceHex, "weave:///p/x/agent/x",
		"weave-trace-internal:///cC94/agent_conversation/%E2%82%AC", "weave-trace-internal:///cC94/", "weave:///p/x", "agent/%", "",
	} {
		f.Add("p/x", seed)
	}
	f.Fuzz(func(t *testing.T, project, ref string) {
		if validProjectID(project) != nil {
			return
		}
		c, err := CanonicalRef("ref", project, ref)
		if err != nil {
			return
		}
		for _, form := range []string{c, RefURI(project, c), InternalRefURI(project, c)} {
			again, err := CanonicalRef("ref", project, form)
			if err != nil || again != c {
				t.Fatalf("CanonicalRef(%q) = %q, but %q gives %q, %v", ref, c, form, again, err)
			}
		}
	})
}
