package spans_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/weavetrace/weave/internal/fixtures"
	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// TestFingerprintCoversWhatBuildTurnReads changes, one at a time, every
// field BuildTurn could read outside a Builder's revisions — each field of
// the session, of the Live overlay's turns, tools and agents, of a turn and
// a tool call no Builder made, and what Link decides about subagents — in
// recorded sessions under several live states, and checks: whenever the
// built spans change, the fingerprint changes. Fields are found by
// reflection, so a field added to one of these types is changed too; a
// field of a kind the test cannot change must be named in notChanged with
// the reason it needs no check.
func TestFingerprintCoversWhatBuildTurnReads(t *testing.T) {
	scenarios := []string{
		filepath.Join(fixtures.ClaudeCode2330, "subagent"),
		filepath.Join(fixtures.ClaudeCode2197, "interactive"),
		filepath.Join(fixtures.E2E2197, "nested"),
		filepath.Join(fixtures.E2E2330, "background"),
		filepath.Join(fixtures.E2E2330, "subfail"),
		filepath.Join(fixtures.E2E2197, "apierror"),
	}
	checked := map[string]bool{}
	for _, sc := range scenarios {
		files, _ := filepath.Glob(filepath.Join(fixtures.Path(t, sc), "projects", "*", "*.jsonl"))
		if len(files) == 0 {
			t.Fatalf("no transcript in %s", sc)
		}
		for _, path := range files {
			for _, state := range liveStates {
				name := sc + "/" + filepath.Base(path) + "/" + state.name
				t.Run(name, func(t *testing.T) {
					s, _, err := transcript.Load(path, transcript.NewResolver())
					if err != nil {
						t.Fatal(err)
					}
					live := overlay(s, state)
					for _, m := range mutations(t, s, live) {
						checked[m.name] = true
						checkMutation(t, s, live, m)
					}
				})
			}
		}
	}
	// Every kind of input was changed somewhere.
	for _, want := range []string{"Session.ConversationID", "Live.Source", "LiveTurn.Stopped", "LiveTurn.Superseded",
		"LiveTool.End", "LiveTool.Events", "LiveAgent.Stopped", "LiveAgent.Failure", "Turn.Copied", "hook-only Turn.Number",
		"hook-only ToolCall.Input", "Subagent.Match", "Subagent.Parent", "ToolCall.Subagent"} {
		if !checked[want] {
			t.Errorf("no mutation of %s was tried", want)
		}
	}
}

// A live state: what the hooks said about every turn and tool.
type liveState struct {
	name string
	turn func(lt *spans.LiveTurn, t *transcript.Turn)
	tool func(lt *spans.LiveTool, tc *transcript.ToolCall)
}

var liveStates = []liveState{
	{"running",
		func(lt *spans.LiveTurn, t *transcript.Turn) {},
		func(lt *spans.LiveTool, tc *transcript.ToolCall) {}},
	{"stopped",
		func(lt *spans.LiveTurn, t *transcript.Turn) { lt.Stopped = t.End.Add(time.Second) },
		func(lt *spans.LiveTool, tc *transcript.ToolCall) { lt.End = tc.Start.Add(time.Second) }},
	{"closed",
		func(lt *spans.LiveTurn, t *transcript.Turn) {
			lt.Closed, lt.ClosedAt = "session_ended", t.End.Add(time.Minute)
		},
		func(lt *spans.LiveTool, tc *transcript.ToolCall) { lt.Closed = "session_ended" }},
	{"superseded, failed",
		func(lt *spans.LiveTurn, t *transcript.Turn) { lt.Superseded = t.End.Add(time.Second) },
		func(lt *spans.LiveTool, tc *transcript.ToolCall) {
			lt.Failed, lt.Error, lt.End = true, "Exit code 1", tc.Start.Add(time.Second)
		}},
}

