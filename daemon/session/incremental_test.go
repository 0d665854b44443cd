package session

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

// The Processor builds only the turns whose fingerprint changed (diff).
// These tests hold it to the reference it replaces: a Processor that
// builds every turn at every step (rebuildAll). After every step both must
// have emitted byte-identical spans in the same order, and every span a
// from-scratch build of the session gives must equal the newest version
// the incremental Processor emitted.

// twin drives an incremental Processor and its rebuild-everything
// reference through the same steps.
type twin struct {
	t        *testing.T
	inc, ref *Processor
	// latest is the newest version of each span inc emitted.
	latest map[spanid.SpanID]spans.Span
	steps  int
}

func newTwin(t *testing.T) *twin {
	// One clock for both (Close reads it).
	set := Settings{IntegrationVersion: "test", Now: func() time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) }}
	ref := New(set)
	ref.rebuildAll = true
	return &twin{t: t, inc: New(set), ref: ref, latest: map[spanid.SpanID]spans.Span{}}
}

func spanJSON(t *testing.T, sp spans.Span) string {
	t.Helper()
	b, err := json.Marshal(sp)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// do runs one step on both processors (f is called with inc, then ref)
// and checks them against each other and against a from-scratch build.
func (w *twin) do(what string, f func(p *Processor) []spans.Span) []spans.Span {
	w.t.Helper()
	w.steps++
	got, want := f(w.inc), f(w.ref)
	w.same(what, got, want)
	for _, sp := range got {
		w.latest[sp.SpanID] = sp
	}
	w.scratch(what)
	return got
}

// same fails unless got and want are the same spans, byte for byte, in
// the same order.
func (w *twin) same(what string, got, want []spans.Span) {
	w.t.Helper()
	n := max(len(got), len(want))
	for i := 0; i < n; i++ {
		var g, x string
		if i < len(got) {
			g = spanJSON(w.t, got[i])
		}
		if i < len(want) {
			x = spanJSON(w.t, want[i])
		}
		if g != x {
			w.t.Fatalf("step %d (%s): emitted span %d of %d (rebuild: %d) differs:\n got: %.400s\nwant: %.400s", w.steps, what, i, len(got), len(want), g, x)
		}
	}
}

// scratch checks that building every turn of inc's sessions from scratch
// gives exactly the newest versions inc emitted.
func (w *twin) scratch(what string) {
	w.t.Helper()
	ids := make([]string, 0, len(w.inc.sessions))
	for id := range w.inc.sessions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		s := w.inc.sessions[id]
		ts := w.inc.snapshot(s)
		live := s.live
		opts := spans.Options{IntegrationVersion: "test", Live: &live}
		built := map[spanid.SpanID]spans.Span{}
		for _, t := range ts.Turns {
			if t.Copied {
				continue
			}
			for _, sp := range spans.BuildTurn(ts, t, opts) {
				built[sp.SpanID] = sp
			}
		}
		for sid, sp := range built {
			old, ok := w.latest[sid]
			if !ok {
				w.t.Fatalf("step %d (%s): span %s %q built from scratch was never emitted", w.steps, what, sid, sp.Name)
			}
			if old.Hash() == sp.Hash() {
				continue // (Hash digests everything a span exports; the bytes only on a mismatch)
			}
			if g, x := spanJSON(w.t, old), spanJSON(w.t, sp); g != x {
				w.t.Fatalf("step %d (%s): span %s %q stale:\n emitted: %.400s\n scratch: %.400s", w.steps, what, sid, sp.Name, g, x)
			}
		}
	}
}

func allCaptures(t *testing.T) []string {
	t.Helper()
	var dirs []string
	for _, set := range fixtures.ClaudeCodeSets {
		found, _ := filepath.Glob(filepath.Join(fixtures.Path(t, set), "*", "hooks.jsonl"))
		for _, f := range found {
			dirs = append(dirs, filepath.Dir(f))
		}
	}
	if len(dirs) < 30 {
		t.Fatalf("found %d recorded sessions with hooks, want every one of testdata/", len(dirs))
	}
	return dirs
}

