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

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
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
	lines, evs, ats, path := loadRecorded(t, "tui-reordered", "6c1064ee-5726-4008-8fd0-e7d01ca00bb1")
	// Step by step, the incremental daemon matches one that rebuilds
	// everything, and a from-scratch build (twin).
	w := newTwin(t)
	final := w.latest
	hook := func(i int, name string) {
		t.Helper()
		if evs[i]["hook_event_name"] != name {
			t.Fatalf("hook %d is %v, want %s", i, evs[i]["hook_event_name"], name)
		}
		evs[i]["transcript_path"] = path
		ev := event(t, evs[i], ats[i])
		w.do(name, func(p *Processor) []spans.Span { return p.Event(ev, false) })
	}
	land := func(from, to int) { // transcript lines [from, to) land
		appendLines(t, path, lines[from:to]...)
		w.do("lines", func(p *Processor) []spans.Span { return p.FileChanged(path) })
	}
	// The order the failing run saw: the hooks of the first prompt and its
	// Bash call, then the lines, the assistant ones first.
	hook(0, "SessionStart")
	hook(1, "UserPromptSubmit")
	hook(2, "MessageDisplay")
	hook(3, "PreToolUse")
	p1 := spanid.TurnTraceID(evs[1]["prompt_id"].(string))
	bash := spanid.ToolSpanID(p1, evs[3]["tool_use_id"].(string))
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
	traces := map[spanid.TraceID]bool{p1: true}
	for _, i := range []int{4} {
		traces[spanid.TurnTraceID(evs[i]["prompt_id"].(string))] = true
	}
	var exit string
	for _, l := range lines {
		if strings.Contains(l, "<command-name>/exit") {
			var m struct{ PromptID string }
			json.Unmarshal([]byte(l), &m)
			exit = m.PromptID
		}
	}
	traces[spanid.TurnTraceID(exit)] = true
	for _, sp := range final {
		if sp.IsRunning() {
			t.Errorf("span %s %q (trace %s) still running", sp.SpanID, sp.Name, sp.TraceID)
		}
		if !traces[sp.TraceID] {
			t.Errorf("span %s %q in trace %s, not one of the three prompts'", sp.SpanID, sp.Name, sp.TraceID)
		}
	}
}

