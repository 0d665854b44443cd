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
	type owner struct {
		turn  *Turn
		agent *Subagent
	}
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
	n := 0
	for _, t := range s.Turns {
		n += len(t.Tools)
	}
	for _, a := range s.Subagents {
		n += len(a.Tools)
	}
	calls := make(map[string]*ToolCall, n)
	owners := make(map[*ToolCall]owner, n)
	var agentCalls []*ToolCall
	addTools := func(tools []*ToolCall, o owner) {
		for _, tc := range tools {
			calls[tc.ID] = tc
			owners[tc] = o
			tc.Subagent = nil
			if tc.IsAgentCall() {
				agentCalls = append(agentCalls, tc)
			}
		}
	}
	for _, t := range s.Turns {
		t.Subagents = nil
		addTools(t.Tools, owner{turn: t})
	}
	subs := append([]*Subagent(nil), s.Subagents...)
	sort.SliceStable(subs, func(i, j int) bool {
		if !subs[i].Start.Equal(subs[j].Start) {
			return subs[i].Start.Before(subs[j].Start)
		}
		return subs[i].AgentID < subs[j].AgentID
	})
	for _, a := range subs {
		a.Parent, a.ParentAgent, a.Turn, a.Match, a.OrphanReason = nil, nil, nil, "", ""
		addTools(a.Tools, owner{agent: a})
	}
	sort.SliceStable(agentCalls, func(i, j int) bool { return agentCalls[i].Start.Before(agentCalls[j].Start) })

	// Evidence from tool results: agentId → Agent call.
	byResult := map[string]*ToolCall{}
	for _, tc := range agentCalls {
		if id := resultAgentID(tc.ToolUseResult); id != "" {
			byResult[id] = tc
		}
	}
	link := func(a *Subagent, tc *ToolCall, how string) {
		a.Parent, a.Match = tc, how
		tc.Subagent = a
	}
	var unmatched []*Subagent
	for _, a := range subs {
		if tc := calls[a.ToolUseID]; a.ToolUseID != "" && tc != nil && tc.Subagent == nil {
			link(a, tc, MatchMeta)
			continue
		}
		if tc := byResult[a.AgentID]; tc != nil && tc.Subagent == nil {
			link(a, tc, MatchMeta)
			continue
		}
		unmatched = append(unmatched, a)
	}
	// turnOf finds the main turn an owner belongs to.
	var turnOf func(o owner, depth int) *Turn
	turnOf = func(o owner, depth int) *Turn {
		if o.turn != nil || o.agent == nil || depth > 32 {
			return o.turn
		}
		if o.agent.Parent == nil {
			return o.agent.Turn
		}
		return turnOf(owners[o.agent.Parent], depth+1)
	}
	promptOf := func(tc *ToolCall) string {
		if t := turnOf(owners[tc], 0); t != nil {
			return t.PromptID
		}
		return ""
	}
	for _, a := range unmatched {
		if strings.TrimSpace(a.Prompt) == "" {
			a.Match, a.OrphanReason = MatchOrphan, "subagent transcript has no plain user prompt"
			continue
		}
		h := promptHash(a.Prompt)
		var cands []*ToolCall
		for _, tc := range agentCalls {
			if tc.Subagent != nil {
				continue
			}
			p, typ, _ := tc.AgentPrompt()
			if promptHash(p) != h {
				continue
			}
			if typ != "" && a.AgentType != "" && typ != a.AgentType {
				continue
			}
			if a.PromptID != "" {
				if pid := promptOf(tc); pid != "" && pid != a.PromptID {
					continue
				}
			}
			cands = append(cands, tc)
		}
		switch len(cands) {
		case 0:
			a.Match, a.OrphanReason = MatchOrphan, "no pending Agent call with the same prompt"
		case 1:
			link(a, cands[0], MatchPrompt)
		default:
			link(a, cands[0], MatchAmbiguous)
		}
	}
	// Place every subagent under its main turn.
	byPrompt := map[string]*Turn{}
	for _, t := range s.Turns {
		if t.PromptID != "" {
			byPrompt[t.PromptID] = t
		}
	}
	for _, a := range subs {
		if a.Parent != nil {
			o := owners[a.Parent]
			a.ParentAgent = o.agent
		}
	}
	for _, a := range subs {
		var t *Turn
		if a.Parent != nil {
			t = turnOf(owners[a.Parent], 0)
		}
		if t == nil {
			t = byPrompt[a.PromptID]
		}
		if t == nil {
			t = turnAt(s.Turns, a)
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
