package spans

import (
	"hash/maphash"
	"time"

	"github.com/weavetrace/weave/transcript"
)

// Fingerprints tell the live daemon which turns it must build again after
// an event: BuildTurn(s, t, o) depends on nothing but what a turn's
// fingerprint covers, so a turn whose fingerprint did not change builds to
// the same spans, and need not be built.
//
// A fingerprint covers exactly what BuildTurn reads:
//   - from the session: its ids, fork chain, cwd, branch, entrypoint and
//     version; the model of the latest turn at or before t that has one
//     (for a call without a model of its own); the Live overlay's Source;
//   - the turn, through its revision (transcript.Turn.Rev: a Builder gives
//     it a new one whenever it changes the turn or anything the turn holds),
//     or field by field for a turn no Builder made (hook-only, revision 0);
//     BuildTurn does not read Copied (Build skips copied turns, and so
//     does the daemon);
//   - what the chat spans' input history reads of earlier turns: with
//     InputReference, of each call the walk from the turn's first call
//     passes (walkHistory), its id, whether it failed, its turn's key and
//     Copied flag; with InputFull (or once the walk meets a copied turn)
//     the key, revision and Copied flag of every earlier turn;
//   - each tool call, through its revision, or field by field for one no
//     Builder made (a hook-only tool a caller appended to a turn's copy);
//   - each subagent reached from the turn (Agent calls, nested ones, and
//     orphans, those Link gave no parent) through its transcript's revision
//     and what Link decided (match, orphan reason, parent);
//   - the Live overlay's entries for the turn, each of its tools and each
//     of its subagents, field by field (the fields BuildTurn reads).
//
// Options other than Live and Input (Privacy, IntegrationVersion) are not
// covered: compare fingerprints only between builds with the same ones. The
// fingerprint is a 64-bit digest: equal inputs give equal fingerprints;
// different inputs collide with probability 2^-64 (as Span.Hash, which
// decides what is sent again, already accepts).

// Fingerprinter computes the fingerprints of one session's turns against
// one Live overlay. It reads s and live and keeps no reference past the
// calls; a new one is needed once either changes.
type Fingerprinter struct {
	s     *transcript.Session
	live  *Live
	input InputMode
	base  uint64 // the session-level inputs
	index map[*transcript.Turn]int
	// prefix[i] digests turns[:i] as the input history reads them (key,
	// revision, Copied); made on first use.
	prefix []uint64
}

// NewFingerprinter returns a Fingerprinter for the turns of s built with
// Options.Live = live and Options.Input = input.
func NewFingerprinter(s *transcript.Session, live *Live, input InputMode) *Fingerprinter {
	var h maphash.Hash
	h.SetSeed(hashSeed)
	for _, v := range []string{s.ID, s.ParentSessionID, s.ConversationID, s.Cwd, s.GitBranch, s.Entrypoint, s.Version, s.Agent, s.Provider} {
		str(&h, v)
	}
	if live != nil {
		h.WriteByte(1)
		str(&h, live.Source)
	} else {
		h.WriteByte(0)
	}
	h.WriteByte(byte(input))
	return &Fingerprinter{s: s, live: live, input: input, base: h.Sum64()}
}

// turnIndex is t's index in the session, -1 for a turn not in it.
func (f *Fingerprinter) turnIndex(t *transcript.Turn) int {
	if f.index == nil {
		f.index = make(map[*transcript.Turn]int, len(f.s.Turns))
		for i, x := range f.s.Turns {
			f.index[x] = i
		}
	}
	if i, ok := f.index[t]; ok {
		return i
	}
	return -1
}

// historyOf returns the digest of turns[:i] as the input history reads
// them.
func (f *Fingerprinter) historyOf(i int) uint64 {
	if f.prefix == nil {
		f.prefix = make([]uint64, len(f.s.Turns)+1)
		var h maphash.Hash
		h.SetSeed(hashSeed)
		for j, t := range f.s.Turns {
			historyTurn(&h, t)
			f.prefix[j+1] = h.Sum64()
		}
	}
	return f.prefix[i]
}

// historyTurn writes what the input history reads of an earlier turn.
func historyTurn(h *maphash.Hash, t *transcript.Turn) {
	str(h, t.Key)
	num(h, t.Rev())
	if t.Copied {
		h.WriteByte(1)
	} else {
		h.WriteByte(0)
	}
}

// Turn returns the fingerprint of t, a turn of the session. ok is false
// when t holds values the fingerprint cannot vouch for (calls or
// compactions on a turn no Builder made, a subagent not made by
// transcript.SubagentFrom, subagents nested past any real depth): the
// turn must then be built every time.
func (f *Fingerprinter) Turn(t *transcript.Turn) (sum uint64, ok bool) {
	w := turnPrint{f: f, ok: true}
	w.h.SetSeed(hashSeed)
	num(&w.h, f.base)
	w.turn(t)
	if w.needModel {
		str(&w.h, sessionModel(f.s, t.Key))
	}
	return w.h.Sum64(), w.ok
}

type turnPrint struct {
	f         *Fingerprinter
	h         maphash.Hash
	ok        bool
	needModel bool
}

func (w *turnPrint) flag(b bool) {
	if b {
		w.h.WriteByte(1)
	} else {
		w.h.WriteByte(0)
	}
}

