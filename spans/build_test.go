package spans_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

var contentKeys = []string{semconv.KeyInputMessages, semconv.KeyOutputMessages, semconv.KeySystemInstructions,
	semconv.KeyToolCallArguments, semconv.KeyToolCallResult, semconv.KeyCompactionSummary, semconv.KeyAgentDescription}

func TestOmitContent(t *testing.T) {
	for _, c := range captures(t) {
		s := load(t, c.path)
		for _, sp := range spans.Build(s, spans.Options{Privacy: spans.Privacy{OmitContent: true}}) {
			for _, k := range contentKeys {
				if _, ok := sp.Attributes[k]; ok {
					t.Errorf("%s: span %q carries %s with content omitted", c.path, sp.Name, k)
				}
			}
			if dn := sp.StringAttr(semconv.KeyDisplayName); strings.Contains(dn, ":") {
				t.Errorf("%s: display name %q leaks content", c.path, dn)
			}
			for _, e := range sp.Events {
				if _, ok := e.Attributes[semconv.KeyCompactionSummary]; ok {
					t.Errorf("%s: event %s carries the summary", c.path, e.Name)
				}
			}
			if sp.ParentSpanID.IsZero() && sp.Attributes[semconv.KeyContentOmitted] != true {
				t.Errorf("%s: root lacks %s", c.path, semconv.KeyContentOmitted)
			}
		}
	}
}

func TestRedactionInSpans(t *testing.T) {
	dir := t.TempDir()
	secret := "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7Zx6Yw5Vu4Ts3Rq2Po1Nm0Lk9Ji8-AbCdEfAA"
	lines := []string{
		`{"type":"user","uuid":"u1","sessionId":"s","promptId":"p","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"use key ` + secret + `"}}`,
		`{"type":"assistant","uuid":"a1","sessionId":"s","timestamp":"2026-01-01T00:00:01Z","message":{"id":"m1","role":"assistant","model":"claude-x","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"curl -H 'x-api-key: ` + secret + `' api"}}],"stop_reason":"tool_use"}}`,
		`{"type":"user","uuid":"u2","sessionId":"s","promptId":"p","timestamp":"2026-01-01T00:00:02Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"echoed ` + secret + `"}]}}`,
	}
	path := filepath.Join(dir, "s.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := load(t, path)
	out := spans.Build(s, spans.Options{})
	all, _ := json.Marshal(out)
	if strings.Contains(string(all), "Zx9Yw8Vu7") {
		t.Fatalf("secret exported: %s", all)
	}
	if got := out[0].IntAttr(semconv.KeyRedactions); got != 7 {
		t.Errorf("root %s = %d, want 7 (root prompt and display name, chat input and tool_call, tool arguments, display name and result)", semconv.KeyRedactions, got)
	}
	open := spans.Build(s, spans.Options{Privacy: spans.Privacy{NoRedact: true}})
	all, _ = json.Marshal(open)
	if !strings.Contains(string(all), "Zx9Yw8Vu7") {
		t.Errorf("NoRedact: secret missing from output")
	}
}

func TestProviderFromModel(t *testing.T) {
	tests := []struct{ model, want string }{
		{"claude-opus-4-8", "anthropic"},
		{"claude-3-5-sonnet-v2@20241022", "gcp.vertex_ai"},
		{"anthropic.claude-3-5-sonnet-20241022-v2:0", "aws.bedrock"},
		{"us.anthropic.claude-sonnet-4-20250514-v1:0", "aws.bedrock"},
		{"gpt-4o", "openai"},
		{"<synthetic>", ""},
		{"", ""},
		{"my-local-model", ""},
	}
	for _, tc := range tests {
		if got := spans.ProviderFromModel(tc.model); got != tc.want {
			t.Errorf("ProviderFromModel(%q) = %q, want %q", tc.model, got, tc.want)
		}
	}
}

func TestSpanJSONRoundTrip(t *testing.T) {
	for _, c := range captures(t)[:3] {
		for _, sp := range spans.Build(load(t, c.path), spans.Options{}) {
			b, err := json.Marshal(sp)
			if err != nil {
				t.Fatal(err)
			}
			var back spans.Span
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("unmarshal %s: %v", b, err)
			}
			b2, _ := json.Marshal(back)
			if string(b) != string(b2) {
				t.Errorf("round trip changed the span:\n%s\n%s", b, b2)
			}
		}
	}
	_ = transcript.ForkCLI
}