// TestRunningSpanNoLongerBuiltIsClosed: a tool PreToolUse started in one
// turn that the transcript then places in another (here the hook's
// prompt_id names the first prompt, the call lands after the second) is
// closed in the first turn's trace, with orphan_reason not_in_turn: a
// rebuild of the turn no longer produces it, and nothing else would end it.
func TestRunningSpanNoLongerBuiltIsClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "projects", "p", "s4.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	line := func(n int, m map[string]any) string {
		m["uuid"], m["sessionId"] = "u"+strconv.Itoa(n), "s4"
		m["timestamp"] = t0.Add(time.Duration(n) * time.Second).Format(time.RFC3339Nano)
		b, _ := json.Marshal(m)
		return string(b)
	}
	answer := func(id string, block map[string]any) map[string]any {
		return map[string]any{"type": "assistant", "message": map[string]any{"id": id, "role": "assistant", "model": "claude-opus-4-8",
			"content": []any{block}, "stop_reason": "end_turn", "usage": map[string]any{"input_tokens": 3, "output_tokens": 1}}}
	}
	prompt := func(id, text string) map[string]any {
		return map[string]any{"type": "user", "promptId": id, "message": map[string]any{"role": "user", "content": text}}
	}
	w := newTwin(t) // the rebuild-everything reference closes it the same way
	final := w.latest
	hook := func(payload map[string]any, at time.Time) {
		ev := event(t, payload, at)
		w.do("hook", func(p *Processor) []spans.Span { return p.Event(ev, false) })
	}
	changed := func() []spans.Span {
		return w.do("lines", func(p *Processor) []spans.Span { return p.FileChanged(path) })
	}
	base := func(name, prompt string) map[string]any {
		return map[string]any{"hook_event_name": name, "session_id": "s4", "transcript_path": path, "prompt_id": prompt}
	}
	hook(base("UserPromptSubmit", "P1"), t0)
	pre := base("PreToolUse", "P1")
	pre["tool_name"], pre["tool_use_id"], pre["tool_input"] = "Bash", "toolu_x", map[string]any{"command": "ls"}
	hook(pre, t0.Add(time.Second))
	tool := spanid.ToolSpanID(spanid.TurnTraceID("P1"), "toolu_x")
	if sp, ok := final[tool]; !ok || !sp.IsRunning() {
		t.Fatalf("after PreToolUse: tool span found %v, want it running", ok)
	}
	if err := os.WriteFile(path, []byte(strings.Join([]string{
		line(1, prompt("P1", "first")),
		line(2, answer("m1", map[string]any{"type": "text", "text": "hi"})),
		line(3, prompt("P2", "second")),
		line(4, answer("m2", map[string]any{"type": "tool_use", "id": "toolu_x", "name": "Bash", "input": map[string]any{"command": "ls"}})),
	}, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	changed()
	sp := final[tool]
	if sp.IsRunning() || sp.Attributes[semconv.KeyOrphanReason] != "not_in_turn" || sp.End.Before(sp.Start) {
		t.Errorf("tool span in the first turn's trace: running %v, orphan_reason %v, %s–%s; want it closed, not_in_turn",
			sp.IsRunning(), sp.Attributes[semconv.KeyOrphanReason], sp.Start, sp.End)
	}
	if _, ok := final[spanid.ToolSpanID(spanid.TurnTraceID("P2"), "toolu_x")]; !ok {
		t.Errorf("no tool span in the second turn's trace, where the transcript placed the call")
	}
	// Closed once: a later change of the turn does not send it again.
	appendLines(t, path, line(5, answer("m3", map[string]any{"type": "text", "text": "done"})))
	for _, sp := range changed() {
		if sp.SpanID == tool {
			t.Errorf("the closed span was sent again")
		}
	}
}

// loadRecorded reads a recorded run under transcript/testdata/<fixture>:
// the transcript's lines, the hooks (payload, receipt time) with their
// transcript_path pointing at an empty file in a temporary projects
// directory (returned), where the test lands the lines.
func loadRecorded(t *testing.T, fixture, sid string) (lines []string, evs []map[string]any, ats []time.Time, path string) {
	t.Helper()
	dir := filepath.Join("../../transcript/testdata", fixture)
	raw, err := os.ReadFile(filepath.Join(dir, sid+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	hooks, err := os.ReadFile(filepath.Join(dir, "hooks.log"))
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "projects", "p", sid+".jsonl")
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
		m["transcript_path"] = path
		evs, ats = append(evs, m), append(ats, time.Unix(0, n).UTC())
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return lines, evs, ats, path
}

// TestRewrittenLinesOneTurn replays the e2e compact run whose transcript
// wrote the third prompt line twice (transcript/testdata/rewritten-lines):
// the hooks in order, before each the lines written by then. Every span
// is in the trace of a prompt the hooks saw, the compaction and its call
// in the third's; none in a turn keyed by the re-written line's uuid (the
// empty twin turn the e2e saw swapped with the real one).
func TestRewrittenLinesOneTurn(t *testing.T) {
	lines, evs, ats, path := loadRecorded(t, "rewritten-lines", "b4b74fd0-9512-41aa-a917-c4ae439163ec")
	w := newTwin(t)
	landed := 0
	land := func(until time.Time) {
		from := landed
		for ; landed < len(lines); landed++ {
			var l struct{ Timestamp time.Time }
			if json.Unmarshal([]byte(lines[landed]), &l) == nil && l.Timestamp.After(until) {
				break
			}
		}
		if landed > from {
			appendLines(t, path, lines[from:landed]...)
			w.do("lines", func(p *Processor) []spans.Span { return p.FileChanged(path) })
		}
	}
	traces := map[spanid.TraceID]bool{}
	for i, m := range evs {
		land(ats[i])
		if id, _ := m["prompt_id"].(string); id != "" {
			traces[spanid.TurnTraceID(id)] = true
		}
		ev := event(t, m, ats[i])
		w.do(m["hook_event_name"].(string), func(p *Processor) []spans.Span { return p.Event(ev, false) })
	}
	land(time.Unix(1<<40, 0))

	if len(traces) != 3 {
		t.Fatalf("the hooks name %d prompts, want 3", len(traces))
	}
	third := spanid.TurnTraceID("cd4bdc14-66f4-4232-867d-d5b2f8c1d169")
	if _, ok := w.latest[spanid.ChatSpanID(third, "msg_01VUEPdcT84lKiPwc2qk1thqre")]; !ok {
		t.Errorf("no chat span of the compacted call in the third prompt's trace")
	}
	compactions := 0
	for _, sp := range w.latest {
		if sp.IsRunning() {
			t.Errorf("span %s %q (trace %s) still running", sp.SpanID, sp.Name, sp.TraceID)
		}
		if !traces[sp.TraceID] {
			t.Errorf("span %s %q in trace %s, not one of the three prompts'", sp.SpanID, sp.Name, sp.TraceID)
		}
		for _, e := range sp.Events {
			if e.Name == semconv.EventCompaction {
				compactions++
				if sp.TraceID != third {
					t.Errorf("compaction event on %q in trace %s, want the third prompt's", sp.Name, sp.TraceID)
				}
			}
		}
	}
	if compactions != 1 {
		t.Errorf("%d compaction events, want 1", compactions)
	}
}