// TestIncrementalMatchesRebuild: every recorded session (Claude Code
// 2.1.197 and 2.1.330, weave's e2e runs, the Agent SDK's forks), replayed
// hook by hook with the transcripts cut to what they held at each hook,
// then landing in full, then idle and shut down: after every step the
// incremental Processor emitted exactly what rebuilding everything emits,
// and what it emitted last for each span is what a from-scratch build
// gives. Then the same in bursts through Deferred.
func TestIncrementalMatchesRebuild(t *testing.T) {
	for _, dir := range allCaptures(t) {
		t.Run(fixtures.Rel(t, dir), func(t *testing.T) {
			r, hooks := newReplayer(t, dir)
			w := newTwin(t)
			var skipped int
			for _, h := range hooks {
				r.cut(h.State)
				r.cut(h.Agent)
				ev := r.event(h)
				w.do(h.Event, func(p *Processor) []spans.Span { return p.Event(ev, false) })
			}
			r.landAll(func(dst string) {
				w.do("file "+filepath.Base(dst), func(p *Processor) []spans.Span { return p.FileChanged(dst) })
			})
			for _, s := range w.inc.sessions {
				skipped += len(s.built)
			}
			w.do("tick", func(p *Processor) []spans.Span { return p.Tick(p.set.Now().Add(24 * time.Hour)) })
			w.do("close", func(p *Processor) []spans.Span { return p.Close("shutdown") })
			if skipped == 0 {
				t.Error("the incremental processor never recorded a fingerprint: nothing was skipped, nothing tested")
			}

			// Bursts of 4 events through Deferred, as the daemon's core
			// feeds queued events.
			r, _ = newReplayer(t, dir)
			w = newTwin(t)
			for i := 0; i < len(hooks); i += 4 {
				burst := hooks[i:min(i+4, len(hooks))]
				var want []spans.Span
				got := w.inc.Deferred(func() {
					want = w.ref.Deferred(func() {
						for _, h := range burst {
							r.cut(h.State)
							r.cut(h.Agent)
							ev := r.event(h)
							w.inc.Event(ev, false)
							w.ref.Event(ev, false)
						}
					})
				})
				w.steps++
				w.same(fmt.Sprintf("burst at hook %d", i), got, want)
				for _, sp := range got {
					w.latest[sp.SpanID] = sp
				}
				w.scratch("burst")
			}
		})
	}
}