// TestRedactionEverywhere: every text of a span that can carry a secret is
// redacted, not only the message and tool content: error messages (an API
// error in the transcript, a StopFailure from the hooks), hook events
// (permission reasons, notifications), the working directory.
func TestRedactionEverywhere(t *testing.T) {
	dir := t.TempDir()
	key := "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7Zx6Yw5Vu4Ts3Rq2Po1Nm0Lk9Ji8-AbCdEfAA"
	gh := "ghp_ErQHQwjyaxErPZDS3MoJaQNjCxkv5ndK0meG"
	lines := []string{
		`{"type":"user","uuid":"u1","sessionId":"s","promptId":"p","cwd":"/work/clone-` + gh + `","timestamp":"2026-01-01T00:00:00Z","message":{"role":"user","content":"deploy"}}`,
		`{"type":"assistant","uuid":"a1","sessionId":"s","timestamp":"2026-01-01T00:00:01Z","message":{"id":"m1","role":"assistant","model":"claude-x","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}}],"stop_reason":"tool_use"}}`,
		`{"type":"user","uuid":"u2","sessionId":"s","promptId":"p","timestamp":"2026-01-01T00:00:02Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}}`,
		`{"type":"assistant","uuid":"a2","sessionId":"s","timestamp":"2026-01-01T00:00:03Z","isApiErrorMessage":true,"apiErrorStatus":401,"error":"authentication_failed","message":{"id":"m2","role":"assistant","model":"<synthetic>","content":[{"type":"text","text":"API Error: 401 invalid x-api-key ` + key + `"}],"stop_reason":"stop_sequence"}}`,
	}
	path := filepath.Join(dir, "s.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := load(t, path)
	live := &spans.Live{
		Turns: map[string]*spans.LiveTurn{"p": {
			Failure: &transcript.APIError{Type: "authentication_failed", Message: "API Error: 401 key " + key},
			Events: []spans.Event{{Name: semconv.EventNotification, Attributes: map[string]any{
				semconv.KeyNotificationType: "permission_prompt", semconv.KeyNotificationMessage: "Claude wants to run GH_TOKEN=" + gh + " gh pr list"}}},
		}},
		Tools: map[string]*spans.LiveTool{"t1": {Name: "Bash", Events: []spans.Event{{Name: semconv.EventPermissionDenied, Attributes: map[string]any{
			semconv.KeyPermissionApproved: false, semconv.KeyPermissionReason: "denied: it would print DB_PASSWORD=hunter2horse"}}}}},
	}
	out := spans.Build(s, spans.Options{Live: live})
	all, _ := json.Marshal(out)
	for _, secret := range []string{"Zx9Yw8Vu7", "ErQHQwjyax", "hunter2horse"} {
		if strings.Contains(string(all), secret) {
			t.Errorf("%s exported: %s", secret, all)
		}
	}
	var failed int
	for _, sp := range out {
		if sp.StatusMessage != "" {
			failed++
			if !strings.Contains(sp.StatusMessage, "[REDACTED:anthropic_key]") {
				t.Errorf("span %q: status message %q, want the key masked", sp.Name, sp.StatusMessage)
			}
		}
	}
	if failed < 2 {
		t.Errorf("%d spans with a status message, want the root and the failed chat", failed)
	}
	if cwd := out[0].StringAttr(semconv.KeyCwd); cwd != "/work/clone-[REDACTED:github_token]" {
		t.Errorf("cwd = %q, want the token masked", cwd)
	}
	// The hook's events are redacted in the spans, not in the Live state
	// (which the next rebuild reads again).
	if msg := live.Turns["p"].Events[0].Attributes[semconv.KeyNotificationMessage]; !strings.Contains(msg.(string), gh) {
		t.Errorf("Build changed the Live state: %q", msg)
	}
	open := spans.Build(s, spans.Options{Live: live, Privacy: spans.Privacy{NoRedact: true}})
	if all, _ := json.Marshal(open); !strings.Contains(string(all), "hunter2horse") || !strings.Contains(string(all), "Zx9Yw8Vu7") {
		t.Errorf("NoRedact: the hook texts were still redacted")
	}
}

// TestLiveRootTimesFollowTheTranscript: once the transcript shows a turn,
// its lines decide when the root starts and ends, whatever the hooks'
// receipt times (UserPromptSubmit before the prompt line, Stop after the
// answer), so the live daemon and an import build the same root. A turn
// the transcript does not show yet starts and ends with its hooks.
func TestLiveRootTimesFollowTheTranscript(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.jsonl")
	lines := []string{
		`{"type":"user","uuid":"u1","sessionId":"s","promptId":"p","timestamp":"2026-01-01T00:00:01Z","message":{"role":"user","content":"hi"}}`,
		`{"type":"assistant","uuid":"u2","sessionId":"s","timestamp":"2026-01-01T00:00:02Z","message":{"id":"m","role":"assistant","model":"claude-test","content":[{"type":"text","text":"hello"}],"stop_reason":"end_turn"}}`,
		`{"type":"system","subtype":"stop_hook_summary","uuid":"u3","sessionId":"s","timestamp":"2026-01-01T00:00:03Z"}`,
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _, err := transcript.Load(path, transcript.NewResolver())
	if err != nil {
		t.Fatal(err)
	}
	at := func(sec int) time.Time { return time.Date(2026, 1, 1, 0, 0, sec, 0, time.UTC) }
	hookOnly := &transcript.Turn{Key: "q", PromptID: "q", Number: 2, Start: at(10), End: at(10)}
	live := &spans.Live{Turns: map[string]*spans.LiveTurn{
		"p": {Start: at(0), Stopped: at(5)},
		"q": {Start: at(10), Stopped: at(12)},
	}}
	for _, tc := range []struct {
		name       string
		turn       *transcript.Turn
		live       *spans.Live
		start, end time.Time
	}{
		{"import", s.Turns[0], nil, at(1), at(3)},
		{"live, in the transcript", s.Turns[0], live, at(1), at(3)},
		{"live, hooks only", hookOnly, live, at(10), at(12)},
	} {
		root := spans.BuildTurn(s, tc.turn, spans.Options{Live: tc.live})[0]
		if !root.Start.Equal(tc.start) || !root.End.Equal(tc.end) {
			t.Errorf("%s: root %v..%v, want %v..%v", tc.name, root.Start, root.End, tc.start, tc.end)
		}
	}
}
