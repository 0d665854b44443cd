package codexsession

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
	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/rollout"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

type hookLine struct {
	Time           time.Time       `json:"time"`
	TranscriptSize int64           `json:"transcript_size"`
	Payload        json.RawMessage `json:"payload"`
}

// TestReplay re-enacts every recorded Codex session: its rollout files are
// copied to a scratch sessions tree, each cut back to the size it had when
// a recorded hook ran (files no hook has named yet are empty), the hook is
// fed to a Processor, and at the end the files are whole again. The final
// spans (the last copy of each id) must be the import's: same ids, names,
// parents, status, error types, token figures, every span ended.
func TestReplay(t *testing.T) {
	for _, dir := range fixtures.Scenarios(t, fixtures.Codex0169) {
		t.Run(filepath.Base(dir), func(t *testing.T) { replay(t, dir) })
	}
}

func replay(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, fixtures.MainGlob(fixtures.Codex0169)))
	scratch := filepath.Join(t.TempDir(), "sessions", "2026", "12", "06")
	if err := os.MkdirAll(scratch, 0o755); err != nil {
		t.Fatal(err)
	}
	full := map[string][]byte{} // base name → content
	var mainPath string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		full[filepath.Base(f)] = b
		if err := os.WriteFile(filepath.Join(scratch, filepath.Base(f)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if !rollout.IsSubagentFile(f) {
			mainPath = filepath.Join(scratch, filepath.Base(f))
		}
	}
	p := New(Settings{Now: func() time.Time { return time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC) }})
	latest := map[spanid.SpanID]spans.Span{}
	keep := func(out []spans.Span) {
		for _, sp := range out {
			latest[sp.SpanID] = sp
		}
	}
	f, err := os.Open(filepath.Join(dir, "hooks.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	n, last := 0, ""
	for sc.Scan() {
		var h hookLine
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			t.Fatal(err)
		}
		env := hookproto.Envelope{Proto: hookproto.Version, ReceivedAt: h.Time, TranscriptSize: h.TranscriptSize, Body: h.Payload, Agent: hookproto.AgentCodex}
		ev, err := hookproto.Decode(env)
		if err != nil {
			t.Fatal(err)
		}
		// The recorded paths point at the recording's temporary home.
		ev.TranscriptPath = remap(ev.TranscriptPath, scratch)
		ev.AgentTranscriptPath = remap(ev.AgentTranscriptPath, scratch)
		if ev.TranscriptPath != "" && h.TranscriptSize >= 0 {
			if err := os.WriteFile(ev.TranscriptPath, full[filepath.Base(ev.TranscriptPath)][:h.TranscriptSize], 0o644); err != nil {
				t.Fatal(err)
			}
		}
		keep(p.Event(ev, false))
		last = ev.HookEventName
		n++
	}
	if n == 0 {
		t.Fatal("no hooks")
	}
	for name, b := range full {
		path := filepath.Join(scratch, name)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		keep(p.FileChanged(path))
	}
	s, err := rollout.Load(mainPath)
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
	// The TUI fires no SessionEnd when it quits (compact-manual): such a
	// session stays open until weave-agentd's idle timeout.
	if last == hookproto.EventSessionEnd && !p.SessionClosed(s.ID) {
		t.Error("session not closed after SessionEnd")
	}
}

func remap(p, dir string) string {
	if p == "" {
		return ""
	}
	return filepath.Join(dir, filepath.Base(p))
}

func render(m map[spanid.SpanID]spans.Span) string {
	var lines []string
	for _, sp := range m {
		end := "ended"
		if sp.End.IsZero() {
			end = "OPEN"
		}
		lines = append(lines, fmt.Sprintf("%s %s parent=%s %s %s err=%v in=%v out=%v cached=%v", sp.SpanID, sp.Name, sp.ParentSpanID, sp.StatusCode, end,
			sp.Attributes[semconv.KeyErrorType], sp.Attributes[semconv.KeyInputTokens], sp.Attributes[semconv.KeyOutputTokens], sp.Attributes[semconv.KeyCacheReadTokens]))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