// TestFingerprintSkipsUnchangedTurns: in a long session, an event about
// the last turn builds that turn alone (what makes an event cheap), and a
// tool result landing late in the first turn builds the first turn alone.
func TestFingerprintSkipsUnchangedTurns(t *testing.T) {
	p, path, clock := longSession(t)
	ev := func(name, pid, tool string) hookproto.Event {
		return hookproto.Event{SessionID: "sess-long", TranscriptPath: path, HookEventName: name, PromptID: pid, ToolUseID: tool, ToolName: "Bash", ReceivedAt: clock}
	}
	if out := p.Event(ev(hookproto.EventSessionStart, "", ""), false); len(out) != 2400 {
		t.Fatalf("first event: %d spans, want 2400", len(out))
	}
	traces := func(out []spans.Span) map[spanid.TraceID]bool {
		m := map[spanid.TraceID]bool{}
		for _, sp := range out {
			m[sp.TraceID] = true
		}
		return m
	}
	before := p.turnsBuilt
	out := p.Event(ev(hookproto.EventPreToolUse, "p0299", "toolu_new"), false)
	if tr := traces(out); len(tr) != 1 || !tr[spanid.TurnTraceID("p0299")] {
		t.Errorf("PreToolUse of the last turn emitted spans of %d traces, want the last turn's only", len(tr))
	}
	if n := p.turnsBuilt - before; n != 1 {
		t.Errorf("PreToolUse of the last turn built %d turns, want 1", n)
	}
	if s := p.sessions["sess-long"]; len(s.built) != 300 {
		t.Errorf("%d turns fingerprinted, want 300", len(s.built))
	}

	// A background tool of turn 1 reports late: its tool_use line and
	// then its result land at the end of the file, 300 turns on.
	appendLines(t, path,
		`{"type":"assistant","uuid":"late-1","sessionId":"sess-long","timestamp":"2026-01-01T05:00:00Z","requestId":"req_msg_0000_0","message":{"id":"msg_0000_0","role":"assistant","model":"claude-opus-4-8","content":[{"type":"tool_use","id":"toolu_bg","name":"Bash","input":{"command":"make long","run_in_background":true}}],"stop_reason":"tool_use"}}`,
		`{"type":"user","uuid":"late-2","sessionId":"sess-long","promptId":"p0299","timestamp":"2026-01-01T05:00:01Z","message":{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_bg","content":"built"}]}}`)
	before = p.turnsBuilt
	out = p.FileChanged(path)
	tr := traces(out)
	if !tr[spanid.TurnTraceID("p0000")] {
		t.Errorf("the late result of a turn-1 tool emitted spans of %v, want turn 1's", tr)
	}
	var result string
	for _, sp := range out {
		if sp.SpanID == spanid.ToolSpanID(spanid.TurnTraceID("p0000"), "toolu_bg") {
			result = sp.StringAttr(semconv.KeyToolCallResult)
		}
	}
	if result != "built" {
		t.Errorf("turn 1's background tool span result %q, want %q", result, "built")
	}
	// Turn 1 (the call and its result) and the last turn (the result line
	// is the current turn's line too) change; nothing else.
	if n := p.turnsBuilt - before; n != 2 {
		t.Errorf("the late lines built %d turns, want 2 (turn 1 and the current turn)", n)
	}
}

func appendLines(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
}

// sim writes a Claude Code session as it happens — hooks and transcript
// lines, in the orders they really come — choosing each step at random,
// with the steps that change an earlier turn favoured: a background tool's
// result landing turns later, more streamed blocks of an earlier call, a
// subagent of an earlier turn writing on, a compaction summary naming an
// earlier prompt, hooks about earlier tools.
type sim struct {
	t     *testing.T
	rng   *rand.Rand
	w     *twin
	path  string
	clock time.Time
	n     int
	turns []simTurn
	// open tools (tool_use written, no result yet), by id.
	open    map[string]simTool
	agents  []string // subagent ids
	agentOf map[string]int
}

type simTurn struct {
	key   string
	calls []string // message ids
}

type simTool struct {
	turn int
	name string
}

func newSim(t *testing.T, seed uint64) *sim {
	dir := t.TempDir()
	path := filepath.Join(dir, "projects", "p", "sess-r.jsonl")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	return &sim{t: t, rng: rand.New(rand.NewPCG(seed, 1)), w: newTwin(t), path: path,
		clock: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), open: map[string]simTool{}, agentOf: map[string]int{}}
}

func (s *sim) tick() time.Time {
	s.clock = s.clock.Add(time.Duration(1+s.rng.IntN(900)) * time.Millisecond)
	return s.clock
}

