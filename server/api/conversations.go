package api

import (
	"context"
	"fmt"
	"sync"

	"github.com/weavetrace/weave/semconv"
	"github.com/weavetrace/weave/server/chatview"
	"github.com/weavetrace/weave/server/store"
)

// ConversationsQueryRequest is the body of /genai/conversations/query.
// WorkingDir and GitBranch keep the conversations one of whose spans
// carries that working directory or git branch (weave.claude_code.cwd,
// weave.claude_code.git_branch: the turn roots weave-agentd sends).
type ConversationsQueryRequest struct {
	projectPart
	AgentName  string         `json:"agent_name"`
	Search     string         `json:"search"`
	WorkingDir string         `json:"working_dir"`
	GitBranch  string         `json:"git_branch"`
	Filters    []store.Filter `json:"filters"` // on score summaries: score.<name>
	Sort       []store.Sort   `json:"sort"`
	// ExactTotal asks for the exact number of conversations a search
	// matches (store.ConversationQuery.ExactTotal).
	ExactTotal bool `json:"exact_total"`
	rangePart
	pagePart
}

func (q *ConversationsQueryRequest) validate() error {
	for _, f := range []struct{ name, v string }{{"agent_name", q.AgentName}, {"working_dir", q.WorkingDir}, {"git_branch", q.GitBranch}} {
		if err := checkText(f.name, f.v, false); err != nil {
			return err
		}
	}
	if err := checkText("search", q.Search, false); err != nil {
		return err
	}
	if err := checkScoreFilters(q.Filters); err != nil {
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

// ConversationsPage is the answer of /genai/conversations/query. Each
// conversation carries where it last ran (store.ConversationSummary's
// WorkingDir and GitBranch, which the stores keep), so that sessions that
// look alike can be told apart. With a search, Total may be a lower bound
// (TotalIsLowerBound, see store.ConversationPage).
type ConversationsPage struct {
	Conversations     []store.ConversationSummary `json:"conversations"`
	Total             int64                       `json:"total"`
	TotalIsLowerBound bool                        `json:"total_is_lower_bound,omitempty"`
	Limit             int                         `json:"limit"`
	Offset            int                         `json:"offset"`
}

func (h *Handler) conversationsQuery(ctx context.Context, q *ConversationsQueryRequest) (ConversationsPage, error) {
	var filters []store.Filter
	if q.WorkingDir != "" {
		filters = append(filters, store.Filter{Field: "custom_attrs_string." + semconv.KeyCwd, Op: "eq", Value: q.WorkingDir})
	}
	if q.GitBranch != "" {
		filters = append(filters, store.Filter{Field: "custom_attrs_string." + semconv.KeyGitBranch, Op: "eq", Value: q.GitBranch})
	}
	page, err := h.s.Store.QueryConversations(ctx, store.ConversationQuery{
		ProjectID:    q.ProjectID,
		AgentName:    q.AgentName,
		Range:        q.r,
		Search:       q.Search,
		Filters:      filters,
		ScoreFilters: q.Filters,
		Sort:         q.Sort,
		Limit:        q.Limit,
		Offset:       q.Offset,
		ExactTotal:   q.ExactTotal,
	})
	if err != nil {
		return ConversationsPage{}, err
	}
	rows := page.Conversations
	if rows == nil {
		rows = []store.ConversationSummary{}
	}
	for i := range rows {
		rows[i].AgentNames = nonNil(rows[i].AgentNames)
		rows[i].Models = nonNil(rows[i].Models)
	}
	return ConversationsPage{
		Conversations:     rows,
		Total:             page.Total,
		TotalIsLowerBound: page.TotalIsLowerBound,
		Limit:             q.Limit,
		Offset:            q.Offset,
	}, nil
}

// inParallel runs fn(0) … fn(n-1), four at a time (lookups that each cost
// a store query), and returns the first error.
func inParallel(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
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
	spans, err := h.s.Store.ConversationChatSpans(ctx, q.ProjectID, q.ConversationID, q.r)
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
