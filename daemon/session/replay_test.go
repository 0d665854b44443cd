package session

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
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// A recorded hook call (a capture's hooks.jsonl), with what the
// transcript files held at that moment.
type recordedHook struct {
	TS      string          `json:"ts"`
	Event   string          `json:"event"`
	Payload json.RawMessage `json:"payload"`
	State   *fileStateRec   `json:"transcript_state"`
	Agent   *fileStateRec   `json:"agent_transcript_state"`
}

type fileStateRec struct {
	Path   string `json:"path"`
	Exists bool   `json:"exists"`
	Bytes  int64  `json:"bytes"`
}

// replayer re-enacts a capture: before each hook, every transcript file is
// cut to what it held when the hook ran (files are append-only, so that is a
// prefix of the final file); then the hook is delivered to a Processor.
type replayer struct {
	t       *testing.T
	src     string // capture dir
	dst     string // temp HOME-like dir
	prefix  string // the capture's original projects dir prefix
	p       *Processor
	emitted []spans.Span
	events  []hookproto.Event // delivered, in order
	// rootBeforeStop records, per trace, whether an in-progress root was
	// emitted before the turn's Stop hook.
	liveRoots map[spanid.TraceID]bool
	stops     map[spanid.TraceID]bool
}

func (r *replayer) local(path string) string {
	i := strings.Index(path, "/projects/")
	if i < 0 {
		return path
	}
	return filepath.Join(r.dst, path[i+1:])
}

func (r *replayer) source(path string) string {
	i := strings.Index(path, "/projects/")
	return filepath.Join(r.src, path[i+1:])
}

// cut writes the first n bytes of the capture's final file (or removes it).
func (r *replayer) cut(st *fileStateRec) {
	if st == nil || st.Path == "" {
		return
	}
	dst := r.local(st.Path)
	if !st.Exists {
		return // a file that does not exist yet stays as it is (maybe absent)
	}
	data, err := os.ReadFile(r.source(st.Path))
	if err != nil {
		return // e.g. a compaction SubagentStop's never-created file
	}
	if st.Bytes < int64(len(data)) {
		data = data[:st.Bytes]
	}
	if cur, err := os.ReadFile(dst); err == nil && len(cur) >= len(data) {
		return
	}
	os.MkdirAll(filepath.Dir(dst), 0o755)
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		r.t.Fatal(err)
	}
	// Copy a subagent's meta as soon as its transcript exists.
	if meta := strings.TrimSuffix(r.source(st.Path), ".jsonl") + ".meta.json"; fileExists(meta) {
		b, _ := os.ReadFile(meta)
		os.WriteFile(strings.TrimSuffix(dst, ".jsonl")+".meta.json", b, 0o644)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// event decodes a recorded hook as the daemon would receive it here.
func (r *replayer) event(h recordedHook) hookproto.Event {
	payload := string(h.Payload)
	payload = strings.ReplaceAll(payload, r.prefix, filepath.Join(r.dst, "projects"))
	ts, _ := time.Parse(time.RFC3339Nano, h.TS)
	env := hookproto.Envelope{Body: []byte(payload), ReceivedAt: ts, TranscriptSize: -1}
	ev, err := hookproto.Decode(env)
	if err != nil {
		r.t.Fatalf("decode %s: %v", h.Event, err)
	}
	return ev
}

func (r *replayer) deliver(h recordedHook) {
	ev := r.event(h)
	r.events = append(r.events, ev)
	out := r.p.Event(ev, false)
	r.record(out)
	if ev.HookEventName == hookproto.EventStop && ev.PromptID != "" {
		r.stops[spanid.TurnTraceID(ev.PromptID)] = true
	}
}

func (r *replayer) record(out []spans.Span) {
	for _, sp := range out {
		if sp.ParentSpanID.IsZero() && sp.End.IsZero() && !r.stops[sp.TraceID] {
			r.liveRoots[sp.TraceID] = true
		}
	}
	r.emitted = append(r.emitted, out...)
}

// final returns the newest version of every span emitted.
func (r *replayer) final() map[spanid.SpanID]spans.Span {
	m := map[spanid.SpanID]spans.Span{}
	for _, sp := range r.emitted {
		m[sp.SpanID] = sp
	}
	return m
}

func loadHooks(t *testing.T, path string) []recordedHook {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []recordedHook
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var h recordedHook
		if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
			t.Fatalf("hooks.jsonl: %v", err)
		}
		out = append(out, h)
	}
	return out
}

