package session

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/spans"
)

// TestTUILinesBeforeTheirPrompt replays a run of the e2e's interrupt
// scenario whose transcript has the first turn's assistant lines before its
// prompt (transcript/testdata/tui-reordered): the hooks as weave-hook sent
// them, the transcript landing in the pieces the daemon read. The Bash
// span PreToolUse started running in the prompt's trace must end up
// closed, under the same id, and no span may stay running. Before the
// builder placed lines by their parent chain, the call made a turn of its
// own (another trace) and the hook's span stayed running for good: the
// e2e saw "did not settle: 8 spans (want 7), 1 running".
func TestTUILinesBeforeTheirPrompt(t *testing.T) {
	const fixture = "../../transcript/testdata/tui-reordered"
	const sid = "6c1064ee-5726-4008-8fd0-e7d01ca00bb1"
	raw, err := os.ReadFile(filepath.Join(fixture, sid+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	hooks, err := os.ReadFile(filepath.Join(fixture, "hooks.log"))
	if err != nil {
		t.Fatal(err)
	}
	var evs []map[string]any
	var ats []time.Time
	sc := bufio.NewScanner(bytes.NewReader(hooks))
	for sc.Scan() {
		ns, body, _ := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(ns, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		evs, ats = append(evs, m), append(ats, time.Unix(0, n).UTC())
	}

	path := filepath.Join(t.TempDir(), "projects", "p", sid+".jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	p := New(Settings{ForgetAfter: 10 * time.Minute})
	final := map[spans.SpanID]spans.Span{}
	record := func(out []spans.Span) {
		for _, sp := range out {
			final[sp.SpanID] = sp
		}
	}
	hook := func(i int, name string) {
		t.Helper()
		if evs[i]["hook_event_name"] != name {
			t.Fatalf("hook %d is %v, want %s", i, evs[i]["hook_event_name"], name)
		}
		evs[i]["transcript_path"] = path
		record(p.Event(event(t, evs[i], ats[i]), false))
	}
	land := func(from, to int) { // transcript lines [from, to) land
		appendLines(t, path, lines[from:to]...)
		record(p.FileChanged(path))
	}
	// The order the failing run saw: the hooks of the first prompt and its
	// Bash call, then the lines, the assistant ones first.
	hook(0, "SessionStart")
	hook(1, "UserPromptSubmit")
	hook(2, "MessageDisplay")
	hook(3, "PreToolUse")
	p1 := spans.TurnTraceID(evs[1]["prompt_id"].(string))
	bash := spans.ToolSpanID(p1, evs[3]["tool_use_id"].(string))
	if sp, ok := final[bash]; !ok || !sp.IsRunning() {
		t.Fatalf("after PreToolUse: Bash span %v (running %v), want it exported running in the prompt's trace", ok, sp.IsRunning())
	}
	land(0, 3)  // ai-title and the two assistant lines
	land(3, 12) // the prompt, its attachments, the interrupted tool's result
	hook(4, "UserPromptSubmit")
	hook(5, "MessageDisplay")
	land(12, 17)
	hook(6, "Stop")
	land(17, len(lines))
	hook(7, "SessionEnd")

	sp, ok := final[bash]
	if !ok || sp.TraceID != p1 || sp.IsRunning() {
		t.Errorf("Bash span: found %v, trace %s (want %s), running %v; want it closed in the prompt's trace", ok, sp.TraceID, p1, sp.IsRunning())
	}
	traces := map[spans.TraceID]bool{p1: true}
	for _, i := range []int{4} {
		traces[spans.TurnTraceID(evs[i]["prompt_id"].(string))] = true
	}
	var exit string
	for _, l := range lines {
		if strings.Contains(l, "<command-name>/exit") {
			var m struct{ PromptID string }
			json.Unmarshal([]byte(l), &m)
			exit = m.PromptID
		}
	}
	traces[spans.TurnTraceID(exit)] = true
	for _, sp := range final {
		if sp.IsRunning() {
			t.Errorf("span %s %q (trace %s) still running", sp.SpanID, sp.Name, sp.TraceID)
		}
		if !traces[sp.TraceID] {
			t.Errorf("span %s %q in trace %s, not one of the three prompts'", sp.SpanID, sp.Name, sp.TraceID)
		}
	}
}
