package transcript

import (
	"crypto/sha256"
	"encoding/json"
	"sort"
	"strings"
)

// Link attaches every subagent of s to the Agent call that spawned it and
// to its main turn. The evidence, strongest first:
//  1. the subagent's .meta.json toolUseId (also for nested subagents, whose
//     Agent call is in the outer subagent's transcript);
//  2. the Agent call's tool_result, whose toolUseResult.agentId names it;
//  3. its first plain user prompt, which Claude Code copies byte for byte
//     from the Agent call's tool_input.prompt: matched by hash against the
//     not-yet-linked Agent calls of the same turn (prompt_id), oldest first.
//     Several candidates → linked to the oldest and marked ambiguous.
//
// A subagent with no evidence is an orphan (Match = MatchOrphan with an
// OrphanReason) placed under its turn; it is never dropped. Link is
// idempotent: it recomputes from scratch.
func Link(s *Session) {
	if len(s.Subagents) == 0 {
		// Nothing to link (most sessions): only clear what an earlier
		// Link may have set.
		for _, t := range s.Turns {
			t.Subagents = nil
			for _, tc := range t.Tools {
				tc.Subagent = nil
			}
		}
		return
	}
	l := newLinker(s)
	for _, a := range l.linkByEvidence() {
		l.linkByPrompt(a)
	}
	l.place(s.Turns)
}

// toolOwner is the main turn or the subagent whose transcript holds a
// tool call.
type toolOwner struct {
	turn  *Turn
	agent *Subagent
}

// linker holds one Link's index of the session's tool calls.
type linker struct {
	calls      map[string]*ToolCall // by tool_use id
	owners     map[*ToolCall]toolOwner
	agentCalls []*ToolCall // oldest first
	subs       []*Subagent // oldest first, then by agent id
}

// newLinker indexes every tool call of s and clears the links an earlier
// Link set.
func newLinker(s *Session) *linker {
	n := 0
	for _, t := range s.Turns {
		n += len(t.Tools)
	}
	for _, a := range s.Subagents {
		n += len(a.Tools)
	}
	l := &linker{calls: make(map[string]*ToolCall, n), owners: make(map[*ToolCall]toolOwner, n)}
	for _, t := range s.Turns {
		t.Subagents = nil
		l.addTools(t.Tools, toolOwner{turn: t})
	}
	l.subs = append([]*Subagent(nil), s.Subagents...)
	sort.SliceStable(l.subs, func(i, j int) bool {
		if !l.subs[i].Start.Equal(l.subs[j].Start) {
			return l.subs[i].Start.Before(l.subs[j].Start)
		}
		return l.subs[i].AgentID < l.subs[j].AgentID
	})
	for _, a := range l.subs {
		a.Parent, a.ParentAgent, a.Turn, a.Match, a.OrphanReason = nil, nil, nil, "", ""
		l.addTools(a.Tools, toolOwner{agent: a})
	}
	sort.SliceStable(l.agentCalls, func(i, j int) bool { return l.agentCalls[i].Start.Before(l.agentCalls[j].Start) })
	return l
}

func (l *linker) addTools(tools []*ToolCall, o toolOwner) {
	for _, tc := range tools {
		l.calls[tc.ID] = tc
		l.owners[tc] = o
		tc.Subagent = nil
		if tc.IsAgentCall() {
			l.agentCalls = append(l.agentCalls, tc)
		}
	}
}

// attach links subagent a to the Agent call tc that spawned it.
func attach(a *Subagent, tc *ToolCall, how string) {
	a.Parent, a.Match = tc, how
	tc.Subagent = a
}

