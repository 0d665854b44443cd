package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// projPlaceholder stands for the project's internal id in a query's
// arguments until it is looked up.
type projPlaceholder struct{}

// QueryConversations implements store.Reader.
func (s *Store) QueryConversations(ctx context.Context, q store.ConversationQuery) (store.ConversationPage, error) {
	var page store.ConversationPage
	limit, err := checks.Page(q.ProjectID, q.Limit, q.Offset)
	if err != nil {
		return page, err
	}
	cq, err := conversationSQL(q)
	if err != nil {
		return page, err
	}
	proj, ok, err := s.projectID(ctx, q.ProjectID)
	if err != nil || !ok {
		return page, err
	}
	if cq.search != nil {
		if err := s.syncSearch(ctx); err != nil {
			return page, err
		}
	}
	cq.bind(proj)
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return page, fmt.Errorf("sqlite: query conversations: %w", err)
	}
	defer tx.Rollback()
	items, err := s.scoredItems(ctx, tx, proj, q.ProjectID)
	if err != nil {
		return page, err
	}
	byConv, _ := store.GroupScores(items)
	where, args := cq.where, cq.args
	if len(cq.scoreFilters) > 0 {
		c, cargs := scoredCond("c.conv_key", cq.scoreFilters, byConv)
		where, args = append(where, c), append(args, cargs...)
	}
	if cq.search != nil && !q.ExactTotal && len(q.Sort) == 0 {
		if ok, err := s.walkConversations(ctx, tx, &page, cq, where, args, byConv, limit, q.Offset); err != nil || ok {
			return page, err
		}
	}
	cond := join(where)
	countQ, countArgs := "SELECT COUNT(*) FROM conversations c WHERE "+cond, args
	if len(where) == 2 { // no filter: the count kept per project
		countQ, countArgs = "SELECT conv_count FROM projects WHERE id = ?", []any{proj}
	}
	if err := tx.QueryRowContext(ctx, countQ, countArgs...).Scan(&page.Total); err != nil {
		return page, fmt.Errorf("sqlite: query conversations: %w", err)
	}
	if int64(q.Offset) >= page.Total {
		return page, nil
	}
	idx, err := conversationRows(ctx, tx, &page, byConv, cond+" ORDER BY "+strings.Join(cq.order, ", ")+" LIMIT ? OFFSET ?",
		append(args, limit, q.Offset))
	if err != nil {
		return page, err
	}
	return page, conversationLists(ctx, tx, page.Conversations, idx)
}

// walkManyGroups is how many matching search groups make a search common
// enough for walkConversations: below, the matches are few and counting
// them all is cheap.
var walkManyGroups = 2000

// walkMaxConvs bounds the walk: it checks at most the page's offset plus
// this many conversations (one full-text query each, ~2.5 ms at 300k
// spans); a page not filled within them — many groups that match, but in
// few conversations — is answered by counting every match instead.
var walkMaxConvs = 4096

