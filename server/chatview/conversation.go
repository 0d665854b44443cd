package chatview

import (
	"cmp"
	"slices"
	"time"

	"github.com/weavetrace/weave/server/model"
)

// BuildConversation returns the conversation view of the spans of one
// conversation: one turn per trace_id, in order of the turn's start (ties by
// trace_id), each with its chat view and its session. Sessions lists every
// session that contributed turns, in order of its first turn, so a fork
// shows as a session with a parent.
func BuildConversation(conversationID string, spans []model.Span) Conversation {
	out := Conversation{
		ConversationID: conversationID,
		Sessions:       []Session{},
		Turns:          []Turn{},
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
	for _, id := range order {
		out.Turns = append(out.Turns, Turn{Trace: Build(byTrace[id])})
	}
	slices.SortFunc(out.Turns, func(a, b Turn) int {
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
		if out.FirstActivity.IsZero() || (!t.StartedAt.IsZero() && t.StartedAt.Before(out.FirstActivity)) {
			out.FirstActivity = t.StartedAt
		}
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
	out.TurnCount = len(out.Turns)
	return out
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
