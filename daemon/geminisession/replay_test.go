package geminisession

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/geminichat"
	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

type hookLine struct {
	Time           time.Time       `json:"time"`
	Event          string          `json:"event"`
	TranscriptSize int64           `json:"transcript_size"`
	Payload        json.RawMessage `json:"payload"`
}

// TestReplay re-enacts every recorded Gemini CLI session: its chat file is
// copied to a scratch ~/.gemini/tmp tree, cut back to the size it had when
// each recorded hook ran (a resume's SessionStart names a second file with
// only the metadata, as when Gemini CLI resumes in another minute), the hook is fed to a Processor (Roots set to the
// scratch tree), and at the end the file is whole again. The final spans
// (the last copy of each id) must be the import's — same ids, names,
// parents, times, status, error types, token figures, every span ended —
// and a turn with a tool must have been seen running before it ended.
func TestReplay(t *testing.T) {
	for _, dir := range fixtures.Scenarios(t, fixtures.Gemini061) {
		t.Run(filepath.Base(dir), func(t *testing.T) { replay(t, dir) })
	}
}

func replay(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, fixtures.MainGlob(fixtures.Gemini061)))
	if len(files) != 1 {
		t.Fatalf("%d chat files, want 1", len(files))
	}
	full, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), ".gemini", "tmp")
	chats := filepath.Join(tmp, "work", "chats")
	if err := os.MkdirAll(chats, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(chats, filepath.Base(files[0]))
	// Subagent chats (chats/<session id>/) are whole from the start: the
	// live path reads one only once the main file records its call.
	subs, _ := filepath.Glob(filepath.Join(filepath.Dir(files[0]), "*", "*.jsonl"))
	for _, f := range subs {
		rel, _ := filepath.Rel(filepath.Dir(files[0]), f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(chats, rel)), 0o755)
		if err := os.WriteFile(filepath.Join(chats, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := New(Settings{Roots: []string{tmp}, Now: func() time.Time { return time.Date(2026, 12, 6, 23, 0, 0, 0, time.UTC) }})
	latest := map[spanid.SpanID]spans.Span{}
	running := false
	keep := func(out []spans.Span) {
		for _, sp := range out {
			latest[sp.SpanID] = sp
			if sp.ParentSpanID.IsZero() && sp.End.IsZero() {
				running = true
			}
		}
	}
	f, err := os.Open(filepath.Join(dir, "hooks.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	tools := false
	for sc.Scan() {
		var h hookLine
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			t.Fatal(err)
		}
		tools = tools || h.Event == EventBeforeTool
		ev, err := hookproto.Decode(hookproto.Envelope{Proto: hookproto.Version, ReceivedAt: h.Time, TranscriptSize: h.TranscriptSize, Body: h.Payload, Agent: hookproto.AgentGemini})
		if err != nil {
			t.Fatal(err)
		}
		ev.TranscriptPath = path // the recording's temporary home, moved
		if ev.HookEventName == EventSessionStart && ev.Source == "resume" {
			// Resumed in another minute, Gemini CLI names a new file
			// holding only the metadata at SessionStart (FINDINGS.md).
			ev.TranscriptPath = filepath.Join(chats, "session-2099-01-01T00-00-"+filepath.Base(path)[len(filepath.Base(path))-14:])
			first, _, _ := strings.Cut(string(full), "\n")
			if err := os.WriteFile(ev.TranscriptPath, []byte(first+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			keep(p.Event(ev, false))
			continue
		}
		if h.TranscriptSize >= 0 {
			if err := os.WriteFile(path, full[:h.TranscriptSize], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		keep(p.Event(ev, false))
	}
	if err := os.WriteFile(path, full, 0o644); err != nil {
		t.Fatal(err)
	}
	keep(p.FileChanged(path))
	s, err := geminichat.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[spanid.SpanID]spans.Span{}
	for _, sp := range spans.Build(s, spans.Options{}) {
		want[sp.SpanID] = sp
	}
	if got, w := render(latest), render(want); got != w {
		t.Errorf("live spans differ from the import\n--- live:\n%s\n--- import:\n%s", got, w)
	}
	if !p.SessionClosed(s.ID) {
		t.Error("session not closed after SessionEnd")
	}
	if tools && !running {
		t.Error("no turn root was emitted running (without an end) before it ended")
	}
	// A rebuild from the chat file alone (no journaled events) is the import.
	if got := render(byID(p.Rebuild(s.ID, nil))); got != render(want) {
		t.Errorf("Rebuild from the file differs from the import:\n%s", got)
	}
}

func byID(out []spans.Span) map[spanid.SpanID]spans.Span {
	m := map[spanid.SpanID]spans.Span{}
	for _, sp := range out {
		m[sp.SpanID] = sp
	}
	return m
}

func render(m map[spanid.SpanID]spans.Span) string {
	var lines []string
	for _, sp := range m {
		end := sp.End.Format(time.RFC3339Nano)
		if sp.End.IsZero() {
			end = "OPEN"
		}
		lines = append(lines, fmt.Sprintf("%s %s parent=%s %s %s..%s err=%v orphan=%v in=%v out=%v cached=%v", sp.SpanID, sp.Name, sp.ParentSpanID, sp.StatusCode,
			sp.Start.Format(time.RFC3339Nano), end, sp.Attributes[semconv.KeyErrorType], sp.Attributes[semconv.KeyOrphanReason],
			sp.Attributes[semconv.KeyInputTokens], sp.Attributes[semconv.KeyOutputTokens], sp.Attributes[semconv.KeyCacheReadTokens]))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