func replayCapture(t *testing.T, dir string) (*replayer, []recordedHook) {
	t.Helper()
	return replayBursts(t, dir, 0)
}

// replayBursts replays a capture feeding the hooks burst at a time
// through Processor.Deferred (as the daemon does with queued events); 0:
// one Event call per hook, no Deferred.
func replayBursts(t *testing.T, dir string, burst int) (*replayer, []recordedHook) {
	t.Helper()
	return replayWith(t, dir, burst, Settings{IntegrationVersion: "test"})
}

// replayWith is replayBursts with the processor's settings.
func replayWith(t *testing.T, dir string, burst int, set Settings) (*replayer, []recordedHook) {
	t.Helper()
	r, hooks := newReplayerWith(t, dir, set)
	if burst == 0 {
		for _, h := range hooks {
			r.cut(h.State)
			r.cut(h.Agent)
			r.deliver(h)
		}
	}
	for i := 0; burst > 0 && i < len(hooks); i += burst {
		r.record(r.p.Deferred(func() {
			for _, h := range hooks[i:min(i+burst, len(hooks))] {
				r.cut(h.State)
				r.cut(h.Agent)
				r.deliver(h)
			}
		}))
	}
	r.landAll(func(dst string) { r.record(r.p.FileChanged(dst)) })
	return r, hooks
}

// newReplayer prepares the replay of the capture in dir (nothing
// delivered yet) and returns it with the capture's hooks.
func newReplayer(t *testing.T, dir string) (*replayer, []recordedHook) {
	t.Helper()
	return newReplayerWith(t, dir, Settings{IntegrationVersion: "test"})
}

func newReplayerWith(t *testing.T, dir string, set Settings) (*replayer, []recordedHook) {
	t.Helper()
	hooks := loadHooks(t, filepath.Join(dir, "hooks.jsonl"))
	r := &replayer{t: t, src: dir, dst: t.TempDir(), p: New(set),
		liveRoots: map[spanid.TraceID]bool{}, stops: map[spanid.TraceID]bool{}}
	for _, h := range hooks {
		if h.State != nil && r.prefix == "" {
			if i := strings.Index(h.State.Path, "/projects/"); i >= 0 {
				r.prefix = h.State.Path[:i+len("/projects")]
			}
		}
	}
	return r, hooks
}

// landAll writes every transcript file of the capture in full (everything
// lands eventually) and calls changed with each one's path.
func (r *replayer) landAll(changed func(dst string)) {
	files, _ := filepath.Glob(filepath.Join(r.src, "projects", "*", "*.jsonl"))
	subs, _ := filepath.Glob(filepath.Join(r.src, "projects", "*", "*", "subagents", "*"))
	for _, f := range append(files, subs...) {
		rel, _ := filepath.Rel(r.src, f)
		dst := filepath.Join(r.dst, rel)
		os.MkdirAll(filepath.Dir(dst), 0o755)
		b, _ := os.ReadFile(f)
		os.WriteFile(dst, b, 0o644)
		changed(dst)
	}
}