// line marshals a transcript line of the main session (or a subagent's).
func (s *sim) line(m map[string]any) string {
	s.n++
	m["uuid"] = fmt.Sprintf("u%05d", s.n)
	m["sessionId"] = "sess-r"
	m["timestamp"] = s.tick().Format(time.RFC3339Nano)
	b, err := json.Marshal(m)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

// land appends lines to path and tells both processors.
func (s *sim) land(path string, lines ...string) []spans.Span {
	s.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		s.t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	text := strings.Join(lines, "\n") + "\n"
	if s.rng.IntN(5) == 0 {
		// Half a line first: the decoder holds it back until the rest lands.
		cut := s.rng.IntN(len(text))
		f.WriteString(text[:cut])
		s.w.do("partial line", func(p *Processor) []spans.Span { return p.FileChanged(path) })
		text = text[cut:]
	}
	_, err = f.WriteString(text)
	f.Close()
	if err != nil {
		s.t.Fatal(err)
	}
	return s.w.do("lines of "+filepath.Base(path), func(p *Processor) []spans.Span { return p.FileChanged(path) })
}

func (s *sim) hook(ev hookproto.Event) []spans.Span {
	s.t.Helper()
	ev.SessionID, ev.TranscriptPath, ev.ReceivedAt = "sess-r", s.path, s.tick()
	return s.w.do(ev.HookEventName, func(p *Processor) []spans.Span { return p.Event(ev, false) })
}

func (s *sim) cur() (int, string) {
	if len(s.turns) == 0 {
		return -1, ""
	}
	return len(s.turns) - 1, s.turns[len(s.turns)-1].key
}

func (s *sim) subPath(id string) string {
	return filepath.Join(strings.TrimSuffix(s.path, ".jsonl"), "subagents", "agent-"+id+".jsonl")
}

func (s *sim) randomOpen() (string, simTool, bool) {
	if len(s.open) == 0 {
		return "", simTool{}, false
	}
	ids := make([]string, 0, len(s.open))
	for id := range s.open {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	id := ids[s.rng.IntN(len(ids))]
	return id, s.open[id], true
}

func (s *sim) step() {
	i, key := s.cur()
	switch k := s.rng.IntN(14); {
	case i < 0 || k == 0:
		// A new turn: UserPromptSubmit, then (usually) its prompt line.
		if i >= 0 && s.rng.IntN(2) == 0 {
			s.hook(hookproto.Event{HookEventName: hookproto.EventStop, PromptID: key})
		}
		key = fmt.Sprintf("p%03d", len(s.turns)+1)
		s.turns = append(s.turns, simTurn{key: key})
		s.hook(hookproto.Event{HookEventName: hookproto.EventUserPromptSubmit, PromptID: key, Prompt: "do task " + key})
		if s.rng.IntN(4) > 0 {
			s.land(s.path, s.line(map[string]any{"type": "user", "promptId": key, "message": map[string]any{"role": "user", "content": "do task " + key}}))
		}
	case k <= 3:
		// A model call with a tool call (PreToolUse may come before its line).
		msg := fmt.Sprintf("msg_%s_%d", key, len(s.turns[i].calls))
		s.turns[i].calls = append(s.turns[i].calls, msg)
		id := fmt.Sprintf("toolu_%05d", s.n)
		name := []string{"Bash", "Read", "Agent"}[s.rng.IntN(3)]
		input := map[string]any{"command": "make " + id, "run_in_background": s.rng.IntN(3) == 0}
		if name == "Agent" {
			input = map[string]any{"prompt": "explore " + id, "subagent_type": "Explore", "description": "look " + id}
		}
		raw, _ := json.Marshal(input)
		if s.rng.IntN(2) == 0 {
			s.hook(hookproto.Event{HookEventName: hookproto.EventPreToolUse, PromptID: key, ToolUseID: id, ToolName: name, ToolInput: raw})
		}
		s.land(s.path, s.line(map[string]any{"type": "assistant", "requestId": "req_" + msg, "message": map[string]any{"id": msg, "role": "assistant", "model": "claude-sim",
			"content": []any{map[string]any{"type": "tool_use", "id": id, "name": name, "input": input}}, "stop_reason": "tool_use",
			"usage": map[string]any{"input_tokens": 3, "output_tokens": 9}}}))
		s.open[id] = simTool{turn: i, name: name}
		if name == "Agent" {
			agent := fmt.Sprintf("a%05d", s.n)
			s.agents = append(s.agents, agent)
			s.agentOf[agent] = i
			s.hook(hookproto.Event{HookEventName: hookproto.EventSubagentStart, PromptID: key, AgentID: agent, AgentType: "Explore"})
			meta, _ := json.Marshal(map[string]any{"agentType": "Explore", "description": "look " + id, "toolUseId": id})
			os.MkdirAll(filepath.Dir(s.subPath(agent)), 0o755)
			os.WriteFile(strings.TrimSuffix(s.subPath(agent), ".jsonl")+".meta.json", meta, 0o644)
			s.land(s.subPath(agent), s.line(map[string]any{"type": "user", "isSidechain": true, "promptId": key, "message": map[string]any{"role": "user", "content": "explore " + id}}))
		}
	case k <= 6:
		// A tool result lands — often for a tool of an earlier turn (a
		// background tool): that turn must be built again.
		id, tool, ok := s.randomOpen()
		if !ok {
			return
		}
		if s.rng.IntN(2) == 0 {
			s.hook(hookproto.Event{HookEventName: hookproto.EventPostToolUse, PromptID: key, ToolUseID: id, ToolName: tool.name, ToolResponse: json.RawMessage(`{"ok":true}`)})
		}
		result := "result of " + id
		before := s.w.inc.turnsBuilt
		out := s.land(s.path, s.line(map[string]any{"type": "user", "promptId": key, "message": map[string]any{"role": "user",
			"content": []any{map[string]any{"type": "tool_result", "tool_use_id": id, "content": result}}}}))
		delete(s.open, id)
		if s.w.inc.turnsBuilt == before {
			s.t.Fatalf("step %d: the result of %s (turn %d) built no turn", s.w.steps, id, tool.turn+1)
		}
		// (Its turn is the one the tool_use line landed in: without its
		// prompt line, a turn's lines go to the turn before.)
		var got bool
		for _, sp := range out {
			if sp.Attributes[semconv.KeyToolCallID] == id {
				got = true
				if tool.name != "Agent" && sp.StringAttr(semconv.KeyToolCallResult) != result {
					s.t.Fatalf("step %d: %s result %q, want %q", s.w.steps, id, sp.StringAttr(semconv.KeyToolCallResult), result)
				}
			}
		}
		if !got {
			s.t.Fatalf("step %d: the late result of %s (turn %d) did not re-emit its span", s.w.steps, id, tool.turn+1)
		}
	case k == 7 && len(s.turns[i].calls) > 0 || k == 7 && i > 0:
		// Another block of an earlier call streams in (same message id).
		j := s.rng.IntN(i + 1)
		if len(s.turns[j].calls) == 0 {
			return
		}
		msg := s.turns[j].calls[s.rng.IntN(len(s.turns[j].calls))]
		s.land(s.path, s.line(map[string]any{"type": "assistant", "requestId": "req_" + msg, "message": map[string]any{"id": msg, "role": "assistant", "model": "claude-sim",
			"content": []any{map[string]any{"type": "text", "text": "more of " + msg}}, "stop_reason": "end_turn", "usage": map[string]any{"input_tokens": 3, "output_tokens": 20}}}))
	case k == 8 && len(s.agents) > 0:
		// A subagent — maybe of an earlier turn — writes on.
		agent := s.agents[s.rng.IntN(len(s.agents))]
		msg := fmt.Sprintf("msg_%s_%d", agent, s.n)
		s.land(s.subPath(agent), s.line(map[string]any{"type": "assistant", "isSidechain": true, "requestId": "req_" + msg, "message": map[string]any{"id": msg, "role": "assistant",
			"model": "claude-sim-small", "content": []any{map[string]any{"type": "text", "text": "found " + msg}}, "stop_reason": "end_turn", "usage": map[string]any{"input_tokens": 5, "output_tokens": 7}}}))
		if s.rng.IntN(3) == 0 {
			s.hook(hookproto.Event{HookEventName: hookproto.EventSubagentStop, PromptID: key, AgentID: agent, AgentType: "Explore"})
		}
	case k == 9:
		// Hooks about a tool, maybe of an earlier turn.
		id, tool, ok := s.randomOpen()
		if !ok {
			return
		}
		switch s.rng.IntN(3) {
		case 0:
			s.hook(hookproto.Event{HookEventName: hookproto.EventPermissionDenied, ToolUseID: id, ToolName: tool.name, Reason: "no"})
		case 1:
			s.hook(hookproto.Event{HookEventName: hookproto.EventPostToolUseFailure, PromptID: key, ToolUseID: id, ToolName: tool.name, Error: "Exit code 2"})
		default:
			s.hook(hookproto.Event{HookEventName: hookproto.EventPreToolUse, PromptID: s.turns[tool.turn].key, ToolUseID: id, ToolName: tool.name})
		}
	case k == 10:
		// Stop (or a failed API call), then Claude Code's stop_hook_summary.
		if s.rng.IntN(4) == 0 {
			s.hook(hookproto.Event{HookEventName: hookproto.EventStopFailure, PromptID: key, Error: "overloaded"})
		} else {
			s.hook(hookproto.Event{HookEventName: hookproto.EventStop, PromptID: key})
		}
		s.land(s.path, s.line(map[string]any{"type": "system", "subtype": "stop_hook_summary"}))
	case k == 11:
		// A compaction whose summary names an earlier prompt.
		j := s.rng.IntN(i + 1)
		s.hook(hookproto.Event{HookEventName: hookproto.EventPreCompact, PromptID: key, Trigger: "auto"})
		s.land(s.path,
			s.line(map[string]any{"type": "system", "subtype": "compact_boundary", "compactMetadata": map[string]any{"trigger": "auto", "preTokens": 1000}}),
			s.line(map[string]any{"type": "user", "isCompactSummary": true, "promptId": s.turns[j].key, "message": map[string]any{"role": "user", "content": "This session is being continued from a previous conversation…"}}))
		s.hook(hookproto.Event{HookEventName: hookproto.EventPostCompact, PromptID: key, Trigger: "auto", CompactSummary: "summary"})
	case k == 12:
		s.hook(hookproto.Event{HookEventName: hookproto.EventNotification, PromptID: key, NotificationType: "idle_prompt", Message: "waiting"})
	default:
		// The final answer of the current turn.
		msg := fmt.Sprintf("msg_%s_%d", key, len(s.turns[i].calls))
		s.turns[i].calls = append(s.turns[i].calls, msg)
		s.land(s.path, s.line(map[string]any{"type": "assistant", "requestId": "req_" + msg, "message": map[string]any{"id": msg, "role": "assistant", "model": "claude-sim",
			"content": []any{map[string]any{"type": "text", "text": "done with " + key}}, "stop_reason": "end_turn", "usage": map[string]any{"input_tokens": 3, "output_tokens": 40}}}))
	}
}

// TestIncrementalRandomSessions: random sessions whose steps change
// earlier turns (late background results, streamed blocks of earlier
// calls, subagents of earlier turns writing on, compactions naming an
// earlier prompt, hooks about earlier tools): after every step, the
// incremental Processor emitted exactly what rebuilding everything emits,
// its newest spans are what a from-scratch build gives, and a late tool
// result re-emits its own turn's tool span.
func TestIncrementalRandomSessions(t *testing.T) {
	seeds, steps := 16, 100
	if testing.Short() {
		seeds = 6
	}
	for seed := range uint64(seeds) {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			s := newSim(t, seed)
			for range steps {
				s.step()
			}
			switch seed % 3 {
			case 0:
				s.hook(hookproto.Event{HookEventName: hookproto.EventSessionEnd, Reason: "exit"})
			case 1:
				s.w.do("idle", func(p *Processor) []spans.Span { return p.Tick(s.clock.Add(2 * time.Hour)) })
			default:
				s.w.do("shutdown", func(p *Processor) []spans.Span { return p.Close("shutdown") })
			}
			s.w.do("tick", func(p *Processor) []spans.Span { return p.Tick(s.clock.Add(24 * time.Hour)) })
		})
	}
}