// walkConversations answers a page newest first of a search that many
// groups match without counting every match: it walks the conversations
// by last activity (index conversations_last) and checks each one's own
// groups in the full-text index (its c<id> token with the query), and
// stops after one match past the page. The total is then the matches met,
// a lower bound that says whether a page follows (Total >
// offset + len(page) exactly when more come). ok is false (the caller
// counts every match) when the query matches few groups, or no match
// follows the page within the first offset + walkMaxConvs conversations
// (the last page, or matches in few conversations).
func (s *Store) walkConversations(ctx context.Context, tx *sql.Tx, page *store.ConversationPage, cq *convQuery,
	where []string, args []any, byConv map[string]map[string]store.ScoreSummary, limit, offset int) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM search.groups_fts WHERE groups_fts MATCH ? LIMIT ?)",
		cq.args[cq.searchArg], walkManyGroups+1).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("sqlite: query conversations: %w", err)
	}
	if n <= walkManyGroups {
		return false, nil
	}
	// The walk's candidates: the first offset + walkMaxConvs conversations
	// in the page's order, under every condition but the search's.
	order := " ORDER BY " + strings.Join(cq.order, ", ")
	base, baseArgs := slices.Delete(slices.Clone(where), cq.searchCond, cq.searchCond+1), slices.Delete(slices.Clone(args), cq.searchArg, cq.searchArg+1)
	cands := "c.id IN (SELECT c.id FROM conversations c WHERE " + join(base) + order + " LIMIT ?)"
	// The search's condition, the same match, checked conversation by
	// conversation (its id token, not the project's, which every group of
	// the project has).
	cond := cands + ` AND EXISTS (SELECT 1 FROM search.groups_fts f WHERE f.groups_fts MATCH ('meta : c' || c.id || ' AND ' || ?))`
	walkArgs := append(baseArgs, offset+walkMaxConvs, "body : ("+ftsExpr(*cq.search)+")", limit+1, offset)
	var walked store.ConversationPage
	idx, err := conversationRows(ctx, tx, &walked, byConv, cond+order+" LIMIT ? OFFSET ?", walkArgs)
	if err != nil || len(walked.Conversations) <= limit {
		// Past the last match, or the candidates ran out before the
		// page was full: counting every match answers it exactly.
		return false, err
	}
	if err := conversationLists(ctx, tx, walked.Conversations, idx); err != nil {
		return false, err
	}
	page.Total = int64(offset + len(walked.Conversations))
	page.TotalIsLowerBound = true
	page.Conversations = walked.Conversations[:limit]
	return true, nil
}

// convQuery is the SQL of a conversation query before its project's id is
// known: the conditions on conversations aliased c and their arguments,
// the order, and what is resolved later.
type convQuery struct {
	where        []string
	args         []any // args[0] is the project's id; projPlaceholder, and nil for the search match, stand for values bind fills in
	order        []string
	search       *textsearch.Query
	searchCond   int // the search's condition in where, and its match in args
	searchArg    int
	scoreFilters []store.ScoreFilter
}

// conversationSQL translates a conversation query's range, agent, span
// filters, search and sort.
func conversationSQL(q store.ConversationQuery) (*convQuery, error) {
	cq := &convQuery{where: []string{"c.proj = ?", "c.span_count > 0"}, args: []any{nil}}
	if err := rangeSQL("c.last_activity", q.Range, &cq.where, &cq.args); err != nil {
		return nil, err
	}
	if q.AgentName != "" {
		cq.where = append(cq.where, "EXISTS (SELECT 1 FROM conv_agents a WHERE a.conv_id = c.id AND a.agent_name = ?)")
		cq.args = append(cq.args, q.AgentName)
	}
	if len(q.Filters) > 0 {
		var inner []string
		var innerArgs []any
		if err := filtersSQL(q.Filters, &inner, &innerArgs); err != nil {
			return nil, err
		}
		cq.where = append(cq.where, "c.id IN (SELECT s.conv_id FROM spans s WHERE s.proj = ? AND "+join(inner)+")")
		cq.args = append(append(cq.args, projPlaceholder{}), innerArgs...)
	}
	var err error
	if cq.scoreFilters, err = store.ParseScoreFilters(q.ScoreFilters); err != nil {
		return nil, err
	}
	if q.Search != "" {
		parsed, err := textsearch.Parse(q.Search)
		if err != nil {
			return nil, err
		}
		cq.search = &parsed
		cq.searchCond, cq.searchArg = len(cq.where), len(cq.args)
		cq.where = append(cq.where, `c.id IN (SELECT g.conv_id FROM search.groups_fts f CROSS JOIN search.msg_groups g ON g.gid = f.rowid
			WHERE f.groups_fts MATCH ?)`)
		cq.args = append(cq.args, nil) // the match, once the project id is known
	}
	if cq.order, err = sortOrder(q.Sort, store.ConversationSortFields, "conversations"); err != nil {
		return nil, err
	}
	if len(cq.order) == 0 {
		cq.order = []string{"c.last_activity DESC"}
	}
	cq.order = append(cq.order, "c.conv_key ASC")
	return cq, nil
}

