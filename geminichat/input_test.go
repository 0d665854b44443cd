package geminichat

import (
	"bufio"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/transcript"
)

// TestInputChain checks the chat inputs the builder chains against what
// Gemini CLI really sent: for every recorded model call (a failed one too:
// its request went out), its input messages and those of the calls it
// continues (Prev), each followed by that call's output, must be the
// contents of one request the mock received (requests.jsonl.gz), each
// request matched once — the text,
// function calls and function responses in order (thoughts, not sent
// back, are not compared). A resumed session's request repeats each tool
// result of the earlier runs (Gemini CLI 0.61.0 rebuilds the history from
// the file and adds the results again): a repeat is compared once.
func TestInputChain(t *testing.T) {
	for _, dir := range fixtures.Scenarios(t, fixtures.Gemini061) {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			mains, _ := filepath.Glob(filepath.Join(dir, fixtures.MainGlob(fixtures.Gemini061)))
			reqs := requestContents(t, filepath.Join(dir, "requests.jsonl.gz"))
			matched := map[int]bool{}
			checked, total := 0, 0
			for _, f := range mains {
				s, err := Load(f)
				if err != nil {
					t.Fatal(err)
				}
				lists := [][]*transcript.LLMCall{nil}
				for _, turn := range s.Turns {
					lists[0] = append(lists[0], turn.Calls...)
				}
				for _, sub := range s.Subagents {
					lists = append(lists, sub.Calls)
				}
				for _, calls := range lists {
					for _, c := range calls {
						total++ // a failed call too: its request went out
						got, seq := strings.Join(chained(calls, c), "\n"), -1
						for i, r := range reqs {
							if !matched[i] && strings.Join(r, "\n") == got {
								seq = i
								break
							}
						}
						if seq < 0 {
							t.Errorf("%s: no request holds the chained input\n%s", c.MessageID, got)
							continue
						}
						matched[seq] = true
						checked++
					}
				}
			}
			if checked != total || checked == 0 {
				t.Errorf("%d of %d calls checked against %d requests", checked, total, len(reqs))
			}
		})
	}
}

// chained is the conversation c's request held as weave rebuilds it, in
// the form requestContents writes a request's contents.
func chained(calls []*transcript.LLMCall, c *transcript.LLMCall) []string {
	var out []string
	for _, m := range transcript.ChainedInput(calls, c) {
		for _, b := range m.Blocks {
			switch {
			case b.Type == transcript.BlockText && m.Role == "assistant":
				out = append(out, "model:"+b.Text)
			case b.Type == transcript.BlockText:
				out = append(out, "user:"+b.Text)
			case b.Type == transcript.BlockToolResult:
				var text string
				_ = json.Unmarshal(b.Content, &text)
				out = append(out, "tool:"+text)
			case b.Type == transcript.BlockToolUse:
				out = append(out, "call:"+b.Name)
			}
		}
	}
	return out
}

// requestContents reads the mock's request log: each model request's
// contents in the form chained writes them.
func requestContents(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := fixtures.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var l struct {
			Path string `json:"path"`
			Body struct {
				Contents []struct {
					Role  string `json:"role"`
					Parts []struct {
						part
						FunctionCall *struct {
							Name string `json:"name"`
						} `json:"functionCall"`
					} `json:"parts"`
				} `json:"contents"`
			} `json:"body"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(l.Path, "generateContent") && !strings.Contains(l.Path, "GenerateContent") {
			continue
		}
		var items []string
		for _, c := range l.Body.Contents {
			for _, p := range c.Parts {
				var item string
				switch {
				case p.FunctionCall != nil:
					item = "call:" + p.FunctionCall.Name
				case p.FunctionResponse != nil:
					item = "tool:" + responseText(p.FunctionResponse.Response)
				case p.Text != nil && !p.Thought:
					item = c.Role + ":" + *p.Text
				default:
					continue
				}
				if n := len(items); n > 0 && strings.HasPrefix(item, "tool:") && items[n-1] == item {
					continue // a resumed session's repeated tool result
				}
				items = append(items, item)
			}
		}
		out = append(out, items)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
