package rollout

import (
	"bufio"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/transcript"
)

// compactPrompt begins the message Codex appends to a compaction request
// (its own prompt: the rollout does not record it).
const compactPrompt = "You are performing a CONTEXT CHECKPOINT COMPACTION"

// TestInputChain checks the chat inputs the builder chains against what
// Codex really sent: for every recorded model call, the call's input
// messages and those of the calls it continues (Prev), each followed by
// that call's output, must be the conversation items of the request the
// mock received for it (requests.jsonl.gz; response resp_mockNNNN answered
// request NNNN) — the user, tool and assistant messages and tool calls in
// order; developer instructions and reasoning are not compared (weave
// keeps neither as input), nor the compaction prompt a compaction request
// ends with.
func TestInputChain(t *testing.T) {
	for _, dir := range fixtures.Scenarios(t, fixtures.Codex0169) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			files, _ := filepath.Glob(filepath.Join(dir, fixtures.MainGlob(fixtures.Codex0169)))
			var main string
			for _, f := range files {
				if !IsSubagentFile(f) {
					main = f
				}
			}
			s, err := Load(main)
			if err != nil {
				t.Fatal(err)
			}
			reqs := requestItems(t, filepath.Join(dir, "requests.jsonl.gz"))
			lists := [][]*transcript.LLMCall{nil}
			for _, turn := range s.Turns {
				lists[0] = append(lists[0], turn.Calls...)
			}
			for _, sub := range s.Subagents {
				lists = append(lists, sub.Calls)
			}
			checked, compactions := 0, 0
			for _, calls := range lists {
				for _, c := range calls {
					var seq int
					if _, err := fmt.Sscanf(c.MessageID, "resp_mock%04d", &seq); err != nil {
						continue // a failed call: no response
					}
					want, ok := reqs[seq]
					if !ok {
						t.Fatalf("%s: no request %d in the log", c.MessageID, seq)
					}
					if n := len(want); n > 0 && strings.HasPrefix(want[n-1], "user:"+compactPrompt) {
						want = want[:n-1]
						compactions++
					}
					if got := chained(calls, c); strings.Join(got, "\n") != strings.Join(want, "\n") {
						t.Errorf("%s: chained input\n%s\nwant (request %d)\n%s", c.MessageID, strings.Join(got, "\n"), seq, strings.Join(want, "\n"))
					}
					checked++
				}
			}
			if checked == 0 {
				t.Fatal("no model call checked")
			}
			if filepath.Base(dir) == "compact" && compactions != 2 {
				t.Errorf("%d compaction requests, want 2", compactions)
			}
		})
	}
}

// chained is the conversation c's request held as weave rebuilds it, in
// the form requestItems writes a request's input.
func chained(calls []*transcript.LLMCall, c *transcript.LLMCall) []string {
	var out []string
	for _, m := range transcript.ChainedInput(calls, c) {
		for _, b := range m.Blocks {
			switch b.Type {
			case transcript.BlockText:
				out = append(out, m.Role+":"+b.Text)
			case transcript.BlockToolResult:
				var text string
				_ = json.Unmarshal(b.Content, &text)
				out = append(out, "tool:"+b.ToolUseID+":"+text)
			case transcript.BlockToolUse:
				out = append(out, "call:"+b.ID)
			}
		}
	}
	return out
}

// requestItems reads the mock's request log: request seq → its input
// items in the form chained writes them.
func requestItems(t *testing.T, path string) map[int][]string {
	t.Helper()
	f, err := fixtures.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int][]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var l struct {
			Seq  int    `json:"seq"`
			Path string `json:"path"`
			Body struct {
				Input []item `json:"input"`
			} `json:"body"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(l.Path, "/responses") {
			continue
		}
		items := []string{}
		for _, it := range l.Body.Input {
			switch it.Type {
			case "message":
				if it.Role == "user" || it.Role == "assistant" {
					items = append(items, it.Role+":"+itemText(it))
				}
			case "function_call", "custom_tool_call":
				items = append(items, "call:"+it.CallID)
			case "function_call_output", "custom_tool_call_output":
				items = append(items, "tool:"+it.CallID+":"+outputText(it.Output))
			}
		}
		out[l.Seq] = items
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompactions: the compact capture's two auto-compactions (mid-turn
// and before the resumed turn's first request) are on their turns with
// the context they replaced: the items the compaction request carried
// (its own summary not counted), the replacement history's length, and
// the context size the response before the compaction request reported;
// the call after each starts a new chain.
func TestCompactions(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(fixtures.Path(t, fixtures.Codex0169, "compact"), fixtures.MainGlob(fixtures.Codex0169)))
	if len(files) != 1 {
		t.Fatalf("compact capture: %v", files)
	}
	s, err := Load(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Turns) != 2 {
		t.Fatalf("%d turns, want 2", len(s.Turns))
	}
	// Turn 1: exec_command call (its response before the compaction),
	// compaction call, answer. Turn 2: compaction call, answer.
	for i, want := range []struct{ calls, compactAt int }{{3, 1}, {2, 0}} {
		turn := s.Turns[i]
		if len(turn.Calls) != want.calls || len(turn.Compactions) != 1 {
			t.Fatalf("turn %d: %d calls, %d compactions", i+1, len(turn.Calls), len(turn.Compactions))
		}
		c := turn.Compactions[0]
		if c.Trigger != "auto" || c.ItemsBefore != 5 || c.ItemsAfter != 4 || !strings.Contains(c.Summary, "Summary: ") {
			t.Errorf("turn %d: compaction %+v", i+1, c)
		}
		var before *transcript.LLMCall // the response before the compaction request
		if want.compactAt > 0 {
			before = turn.Calls[want.compactAt-1]
		} else {
			prev := s.Turns[i-1].Calls
			before = prev[len(prev)-1]
		}
		u := before.Usage
		if pre := u.InputTokens + u.CacheReadInputTokens + u.CacheCreationInputTokens + u.OutputTokens; c.PreTokens != pre {
			t.Errorf("turn %d: pre_tokens %d, want %d (%s)", i+1, c.PreTokens, pre, before.MessageID)
		}
		if next := turn.Calls[want.compactAt+1]; next.Prev != "" || len(next.Input) == 0 {
			t.Errorf("turn %d: the call after the compaction continues %q with %d input messages", i+1, next.Prev, len(next.Input))
		}
	}
}
