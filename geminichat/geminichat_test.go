package geminichat

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/spans"
)

const meta = `{"sessionId":"s1","projectHash":"h","startTime":"2026-01-01T00:00:00.000Z","kind":"main"}`

// records folds lines and returns the session.
func records(t *testing.T, lines ...string) *Builder {
	t.Helper()
	b := NewBuilder("/x/.gemini/tmp/p/chats/session-2026-01-01T00-00-s1.jsonl")
	if _, err := b.Tail(strings.NewReader(strings.Join(lines, "\n")+"\n"), 0); err != nil {
		t.Fatal(err)
	}
	return b
}

// A message record with a known id replaces it in place (tool calls and
// tokens land on the gemini message later); the session context and
// functionResponse messages are no prompts; a tool call's result, status
// and times come from its entry.
func TestFold(t *testing.T) {
	b := records(t, meta,
		`{"$set":{"messages":[{"id":"ctx","timestamp":"2026-01-01T00:00:00.100Z","type":"user","content":[{"text":"<session_context>\nhi\n</session_context>"}]}]}}`,
		`{"id":"u1","timestamp":"2026-01-01T00:00:01.000Z","type":"user","content":[{"text":"list"}]}`,
		`{"id":"g1","timestamp":"2026-01-01T00:00:02.000Z","type":"gemini","content":"Listing.","thoughts":[],"tokens":{"input":100,"output":5,"cached":40,"thoughts":3,"tool":2,"total":110},"model":"gemini-2.5-pro"}`,
		`{"id":"g1","timestamp":"2026-01-01T00:00:02.000Z","type":"gemini","content":"Listing.","tokens":{"input":100,"output":5,"cached":40,"thoughts":3,"tool":2,"total":110},"model":"gemini-2.5-pro","toolCalls":[{"id":"c1","name":"run_shell_command","args":{"command":"ls"},"result":[{"functionResponse":{"id":"c1","name":"run_shell_command","response":{"error":"boom"}}}],"status":"error","timestamp":"2026-01-01T00:00:03.000Z"}]}`,
		`{"id":"u2","timestamp":"2026-01-01T00:00:03.500Z","type":"user","content":[{"functionResponse":{"id":"c1","name":"run_shell_command","response":{"error":"boom"}}}]}`,
		`{"id":"g2","timestamp":"2026-01-01T00:00:04.000Z","type":"gemini","content":"Done.","model":"gemini-2.5-pro"}`,
	)
	s := b.Session()
	if s.ID != "s1" || s.Agent != AgentName || s.Provider != Provider || len(s.Turns) != 1 {
		t.Fatalf("session %q agent %q provider %q with %d turns", s.ID, s.Agent, s.Provider, len(s.Turns))
	}
	tu := s.Turns[0]
	if tu.Key != "u1" || tu.Prompt != "list" || len(tu.Calls) != 2 || len(tu.Tools) != 1 {
		t.Fatalf("turn %q prompt %q: %d calls, %d tools", tu.Key, tu.Prompt, len(tu.Calls), len(tu.Tools))
	}
	c := tu.Calls[0]
	if u := c.Usage; u.TotalInput() != 102 || u.CacheReadInputTokens != 40 || u.OutputTokens != 8 || u.ReasoningTokens() != 3 {
		t.Errorf("usage %+v", u)
	}
	if c.StopReason != "tool_calls" || !c.Start.Equal(tu.Start) || c.End.Format("05.000") != "02.000" {
		t.Errorf("call 1: stop %q, %v..%v", c.StopReason, c.Start, c.End)
	}
	if c2 := tu.Calls[1]; c2.Start.Format("05.000") != "03.500" || c2.HasUsage || len(c2.Input) != 1 || c2.Input[0].Role != "tool" {
		t.Errorf("call 2 starts %v, usage %v, input %+v", c2.Start, c2.HasUsage, c2.Input)
	}
	tc := tu.Tools[0]
	if !tc.HasResult || !tc.IsError || tc.Result != "boom" || tc.CallMessageID != "g1" || tc.End.Format("05.000") != "03.000" {
		t.Errorf("tool %+v", tc)
	}
	if tu.End.Format("05.000") != "04.000" {
		t.Errorf("turn ends %v", tu.End)
	}
}

