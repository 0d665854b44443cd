package rollout

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"

	"github.com/weavetrace/weave/transcript"
)

// SpawnedIDs returns the thread ids the session's spawn_agent calls
// started (their outputs' agent_id), in call order.
func (b *Builder) SpawnedIDs() []string {
	var out []string
	for _, t := range b.s.Turns {
		for _, tc := range t.Tools {
			if id := spawnedID(tc); id != "" {
				out = append(out, id)
			}
		}
	}
	return out
}

func spawnedID(tc *transcript.ToolCall) string {
	if !tc.Spawns || !tc.HasResult {
		return ""
	}
	var out struct {
		AgentID string `json:"agent_id"`
	}
	if json.Unmarshal([]byte(tc.Result), &out) != nil {
		return ""
	}
	return out.AgentID
}

// SessionsRoot is the sessions directory a rollout file lies in
// (…/sessions for …/sessions/YYYY/MM/DD/rollout-….jsonl), or its own
// directory when the path is not laid out so.
func SessionsRoot(path string) string {
	dir := filepath.Dir(path)
	root := filepath.Dir(filepath.Dir(filepath.Dir(dir)))
	if filepath.Base(root) == "sessions" {
		return root
	}
	return dir
}

// FindThread returns the rollout file of a thread id: in dir first (a
// subagent is written beside its parent, the same day), then anywhere
// under root's YYYY/MM/DD folders; "" when there is none.
func FindThread(dir, root, id string) string {
	if id == "" || strings.ContainsAny(id, `/\*?[`) {
		return ""
	}
	for _, pattern := range []string{filepath.Join(dir, "rollout-*-"+id+".jsonl"), filepath.Join(root, "*", "*", "*", "rollout-*-"+id+".jsonl")} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return m[0]
		}
	}
	return ""
}

// Load reads the rollout file at path and, recursively, the rollout files
// of the subagents its spawn_agent calls started (found by thread id beside
// it), linked into its turns. Subagent files that cannot be read are left
// out (their spawn calls remain as unlinked subagent spans).
func Load(path string) (*transcript.Session, error) {
	main, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	root := SessionsRoot(path)
	children := map[string]*Builder{}
	queue := main.SpawnedIDs()
	for len(queue) > 0 && len(children) < 1000 {
		id := queue[0]
		queue = queue[1:]
		if children[id] != nil || id == main.s.ID {
			continue
		}
		p := FindThread(filepath.Dir(path), root, id)
		if p == "" {
			continue
		}
		cb, err := ReadFile(p)
		if err != nil {
			continue
		}
		children[id] = cb
		queue = append(queue, cb.SpawnedIDs()...)
	}
	Link(main, children)
	return main.s, nil
}

// Link attaches each child thread (a subagent's rollout, by thread id) to
// the spawn_agent call that started it, in main or in another child:
// the call's Subagent is set and the subagent is listed on the main turn it
// belongs to. A child no call names is an orphan under the main turn its
// first turn's parent_turn_id names, when there is one.
func Link(main *Builder, children map[string]*Builder) {
	builders := map[string]*Builder{main.s.ID: main}
	for id, c := range children {
		builders[id] = c
	}
	agents := map[string]*transcript.Subagent{}
	for id, c := range children {
		agents[id] = c.subagent()
	}
	// The main turn each thread's work belongs to.
	var mainTurn func(b *Builder, depth int) *transcript.Turn
	mainTurn = func(b *Builder, depth int) *transcript.Turn {
		if b == main {
			return nil
		}
		for _, t := range b.s.Turns {
			if pt := b.ParentTurn[t.Key]; pt != "" {
				if mt := main.turns[pt]; mt != nil {
					return mt
				}
			}
		}
		if p := builders[b.ParentThreadID]; p != nil && p != main && depth < 32 {
			return mainTurn(p, depth+1)
		}
		return nil
	}
	linked := map[string]bool{}
	for _, b := range builders {
		for _, t := range b.s.Turns {
			for _, tc := range t.Tools {
				id := spawnedID(tc)
				a := agents[id]
				if a == nil || linked[id] {
					continue
				}
				linked[id] = true
				tc.Subagent = a
				a.Parent = tc
				a.Match = transcript.MatchMeta
				if b == main {
					a.Turn = t
				} else {
					a.ParentAgent = agents[b.s.ID]
					a.Turn = mainTurn(b, 0)
				}
				if a.Turn != nil {
					a.Turn.Subagents = append(a.Turn.Subagents, a)
				}
				main.s.Subagents = append(main.s.Subagents, a)
			}
		}
	}
	for id, c := range children {
		if linked[id] {
			continue
		}
		a := agents[id]
		a.Match = transcript.MatchOrphan
		a.OrphanReason = "no_spawn_call"
		a.Turn = mainTurn(c, 0)
		if a.Turn != nil {
			a.Turn.Subagents = append(a.Turn.Subagents, a)
		}
		main.s.Subagents = append(main.s.Subagents, a)
	}
}

// subagent is a child thread as a transcript.Subagent: every turn's calls
// and tools, its first prompt.
func (b *Builder) subagent() *transcript.Subagent {
	a := &transcript.Subagent{AgentID: b.s.ID, AgentType: "default", Description: b.Nickname, Path: b.s.Path}
	for _, t := range b.s.Turns {
		if a.Prompt == "" {
			a.Prompt = t.Prompt
		}
		if a.Start.IsZero() || t.Start.Before(a.Start) {
			a.Start = t.Start
		}
		if t.End.After(a.End) {
			a.End = t.End
		}
		a.Calls = append(a.Calls, t.Calls...)
		a.Tools = append(a.Tools, t.Tools...)
	}
	return a
}

// IsSubagentFile reports whether the rollout at path is a subagent's
// thread (its session_meta names a parent thread), reading only its first
// line.
func IsSubagentFile(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	n, _ := f.Read(buf)
	first, _, _ := strings.Cut(string(buf[:n]), "\n")
	var l line
	if json.Unmarshal([]byte(first), &l) != nil || l.Type != "session_meta" {
		return false
	}
	var m sessionMeta
	return json.Unmarshal(l.Payload, &m) == nil && m.ParentThreadID != ""
}
