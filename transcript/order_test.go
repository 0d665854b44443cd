package transcript

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

// reorderedPath is a transcript Claude Code 2.1.197's TUI wrote with the
// first turn's assistant lines (the text and the Bash call) before the
// prompt line and its attachments (testdata/tui-reordered/README.md).
const reorderedPath = "testdata/tui-reordered/6c1064ee-5726-4008-8fd0-e7d01ca00bb1.jsonl"

// rewrittenPath is a transcript Claude Code 2.1.197 wrote with a
// stop_hook_summary and the next prompt line written twice, same uuids,
// around an auto-compaction (testdata/rewritten-lines/README.md).
const rewrittenPath = "testdata/rewritten-lines/b4b74fd0-9512-41aa-a917-c4ae439163ec.jsonl"

// renderTurns prints what the turns hold, one line per turn, call and tool.
func renderTurns(s *Session) string {
	var sb strings.Builder
	ts := func(t time.Time) string { return t.UTC().Format("15:04:05.000") }
	for _, t := range s.Turns {
		fmt.Fprintf(&sb, "turn %d key=%s origin=%s %s–%s prompt=%q\n", t.Number, t.Key, t.Origin, ts(t.Start), ts(t.End), t.Prompt)
		for _, c := range t.Calls {
			var kinds []string
			for _, bl := range c.Blocks {
				kinds = append(kinds, bl.Type)
			}
			var in []string
			for _, m := range c.Input {
				in = append(in, m.Role)
			}
			fmt.Fprintf(&sb, "  call %s %s–%s model=%s stop=%s blocks=%s input=%s\n", c.MessageID, ts(c.Start), ts(c.End),
				c.Model, c.StopReason, strings.Join(kinds, ","), strings.Join(in, ","))
		}
		for _, tc := range t.Tools {
			fmt.Fprintf(&sb, "  tool %s %s %s–%s result=%v error=%v\n", tc.ID, tc.Name, ts(tc.Start), ts(tc.End), tc.HasResult, tc.IsError)
		}
		for _, c := range t.Compactions {
			fmt.Fprintf(&sb, "  compaction %s trigger=%s pre=%d post=%d summary=%v\n", ts(c.Time), c.Trigger, c.PreTokens, c.PostTokens, c.Summary != "")
		}
	}
	return sb.String()
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (go test ./transcript -update): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./transcript -update, then review the diff)\n--- got:\n%s--- want:\n%s", path, got, want)
	}
}

// TestLinesBeforeTheirParent: the assistant lines written before their
// prompt belong to the prompt's turn (their parentUuid chain says so):
// three turns, each with its prompt, the Bash call in the first. Folded in
// file order they made a fourth turn with no prompt holding the Bash call,
// which the live daemon exported in a trace of its own while the span the
// PreToolUse hook had started in the prompt's trace stayed running.
func TestLinesBeforeTheirParent(t *testing.T) {
	lines := decodeFile(t, reorderedPath)
	full := NewBuilder(reorderedPath)
	if err := feedChecked(full, lines, true); err != nil {
		t.Fatal(err)
	}
	s := full.Session()
	golden(t, filepath.Join(filepath.Dir(reorderedPath), "turns.golden"), renderTurns(s))
	if len(s.Turns) != 3 {
		t.Fatalf("got %d turns, want 3:\n%s", len(s.Turns), renderTurns(s))
	}
	t1 := s.Turns[0]
	if t1.Prompt != "Run the long command" || len(t1.Calls) != 1 || len(t1.Tools) != 1 || t1.Tools[0].Name != "Bash" {
		t.Errorf("turn 1 = %q with %d calls, %d tools; want the prompt with its call and the Bash tool:\n%s",
			t1.Prompt, len(t1.Calls), len(t1.Tools), renderTurns(s))
	}
	if tt := full.toolTurn[t1.Tools[0].ID]; tt != t1 {
		t.Errorf("the Bash call is held by turn %v, want turn 1", tt)
	}

	// Fed as the live daemon reads it, a few lines at a time (the prompt
	// lands in a later read than the lines that name it), the turns are
	// the same and no turn without a prompt shows up in between.
	inc := NewBuilder(reorderedPath)
	for i, l := range lines {
		inc.Add(l)
		for _, tn := range inc.Session().Turns {
			if tn.Prompt == "" && len(tn.Calls) > 0 {
				t.Fatalf("after line %d: turn %d has calls and no prompt", i+1, tn.Number)
			}
		}
	}
	if got, want := renderTurns(inc.Session()), renderTurns(s); got != want {
		t.Errorf("fed line by line:\n%s\nread at once:\n%s", got, want)
	}
}

