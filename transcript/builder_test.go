package transcript

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// lb builds transcript lines for tests.
type lb struct {
	session string
	clock   time.Time
	n       int
	lines   []string
	extra   map[string]any // merged into the next line
}

func newLB(session string) *lb {
	return &lb{session: session, clock: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (b *lb) add(m map[string]any) string {
	b.n++
	b.clock = b.clock.Add(100 * time.Millisecond)
	if _, ok := m["uuid"]; !ok {
		m["uuid"] = fmt.Sprintf("%s-u%03d", b.session, b.n)
	}
	m["sessionId"] = b.session
	m["timestamp"] = b.clock.Format(time.RFC3339Nano)
	for k, v := range b.extra {
		m[k] = v
	}
	b.extra = nil
	raw, _ := json.Marshal(m)
	b.lines = append(b.lines, string(raw))
	return m["uuid"].(string)
}

func (b *lb) user(content any, promptID string, more ...any) string {
	m := map[string]any{"type": "user", "promptId": promptID, "message": map[string]any{"role": "user", "content": content}}
	for i := 0; i+1 < len(more); i += 2 {
		m[more[i].(string)] = more[i+1]
	}
	return b.add(m)
}

func (b *lb) assistant(msgID string, blocks ...map[string]any) {
	for _, bl := range blocks {
		b.add(map[string]any{"type": "assistant", "requestId": "req_" + msgID, "message": map[string]any{
			"id": msgID, "role": "assistant", "model": "claude-test", "content": []any{bl}, "stop_reason": "end_turn",
			"usage": map[string]any{"input_tokens": 3, "cache_read_input_tokens": 10, "cache_creation_input_tokens": 5, "output_tokens": 7},
		}})
	}
}

func text(s string) map[string]any { return map[string]any{"type": "text", "text": s} }
func toolUse(id, name string, input map[string]any) map[string]any {
	return map[string]any{"type": "tool_use", "id": id, "name": name, "input": input}
}
func toolResult(id, content string, isErr bool) []any {
	return []any{map[string]any{"type": "tool_result", "tool_use_id": id, "content": content, "is_error": isErr}}
}

func (b *lb) write(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Join(b.lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func build(b *lb) *Session {
	bu := NewBuilder("/p/" + b.session + ".jsonl")
	for _, raw := range b.lines {
		ls, _, _ := DecodeAll(strings.NewReader(raw + "\n"))
		for _, l := range ls {
			bu.Add(l)
		}
	}
	return bu.Finish()
}

func TestTurnBoundaries(t *testing.T) {
	b := newLB("s")
	b.user("first prompt", "p1")
	b.assistant("m1", text("thinking out loud"), toolUse("t1", "Bash", map[string]any{"command": "ls"}))
	b.user(toolResult("t1", "a\nb", false), "p1")
	b.user("<system-reminder>injected</system-reminder>", "p1", "isMeta", true)
	b.user([]any{text("[Request interrupted by user]")}, "p1")
	b.assistant("m2", text("done"))
	b.user([]any{text("second prompt via stream-json")}, "p2")
	b.assistant("m3", text("ok"))
	b.user("<local-command-stdout>output</local-command-stdout>", "p2")
	b.user("sidechain", "p2", "isSidechain", true)
	b.user("This session is being continued from a previous conversation…", "p2", "isCompactSummary", true)
	s := build(b)

	if len(s.Turns) != 2 {
		t.Fatalf("got %d turns, want 2", len(s.Turns))
	}
	t1, t2 := s.Turns[0], s.Turns[1]
	if t1.Prompt != "first prompt" || t2.Prompt != "second prompt via stream-json" {
		t.Errorf("prompts = %q, %q", t1.Prompt, t2.Prompt)
	}
	if len(t1.Calls) != 2 || len(t1.Calls[0].Blocks) != 2 {
		t.Errorf("turn 1: got %d calls (first with %d blocks), want 2 calls, the first folded from 2 lines", len(t1.Calls), len(t1.Calls[0].Blocks))
	}
	if tc := t1.Tools[0]; !tc.HasResult || tc.Result != "a\nb" || tc.IsError {
		t.Errorf("tool t1 = %+v, want its result paired", tc)
	}
	if got := t1.Calls[1].Input; len(got) != 3 || got[0].Role != "tool" {
		t.Errorf("second call input = %+v, want tool result + 2 injected user messages", got)
	}
	if len(t2.Compactions) != 1 {
		t.Errorf("turn 2 compactions = %d, want 1", len(t2.Compactions))
	}
	if u := t1.Calls[0].Usage; u.TotalInput() != 18 || u.OutputTokens != 7 {
		t.Errorf("usage = %+v, want input total 18, output 7", u)
	}
}

// TestTurnEndsAfterStopHooks: a turn ends at the line Claude Code writes
// once its Stop hooks ran (stop_hook_summary, then turn_duration in the
// TUI), not at its final answer; a line of a subagent (sidechain) or one
// without a time changes nothing, and these lines do not count as the
// turn's own (a fork's copied turns are told apart by those).
func TestTurnEndsAfterStopHooks(t *testing.T) {
	b := newLB("s")
	b.user("first prompt", "p1")
	b.assistant("m1", text("done"))
	answer := b.clock
	b.add(map[string]any{"type": "system", "subtype": "stop_hook_summary", "hookCount": 1})
	b.add(map[string]any{"type": "system", "subtype": "turn_duration", "durationMs": 250})
	finished := b.clock
	b.add(map[string]any{"type": "system", "subtype": "stop_hook_summary", "isSidechain": true})
	b.add(map[string]any{"type": "system", "subtype": "informational"})
	b.user("second prompt", "p2")
	b.assistant("m2", text("ok"))
	s := build(b)
	if len(s.Turns) != 2 {
		t.Fatalf("got %d turns, want 2", len(s.Turns))
	}
	t1 := s.Turns[0]
	if !t1.End.Equal(finished) {
		t.Errorf("turn 1 ends %v, want %v (turn_duration), not %v (its answer)", t1.End, finished, answer)
	}
	if t1.lines != 2 || !t1.InTranscript() {
		t.Errorf("turn 1 counts %d lines (in transcript %v), want 2: the prompt and the answer", t1.lines, t1.InTranscript())
	}
	if (&Turn{Key: "hook-only"}).InTranscript() {
		t.Error("a Turn no Builder made reports InTranscript")
	}
}

func TestTurnKeysWhenForkRewritesPromptIDs(t *testing.T) {
	// Claude Code 2.1.330's --fork-session gives every copied prompt the new
	// prompt's promptId: only the newest keeps it.
	b := newLB("s")
	b.user("one", "NEW")
	b.assistant("m1", text("a"))
	b.user("two", "NEW")
	b.assistant("m2", text("b"))
	s := build(b)
	if len(s.Turns) != 2 {
		t.Fatalf("got %d turns, want 2", len(s.Turns))
	}
	if s.Turns[1].Key != "NEW" || s.Turns[0].Key != "uuid:s-u001" {
		t.Errorf("keys = %q, %q; want uuid:s-u001, NEW", s.Turns[0].Key, s.Turns[1].Key)
	}
}

func TestSlashCommandAndTaskNotificationPrompts(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<command-message>greet</command-message>\n<command-name>/greet</command-name>\n<command-args>world</command-args>", "/greet world"},
		{"<command-name>/compact</command-name>\n<command-message>compact</command-message>\n<command-args></command-args>", "/compact"},
		{"<task-notification>\n<task-id>x</task-id>\n<summary>Agent \"A\" finished</summary>\n</task-notification>", "Task notification: Agent \"A\" finished"},
		{"plain <command-name> mention without close", "plain <command-name> mention without close"},
	}
	for _, tc := range tests {
		if got := CleanPrompt(tc.in); got != tc.want {
			t.Errorf("CleanPrompt(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestTurnOrigin: who prompted a turn, from each version's field.
// Claude Code 2.1.197 writes only the origin object (a background task's
// completion came out as a "user" turn before this was read).
func TestTurnOrigin(t *testing.T) {
	b := newLB("s")
	b.user("typed", "p1")
	b.user("<task-notification>x</task-notification>", "p2", "origin", map[string]any{"kind": "task-notification"})
	b.user("typed in 2.1.330", "p3", "turnOrigin", "human", "origin", map[string]any{"kind": "human"})
	b.user("<task-notification>y</task-notification>", "p4", "turnOrigin", "task_notification",
		"origin", map[string]any{"kind": "task-notification", "producer": "session-task"})
	b.user("from the SDK", "p5", "turnOrigin", "sdk")
	b.user("made by Claude Code", "p6", "promptSource", "system")
	s := build(b)
	want := []string{"user", "task_notification", "user", "task_notification", "sdk", "system"}
	if len(s.Turns) != len(want) {
		t.Fatalf("got %d turns, want %d", len(s.Turns), len(want))
	}
	for i, w := range want {
		if got := s.Turns[i].Origin; got != w {
			t.Errorf("turn %d (%q): origin %q, want %q", i+1, s.Turns[i].Prompt, got, w)
		}
	}
}

// writeSubagent writes a subagent transcript (and meta when meta != nil).
func writeSubagent(t *testing.T, mainPath, agentID, prompt, promptID string, meta map[string]any) {
	t.Helper()
	b := newLB("main")
	b.extra = map[string]any{"isSidechain": true, "agentId": agentID}
	b.user(prompt, promptID)
	b.extra = map[string]any{"isSidechain": true, "agentId": agentID}
	b.assistant("sub-"+agentID, text("sub answer"))
	p := filepath.Join(SubagentDir(mainPath), "agent-"+agentID+".jsonl")
	b.write(t, p)
	if meta != nil {
		raw, _ := json.Marshal(meta)
		if err := os.WriteFile(strings.TrimSuffix(p, ".jsonl")+".meta.json", raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSubagentLinking(t *testing.T) {
	dir := t.TempDir()
	mainPath := filepath.Join(dir, "main.jsonl")
	b := newLB("main")
	b.user("delegate", "p1")
	b.assistant("m1",
		toolUse("tA", "Agent", map[string]any{"prompt": "same task", "subagent_type": "general-purpose"}),
		toolUse("tB", "Agent", map[string]any{"prompt": "same task", "subagent_type": "general-purpose"}),
		toolUse("tC", "Agent", map[string]any{"prompt": "unique task", "subagent_type": "Explore"}),
		toolUse("tD", "Agent", map[string]any{"prompt": "by meta", "subagent_type": "general-purpose"}),
	)
	b.write(t, mainPath)
	writeSubagent(t, mainPath, "a1", "same task", "p1", nil)
	writeSubagent(t, mainPath, "a2", "same task", "p1", nil)
	writeSubagent(t, mainPath, "a3", "unique task", "p1", map[string]any{"agentType": "Explore"})
	writeSubagent(t, mainPath, "a4", "prompt differs from the call", "p1", map[string]any{"toolUseId": "tD", "agentType": "general-purpose"})
	writeSubagent(t, mainPath, "a5", "nobody asked for this", "p1", nil)

	s, warns, err := Load(mainPath, nil)
	if err != nil || len(warns) > 0 {
		t.Fatalf("Load: %v %v", err, warns)
	}
	got := map[string]string{}
	for _, a := range s.Subagents {
		parent := "-"
		if a.Parent != nil {
			parent = a.Parent.ID
		}
		got[a.AgentID] = a.Match + ":" + parent
		if a.Turn != s.Turns[0] {
			t.Errorf("subagent %s not placed under its turn", a.AgentID)
		}
	}
	want := map[string]string{
		"a1": "ambiguous:tA", "a2": "prompt_hash:tB", "a3": "prompt_hash:tC",
		"a4": "meta:tD", "a5": "orphan:-",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("subagent %s: got %s, want %s", id, got[id], w)
		}
	}
	if len(s.Turns[0].Subagents) != 5 {
		t.Errorf("turn has %d subagents, want 5 (none dropped)", len(s.Turns[0].Subagents))
	}
}

func TestNestedSubagent(t *testing.T) {
	dir := t.TempDir()
	mainPath := filepath.Join(dir, "main.jsonl")
	b := newLB("main")
	b.user("go deep", "p1")
	b.assistant("m1", toolUse("outer", "Agent", map[string]any{"prompt": "outer task", "subagent_type": "general-purpose"}))
	b.write(t, mainPath)
	// The outer subagent spawns an inner one; the inner meta points into
	// the outer transcript.
	ob := newLB("main")
	ob.extra = map[string]any{"isSidechain": true, "agentId": "o1"}
	ob.user("outer task", "p1")
	ob.extra = map[string]any{"isSidechain": true, "agentId": "o1"}
	ob.assistant("om1", toolUse("inner", "Agent", map[string]any{"prompt": "inner task", "subagent_type": "general-purpose"}))
	ob.write(t, filepath.Join(SubagentDir(mainPath), "agent-o1.jsonl"))
	os.WriteFile(filepath.Join(SubagentDir(mainPath), "agent-o1.meta.json"), []byte(`{"toolUseId":"outer","spawnDepth":1}`), 0o644)
	writeSubagent(t, mainPath, "i1", "inner task", "p1", map[string]any{"toolUseId": "inner", "spawnDepth": 2})

	s, _, err := Load(mainPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	var inner, outer *Subagent
	for _, a := range s.Subagents {
		switch a.AgentID {
		case "i1":
			inner = a
		case "o1":
			outer = a
		}
	}
	if inner.Parent == nil || inner.Parent.ID != "inner" || inner.ParentAgent != outer {
		t.Errorf("inner: parent %v agent %v, want the outer subagent's Agent call", inner.Parent, inner.ParentAgent)
	}
	if inner.Turn != s.Turns[0] || outer.Turn != s.Turns[0] {
		t.Errorf("nested subagents not placed under the spawning turn")
	}
}

func TestForkResolution(t *testing.T) {
	dir := t.TempDir()
	// CLI fork: the child copies the parent's lines with the same uuids.
	parent := newLB("P")
	u1 := parent.user("q1", "pp1")
	parent.assistant("pm1", text("a1"))
	parent.write(t, filepath.Join(dir, "P.jsonl"))

	child := newLB("C")
	child.lines = append(child.lines, strings.ReplaceAll(strings.Join(parent.lines, "\n"), `"sessionId":"P"`, `"sessionId":"C"`))
	child.n = 10
	child.clock = parent.clock
	child.user("q2 in fork", "cp2")
	child.assistant("cm2", text("a2"))
	child.write(t, filepath.Join(dir, "C.jsonl"))

	// SDK fork of C with forkedFrom on copied lines and new uuids.
	sdk := newLB("S")
	sdk.extra = map[string]any{"forkedFrom": map[string]any{"sessionId": "C", "messageUuid": u1}}
	sdk.user("q1", "pp1")
	sdk.user("q3", "sp3")
	sdk.assistant("sm3", text("a3"))
	sdk.write(t, filepath.Join(dir, "S.jsonl"))

	// A fork whose parent file is gone, and a forkedFrom cycle.
	orphan := newLB("O")
	orphan.extra = map[string]any{"forkedFrom": map[string]any{"sessionId": "GONE", "messageUuid": "x"}}
	orphan.user("q", "op")
	orphan.write(t, filepath.Join(dir, "O.jsonl"))
	for _, pair := range [][2]string{{"X", "Y"}, {"Y", "X"}} {
		c := newLB(pair[0])
		c.extra = map[string]any{"forkedFrom": map[string]any{"sessionId": pair[1], "messageUuid": "x"}}
		c.user("loop", "lp"+pair[0])
		c.write(t, filepath.Join(dir, pair[0]+".jsonl"))
	}

	r := NewResolver()
	tests := []struct {
		id, parent, conv, kind string
		copied                 []bool
	}{
		{"P", "", "P", "", []bool{false}},
		{"C", "P", "P", ForkCLI, []bool{true, false}},
		{"S", "C", "P", ForkSDK, []bool{true, false}},
		{"O", "GONE", "GONE", ForkSDK, []bool{false}},
		{"X", "Y", "", ForkSDK, []bool{false}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			s, _, err := Load(filepath.Join(dir, tc.id+".jsonl"), r)
			if err != nil {
				t.Fatal(err)
			}
			if s.ParentSessionID != tc.parent || s.ForkKind != tc.kind {
				t.Errorf("parent %q kind %q, want %q %q", s.ParentSessionID, s.ForkKind, tc.parent, tc.kind)
			}
			if tc.conv != "" && s.ConversationID != tc.conv {
				t.Errorf("conversation %q, want %q", s.ConversationID, tc.conv)
			}
			if tc.conv == "" && s.ConversationID != "X" && s.ConversationID != "Y" {
				t.Errorf("cycle: conversation %q, want X or Y (the walk must stop)", s.ConversationID)
			}
			if len(s.Turns) != len(tc.copied) {
				t.Fatalf("got %d turns, want %d", len(s.Turns), len(tc.copied))
			}
			for i, want := range tc.copied {
				if s.Turns[i].Copied != want {
					t.Errorf("turn %d copied = %v, want %v", i+1, s.Turns[i].Copied, want)
				}
			}
			// S's copy of C's copy of P's turn was written by P.
			if tc.id == "S" && s.Turns[0].CopiedFrom != "P" {
				t.Errorf("turn 1 copied from %q, want P (where it was first written)", s.Turns[0].CopiedFrom)
			}
		})
	}
}

// TestNewAPIError: a failure Claude Code could not classify is typed by its
// HTTP status, from the transcript's apiErrorStatus or from the text the
// StopFailure hook carries, so both paths describe it alike.
func TestNewAPIError(t *testing.T) {
	tests := []struct {
		typ, details string
		status       int
		text         string
		want         APIError
	}{
		{"unknown", "", 400, "API Error: 400 mock: refused", APIError{"400", "API Error: 400 mock: refused", 400}},
		{"unknown", "", 0, "API Error: 400 mock: refused", APIError{"400", "API Error: 400 mock: refused", 400}},
		{"rate_limit", "", 429, "API Error: 429 slow down", APIError{"rate_limit", "API Error: 429 slow down", 429}},
		{"", "details", 0, "text", APIError{"api_error", "details", 0}},
		{"unknown", "", 0, "API Error: Connection error.", APIError{"unknown", "API Error: Connection error.", 0}},
		{"", "", 0, "API Error: 5xx", APIError{"api_error", "API Error: 5xx", 0}},
	}
	for _, tc := range tests {
		if got := NewAPIError(tc.typ, tc.details, tc.status, tc.text); *got != tc.want {
			t.Errorf("NewAPIError(%q, %q, %d, %q) = %+v, want %+v", tc.typ, tc.details, tc.status, tc.text, *got, tc.want)
		}
	}
}

// TestForkOfAForkResolution: a CLI fork tree as Claude Code writes it
// (every fork opens with its own queue-operation lines, then the copies
// with their original uuids and times). A's lines are in every file, so a
// second fork of A (D) shares with B exactly as much as with A, and the
// middle fork B shares with D as much as with A: the parent is the sibling
// sharing the most that started first. The ids sort so that file order
// alone would pick the wrong one (and made B and D each other's parent, a
// cycle that emitted A's turn under every fork). Each copied turn is
// first written by the session that wrote it: C's copy of A's turn is A's,
// its copy of B's turn B's.
func TestForkOfAForkResolution(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// write writes session id's file: its queue operation at start, then
	// the lines of from (its session id rewritten), then its own prompt.
	type file struct {
		lb    *lb
		lines []string // message lines only, to copy
	}
	files := map[string]*file{}
	write := func(id string, start time.Duration, from string, prompt string) {
		b := newLB(id)
		b.clock = base.Add(start)
		q, _ := json.Marshal(map[string]any{"type": "queue-operation", "operation": "enqueue", "timestamp": b.clock.Format(time.RFC3339Nano), "sessionId": id})
		b.lines = append(b.lines, string(q))
		f := &file{lb: b}
		if from != "" {
			for _, l := range files[from].lines {
				c := strings.ReplaceAll(l, `"sessionId":"`+from+`"`, `"sessionId":"`+id+`"`)
				b.lines = append(b.lines, c)
				f.lines = append(f.lines, c)
			}
		}
		n := len(b.lines)
		b.user(prompt, "p-"+id)
		b.assistant("m-"+id, text("answer of "+id))
		f.lines = append(f.lines, b.lines[n:]...)
		files[id] = f
		b.write(t, filepath.Join(dir, id+".jsonl"))
	}
	write("f-a", 0, "", "Tree A")
	write("c-b", 10*time.Second, "f-a", "Tree B")
	write("e-c", 20*time.Second, "c-b", "Tree C")
	write("a-d", 30*time.Second, "f-a", "Tree D")

	tests := []struct {
		id, parent string
		copiedFrom []string // per turn, "" for its own
	}{
		{"f-a", "", []string{""}},
		{"c-b", "f-a", []string{"f-a", ""}},
		{"e-c", "c-b", []string{"f-a", "c-b", ""}},
		{"a-d", "f-a", []string{"f-a", ""}},
	}
	r := NewResolver()
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			s, _, err := Load(filepath.Join(dir, tc.id+".jsonl"), r)
			if err != nil {
				t.Fatal(err)
			}
			if s.ParentSessionID != tc.parent || s.ConversationID != "f-a" {
				t.Errorf("parent %q conversation %q, want %q %q", s.ParentSessionID, s.ConversationID, tc.parent, "f-a")
			}
			if len(s.Turns) != len(tc.copiedFrom) {
				t.Fatalf("got %d turns, want %d", len(s.Turns), len(tc.copiedFrom))
			}
			for i, want := range tc.copiedFrom {
				if got := s.Turns[i]; got.Copied != (want != "") || got.CopiedFrom != want {
					t.Errorf("turn %d: copied %v from %q, want from %q", i+1, got.Copied, got.CopiedFrom, want)
				}
			}
		})
	}
}
