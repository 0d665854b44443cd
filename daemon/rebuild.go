package daemon

import (
	"maps"
	"slices"

	"github.com/weavetrace/weave/daemon/export"
	"github.com/weavetrace/weave/daemon/hookproto"
	"github.com/weavetrace/weave/daemon/journal"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/spans"
)

// Rebuilding the spans of a damaged spool record. The exporter finds the
// damage (spool.Queue.TakeDamage), names the spans the damaged bytes held
// (export.ScanDamaged) and keeps them in its losses file until they are
// settled. Core takes them (export.Exporter.TakeRebuild) on its tick, asks
// the journaler for the journaled events of their sessions — a closed
// session's events stay for journal_retention, and the sessions of spans
// whose session id was damaged are found through the prompt ids of the
// journal's events (a trace id is derived from one) — and has the
// Processor rebuild each session apart from the live state (its events,
// else its transcript). The spans among them that were lost are sent
// again, which the server's upsert by span id makes harmless; the others
// are counted lost for good (Exporter.Rebuilt). Nothing here blocks: the
// lookup is a request the journaler answers on a channel of one.

// lookupReq asks the journaler for the events of sessions, and for the
// sessions of traces (through the prompt ids of the journaled events).
type lookupReq struct {
	sessions map[string]bool
	traces   map[string]bool
	reply    chan lookupResult // buffered: the journaler never blocks on it
}

type lookupResult struct {
	events       map[string][]hookproto.Event // by session id, in journal order
	traceSession map[string]string
	err          error
}

// lookup answers r from the whole journal (two passes when traces must be
// mapped to sessions first). It runs on the journaler's goroutine, which
// owns the journal; it is rare (only after spool damage).
func (jr *journaler) lookup(r lookupReq) {
	res := lookupResult{events: map[string][]hookproto.Event{}, traceSession: map[string]string{}}
	want := r.sessions
	if len(r.traces) > 0 {
		want = map[string]bool{}
		for s := range r.sessions {
			want[s] = true
		}
		_, err := jr.j.Replay(func(rec *journal.Record) error {
			if ev, ok := journaledEvent(rec); ok && ev.PromptID != "" {
				if t := spanid.TurnTraceID(ev.PromptID).String(); r.traces[t] {
					res.traceSession[t] = ev.SessionID
					want[ev.SessionID] = true
				}
			}
			return nil
		})
		if err != nil {
			res.err = err
		}
	}
	if res.err == nil {
		_, res.err = jr.j.Replay(func(rec *journal.Record) error {
			if ev, ok := journaledEvent(rec); ok && want[ev.SessionID] {
				res.events[ev.SessionID] = append(res.events[ev.SessionID], ev)
			}
			return nil
		})
	}
	r.reply <- res
}

// maxRebuildRegions bounds the damaged regions one rebuild round takes.
const maxRebuildRegions = 64

// requestRebuild takes the exporter's damaged regions and asks the
// journaler about their sessions, unless a request is already out.
func (c *core) requestRebuild() {
	if c.lookupBusy {
		return
	}
	if len(c.rebuilds) < maxRebuildRegions {
		c.rebuilds = append(c.rebuilds, c.exp.TakeRebuild()...)
	}
	if len(c.rebuilds) == 0 {
		return
	}
	req := lookupReq{sessions: map[string]bool{}, traces: map[string]bool{}, reply: c.lookupReply}
	for _, d := range c.rebuilds[:min(len(c.rebuilds), maxRebuildRegions)] {
		for _, r := range d.Refs {
			switch {
			case r.SessionID != "":
				req.sessions[r.SessionID] = true
			case r.TraceID != "":
				req.traces[r.TraceID] = true
			}
		}
	}
	select {
	case c.lookups <- req:
		c.lookupBusy = true
	default: // the journaler is busy: next tick
	}
}

// rebuild has the processor rebuild the sessions of the damaged regions
// the lookup was for (each session once), sends again every span of the
// traces each region named, and settles the regions with the exporter.
func (c *core) rebuild(res lookupResult) {
	c.lookupBusy = false
	n := min(len(c.rebuilds), maxRebuildRegions)
	regions := c.rebuilds[:n]
	c.rebuilds = c.rebuilds[n:]
	if res.err != nil {
		c.log.Error("daemon: read the journal to rebuild damaged spans", "err", res.err)
	}
	built := map[string][]spans.Span{} // by session
	for _, d := range regions {
		out, rebuilt, sessions := rebuiltOf(d, res.traceSession, func(sid string) []spans.Span {
			if _, ok := built[sid]; !ok {
				built[sid] = c.call(func() []spans.Span { return c.proc.Rebuild(sid, res.events[sid]) })
			}
			return built[sid]
		})
		c.export(out)
		c.log.Info("daemon: rebuilt the spans of a damaged spool region", "sessions", sessions,
			"spans", d.Spans(), "rebuilt", rebuilt, "sent", len(out))
		c.exp.Rebuilt(d, rebuilt)
	}
}

// rebuiltOf picks what to send again for the damaged region d from the
// rebuilt spans of its sessions (build, by session id; traceSession maps
// the traces of refs whose session id the damage took): every span of a
// trace d named, every span d named by id (its trace id may be the part
// the damage took), and the whole session for a ref that kept only its
// session id or whose ids match no rebuilt span (the damage changed them).
// It returns the spans, how many of d's spans they cover, and the number
// of sessions rebuilt.
func rebuiltOf(d export.Damaged, traceSession map[string]string, build func(sid string) []spans.Span) (out []spans.Span, rebuilt, sessions int) {
	bySession := map[string][]export.SpanRef{}
	traces, named := map[string]bool{}, map[string]bool{}
	for _, r := range d.Refs {
		sid := r.SessionID
		if sid == "" {
			sid = traceSession[r.TraceID]
		}
		if sid != "" {
			bySession[sid] = append(bySession[sid], r)
		}
		if r.TraceID != "" {
			traces[r.TraceID] = true
		}
		if r.SpanID != "" {
			named[r.SpanID] = true
		}
	}
	sent, found := map[string]bool{}, map[string]bool{}
	whole := map[string]bool{} // sessions sent whole
	for _, sid := range slices.Sorted(maps.Keys(bySession)) {
		all := build(sid)
		ids := map[string]bool{}
		for _, sp := range all {
			ids[sp.SpanID.String()] = true
		}
		for _, r := range bySession[sid] {
			if len(all) > 0 && !ids[r.SpanID] && !traceIn(all, r.TraceID) {
				whole[sid] = true
			}
		}
		for _, sp := range all {
			t, id := sp.TraceID.String(), sp.SpanID.String()
			if whole[sid] || traces[t] || named[id] {
				out = append(out, sp)
				sent[id] = true
				if traces[t] {
					found[t] = true
				}
			}
		}
	}
	for sid, refs := range bySession {
		for _, r := range refs {
			if whole[sid] || sent[r.SpanID] || r.SpanID == "" && found[r.TraceID] {
				rebuilt++
			}
		}
	}
	if len(traces) > 0 && len(found) == len(traces) {
		rebuilt += d.Unnamed // their traces were sent again whole
	}
	return out, rebuilt, len(bySession)
}

// traceIn reports whether a span of ss has trace id t.
func traceIn(ss []spans.Span, t string) bool {
	return t != "" && slices.ContainsFunc(ss, func(sp spans.Span) bool { return sp.TraceID.String() == t })
}
