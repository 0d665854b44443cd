package api

import (
	"context"
	"fmt"

	"github.com/weavetrace/weave/server/chatview"
	"github.com/weavetrace/weave/server/store"
)

// ConversationsQueryRequest is the body of /genai/conversations/query.
type ConversationsQueryRequest struct {
	projectPart
	AgentName string       `json:"agent_name"`
	Search    string       `json:"search"`
	Sort      []store.Sort `json:"sort"`
	rangePart
	pagePart
}

func (q *ConversationsQueryRequest) validate() error {
	if err := checkText("agent_name", q.AgentName, false); err != nil {
		return err
	}
	if err := checkText("search", q.Search, false); err != nil {
		return err
	}
	if err := checkSorts(q.Sort, conversationSortColumns); err != nil {
		return err
	}
	if err := q.rangePart.check(); err != nil {
		return err
	}
	return q.pagePart.check(50)
}

// ConversationsPage is the answer of /genai/conversations/query.
type ConversationsPage struct {
	Conversations []store.ConversationSummary `json:"conversations"`
	Total         int64                       `json:"total"`
	Limit         int                         `json:"limit"`
	Offset        int                         `json:"offset"`
}

func (h *Handler) conversationsQuery(ctx context.Context, q *ConversationsQueryRequest) (ConversationsPage, error) {
	page, err := h.s.Store.QueryConversations(ctx, store.ConversationQuery{
		ProjectID: q.ProjectID,
		AgentName: q.AgentName,
		Range:     q.r,
		Search:    q.Search,
		Sort:      q.Sort,
		Limit:     q.Limit,
		Offset:    q.Offset,
	})
	if err != nil {
		return ConversationsPage{}, err
	}
	for i := range page.Conversations {
		c := &page.Conversations[i]
		c.AgentNames = nonNil(c.AgentNames)
		c.Models = nonNil(c.Models)
	}
	return ConversationsPage{
		Conversations: nonNil(page.Conversations),
		Total:         page.Total,
		Limit:         q.Limit,
		Offset:        q.Offset,
	}, nil
}

// ConversationChatRequest is the body of /genai/conversations/chat. The
// window (offset, limit) is over turns, in order; limit 0 returns every turn
// from offset on.
type ConversationChatRequest struct {
	projectPart
	ConversationID string `json:"conversation_id"`
	rangePart
	pagePart
}

func (q *ConversationChatRequest) validate() error {
	switch {
	case q.ConversationID == "":
		return invalid("conversation_id", "conversation_id is required")
	case len(q.ConversationID) > maxConversations:
		return invalid("conversation_id", "conversation_id is longer than %d bytes", maxConversations)
	}
	if err := q.rangePart.check(); err != nil {
		return err
	}
	return q.pagePart.check(0)
}

// ConversationChat is the answer of /genai/conversations/chat: the
// conversation view with Turns cut to the requested window; TurnCount,
// Usage, Sessions and the activity times cover every turn.
type ConversationChat struct {
	chatview.Conversation
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

func (h *Handler) conversationChat(ctx context.Context, q *ConversationChatRequest) (ConversationChat, error) {
	spans, err := h.s.Store.ConversationSpans(ctx, q.ProjectID, q.ConversationID, q.r)
	if err != nil {
		return ConversationChat{}, err
	}
	if len(spans) == 0 {
		return ConversationChat{}, &Error{Code: CodeNotFound, Field: "conversation_id",
			Message: fmt.Sprintf("conversation %q not found in project %q", truncate(q.ConversationID, 200), q.ProjectID)}
	}
	c := chatview.BuildConversation(q.ConversationID, spans)
	turns := c.Turns
	if q.Offset >= len(turns) {
		turns = turns[:0]
	} else {
		turns = turns[q.Offset:]
	}
	if q.Limit > 0 && len(turns) > q.Limit {
		turns = turns[:q.Limit]
	}
	c.Turns = turns
	return ConversationChat{Conversation: c, Offset: q.Offset, Limit: q.Limit}, nil
}