// TestDeferredMatchesEventByEvent: feeding hooks in bursts through
// Deferred (the daemon's catch-up path and its start-up replay) ends with
// exactly the spans of feeding them one by one.
func TestDeferredMatchesEventByEvent(t *testing.T) {
	var dirs []string
	for _, sc := range []string{"subagent", "resume", "failure", "compact", "interactive"} {
		dirs = append(dirs, fixtures.Path(t, fixtures.ClaudeCode2330, sc))
	}
	for _, sc := range []string{"parallel", "background", "subfail"} {
		dirs = append(dirs, fixtures.Path(t, fixtures.E2E2197, sc))
	}
	for _, dir := range dirs {
		t.Run(fixtures.Rel(t, dir), func(t *testing.T) {
			one, _ := replayCapture(t, dir)
			want := one.final()
			for _, burst := range []int{3, 1 << 20} {
				r, _ := replayBursts(t, dir, burst)
				got := r.final()
				if len(got) != len(want) {
					t.Errorf("bursts of %d: %d spans, one by one %d", burst, len(got), len(want))
				}
				for id, w := range want {
					g, ok := got[id]
					if !ok {
						t.Errorf("bursts of %d: span %s %q missing", burst, id, w.Name)
					} else if g.Hash() != w.Hash() {
						t.Errorf("bursts of %d: span %s %q differs", burst, id, w.Name)
					}
				}
			}
		})
	}
}

// TestReplayMatchesImport: replaying a capture's hooks with the transcript
// growing as it really did ends with the same span trees as importing the
// finished transcripts — same ids, names, parents and statuses, everything
// ended — and each turn's root was exported while the turn was running.
func TestReplayMatchesImport(t *testing.T) {
	var dirs []string
	for _, set := range []string{fixtures.ClaudeCode2197, fixtures.ClaudeCode2330} {
		for _, sc := range []string{"simple", "tools", "subagent", "resume", "failure", "multiturn", "compact", "extras", "interactive"} {
			dirs = append(dirs, fixtures.Path(t, set, sc))
		}
	}
	// Parallel identical subagents, a nested subagent, a background subagent
	// and command finishing after their turn, an API error, a failing
	// subagent, a fork of a fork with the CLI and with the Agent SDK (real
	// 2.1.197 and 2.1.330 runs of e2e/scenarios).
	for _, set := range []string{fixtures.E2E2197, fixtures.E2E2330} {
		for _, sc := range []string{"parallel", "nested", "background", "apierror", "subfail", "bgfork", "interrupt", "forktree", "sdkfork"} {
			dirs = append(dirs, fixtures.Path(t, set, sc))
		}
	}
	type run struct {
		dir   string
		input spans.InputMode
	}
	var runs []run
	for _, dir := range dirs {
		runs = append(runs, run{dir, spans.InputReference})
	}
	// Whole inputs (chat_input full): compaction, subagents, forks, a
	// failed call.
	for _, sc := range []string{"compact", "subagent", "resume"} {
		runs = append(runs, run{fixtures.Path(t, fixtures.ClaudeCode2330, sc), spans.InputFull})
	}
	for _, sc := range []string{"forktree", "sdkfork", "apierror", "nested"} {
		runs = append(runs, run{fixtures.Path(t, fixtures.E2E2197, sc), spans.InputFull})
	}
	for _, rn := range runs {
		dir := rn.dir
		name := fixtures.Rel(t, dir)
		if rn.input != spans.InputReference {
			name += "/input=" + rn.input.String()
		}
		t.Run(name, func(t *testing.T) {
			r, _ := replayWith(t, dir, 0, Settings{IntegrationVersion: "test", Input: rn.input})
			got := r.final()

			want := map[spanid.SpanID]spans.Span{}
			files, _ := filepath.Glob(filepath.Join(r.dst, "projects", "*", "*.jsonl"))
			res := transcript.NewResolver()
			var traces []spanid.TraceID
			for _, f := range files {
				s, _, err := transcript.Load(f, res)
				if err != nil {
					t.Fatal(err)
				}
				for _, sp := range spans.Build(s, spans.Options{IntegrationVersion: "test", Input: rn.input}) {
					want[sp.SpanID] = sp
					if sp.ParentSpanID.IsZero() {
						traces = append(traces, sp.TraceID)
					}
				}
			}
			var missing, extra []string
			for id, w := range want {
				g, ok := got[id]
				if !ok {
					missing = append(missing, w.Name+" "+id.String())
					continue
				}
				if g.End.IsZero() {
					t.Errorf("span %s %q still running at the end of the session", id, w.Name)
				}
				// weave.claude_code.source differs by design: the live turn
				// says how its session started (SessionStart's source; none
				// when the daemon saw no SessionStart for the session, as
				// for a --fork-session copy whose SessionStart came under
				// the parent's id), the imported one that it was imported.
				if w.ParentSpanID.IsZero() {
					switch src, _ := g.Attributes[semconv.KeySource].(string); src {
					case "", "startup", "resume", "clear", "compact", "fork":
					default:
						t.Errorf("span %s %q: live %s=%q, want SessionStart's source", id, w.Name, semconv.KeySource, src)
					}
					if src := w.Attributes[semconv.KeySource]; src != semconv.SourceImport {
						t.Errorf("span %s %q: import %s=%v, want %q", id, w.Name, semconv.KeySource, src, semconv.SourceImport)
					}
				}
				if d := liveVsImport(g, w); d != "" {
					t.Errorf("span %s %q: live differs from import: %s", id, w.Name, d)
				}
			}
			for id, g := range got {
				if _, ok := want[id]; !ok {
					extra = append(extra, g.Name+" "+id.String())
				}
			}
			sort.Strings(missing)
			sort.Strings(extra)
			if len(missing) > 0 || len(extra) > 0 {
				t.Errorf("live vs import: missing %v, extra %v", missing, extra)
			}
			// Every turn a UserPromptSubmit announced was seen running (a
			// local command such as /exit fires none: it is over when seen).
			hooks := loadHooks(t, filepath.Join(dir, "hooks.jsonl"))
			prompted := map[spanid.TraceID]bool{}
			for _, h := range hooks {
				var p struct {
					PromptID string `json:"prompt_id"`
				}
				if h.Event == "UserPromptSubmit" && json.Unmarshal(h.Payload, &p) == nil && p.PromptID != "" {
					prompted[spanid.TurnTraceID(p.PromptID)] = true
				}
			}
			for _, tr := range traces {
				if !r.liveRoots[tr] && (prompted[tr] || len(prompted) == 0) {
					t.Errorf("trace %s: no in-progress root exported before its Stop", tr)
				}
			}
			// A repeated Stop (and any replayed event) emits nothing new.
			before := len(r.emitted)
			for _, h := range hooks {
				if h.Event == "Stop" {
					r.deliver(h)
				}
			}
			if n := len(r.emitted) - before; n != 0 {
				t.Errorf("repeated Stop hooks emitted %d spans again, want 0", n)
			}
		})
	}
}