// linkByEvidence links the subagents that .meta.json's toolUseId or an
// Agent call's tool result names, and returns the others.
func (l *linker) linkByEvidence() (unmatched []*Subagent) {
	byResult := map[string]*ToolCall{} // agentId → Agent call
	for _, tc := range l.agentCalls {
		if id := resultAgentID(tc.ToolUseResult); id != "" {
			byResult[id] = tc
		}
	}
	for _, a := range l.subs {
		if tc := l.calls[a.ToolUseID]; a.ToolUseID != "" && tc != nil && tc.Subagent == nil {
			attach(a, tc, MatchMeta)
			continue
		}
		if tc := byResult[a.AgentID]; tc != nil && tc.Subagent == nil {
			attach(a, tc, MatchMeta)
			continue
		}
		unmatched = append(unmatched, a)
	}
	return unmatched
}

// linkByPrompt links a to the oldest not-yet-linked Agent call of its turn
// whose prompt (and agent type) it repeats, or marks it an orphan.
func (l *linker) linkByPrompt(a *Subagent) {
	if strings.TrimSpace(a.Prompt) == "" {
		a.Match, a.OrphanReason = MatchOrphan, "subagent transcript has no plain user prompt"
		return
	}
	h := promptHash(a.Prompt)
	var cands []*ToolCall
	for _, tc := range l.agentCalls {
		if tc.Subagent == nil && l.promptMatches(a, tc, h) {
			cands = append(cands, tc)
		}
	}
	switch len(cands) {
	case 0:
		a.Match, a.OrphanReason = MatchOrphan, "no pending Agent call with the same prompt"
	case 1:
		attach(a, cands[0], MatchPrompt)
	default:
		attach(a, cands[0], MatchAmbiguous)
	}
}

// promptMatches reports whether the Agent call tc could have spawned a,
// whose prompt hashes to h.
func (l *linker) promptMatches(a *Subagent, tc *ToolCall, h [32]byte) bool {
	p, typ, _ := tc.AgentPrompt()
	if promptHash(p) != h {
		return false
	}
	if typ != "" && a.AgentType != "" && typ != a.AgentType {
		return false
	}
	if a.PromptID != "" {
		if t := l.turnOf(l.owners[tc], 0); t != nil && t.PromptID != "" && t.PromptID != a.PromptID {
			return false
		}
	}
	return true
}

// turnOf finds the main turn an owner belongs to.
func (l *linker) turnOf(o toolOwner, depth int) *Turn {
	if o.turn != nil || o.agent == nil || depth > 32 {
		return o.turn
	}
	if o.agent.Parent == nil {
		return o.agent.Turn
	}
	return l.turnOf(l.owners[o.agent.Parent], depth+1)
}

// place puts every subagent under its main turn: its Agent call's, else
// the one its prompt id names, else the last one started before it.
func (l *linker) place(turns []*Turn) {
	byPrompt := map[string]*Turn{}
	for _, t := range turns {
		if t.PromptID != "" {
			byPrompt[t.PromptID] = t
		}
	}
	for _, a := range l.subs {
		if a.Parent != nil {
			a.ParentAgent = l.owners[a.Parent].agent
		}
	}
	for _, a := range l.subs {
		var t *Turn
		if a.Parent != nil {
			t = l.turnOf(l.owners[a.Parent], 0)
		}
		if t == nil {
			t = byPrompt[a.PromptID]
		}
		if t == nil {
			t = turnAt(turns, a)
		}
		a.Turn = t
		if t != nil {
			t.Subagents = append(t.Subagents, a)
		}
	}
}

// turnAt returns the last turn that started at or before a started.
func turnAt(turns []*Turn, a *Subagent) *Turn {
	var best *Turn
	for _, t := range turns {
		if a.Start.IsZero() || !t.Start.After(a.Start) {
			best = t
		}
	}
	return best
}

func promptHash(p string) [32]byte { return sha256.Sum256([]byte(strings.TrimSpace(p))) }

func resultAgentID(raw json.RawMessage) string {
	if len(raw) == 0 || raw[0] != '{' {
		return ""
	}
	var r struct {
		AgentID string `json:"agentId"`
	}
	_ = json.Unmarshal(raw, &r)
	return r.AgentID
}