func (w *turnPrint) turn(t *transcript.Turn) {
	h := &w.h
	num(h, t.Rev())
	if t.Rev() == 0 {
		for _, v := range []string{t.Key, t.PromptID, t.Prompt, t.PromptUUID, t.PermissionMode, t.Origin} {
			str(h, v)
		}
		num(h, uint64(t.Number))
		tm(h, t.Start)
		tm(h, t.End)
		if len(t.Calls) > 0 || len(t.Compactions) > 0 {
			w.ok = false
		}
	}
	w.calls(t.Calls)
	w.history(t)
	var lt *LiveTurn
	if w.f.live != nil {
		lt = w.f.live.Turns[t.Key]
	}
	w.liveTurn(lt)
	w.tools(t.Tools, 0)
	for _, a := range t.Subagents {
		if a.Parent == nil { // BuildTurn emits the others under their Agent call
			w.agent(a, 0)
		}
	}
	h.WriteByte('.')
}

// history covers what the input of the turn's chat spans reads of earlier
// turns. Only the first call can continue a call of another turn (a call
// continues the latest earlier call of its transcript); a subagent's calls
// continue its own, which its revision covers.
func (w *turnPrint) history(t *transcript.Turn) {
	h := &w.h
	ti := w.f.turnIndex(t)
	if len(t.Calls) == 0 || ti < 0 {
		return
	}
	if w.f.input == InputFull {
		num(h, w.f.historyOf(ti))
		return
	}
	// In reference mode the span reads, of each call the walk passes, its
	// id, whether it failed, and its turn's key and Copied flag (a failed
	// call's input is fixed when the call is made); once the walk meets a
	// copied turn it reads every earlier turn.
	whole := false
	ref, rt := walkHistory(w.f.s.Turns, ti, nil, t.Calls[0], w.f.input, func(p *transcript.LLMCall, pt *transcript.Turn) {
		if pt != t && pt.Copied && !whole {
			whole = true
			num(h, w.f.historyOf(ti))
		}
		w.historyCall(p, pt)
	})
	if ref != nil {
		w.historyCall(ref, rt)
	}
}

func (w *turnPrint) historyCall(p *transcript.LLMCall, pt *transcript.Turn) {
	h := &w.h
	str(h, p.MessageID)
	w.flag(p.APIError != nil)
	str(h, pt.Key)
	w.flag(pt.Copied)
}

// calls notes whether a call lacks a model (BuildTurn then reads the
// session's); their content is the holder's revision's.
func (w *turnPrint) calls(calls []*transcript.LLMCall) {
	for _, c := range calls {
		if c.Model == "" {
			w.needModel = true
		}
	}
}

func (w *turnPrint) tools(tools []*transcript.ToolCall, depth int) {
	h := &w.h
	num(h, uint64(len(tools)))
	for _, tc := range tools {
		str(h, tc.ID)
		num(h, tc.Rev())
		if tc.Rev() == 0 {
			for _, v := range []string{tc.Name, string(tc.Input), tc.CallMessageID, tc.Result, string(tc.ToolUseResult)} {
				str(h, v)
			}
			tm(h, tc.Start)
			tm(h, tc.End)
			w.flag(tc.HasResult)
			w.flag(tc.IsError)
		}
		var lt *LiveTool
		if w.f.live != nil {
			lt = w.f.live.Tools[tc.ID]
		}
		w.liveTool(lt)
		if tc.IsAgentCall() {
			if tc.Subagent == nil {
				h.WriteByte(0)
			} else {
				h.WriteByte(1)
				w.agent(tc.Subagent, depth+1)
			}
		}
	}
}

// maxAgentDepth bounds the walk through nested subagents; real nesting is
// a few levels.
const maxAgentDepth = 64

func (w *turnPrint) agent(a *transcript.Subagent, depth int) {
	h := &w.h
	if depth > maxAgentDepth || a.Rev() == 0 {
		w.ok = false
		return
	}
	num(h, a.Rev())
	for _, v := range []string{a.AgentID, a.AgentType, a.Description, a.ToolUseID, a.Path, a.Match, a.OrphanReason} {
		str(h, v)
	}
	num(h, uint64(a.SpawnDepth))
	var la *LiveAgent
	if w.f.live != nil {
		la = w.f.live.Agents[a.AgentID]
	}
	if la == nil {
		h.WriteByte(0)
	} else {
		h.WriteByte(1)
		tm(h, la.Stopped)
		apiError(h, la.Failure)
	}
	w.calls(a.Calls)
	w.tools(a.Tools, depth)
}

func (w *turnPrint) liveTurn(lt *LiveTurn) {
	h := &w.h
	if lt == nil {
		h.WriteByte(0)
		return
	}
	h.WriteByte(1)
	for _, v := range []string{lt.Prompt, lt.Closed, lt.CompactTrigger, lt.CompactSummary} {
		str(h, v)
	}
	for _, v := range []time.Time{lt.Start, lt.Stopped, lt.ClosedAt, lt.Superseded, lt.CompactAt} {
		tm(h, v)
	}
	w.flag(lt.Compacted)
	apiError(h, lt.Failure)
	events(h, lt.Events)
}

func (w *turnPrint) liveTool(lt *LiveTool) {
	h := &w.h
	if lt == nil {
		h.WriteByte(0)
		return
	}
	h.WriteByte(1)
	tm(h, lt.Start)
	tm(h, lt.End)
	w.flag(lt.Failed)
	w.flag(lt.IsInterrupt)
	str(h, lt.Error)
	str(h, lt.Closed)
	events(h, lt.Events)
}

func apiError(h *maphash.Hash, e *transcript.APIError) {
	if e == nil {
		h.WriteByte(0)
		return
	}
	h.WriteByte(1)
	str(h, e.Type)
	str(h, e.Message)
	num(h, uint64(e.Status))
}

func events(h *maphash.Hash, evs []Event) {
	num(h, uint64(len(evs)))
	for i := range evs {
		str(h, evs[i].Name)
		tm(h, evs[i].Time)
		attrs(h, evs[i].Attributes)
	}
}