func TestPermissionEventsOnToolSpan(t *testing.T) {
	r, _ := replayCapture(t, fixtures.Path(t, fixtures.ClaudeCode2197, "interactive"))
	var found bool
	for _, sp := range r.final() {
		if sp.Name != "execute_tool Bash" {
			continue
		}
		var names []string
		for _, e := range sp.Events {
			names = append(names, e.Name)
			if e.Name == semconv.EventPermissionResolved && e.Attributes[semconv.KeyPermissionApproved] != true {
				t.Errorf("permission resolved approved=%v, want true (the user pressed Enter)", e.Attributes[semconv.KeyPermissionApproved])
			}
		}
		if strings.Join(names, ",") != semconv.EventPermissionRequest+","+semconv.EventPermissionResolved {
			t.Errorf("Bash span events = %v, want request then resolved", names)
		}
		found = true
	}
	if !found {
		t.Fatal("no Bash span")
	}
}

// TestRestartMidTurn: a daemon killed mid-session starts over with an empty
// Processor; replaying the journal (every event so far) and reading the
// transcripts again yields the same final trees — nothing lost, same ids.
func TestRestartMidTurn(t *testing.T) {
	dir := fixtures.Path(t, fixtures.ClaudeCode2197, "subagent")
	full, hooks := replayCapture(t, dir)
	want := full.final()

	r := &replayer{t: t, src: dir, dst: t.TempDir(), p: New(Settings{}), prefix: full.prefix,
		liveRoots: map[spanid.TraceID]bool{}, stops: map[spanid.TraceID]bool{}}
	half := len(hooks) / 2
	for _, h := range hooks[:half] {
		r.cut(h.State)
		r.cut(h.Agent)
		r.deliver(h)
	}
	// SIGKILL: the old processor is gone; a new one replays the journal.
	r.p = New(Settings{})
	for _, h := range hooks {
		if hooks[half].TS <= h.TS {
			r.cut(h.State)
			r.cut(h.Agent)
		}
		r.deliver(h)
	}
	r.landAll(func(dst string) { r.record(r.p.FileChanged(dst)) })
	got := r.final()
	for id, w := range want {
		g, ok := got[id]
		if !ok || g.ParentSpanID != w.ParentSpanID || g.End.IsZero() {
			t.Errorf("span %s %q after restart: present=%v parent %s (want %s) end %v", id, w.Name, ok, g.ParentSpanID, w.ParentSpanID, g.End)
		}
	}
	if len(got) != len(want) {
		t.Errorf("after restart got %d spans, want %d", len(got), len(want))
	}
}