// overlay gives s a hook-only turn with a hook-only tool (as the daemon's
// overlay does) and returns a Live overlay in the given state for every
// turn, tool and subagent.
func overlay(s *transcript.Session, st liveState) *spans.Live {
	live := &spans.Live{Source: "startup", Turns: map[string]*spans.LiveTurn{}, Tools: map[string]*spans.LiveTool{}, Agents: map[string]*spans.LiveAgent{}}
	var last time.Time
	for _, t := range s.Turns {
		last = t.End
	}
	hook := &transcript.Turn{Key: "hook-only", PromptID: "hook-only", Number: len(s.Turns) + 1, Start: last.Add(time.Second), End: last.Add(time.Second), Origin: "user"}
	hook.Tools = []*transcript.ToolCall{{ID: "toolu_hook", Name: "Bash", Input: json.RawMessage(`{"command":"ls"}`), Start: last.Add(2 * time.Second)}}
	s.Turns = append(s.Turns, hook)
	// A subagent of the first turn with no model call yet and no Agent
	// call to hang from (an orphan; BuildTurn then reads the hooks'
	// LiveAgent).
	if len(s.Turns) > 0 {
		path := filepath.Join(filepath.Dir(s.Path), "x", "subagents", "agent-orphan.jsonl")
		b := transcript.SubagentBuilder(path)
		lines, _, _ := transcript.DecodeAll(strings.NewReader(fmt.Sprintf(
			`{"type":"user","isSidechain":true,"uuid":"o1","promptId":%q,"timestamp":%q,"message":{"role":"user","content":"look around"}}`+"\n",
			s.Turns[0].PromptID, s.Turns[0].Start.Format(time.RFC3339Nano))))
		for _, l := range lines {
			b.Add(l)
		}
		s.Subagents = append(s.Subagents, transcript.SubagentFrom(path, b, transcript.Meta{AgentType: "Explore"}))
	}
	if len(s.Turns) > 1 {
		// And a transcript turn the hooks added a tool to.
		c := *s.Turns[0]
		c.Tools = append(append([]*transcript.ToolCall(nil), c.Tools...), &transcript.ToolCall{ID: "toolu_hook2", Name: "Read", Input: json.RawMessage(`{"file_path":"/x"}`), Start: c.Start})
		s.Turns[0] = &c
	}
	transcript.Link(s)
	for _, t := range s.Turns {
		lt := &spans.LiveTurn{Prompt: "prompt from the hook", Start: t.Start.Add(-time.Millisecond)}
		st.turn(lt, t)
		live.Turns[t.Key] = lt
		var tools []*transcript.ToolCall
		tools = append(tools, t.Tools...)
		for _, a := range t.Subagents {
			tools = append(tools, a.Tools...)
			live.Agents[a.AgentID] = &spans.LiveAgent{AgentType: a.AgentType, Start: a.Start}
		}
		for _, tc := range tools {
			if tc.ID == "toolu_hook2" {
				continue // a tool without hooks: its own times count
			}
			x := &spans.LiveTool{Name: tc.Name, Start: tc.Start}
			st.tool(x, tc)
			live.Tools[tc.ID] = x
		}
	}
	return live
}

type mutation struct {
	name  string
	apply func() (undo func())
}

// notChanged lists the fields mutations leaves alone, and why that is safe.
var notChanged = map[string]string{
	"Session.Turns":        "the turns themselves: each is fingerprinted",
	"Session.Subagents":    "reached through the turns (Agent calls, orphans)",
	"Session.Stats":        "decoder counts, not read by BuildTurn",
	"Live.Turns":           "each entry's fields are changed",
	"Live.Tools":           "each entry's fields are changed",
	"Live.Agents":          "each entry's fields are changed",
	"Turn.Calls":           "covered by the turn's revision (transcript rev_test.go)",
	"Turn.Tools":           "each tool's fields are changed, or covered by its revision",
	"Turn.Compactions":     "covered by the turn's revision",
	"Turn.Subagents":       "Link's outcome: Subagent.Parent and ToolCall.Subagent are changed",
	"ToolCall.Subagent":    "changed by linkMutations",
	"Subagent.Calls":       "covered by the subagent's revision",
	"Subagent.Tools":       "covered by the subagent's revision; each tool's live entry is changed",
	"Subagent.Parent":      "changed by linkMutations",
	"Subagent.Turn":        "not read by BuildTurn",
	"Subagent.ParentAgent": "not read by BuildTurn",
}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// fieldMutations returns a mutation per field of the struct p points to.
func fieldMutations(t *testing.T, typeName string, p any) []mutation {
	t.Helper()
	v := reflect.ValueOf(p).Elem()
	var out []mutation
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		name := typeName + "." + f.Name
		fv := v.Field(i)
		if _, skip := notChanged[name]; skip {
			continue
		}
		change := changer(fv)
		if change == nil {
			t.Fatalf("%s (%s): the test cannot change this field; add a case to changer, or say in notChanged why it needs no check", name, f.Type)
		}
		out = append(out, mutation{name: name, apply: func() func() {
			old := reflect.New(fv.Type()).Elem()
			old.Set(fv)
			change()
			return func() { fv.Set(old) }
		}})
	}
	return out
}