// bind fills in the project's id and the search match.
func (cq *convQuery) bind(proj int64) {
	cq.args[0] = proj
	for i := range cq.args {
		switch cq.args[i].(type) {
		case projPlaceholder:
			cq.args[i] = proj
		case nil:
			if cq.search != nil {
				cq.args[i] = searchMatch(proj, 0, nil, *cq.search)
			}
		}
	}
}

// conversationRows reads the page's conversations (where is the
// condition on conversations aliased c, with ORDER BY and LIMIT) into
// page, and returns the index in it of each conversation by id.
func conversationRows(ctx context.Context, tx *sql.Tx, page *store.ConversationPage, byConv map[string]map[string]store.ScoreSummary,
	where string, args []any) (map[int64]int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT c.id, c.conv_key, c.turn_count AS c_turns, c.background_count AS c_background,
		c.span_count AS c_spans, c.error_count AS c_errors, c.running_count AS c_running,
		c.first_activity AS c_first, c.last_activity AS c_last, c.input_tokens AS c_input, c.output_tokens AS c_output,
		c.cache_read_tokens AS c_cache_read, c.cache_create_tokens AS c_cache_creation, c.reasoning_tokens AS c_reasoning,
		c.cost_nanos AS c_cost, c.unpriced AS c_unpriced, c.prompt AS c_prompt, c.working_dir AS c_working_dir,
		c.git_branch AS c_git_branch
		FROM conversations c WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query conversations: %w", err)
	}
	idx := make(map[int64]int)
	for rows.Next() {
		var c store.ConversationSummary
		var id, first, last int64
		var u usageScan
		if err := rows.Scan(append(append([]any{&id, &c.ConversationID, &c.TurnCount, &c.BackgroundCount, &c.SpanCount, &c.ErrorCount, &c.RunningCount,
			&first, &last}, u.dest()...), &c.FirstPrompt, &c.WorkingDir, &c.GitBranch)...); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: query conversations: %w", err)
		}
		c.Usage = u.usage()
		c.FirstActivity, c.LastActivity = fromNanos(first), fromNanos(last)
		c.Scores = byConv[c.ConversationID]
		idx[id] = len(page.Conversations)
		page.Conversations = append(page.Conversations, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite: query conversations: %w", err)
	}
	return idx, nil
}

// conversationLists reads the agents and models of the page's
// conversations (idx: their index by id), in one bounded query each.
func conversationLists(ctx context.Context, tx *sql.Tx, convs []store.ConversationSummary, idx map[int64]int) error {
	keys := make([]any, 0, len(idx))
	for id := range idx {
		keys = append(keys, id)
	}
	for _, t := range []struct {
		table, col string
		dst        func(*store.ConversationSummary) *[]string
	}{
		{"conv_agents", "agent_name", func(c *store.ConversationSummary) *[]string { return &c.AgentNames }},
		{"conv_models", "model", func(c *store.ConversationSummary) *[]string { return &c.Models }},
	} {
		rows, err := tx.QueryContext(ctx, "SELECT conv_id, "+t.col+" FROM "+t.table+" WHERE conv_id IN ("+
			placeholders(len(keys))+") ORDER BY conv_id, "+t.col, keys...)
		if err != nil {
			return fmt.Errorf("sqlite: query conversations: %w", err)
		}
		for rows.Next() {
			var k int64
			var v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return fmt.Errorf("sqlite: query conversations: %w", err)
			}
			if i, ok := idx[k]; ok {
				d := t.dst(&convs[i])
				*d = append(*d, v)
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("sqlite: query conversations: %w", err)
		}
	}
	return nil
}
