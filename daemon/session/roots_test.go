package session

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

func TestCheckTranscript(t *testing.T) {
	d := t.TempDir()
	root := filepath.Join(d, "home", ".claude", "projects")
	must(t, os.MkdirAll(filepath.Join(root, "-w"), 0o700))
	legit := filepath.Join(root, "-w", "s.jsonl")
	must(t, os.WriteFile(legit, nil, 0o600))
	etc := filepath.Join(d, "etc")
	must(t, os.MkdirAll(etc, 0o755))
	passwd := filepath.Join(etc, "passwd.jsonl")
	must(t, os.WriteFile(passwd, []byte("root:x:0:0\n"), 0o644))
	must(t, os.Symlink(etc, filepath.Join(root, "escape")))              // projects/escape -> /etc
	must(t, os.Symlink(passwd, filepath.Join(root, "-w", "link.jsonl"))) // a transcript that is a link out
	must(t, os.Symlink(filepath.Join(d, "nowhere.jsonl"), filepath.Join(root, "-w", "dangling.jsonl")))
	// A projects directory that is itself a symlink (moved to another disk).
	data := filepath.Join(d, "data", "projects")
	must(t, os.MkdirAll(filepath.Join(data, "-x"), 0o700))
	moved := filepath.Join(d, "home2", ".claude", "projects")
	must(t, os.MkdirAll(filepath.Dir(moved), 0o700))
	must(t, os.Symlink(data, moved))
	roots := []string{root, moved}
	for _, tc := range []struct {
		name, path string
		ok         bool
	}{
		{"a transcript under the projects directory", legit, true},
		{"a transcript not written yet", filepath.Join(root, "-w", "new.jsonl"), true},
		{"in a project directory not made yet", filepath.Join(root, "-new", "s.jsonl"), true},
		{"a subagent transcript", filepath.Join(root, "-w", "s", "subagents", "agent-a1.jsonl"), true},
		{"under a symlinked projects directory", filepath.Join(moved, "-x", "s.jsonl"), true},
		{"/etc/passwd-like, outside every root", passwd, false},
		{"a symlinked directory out of the root", filepath.Join(root, "escape", "passwd.jsonl"), false},
		{"a transcript that is a symlink out", filepath.Join(root, "-w", "link.jsonl"), false},
		{"a dangling symlink", filepath.Join(root, "-w", "dangling.jsonl"), false},
		{"a .. path", root + "/-w/../../../../etc/passwd.jsonl", false},
		{"a .. path that stays inside", root + "/-w/../-w/s.jsonl", false},
		{"relative", "projects/-w/s.jsonl", false},
		{"not a .jsonl file", filepath.Join(root, "-w", "s.json"), false},
		{"the root itself", root, false},
		{"a sibling of the root with the same prefix", root + "-evil/s.jsonl", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckTranscript(tc.path, roots)
			if tc.ok && err != nil {
				t.Errorf("CheckTranscript(%s): got %v, want nil", tc.path, err)
			}
			if !tc.ok && !errors.Is(err, ErrTranscriptOutside) {
				t.Errorf("CheckTranscript(%s): got %v, want ErrTranscriptOutside", tc.path, err)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// writeTranscript writes a one-turn transcript whose answer is answer.
func writeTranscript(t *testing.T, path, session, answer string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o700))
	lines := []string{
		`{"type":"user","promptId":"P1","uuid":"u1","parentUuid":null,"sessionId":"` + session + `","timestamp":"2026-05-01T10:00:00Z","message":{"role":"user","content":"hello"}}`,
		`{"type":"assistant","uuid":"a1","parentUuid":"u1","sessionId":"` + session + `","timestamp":"2026-05-01T10:00:01Z","requestId":"r1","message":{"id":"msg_1","role":"assistant","model":"claude-test","content":[{"type":"text","text":"` + answer + `"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":2}}}`,
	}
	must(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
}

// A hook payload naming a file outside the projects directories gets the
// session traced from its hooks alone: the file is not read, the refusal
// counted; the same payload naming a transcript inside is read.
func TestProcessorRefusesTranscriptOutsideRoots(t *testing.T) {
	d := t.TempDir()
	root := filepath.Join(d, "projects")
	outside := filepath.Join(d, "elsewhere", "s1.jsonl")
	writeTranscript(t, outside, "s1", "SECRET FROM OUTSIDE")
	inside := filepath.Join(root, "-w", "s2.jsonl")
	writeTranscript(t, inside, "s2", "answer from the transcript")
	must(t, os.Symlink(filepath.Dir(outside), filepath.Join(root, "link")))
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

	p := New(Settings{TranscriptRoots: []string{root}})
	var all []byte
	for _, ev := range []map[string]any{
		{"hook_event_name": "UserPromptSubmit", "session_id": "s1", "transcript_path": outside, "prompt_id": "P1", "prompt": "hello"},
		{"hook_event_name": "Stop", "session_id": "s1", "transcript_path": outside, "prompt_id": "P1"},
		{"hook_event_name": "UserPromptSubmit", "session_id": "s3", "transcript_path": filepath.Join(root, "link", "s1.jsonl"), "prompt_id": "P3"},
		{"hook_event_name": "SubagentStop", "session_id": "s3", "agent_id": "a1", "agent_transcript_path": outside},
	} {
		b, _ := json.Marshal(p.Event(event(t, ev, t0), false))
		all = append(all, b...)
	}
	if strings.Contains(string(all), "SECRET FROM OUTSIDE") {
		t.Errorf("spans carry the content of a file outside the projects directories")
	}
	st := p.Stats()
	if link := filepath.Join(root, "link", "s1.jsonl"); st.TranscriptsRefused != 2 || st.LastRefused != link {
		t.Errorf("stats: %d refused, last %q; want 2 distinct paths, the last %s", st.TranscriptsRefused, st.LastRefused, link)
	}
	for _, w := range p.Watches() {
		if strings.HasPrefix(w, filepath.Dir(outside)) {
			t.Errorf("watching %s, outside the projects directories", w)
		}
	}

	out := p.Event(event(t, map[string]any{"hook_event_name": "Stop", "session_id": "s2", "transcript_path": inside, "prompt_id": "P1"}, t0), false)
	if b, _ := json.Marshal(out); !strings.Contains(string(b), "answer from the transcript") {
		t.Errorf("a transcript inside the projects directory was not read: %s", b)
	}

	// A transcript swapped for a symlink out after its session started is
	// not read again.
	must(t, os.Remove(inside))
	must(t, os.Symlink(outside, inside))
	writeTranscript(t, outside, "s2", "SECRET FROM OUTSIDE")
	out = p.FileChanged(inside)
	if b, _ := json.Marshal(out); strings.Contains(string(b), "SECRET FROM OUTSIDE") {
		t.Errorf("a transcript swapped for a symlink out was read")
	}
	if got := p.Stats().TranscriptsRefused; got != 3 {
		t.Errorf("refused after the swap: got %d, want 3", got)
	}
}

// Rebuild, for spans a damaged spool lost: from a session's journaled
// events it gives exactly the spans the live processor ended with; from
// its transcript alone (events gone), the same spans, ended.
func TestRebuild(t *testing.T) {
	for _, sc := range []string{"parallel", "background", "apierror", "subfail"} {
		t.Run(sc, func(t *testing.T) {
			r, _ := replayCapture(t, fixtures.Path(t, fixtures.E2E2197, sc))
			live := r.final()
			bySession := map[string][]hookproto.Event{}
			for _, ev := range r.events {
				bySession[ev.SessionID] = append(bySession[ev.SessionID], ev)
			}
			p := New(Settings{IntegrationVersion: "test", TranscriptRoots: []string{filepath.Join(r.dst, "projects")}})
			fromEvents, fromTranscript := map[spanid.SpanID]spans.Span{}, map[spanid.SpanID]spans.Span{}
			for sid, evs := range bySession {
				for _, sp := range p.Rebuild(sid, evs) {
					fromEvents[sp.SpanID] = sp
				}
				for _, sp := range p.Rebuild(sid, nil) {
					fromTranscript[sp.SpanID] = sp
				}
			}
			if len(fromEvents) != len(live) || len(fromTranscript) != len(live) {
				t.Errorf("spans: live %d, rebuilt from the events %d, from the transcript %d; want all equal", len(live), len(fromEvents), len(fromTranscript))
			}
			for id, w := range live {
				if g, ok := fromEvents[id]; !ok || g.Hash() != w.Hash() {
					t.Errorf("from the events: span %s %q missing or different", id, w.Name)
				}
				if g, ok := fromTranscript[id]; !ok || g.End.IsZero() || g.Name != w.Name || g.ParentSpanID != w.ParentSpanID {
					t.Errorf("from the transcript: span %s %q missing, running or misplaced", id, w.Name)
				}
			}
			if st := p.Stats(); st.LiveSessions != 0 || st.Events != 0 {
				t.Errorf("Rebuild changed the processor's own state: %+v", st)
			}
		})
	}
	p := New(Settings{TranscriptRoots: []string{t.TempDir()}})
	for _, sid := range []string{"gone", "../../etc/passwd", ""} {
		if got := p.Rebuild(sid, nil); got != nil {
			t.Errorf("Rebuild(%q) with nothing to build from: got %d spans, want nil", sid, len(got))
		}
	}
}
