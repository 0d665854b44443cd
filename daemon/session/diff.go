package session

import (
	"sort"

	"github.com/weavetrace/weave/spans"
	"github.com/weavetrace/weave/transcript"
)

// snapshot assembles the session model: the builders' transcript state,
// overlaid with what only hooks know so far (turns and tools whose lines
// have not landed), then linked and placed in its fork chain. The builders'
// values are not modified except through Link, which recomputes its
// outputs from scratch every time.
func (p *Processor) snapshot(s *session) *transcript.Session {
	var base *transcript.Session
	if s.main != nil {
		base = s.main.b.Session()
	} else {
		base = &transcript.Session{ID: s.id}
	}
	ts := *base
	if ts.ID == "" || ts.ID != s.id && len(ts.Turns) == 0 {
		ts.ID = s.id
	}
	paths := make([]string, 0, len(s.subs))
	for path := range s.subs {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	ts.Subagents = nil
	for _, path := range paths {
		fs := s.subs[path]
		if len(fs.b.Session().Turns) == 0 {
			continue // not written yet, or never (compaction's SubagentStop)
		}
		ts.Subagents = append(ts.Subagents, transcript.SubagentFrom(path, fs.b, fs.meta))
	}
	if s.path != "" {
		p.resolver.Forget(s.path)
		p.resolver.Resolve(base)
		ts.ParentSessionID, ts.ConversationID, ts.ForkKind = base.ParentSessionID, base.ConversationID, base.ForkKind
	}
	ts.Turns = s.overlay(base, ts.Subagents)
	transcript.Link(&ts)
	return &ts
}

// diff returns the session's spans that changed since they were last
// returned (while deferring: marks the session for Deferred to rebuild).
//
// It builds only the turns whose fingerprint changed since they were last
// built: everything BuildTurn reads for a turn is in its fingerprint
// (spans.Fingerprinter), and the spans of an unchanged turn are those
// exported holds, since only building that turn writes its span ids
// (derived from its key). Turns sharing a key, and turns the fingerprint
// cannot vouch for, are built every time.
func (p *Processor) diff(s *session) []spans.Span {
	if p.deferring {
		s.dirty = true
		return nil
	}
	s.dirty = false
	ts := p.snapshot(s)
	live := s.live
	opts := spans.Options{Privacy: p.set.Privacy, IntegrationVersion: p.set.IntegrationVersion, Live: &live, Input: p.set.Input}
	fp := spans.NewFingerprinter(ts, &live, opts.Input)
	keys := make(map[string]int, len(ts.Turns))
	for _, t := range ts.Turns {
		if !t.Copied {
			keys[t.Key]++
		}
	}
	var out []spans.Span
	b := turnBuilds{}
	for _, t := range ts.Turns {
		if t.Copied {
			continue
		}
		sum, ok := fp.Turn(t)
		ok = ok && keys[t.Key] == 1 && !p.rebuildAll
		if was, seen := s.built[t.Key]; ok && seen && was == sum {
			continue
		}
		p.turnsBuilt++
		for _, sp := range spans.BuildTurn(ts, t, opts) {
			b.note(t, sp)
			h := sp.Hash()
			if s.exported[sp.SpanID] == h {
				continue
			}
			s.exported[sp.SpanID] = h
			out = append(out, sp)
		}
		if ok {
			s.built[t.Key] = sum
		} else {
			delete(s.built, t.Key)
		}
	}
	out = append(out, s.dropRunning(b, keys)...)
	p.stats.SpansEmitted += int64(len(out))
	return out
}

// overlay returns copies of the transcript's turns with the tools only
// hooks know about added, plus the turns only hooks know about yet.
func (s *session) overlay(ts *transcript.Session, subs []*transcript.Subagent) []*transcript.Turn {
	byKey := make(map[string]*transcript.Turn, len(ts.Turns)+len(s.hookTurns))
	out := make([]*transcript.Turn, 0, len(ts.Turns)+len(s.hookTurns))
	copies := make([]transcript.Turn, len(ts.Turns))
	for i, t := range ts.Turns {
		c := &copies[i]
		*c = *t
		out = append(out, c)
		if !t.Copied {
			byKey[t.Key] = c
		}
	}
	n := len(ts.Turns)
	for _, key := range s.hookTurns {
		if byKey[key] != nil || copiedKey(ts, key) {
			continue
		}
		lt := s.live.Turns[key]
		n++
		t := &transcript.Turn{Key: key, PromptID: key, Number: n, Start: lt.Start, End: lt.Start, Origin: "user"}
		byKey[key] = t
		out = append(out, t)
	}
	// Tools the hooks started that the transcript does not show yet.
	ids := make([]string, 0, len(s.pending))
	for id := range s.pending {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		pt := s.pending[id]
		if s.inTranscript(id) {
			delete(s.pending, id)
			continue
		}
		t := byKey[s.toolTurn(pt, subs)]
		if t == nil {
			t = lastOwn(out)
		}
		if t == nil {
			continue
		}
		// Tools run inside a subagent (agent_id) stay with the turn until
		// the subagent's transcript shows them; Link cannot place them
		// earlier, and the transcript's version replaces this one.
		t.Tools = append(append([]*transcript.ToolCall(nil), t.Tools...),
			&transcript.ToolCall{ID: id, Name: pt.name, Input: pt.input, Start: pt.start})
	}
	return out
}

// inTranscript reports whether the session's transcripts (main or a
// subagent's) hold the tool call.
func (s *session) inTranscript(id string) bool {
	if s.main != nil && s.main.b.ToolCall(id) != nil {
		return true
	}
	for _, fs := range s.subs {
		if fs.b.ToolCall(id) != nil {
			return true
		}
	}
	return false
}

// toolTurn is the key of the turn a hook-only tool belongs to: its
// subagent's turn for a tool run inside one (SubagentStart's prompt_id,
// else the prompt id on the subagent's transcript lines), else its own
// prompt_id.
func (s *session) toolTurn(pt *pendingTool, subs []*transcript.Subagent) string {
	if pt.agentID == "" {
		return pt.promptID
	}
	if k := s.agentTurn[pt.agentID]; k != "" {
		return k
	}
	for _, a := range subs {
		if a.AgentID == pt.agentID && a.PromptID != "" {
			return a.PromptID
		}
	}
	return pt.promptID
}

func lastOwn(turns []*transcript.Turn) *transcript.Turn {
	for i := len(turns) - 1; i >= 0; i-- {
		if !turns[i].Copied {
			return turns[i]
		}
	}
	return nil
}

func copiedKey(ts *transcript.Session, key string) bool {
	for _, t := range ts.Turns {
		if t.Key == key && t.Copied {
			return true
		}
	}
	return false
}