// changer returns a function that changes the value v holds, or nil.
func changer(v reflect.Value) func() {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		return func() {
			tm := v.Interface().(time.Time)
			if tm.IsZero() {
				tm = base.Add(99 * time.Hour)
			} else {
				tm = tm.Add(1500 * time.Millisecond)
			}
			v.Set(reflect.ValueOf(tm))
		}
	case v.Type() == reflect.TypeFor[[]spans.Event]():
		return func() {
			evs := append(v.Interface().([]spans.Event), spans.Event{Name: "test.event", Time: base, Attributes: map[string]any{"k": "v"}})
			v.Set(reflect.ValueOf(evs))
		}
	case v.Type() == reflect.TypeFor[*transcript.APIError]():
		return func() {
			e := &transcript.APIError{Type: "overloaded", Message: "changed", Status: 529}
			if old := v.Interface().(*transcript.APIError); old != nil {
				e.Type = old.Type + "~"
			}
			v.Set(reflect.ValueOf(e))
		}
	case v.Type() == reflect.TypeFor[json.RawMessage]():
		return func() { v.SetBytes([]byte(`{"command":"changed","file_path":"/changed"}`)) }
	}
	switch v.Kind() {
	case reflect.String:
		return func() { v.SetString(v.String() + "~") }
	case reflect.Bool:
		return func() { v.SetBool(!v.Bool()) }
	case reflect.Int, reflect.Int64:
		return func() { v.SetInt(v.Int() + 1) }
	}
	return nil
}

func mutations(t *testing.T, s *transcript.Session, live *spans.Live) []mutation {
	t.Helper()
	out := fieldMutations(t, "Session", s)
	out = append(out, fieldMutations(t, "Live", live)...)
	for _, lt := range live.Turns {
		out = append(out, fieldMutations(t, "LiveTurn", lt)...)
	}
	for _, lt := range live.Tools {
		out = append(out, fieldMutations(t, "LiveTool", lt)...)
	}
	for _, la := range live.Agents {
		out = append(out, fieldMutations(t, "LiveAgent", la)...)
	}
	for _, turn := range s.Turns {
		if turn.Rev() == 0 {
			for _, m := range fieldMutations(t, "Turn", turn) {
				m.name = "hook-only " + m.name
				out = append(out, m)
			}
		} else {
			// Outside the revision: what the Resolver recomputes.
			tv := reflect.ValueOf(turn).Elem()
			for _, f := range []string{"Copied", "CopiedFrom"} {
				fv := tv.FieldByName(f)
				change := changer(fv)
				out = append(out, mutation{name: "Turn." + f, apply: func() func() {
					old := reflect.New(fv.Type()).Elem()
					old.Set(fv)
					change()
					return func() { fv.Set(old) }
				}})
			}
		}
		for _, tc := range turn.Tools {
			if tc.Rev() == 0 {
				for _, m := range fieldMutations(t, "ToolCall", tc) {
					m.name = "hook-only " + m.name
					out = append(out, m)
				}
			}
		}
		out = append(out, linkMutations(t, turn)...)
	}
	return out
}

// linkMutations change what Link decided about the subagents of turn.
func linkMutations(t *testing.T, turn *transcript.Turn) []mutation {
	var out []mutation
	var agents []*transcript.Subagent
	agents = append(agents, turn.Subagents...)
	for _, a := range agents {
		for _, m := range fieldMutations(t, "Subagent", a) {
			if m.name != "Subagent.Prompt" && m.name != "Subagent.PromptID" && m.name != "Subagent.Start" && m.name != "Subagent.End" {
				out = append(out, m) // the others are the revision's
			}
		}
		out = append(out, mutation{name: "Subagent.Parent", apply: func() func() {
			old := a.Parent
			if old == nil {
				a.Parent = &transcript.ToolCall{ID: "toolu_elsewhere", Name: "Agent"}
			} else {
				a.Parent = nil
			}
			return func() { a.Parent = old }
		}})
		for _, tc := range append(append([]*transcript.ToolCall(nil), turn.Tools...), a.Tools...) {
			if !tc.IsAgentCall() {
				continue
			}
			out = append(out, mutation{name: "ToolCall.Subagent", apply: func() func() {
				old := tc.Subagent
				if old == nil {
					tc.Subagent = a
				} else {
					tc.Subagent = nil
				}
				return func() { tc.Subagent = old }
			}})
		}
	}
	return out
}