// A prompt a history rewrite takes out before any answer is a failed
// turn (the request failed); a rewrite adds no messages (resume writes
// synthetic ones) and keeps what was recorded of those it repeats;
// $rewindTo removes nothing that happened.
func TestHistoryRewrites(t *testing.T) {
	b := records(t, meta,
		`{"id":"u1","timestamp":"2026-01-01T00:00:01.000Z","type":"user","content":[{"text":"one"}]}`,
		`{"id":"g1","timestamp":"2026-01-01T00:00:02.000Z","type":"gemini","content":"A.","model":"m","tokens":{"input":10,"output":1}}`,
		`{"id":"u2","timestamp":"2026-01-01T00:00:03.000Z","type":"user","content":[{"text":"two"}]}`,
		`{"$set":{"messages":[{"id":"u1","timestamp":"2026-01-01T00:09:00.000Z","type":"user","content":[{"text":"one"}]},{"id":"g1","timestamp":"2026-01-01T00:09:00.000Z","type":"gemini","content":[{"text":"A."}]},{"id":"g1_response","timestamp":"2026-01-01T00:09:00.000Z","type":"user","content":[{"text":"x"}]}]}}`,
		`{"$rewindTo":"u1"}`,
		`{"id":"u3","timestamp":"2026-01-01T00:00:04.000Z","type":"user","content":"three"}`,
		`{"id":"g3","timestamp":"2026-01-01T00:00:05.000Z","type":"gemini","content":"C.","model":"m"}`,
		`not json`,
	)
	s := b.Session()
	if b.Skipped != 1 || len(s.Turns) != 3 {
		t.Fatalf("skipped %d, %d turns", b.Skipped, len(s.Turns))
	}
	if t1 := s.Turns[0]; len(t1.Calls) != 1 || t1.Calls[0].Usage.InputTokens != 10 || t1.End.Format("04:05") != "00:02" {
		t.Errorf("turn 1 lost its record: %d calls, end %v", len(t1.Calls), t1.End)
	}
	if f := s.Turns[1].Failed(); f == nil || s.Turns[1].Prompt != "two" {
		t.Errorf("turn 2 (%q) not failed: %+v", s.Turns[1].Prompt, f)
	}
	if t3 := s.Turns[2]; t3.Prompt != "three" || len(t3.Calls) != 1 || t3.Failed() != nil {
		t.Errorf("turn 3: %q, %d calls", t3.Prompt, len(t3.Calls))
	}
}

// A legacy single-document file (session-*.json) reads like the log; a
// line without its newline is held back.
func TestLegacyAndTail(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "session-2025-01-01T00-00-abcd.json")
	doc := `{"sessionId":"s2","projectHash":"h","messages":[
  {"id":"u1","timestamp":"2025-01-01T00:00:01Z","type":"user","content":[{"text":"hi"}]},
  {"id":"g1","timestamp":"2025-01-01T00:00:02Z","type":"gemini","content":"Hello.","model":"m"}]}`
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(p)
	if err != nil || s.ID != "s2" || len(s.Turns) != 1 || len(s.Turns[0].Calls) != 1 {
		t.Fatalf("legacy: %v, %+v", err, s)
	}
	b := NewBuilder("x.jsonl")
	data := meta + "\n" + `{"id":"u1","type":"user","content":"hi"}`
	off, err := b.Tail(strings.NewReader(data), 0)
	if err != nil || off != int64(len(meta)+1) || len(b.Session().Turns) != 0 {
		t.Errorf("tail: offset %d of %d, %v, turns %d", off, len(data), err, len(b.Session().Turns))
	}
}

// FuzzBuilder feeds arbitrary bytes as chat records: the builder never
// panics, Tail stops after the last newline, and the span builder accepts
// whatever session comes out.
func FuzzBuilder(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(fixtures.Path(f, fixtures.Gemini061), "*", fixtures.MainGlob(fixtures.Gemini061)))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) < 16<<10 {
			f.Add(b)
		}
		for _, l := range bytes.Split(b, []byte("\n")) {
			if len(l) < 4096 {
				f.Add(append(l, '\n'))
			}
		}
	}
	f.Add([]byte(meta + "\n" + `{"id":"u","type":"user","content":[{"text":"a"}]}` + "\n" + `{"$set":{"messages":[]}}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBuilder("/s/chats/session-2026-01-01T00-00-00000000.jsonl")
		off, err := b.Tail(bytes.NewReader(data), 0)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.LastIndexByte(data, '\n'); int64(i+1) != off {
			t.Fatalf("offset %d, want %d (after the last newline)", off, i+1)
		}
		spans.Build(b.Session(), spans.Options{})
		b.AddDocument(data)
		spans.Build(b.Session(), spans.Options{})
	})
}
