package chatview

import (
	"cmp"
	"slices"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// BuildConversation returns the conversation view of the spans of one
// conversation, with its turns as the store contract counts them (the
// turn rule of the server/store package doc):
//
//   - Without turn spans (no span has is_turn, as with weave-agentd and
//     most SDKs): one turn per trace_id.
//   - With turn spans (W&B threads: wandb.is_turn marks the span that is
//     a row of the thread view): one turn per turn span — an is_turn span
//     with no is_turn ancestor. A trace with one turn span is that turn,
//     all its spans included; a trace with several splits into one turn per
//     turn span's subtree, its other spans (a session root above them)
//     going to Background. A trace with no turn span is background
//     activity: it is listed in Background, not counted as a turn.
//
// Turns are in order of their start (ties by trace_id, then turn span),
// each with its chat view and its session. Sessions lists every session
// that contributed turns, in order of its first turn, so a fork shows as a
// session with a parent. Usage, Running and the activity times cover every
// span, background included, as the conversations list does.
func BuildConversation(conversationID string, spans []model.Span) Conversation {
	out := Conversation{
		ConversationID: conversationID,
		Sessions:       []Session{},
		Turns:          []Turn{},
		Background:     []Trace{},
	}
	byTrace := make(map[string][]model.Span)
	var order []string
	for _, s := range spans {
		if _, ok := byTrace[s.TraceID]; !ok {
			order = append(order, s.TraceID)
		}
		byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
		out.LastActivity = latest(out.LastActivity, s.StartedAt)
		out.LastActivity = latest(out.LastActivity, s.EndedAt)
	}
	roots := make(map[string][]string, len(order)) // trace → its turn spans
	usesTurns := false
	for _, id := range order {
		roots[id] = TurnSpans(byTrace[id])
		usesTurns = usesTurns || len(roots[id]) > 0
	}
	for _, id := range order {
		ts := byTrace[id]
		switch r := roots[id]; {
		case !usesTurns:
			out.Turns = append(out.Turns, Turn{Trace: Build(ts)})
		case len(r) == 0:
			out.Background = append(out.Background, Build(ts))
		case len(r) == 1:
			out.Turns = append(out.Turns, Turn{TurnSpanID: r[0], Trace: Build(ts)})
		default:
			parts, rest := splitTurns(ts, r)
			for i, p := range parts {
				out.Turns = append(out.Turns, Turn{TurnSpanID: r[i], SharedTrace: true, Trace: Build(p)})
			}
			if len(rest) > 0 {
				out.Background = append(out.Background, Build(rest))
			}
		}
	}
	slices.SortFunc(out.Turns, func(a, b Turn) int {
		if c := compareTime(a.StartedAt, b.StartedAt); c != 0 {
			return c
		}
		if c := cmp.Compare(a.TraceID, b.TraceID); c != 0 {
			return c
		}
		return cmp.Compare(a.TurnSpanID, b.TurnSpanID)
	})
	slices.SortFunc(out.Background, func(a, b Trace) int {
		if c := compareTime(a.StartedAt, b.StartedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.TraceID, b.TraceID)
	})

	sessions := make(map[string]int) // session id → index in out.Sessions
	for i := range out.Turns {
		t := &out.Turns[i]
		t.Index = i
		out.Usage.Add(t.Usage)
		if t.Running {
			out.Running = true
		}
		out.FirstActivity = earliest(out.FirstActivity, t.StartedAt)
		if t.SessionID == "" {
			continue
		}
		j, ok := sessions[t.SessionID]
		if !ok {
			j = len(out.Sessions)
			sessions[t.SessionID] = j
			out.Sessions = append(out.Sessions, Session{
				SessionID:      t.SessionID,
				FirstTurnIndex: i,
				FirstActivity:  t.StartedAt,
			})
		}
		ss := &out.Sessions[j]
		ss.TurnCount++
		if ss.ParentSessionID == "" {
			ss.ParentSessionID = t.ParentSessionID
		}
	}
	for i := range out.Background {
		b := &out.Background[i]
		out.Usage.Add(b.Usage)
		out.Running = out.Running || b.Running
		out.FirstActivity = earliest(out.FirstActivity, b.StartedAt)
	}
	out.TurnCount = len(out.Turns)
	out.BackgroundCount = len(out.Background)
	return out
}

// TurnSpans returns the turn spans of one trace's spans: those with
// is_turn none of whose ancestors (parent links within spans, stopping
// where a chain comes back on itself) has it, in span order.
func TurnSpans(spans []model.Span) []string {
	byID := make(map[string]*model.Span, len(spans))
	for i := range spans {
		byID[spans[i].SpanID] = &spans[i]
	}
	var out []string
	for i := range spans {
		s := &spans[i]
		if !s.IsTurn {
			continue
		}
		root := true
		seen := map[string]bool{s.SpanID: true}
		for p := byID[s.ParentSpanID]; p != nil && !seen[p.SpanID]; p = byID[p.ParentSpanID] {
			if p.IsTurn {
				root = false
				break
			}
			seen[p.SpanID] = true
		}
		if root {
			out = append(out, s.SpanID)
		}
	}
	return out
}

// splitTurns cuts a trace with several turn spans into each turn span's
// subtree (in the order of roots) and the spans under none of them.
func splitTurns(spans []model.Span, roots []string) (parts [][]model.Span, rest []model.Span) {
	idx := make(map[string]int, len(roots))
	for i, r := range roots {
		idx[r] = i
	}
	byID := make(map[string]*model.Span, len(spans))
	for i := range spans {
		byID[spans[i].SpanID] = &spans[i]
	}
	parts = make([][]model.Span, len(roots))
	for _, s := range spans {
		owner := -1
		seen := map[string]bool{}
		for x := &s; x != nil && !seen[x.SpanID]; x = byID[x.ParentSpanID] {
			if i, ok := idx[x.SpanID]; ok {
				owner = i
				break
			}
			seen[x.SpanID] = true
		}
		if owner < 0 {
			rest = append(rest, s)
			continue
		}
		parts[owner] = append(parts[owner], s)
	}
	return parts, rest
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}