// checkMutation applies m and fails if some turn builds differently while
// its fingerprint stays the same.
func checkMutation(t *testing.T, s *transcript.Session, live *spans.Live, m mutation) {
	t.Helper()
	for _, input := range []spans.InputMode{spans.InputReference, spans.InputFull} {
		checkMutationWith(t, s, live, m, input)
	}
}

func checkMutationWith(t *testing.T, s *transcript.Session, live *spans.Live, m mutation, input spans.InputMode) {
	t.Helper()
	type state struct {
		sum   uint64
		ok    bool
		built string
	}
	look := func() []state {
		fp := spans.NewFingerprinter(s, live, input)
		var out []state
		for _, turn := range s.Turns {
			sum, ok := fp.Turn(turn)
			var b strings.Builder
			for _, sp := range spans.BuildTurn(s, turn, spans.Options{IntegrationVersion: "test", Live: live, Input: input}) {
				fmt.Fprintf(&b, "%d\n", sp.Hash())
			}
			out = append(out, state{sum, ok, b.String()})
		}
		return out
	}
	before := look()
	undo := m.apply()
	after := look()
	undo()
	for i := range before {
		if !before[i].ok || !after[i].ok {
			continue // built every time
		}
		if before[i].built != after[i].built && before[i].sum == after[i].sum {
			t.Errorf("input %s: changing %s changes turn %d's spans but not its fingerprint", input, m.name, i+1)
		}
	}
	fp := spans.NewFingerprinter(s, live, input)
	for i, turn := range s.Turns {
		if sum, _ := fp.Turn(turn); sum != before[i].sum {
			t.Fatalf("undoing %s did not restore the session", m.name)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFingerprintFollowsEarlierTurnsModel: a failed call has no model of
// its own and BuildTurn names it after the latest model at or before its
// turn — an input from another turn, which the fingerprint covers.
func TestFingerprintFollowsEarlierTurnsModel(t *testing.T) {
	line := func(s string) *transcript.Line {
		ls, _, err := transcript.DecodeAll(strings.NewReader(s + "\n"))
		if err != nil || len(ls) != 1 {
			t.Fatalf("line %s: %v", s, err)
		}
		return ls[0]
	}
	b := transcript.NewBuilder("/p/s.jsonl")
	for _, l := range []string{
		`{"type":"user","uuid":"u1","sessionId":"s","promptId":"p1","timestamp":"2026-01-01T00:00:01Z","message":{"role":"user","content":"one"}}`,
		`{"type":"assistant","uuid":"u2","sessionId":"s","timestamp":"2026-01-01T00:00:02Z","message":{"id":"m1","role":"assistant","model":"claude-a","content":[{"type":"text","text":"a"}]}}`,
		`{"type":"user","uuid":"u3","sessionId":"s","promptId":"p2","timestamp":"2026-01-01T00:00:03Z","message":{"role":"user","content":"two"}}`,
		`{"type":"assistant","uuid":"u4","sessionId":"s","timestamp":"2026-01-01T00:00:04Z","isApiErrorMessage":true,"error":"overloaded","message":{"id":"m2","role":"assistant","model":"<synthetic>","content":[{"type":"text","text":"API Error: 529"}]}}`,
	} {
		b.Add(line(l))
	}
	s := b.Session()
	turn2 := s.Turns[1]
	sum := func() uint64 {
		v, ok := spans.NewFingerprinter(s, nil, spans.InputReference).Turn(turn2)
		if !ok {
			t.Fatal("fingerprint not ok")
		}
		return v
	}
	chat := func() string { return spans.BuildTurn(s, turn2, spans.Options{})[1].Name }
	before, name := sum(), chat()
	// A late line of turn 1's call changes its model (and nothing of turn 2).
	b.Add(line(`{"type":"assistant","uuid":"u5","sessionId":"s","timestamp":"2026-01-01T00:00:05Z","message":{"id":"m1","role":"assistant","model":"claude-b","content":[{"type":"text","text":"b"}]}}`))
	if chat() == name {
		t.Fatalf("turn 2's failed call is still %q: the test no longer exercises the session model", name)
	}
	if sum() == before {
		t.Errorf("turn 1's model changed turn 2's chat span (%q → %q) but not turn 2's fingerprint", name, chat())
	}
}