func event(t *testing.T, payload map[string]any, at time.Time) hookproto.Event {
	t.Helper()
	b, _ := json.Marshal(payload)
	ev, err := hookproto.Decode(hookproto.Envelope{Body: b, ReceivedAt: at, TranscriptSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestHookOnlyTurnAndIdleTimeout(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "projects", "p", "sess-1.jsonl") // never written
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	p := New(Settings{IdleTimeout: time.Hour})
	// No SessionStart: an unknown session id starts tracking.
	out := p.Event(event(t, map[string]any{"hook_event_name": "UserPromptSubmit", "session_id": "sess-1",
		"transcript_path": path, "prompt_id": "P1", "prompt": "do the thing"}, t0), false)
	if len(out) != 1 || !out[0].End.IsZero() || out[0].Name != "invoke_agent claude-code" {
		t.Fatalf("UserPromptSubmit emitted %+v, want one running root", out)
	}
	if out[0].TraceID != spanid.TurnTraceID("P1") {
		t.Errorf("trace id not derived from prompt_id")
	}
	out = p.Event(event(t, map[string]any{"hook_event_name": "PreToolUse", "session_id": "sess-1", "transcript_path": path,
		"prompt_id": "P1", "tool_name": "Bash", "tool_use_id": "toolu_1", "tool_input": map[string]any{"command": "sleep 100"}}, t0.Add(time.Second)), false)
	var tool *spans.Span
	for i := range out {
		if out[i].Name == "execute_tool Bash" {
			tool = &out[i]
		}
	}
	if tool == nil || !tool.End.IsZero() || tool.ParentSpanID != spanid.RootSpanID(out[0].TraceID) {
		t.Fatalf("PreToolUse: got %+v, want a running Bash span under the root", out)
	}
	if got := p.Tick(t0.Add(30 * time.Minute)); len(got) != 0 {
		t.Errorf("Tick before the idle timeout emitted %d spans", len(got))
	}
	out = p.Tick(t0.Add(2 * time.Hour))
	if len(out) != 2 {
		t.Fatalf("idle Tick emitted %d spans, want root and tool", len(out))
	}
	for _, sp := range out {
		if sp.End.IsZero() || sp.StringAttr(semconv.KeyOrphanReason) != "idle_timeout" {
			t.Errorf("%s: end %v orphan_reason %q, want ended with idle_timeout", sp.Name, sp.End, sp.StringAttr(semconv.KeyOrphanReason))
		}
	}
	if p.Stats().OpenTurns != 0 {
		t.Errorf("open turns after idle close = %d", p.Stats().OpenTurns)
	}
}

func TestSessionEndClosesOpenWork(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s2.jsonl")
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	p := New(Settings{})
	base := map[string]any{"session_id": "s2", "transcript_path": path, "prompt_id": "P"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	p.Event(event(t, with("hook_event_name", "UserPromptSubmit", "prompt", "write x"), t0), false)
	p.Event(event(t, with("hook_event_name", "PreToolUse", "tool_name", "Write", "tool_use_id", "tw", "tool_input", map[string]any{"file_path": "/x"}), t0), false)
	p.Event(event(t, with("hook_event_name", "PermissionRequest", "tool_name", "Write", "tool_input", map[string]any{"file_path": "/x"}), t0), false)
	out := p.Event(event(t, with("hook_event_name", "SessionEnd", "reason", "prompt_input_exit"), t0.Add(time.Minute)), false)
	if !p.SessionClosed("s2") {
		t.Error("SessionClosed = false after SessionEnd")
	}
	for _, sp := range out {
		if sp.End.IsZero() || sp.StringAttr(semconv.KeyOrphanReason) != "session_ended" {
			t.Errorf("%s after SessionEnd: end %v reason %q", sp.Name, sp.End, sp.StringAttr(semconv.KeyOrphanReason))
		}
		if sp.Name == "execute_tool Write" {
			if n := len(sp.Events); n != 2 || sp.Events[1].Attributes[semconv.KeyPermissionApproved] != false {
				t.Errorf("Write events %+v, want request and resolved(approved=false)", sp.Events)
			}
		}
	}
}

// liveVsImport says how the live span g differs from the imported span w
// ("" for none), leaving out only what hooks alone can know: the session's
// SessionStart source, and the span events hooks add (permission requests
// and decisions, notifications), which the import's events must be in
// order among.
func liveVsImport(g, w spans.Span) string {
	var d []string
	if g.TraceID != w.TraceID || g.ParentSpanID != w.ParentSpanID || g.Name != w.Name || g.Kind != w.Kind {
		d = append(d, fmt.Sprintf("%s/%s %s parent %s, import %s/%s %s parent %s", g.TraceID, g.Name, g.Kind, g.ParentSpanID, w.TraceID, w.Name, w.Kind, w.ParentSpanID))
	}
	if !g.Start.Equal(w.Start) || !g.End.Equal(w.End) {
		d = append(d, fmt.Sprintf("times %s..%s, import %s..%s", spans.FormatTime(g.Start), spans.FormatTime(g.End), spans.FormatTime(w.Start), spans.FormatTime(w.End)))
	}
	if g.StatusCode != w.StatusCode || g.StatusMessage != w.StatusMessage {
		d = append(d, fmt.Sprintf("status %s %q, import %s %q", g.StatusCode, g.StatusMessage, w.StatusCode, w.StatusMessage))
	}
	keys := map[string]bool{}
	for k := range g.Attributes {
		keys[k] = true
	}
	for k := range w.Attributes {
		keys[k] = true
	}
	for _, k := range spans.SortedKeys(anyKeys(keys)) {
		if k == semconv.KeySource {
			continue
		}
		if gv, wv := fmt.Sprint(g.Attributes[k]), fmt.Sprint(w.Attributes[k]); gv != wv {
			d = append(d, fmt.Sprintf("%s=%.80q, import %.80q", k, gv, wv))
		}
	}
	i := 0
	for _, e := range g.Events {
		if i < len(w.Events) && e.Name == w.Events[i].Name && e.Time.Equal(w.Events[i].Time) && fmt.Sprint(e.Attributes) == fmt.Sprint(w.Events[i].Attributes) {
			i++
		}
	}
	if i < len(w.Events) {
		d = append(d, fmt.Sprintf("events %v, import %v", eventNames(g.Events), eventNames(w.Events)))
	}
	return strings.Join(d, "; ")
}

func anyKeys(set map[string]bool) map[string]any {
	m := make(map[string]any, len(set))
	for k := range set {
		m[k] = nil
	}
	return m
}

func countEvents(evs []spans.Event, name string) int {
	n := 0
	for _, e := range evs {
		if e.Name == name {
			n++
		}
	}
	return n
}

func eventNames(evs []spans.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Name)
	}
	return out
}
