package daemon

import (
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/spans"
)

// AgentProcessor is a Processor for one agent other than Claude Code that
// can say which sessions and files are its own, so a Router can send it
// what concerns it.
type AgentProcessor interface {
	Processor
	// Has reports whether it tracks the session.
	Has(sessionID string) bool
	// Owns reports whether path is a file of one of its sessions.
	Owns(path string) bool
}

// Router is the Processor weave-agentd runs: it hands each hook event to
// the processor of the agent that sent it (hookproto.Event.Agent), Claude
// Code's by default, and file changes to the processor whose session owns
// the file. Everything else goes to all of them.
type Router struct {
	Claude Processor
	// Agents by hookproto agent name (hookproto.AgentCodex, …).
	Agents map[string]AgentProcessor
	// unrouted counts events of agents this daemon has no processor for:
	// dropped, never taken for Claude Code's.
	unrouted int64
}

func (r *Router) each(f func(Processor) []spans.Span) []spans.Span {
	out := f(r.Claude)
	names := make([]string, 0, len(r.Agents))
	for n := range r.Agents {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, f(r.Agents[n])...)
	}
	return out
}

// For returns the processor of an agent (Claude Code's for an unknown one).
func (r *Router) For(agent string) Processor {
	if p := r.Agents[agent]; p != nil {
		return p
	}
	return r.Claude
}

func (r *Router) Event(ev hookproto.Event, replay bool) []spans.Span {
	agent := AgentOf(ev)
	if agent == hookproto.AgentClaudeCode {
		return r.Claude.Event(ev, replay)
	}
	if p := r.Agents[agent]; p != nil {
		return p.Event(ev, replay)
	}
	r.unrouted++
	return nil
}

// AgentOf is the agent that sent ev: what its hook said, else — a hook
// registered by hand without --agent — Codex when transcript_path is a
// Codex rollout (…/sessions/…/rollout-*.jsonl), Gemini CLI when it is a
// Gemini CLI chat file (…/.gemini/tmp/<project>/chats/session-*.jsonl).
func AgentOf(ev hookproto.Event) string {
	if ev.Agent != "" && ev.Agent != hookproto.AgentClaudeCode {
		return ev.Agent
	}
	p := filepath.ToSlash(ev.TranscriptPath)
	base := path.Base(p)
	switch {
	case strings.HasPrefix(base, "rollout-") && strings.HasSuffix(p, ".jsonl") && strings.Contains(p, "/sessions/"):
		return hookproto.AgentCodex
	case strings.HasPrefix(base, "session-") && strings.HasSuffix(p, ".jsonl") && path.Base(path.Dir(p)) == "chats" && strings.Contains(p, "/.gemini/tmp/"):
		return hookproto.AgentGemini
	}
	return hookproto.AgentClaudeCode
}

func (r *Router) FileChanged(path string) []spans.Span {
	for _, p := range r.Agents {
		if p.Owns(path) {
			return p.FileChanged(path)
		}
	}
	return r.Claude.FileChanged(path)
}

func (r *Router) Watches() []string {
	out := r.Claude.Watches()
	for _, p := range r.Agents {
		out = append(out, p.Watches()...)
	}
	return out
}

func (r *Router) Tick(now time.Time) []spans.Span {
	return r.each(func(p Processor) []spans.Span { return p.Tick(now) })
}

func (r *Router) Close(reason string) []spans.Span {
	return r.each(func(p Processor) []spans.Span { return p.Close(reason) })
}

// Stats adds up the live sessions and refusals; Details holds each
// processor's own figures by agent name.
func (r *Router) Stats() ProcessorStats {
	st := r.Claude.Stats()
	details := map[string]any{hookproto.AgentClaudeCode: st.Details}
	for n, p := range r.Agents {
		ps := p.Stats()
		st.LiveSessions += ps.LiveSessions
		st.TranscriptsRefused += ps.TranscriptsRefused
		if ps.LastRefused != "" {
			st.LastRefused = ps.LastRefused
		}
		details[n] = ps.Details
	}
	if r.unrouted > 0 {
		details["unrouted_events"] = r.unrouted
	}
	st.Details = details
	return st
}

func (r *Router) Deferred(f func()) []spans.Span {
	// Nest the processors' Deferred so each rebuilds its sessions once.
	procs := []Processor{r.Claude}
	names := make([]string, 0, len(r.Agents))
	for n := range r.Agents {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		procs = append(procs, r.Agents[n])
	}
	var out []spans.Span
	var run func(i int)
	run = func(i int) {
		if i == len(procs) {
			f()
			return
		}
		out = append(out, procs[i].Deferred(func() { run(i + 1) })...)
	}
	run(0)
	return out
}

// Rebuild goes to the processor of the agent the events name, else the one
// that tracks the session, else every one until one finds it.
func (r *Router) Rebuild(sessionID string, events []hookproto.Event) []spans.Span {
	for _, ev := range events {
		if ev.SessionID == sessionID {
			return r.For(AgentOf(ev)).Rebuild(sessionID, events)
		}
	}
	for _, p := range r.Agents {
		if p.Has(sessionID) {
			return p.Rebuild(sessionID, events)
		}
	}
	if out := r.Claude.Rebuild(sessionID, events); out != nil {
		return out
	}
	for _, p := range r.Agents {
		if out := p.Rebuild(sessionID, events); out != nil {
			return out
		}
	}
	return nil
}

func (r *Router) SessionClosed(sessionID string) bool {
	for _, p := range r.Agents {
		if p.Has(sessionID) {
			return p.SessionClosed(sessionID)
		}
	}
	return r.Claude.SessionClosed(sessionID)
}
