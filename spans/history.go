package spans

import (
	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/spanid"
	"github.com/weavetrace/weave/transcript"
)

// What the model saw. A call's request holds the whole conversation so
// far, as far as the transcript records it: the request of the call it
// continues (transcript.LLMCall.Prev), that call's answer (unless it
// failed), then the messages added since (LLMCall.Input). The system
// prompt is not in the transcript before Claude Code 2.1.330; from then
// on it is gen_ai.system_instructions.

// chatInput sets a chat span's input: the messages added since the call
// it continues plus a reference to that call's span (InputReference), or
// the whole input (InputFull, and where there is nothing to refer to),
// with weave.input.new_messages_from where the history ends.
func (b *builder) chatInput(s *Span, sub *transcript.Subagent, c *transcript.LLMCall) {
	// chain is c and the calls it continues, newest first, up to the one
	// the span refers to (or the first of the history).
	chain := []*transcript.LLMCall{c}
	ref, refTurn := walkHistory(b.s.Turns, b.turnIndex(), sub, c, b.o.Input, func(p *transcript.LLMCall, _ *transcript.Turn) {
		chain = append(chain, p)
	})
	var msgs []message
	newFrom := 0
	for i := len(chain) - 1; i >= 0; i-- {
		x := chain[i]
		msgs = append(msgs, b.inputMessages(x.Input)...)
		if i == 0 {
			break
		}
		if x.APIError == nil {
			if out := b.outputMessage(x, false); out != nil {
				msgs = append(msgs, *out)
			}
			newFrom = len(msgs)
		}
	}
	if ref != nil {
		trace := b.trace
		if refTurn != nil {
			trace = spanid.TurnTraceID(refTurn.Key)
		}
		s.SetAttr(semconv.KeyInputPreviousTraceID, trace.String())
		s.SetAttr(semconv.KeyInputPreviousSpanID, spanid.ChatSpanID(trace, ref.MessageID).String())
	} else if len(msgs) > 0 {
		// Every agent's calls chain (Prev): the history is as complete as
		// the agent's file (Codex's rollout leaves its developer
		// messages out, Gemini CLI's the tool results it repeats after a
		// resume), and the span's own messages begin at newFrom, as the
		// server marks a resolved reference.
		s.SetAttr(semconv.KeyInputNewFrom, int64(newFrom))
	}
	if len(msgs) > 0 {
		s.SetAttr(semconv.KeyInputMessages, b.messagesJSON(msgs))
	}
}

// turnIndex is the index of the builder's turn in the session (-1 for a
// turn not in it).
func (b *builder) turnIndex() int {
	if !b.tiSet {
		b.ti, b.tiSet = -1, true
		for i := len(b.s.Turns) - 1; i >= 0; i-- {
			if b.s.Turns[i] == b.t {
				b.ti = i
				break
			}
		}
	}
	return b.ti
}

// walkHistory walks back from c through the calls its request continues,
// newest first, calling each(p, turn) for every call whose request and
// answer the span of c must carry itself, and returns the call it refers
// to instead (nil when it carries the whole history) with that call's
// turn. turns[ti] holds c (sub is nil), or c is a call of the subagent
// sub (its turn is then nil: the subagent's calls are its own).
//
// In InputReference mode the walk stops at the first call that answered:
// a failed call's error text was never sent to the model, so its span's
// output is not history, and its input is carried instead. A call in a
// copied turn (a fork's history, emitted under its first writer's ids)
// is not referred to: the span carries the whole history (c's own turn
// is not copied: copied turns are not built).
func walkHistory(turns []*transcript.Turn, ti int, sub *transcript.Subagent, c *transcript.LLMCall, mode InputMode, each func(*transcript.LLMCall, *transcript.Turn)) (*transcript.LLMCall, *transcript.Turn) {
	prev := prevCalls{turns: turns, ti: ti, sub: sub, want: c.Prev}
	prev.init()
	whole := mode == InputFull
	for p, pt := prev.next(); p != nil; p, pt = prev.next() {
		if pt != nil && pt != turns[ti] && pt.Copied {
			whole = true
		}
		if !whole && p.APIError == nil {
			return p, pt
		}
		each(p, pt)
	}
	return nil, nil
}

// prevCalls iterates over the calls a call continues, newest first, each
// with the turn holding it (nil in a subagent's transcript). Calls are
// found walking back through the agent's calls in file order: a
// subagent's own, or the main transcript's turns from turns[ti]. A value
// (no allocation: the fingerprint walks once per turn per event).
type prevCalls struct {
	turns []*transcript.Turn
	ti    int
	sub   *transcript.Subagent
	ci    int    // next index in the current call list
	want  string // message id of the next call
}

func (w *prevCalls) init() {
	switch {
	case w.sub != nil:
		w.ci = len(w.sub.Calls) - 1
	case w.ti >= 0:
		w.ci = len(w.turns[w.ti].Calls) - 1
	default:
		w.want = ""
	}
}

func (w *prevCalls) next() (*transcript.LLMCall, *transcript.Turn) {
	if w.sub != nil {
		for ; w.want != "" && w.ci >= 0; w.ci-- {
			if x := w.sub.Calls[w.ci]; x.MessageID == w.want {
				w.want = x.Prev
				return x, nil
			}
		}
		return nil, nil
	}
	for w.want != "" && w.ti >= 0 {
		t := w.turns[w.ti]
		for ; w.ci >= 0; w.ci-- {
			if x := t.Calls[w.ci]; x.MessageID == w.want {
				w.want = x.Prev
				return x, t
			}
		}
		if w.ti--; w.ti >= 0 {
			w.ci = len(w.turns[w.ti].Calls) - 1
		}
	}
	return nil, nil
}
