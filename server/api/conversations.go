package api

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/weavetrace/weave/server/chatview"
	"github.com/weavetrace/weave/server/model"
	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/spans"
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

// ConversationsPage is the answer of /genai/conversations/query.
type ConversationsPage struct {
	Conversations []ConversationRow `json:"conversations"`
	Total         int64             `json:"total"`
	Limit         int               `json:"limit"`
	Offset        int               `json:"offset"`
}

// ConversationRow is one conversation of the list: its summary, and the
// working directory and git branch of its latest turn, where its root
// records them (weave-agentd's turns do), so that sessions that look alike
// can be told apart.
type ConversationRow struct {
	store.ConversationSummary
	WorkingDir string `json:"working_dir,omitempty"`
	GitBranch  string `json:"git_branch,omitempty"`
}

func (h *Handler) conversationsQuery(ctx context.Context, q *ConversationsQueryRequest) (ConversationsPage, error) {
	var filters []store.Filter
	if q.WorkingDir != "" {
		filters = append(filters, store.Filter{Field: "custom_attrs_string." + spans.KeyCwd, Op: "eq", Value: q.WorkingDir})
	}
	if q.GitBranch != "" {
		filters = append(filters, store.Filter{Field: "custom_attrs_string." + spans.KeyGitBranch, Op: "eq", Value: q.GitBranch})
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
	})
	if err != nil {
		return ConversationsPage{}, err
	}
	rows := make([]ConversationRow, len(page.Conversations))
	for i, c := range page.Conversations {
		c.AgentNames = nonNil(c.AgentNames)
		c.Models = nonNil(c.Models)
		rows[i].ConversationSummary = c
	}
	if err := h.workplaces(ctx, q.ProjectID, rows); err != nil {
		return ConversationsPage{}, err
	}
	return ConversationsPage{
		Conversations: rows,
		Total:         page.Total,
		Limit:         q.Limit,
		Offset:        q.Offset,
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

// placeCache remembers where conversations ran (workplaces), each as of
// its summary's figures: a conversation that changed (a span added or
// ended) is looked up again. The list page reloads every few seconds while
// turns run; only the conversations that moved cost a lookup then.
type placeCache struct {
	mu sync.Mutex
	m  map[placeKey]place
}

type placeKey struct{ project, conversation string }

// place is where a conversation ran, as of its summary's figures.
type place struct {
	last                  time.Time
	spans, running        int64
	workingDir, gitBranch string
}

// maxPlaces bounds placeCache; past it the cache starts afresh.
const maxPlaces = 10_000

func (c *placeCache) get(project string, r *ConversationRow) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.m[placeKey{project, r.ConversationID}]
	if !ok || !p.last.Equal(r.LastActivity) || p.spans != r.SpanCount || p.running != r.RunningCount {
		return false
	}
	r.WorkingDir, r.GitBranch = p.workingDir, p.gitBranch
	return true
}

func (c *placeCache) put(project string, r *ConversationRow) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxPlaces {
		c.m = make(map[placeKey]place)
	}
	c.m[placeKey{project, r.ConversationID}] = place{last: r.LastActivity, spans: r.SpanCount, running: r.RunningCount,
		workingDir: r.WorkingDir, gitBranch: r.GitBranch}
}

// workplaces fills in each row's working directory and git branch: those
// of the root of its latest turn (placeCache, else one trace lookup per
// conversation, a few at a time, then one read of the roots).
func (h *Handler) workplaces(ctx context.Context, project string, all []ConversationRow) error {
	var rows []*ConversationRow
	for i := range all {
		if !h.places.get(project, &all[i]) {
			rows = append(rows, &all[i])
		}
	}
	roots := make([]store.TraceSummary, len(rows))
	if err := inParallel(len(rows), func(i int) error {
		ts, _, err := h.s.Store.QueryTraces(ctx, store.TraceQuery{ProjectID: project, ConversationID: rows[i].ConversationID,
			Sort: []store.Sort{{Field: "started_at", Direction: "desc"}}, Limit: 1})
		if err == nil && len(ts) > 0 {
			roots[i] = ts[0]
		}
		return err
	}); err != nil {
		return err
	}
	remember := func() {
		for _, r := range rows {
			h.places.put(project, r)
		}
	}
	var traceIDs, spanIDs []any
	for _, r := range roots {
		if r.RootSpanID != "" {
			traceIDs, spanIDs = append(traceIDs, r.TraceID), append(spanIDs, r.RootSpanID)
		}
	}
	if len(traceIDs) == 0 {
		remember()
		return nil
	}
	found, _, err := h.s.Store.QuerySpans(ctx, store.SpanQuery{ProjectID: project, Limit: store.MaxLimit,
		Filters: []store.Filter{{Field: "trace_id", Op: "in", Value: traceIDs}, {Field: "span_id", Op: "in", Value: spanIDs}}})
	if err != nil {
		return err
	}
	type key struct{ trace, span string }
	byRoot := make(map[key]model.Span, len(found))
	for _, s := range found {
		byRoot[key{s.TraceID, s.SpanID}] = s
	}
	for i, r := range roots {
		if s, ok := byRoot[key{r.TraceID, r.RootSpanID}]; ok {
			rows[i].WorkingDir = s.CustomAttrsString[spans.KeyCwd]
			rows[i].GitBranch = s.CustomAttrsString[spans.KeyGitBranch]
		}
	}
	remember()
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