// TestHeldLinesAreBounded: a parent that never comes holds its lines only
// until a turn-end line, maxHeld lines, or Finish; then they are folded
// where they stand.
func TestHeldLinesAreBounded(t *testing.T) {
	b := newLB("s")
	b.extra = map[string]any{"parentUuid": "gone"}
	prompt := b.user("prompt of a lost parent", "p1")
	b.extra = map[string]any{"parentUuid": prompt}
	b.assistant("m1", text("answer"))
	b.add(map[string]any{"type": "system", "subtype": "turn_duration"})
	lines, _, err := DecodeAll(strings.NewReader(strings.Join(b.lines, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	bu := NewBuilder("/p/s.jsonl")
	bu.Add(lines[0])
	bu.Add(lines[1])
	if n := len(bu.Session().Turns); n != 0 || len(bu.held) != 2 {
		t.Fatalf("before the turn ended: %d turns, %d held; want the prompt and its answer held (the parent may come)", n, len(bu.held))
	}
	bu.Add(lines[2])
	if s := bu.Session(); len(s.Turns) != 1 || len(s.Turns[0].Calls) != 1 || len(bu.held) != 0 {
		t.Fatalf("after the turn-end line: %d turns, %d held; want the turn with its call", len(s.Turns), len(bu.held))
	}

	bu = NewBuilder("/p/s.jsonl")
	bu.Add(lines[0])
	for i := range maxHeld {
		l := *lines[1]
		l.UUID, l.ParentUUID = fmt.Sprintf("x%d", i), "never"
		bu.Add(&l)
	}
	if len(bu.held) != 0 || len(bu.Session().Turns) != 1 {
		t.Errorf("after %d lines waiting: %d held, %d turns; want all folded", maxHeld+1, len(bu.held), len(bu.Session().Turns))
	}
	bu = NewBuilder("/p/s.jsonl")
	bu.Add(lines[0])
	if s := bu.Finish(); len(s.Turns) != 1 || s.Turns[0].Prompt != "prompt of a lost parent" {
		t.Errorf("Finish: %d turns, want the held prompt's", len(s.Turns))
	}
}

// TestRewrittenLines: a line written a second time with the same uuid is
// the same line. The e2e compact scenario's transcript has the third
// prompt twice (the second copy adds the session's slug); folded twice it
// made two turns with the same prompt and start, the first empty and keyed
// by its uuid, the second (the hooks' prompt_id) holding the compaction
// and its call. The server orders equal starts by trace id, so the turns
// showed swapped whenever that id sorted first: "turn 3: 1 compaction
// markers, want 0". One turn per prompt, keyed as the hooks key it.
func TestRewrittenLines(t *testing.T) {
	lines := decodeFile(t, rewrittenPath)
	full := NewBuilder(rewrittenPath)
	if err := feedChecked(full, lines, true); err != nil {
		t.Fatal(err)
	}
	s := full.Session()
	golden(t, filepath.Join(filepath.Dir(rewrittenPath), "turns.golden"), renderTurns(s))
	if len(s.Turns) != 3 {
		t.Fatalf("got %d turns, want 3 (one per prompt the hooks saw):\n%s", len(s.Turns), renderTurns(s))
	}
	t3 := s.Turns[2]
	if t3.Key != "cd4bdc14-66f4-4232-867d-d5b2f8c1d169" || len(t3.Calls) != 1 || len(t3.Compactions) != 1 {
		t.Errorf("turn 3 = key %s with %d calls, %d compactions; want the UserPromptSubmit's prompt_id with the call and the compaction:\n%s",
			t3.Key, len(t3.Calls), len(t3.Compactions), renderTurns(s))
	}
	if in := t3.Calls[0].Input; len(in) == 0 || in[len(in)-1].Role != "user" || len(in) > 1 && in[len(in)-2].Role == "user" {
		t.Errorf("the call's input ends %v; want the prompt once", roles(in))
	}
}

// TestRewrittenHeldLine: a re-write of a line still waiting for its parent
// is dropped when both copies are released together.
func TestRewrittenHeldLine(t *testing.T) {
	b := newLB("s")
	first := b.user("first", "p1")
	b.extra = map[string]any{"parentUuid": first}
	b.assistant("m1", text("answer"))
	b.extra = map[string]any{"parentUuid": "att"}
	b.user("second", "p2", "uuid", "dup")
	b.extra = map[string]any{"parentUuid": "att"}
	b.user("second", "p2", "uuid", "dup", "slug", "rewritten")
	b.add(map[string]any{"type": "attachment", "uuid": "att", "attachment": map[string]any{"type": "skill_listing"}})
	lines, _, err := DecodeAll(strings.NewReader(strings.Join(b.lines, "\n") + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	bu := NewBuilder("/p/s.jsonl")
	for _, l := range lines[:4] {
		bu.Add(l)
	}
	if len(bu.held) != 2 {
		t.Fatalf("%d lines held, want both copies of the second prompt", len(bu.held))
	}
	bu.Add(lines[4])
	s := bu.Finish()
	if len(s.Turns) != 2 || s.Turns[1].Prompt != "second" {
		t.Errorf("got %d turns, want 2 (the re-written prompt once):\n%s", len(s.Turns), renderTurns(s))
	}
}

func roles(in []InputMessage) []string {
	var out []string
	for _, m := range in {
		out = append(out, m.Role)
	}
	return out
}
