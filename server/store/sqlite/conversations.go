package sqlite

import (
	"context"
	"errors"
	"fmt"
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
	if err := needProject(q.ProjectID); err != nil {
		return page, err
	}
	limit, err := clampLimit(q.Limit)
	if err != nil {
		return page, err
	}
	if err := checkOffset(q.Offset); err != nil {
		return page, err
	}
	where := []string{"c.proj = ?", "c.span_count > 0"}
	args := []any{nil}
	if err := rangeSQL("c.last_activity", q.Range, &where, &args); err != nil {
		return page, err
	}
	if q.AgentName != "" {
		where = append(where, "EXISTS (SELECT 1 FROM conv_agents a WHERE a.conv_id = c.id AND a.agent_name = ?)")
		args = append(args, q.AgentName)
	}
	if len(q.Filters) > 0 {
		var inner []string
		var innerArgs []any
		for _, f := range q.Filters {
			c, err := filterSQL(f)
			if err != nil {
				return page, err
			}
			inner = append(inner, c.sql)
			innerArgs = append(innerArgs, c.args...)
		}
		where = append(where, "c.id IN (SELECT s.conv_id FROM spans s WHERE s.proj = ? AND "+join(inner)+")")
		args = append(append(args, projPlaceholder{}), innerArgs...)
	}
	scoreFilters, err := store.ParseScoreFilters(q.ScoreFilters)
	if err != nil {
		return page, err
	}
	var search *textsearch.Query
	if q.Search != "" {
		parsed, err := textsearch.Parse(q.Search)
		if err != nil {
			return page, err
		}
		search = &parsed
		where = append(where, `c.id IN (SELECT g.conv_id FROM search.groups_fts f CROSS JOIN search.msg_groups g ON g.gid = f.rowid
			WHERE f.groups_fts MATCH ?)`)
		args = append(args, nil) // the match, once the project id is known
	}
	var order []string
	for _, so := range q.Sort {
		col, ok := store.ConversationSortFields[so.Field]
		if !ok {
			return page, invalid("cannot sort conversations on %q", so.Field)
		}
		dir, err := direction(so.Direction)
		if err != nil {
			return page, err
		}
		order = append(order, col+" "+dir)
	}
	if len(order) == 0 {
		order = []string{"c.last_activity DESC"}
	}
	order = append(order, "c.conv_key ASC")

	proj, ok, err := s.projectID(ctx, q.ProjectID)
	if err != nil || !ok {
		return page, err
	}
	args[0] = proj
	for i := range args {
		if _, ok := args[i].(projPlaceholder); ok {
			args[i] = proj
		}
	}
	if search != nil {
		if err := s.syncSearch(ctx); err != nil {
			return page, err
		}
		for i := range args {
			if args[i] == nil {
				args[i] = searchMatch(proj, 0, nil, *search)
			}
		}
	}
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
	if len(scoreFilters) > 0 {
		c, cargs := scoredCond("c.conv_key", scoreFilters, byConv)
		where, args = append(where, c), append(args, cargs...)
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
	rows, err := tx.QueryContext(ctx, `SELECT c.id, c.conv_key, c.turn_count AS c_turns, c.background_count AS c_background,
		c.span_count AS c_spans, c.error_count AS c_errors, c.running_count AS c_running,
		c.first_activity AS c_first, c.last_activity AS c_last, c.input_tokens AS c_input, c.output_tokens AS c_output,
		c.cache_read_tokens AS c_cache_read, c.cache_create_tokens AS c_cache_creation, c.reasoning_tokens AS c_reasoning,
		c.cost_nanos AS c_cost, c.unpriced AS c_unpriced, c.prompt AS c_prompt, c.working_dir AS c_working_dir,
		c.git_branch AS c_git_branch
		FROM conversations c WHERE `+cond+" ORDER BY "+strings.Join(order, ", ")+" LIMIT ? OFFSET ?",
		append(args, limit, q.Offset)...)
	if err != nil {
		return page, fmt.Errorf("sqlite: query conversations: %w", err)
	}
	idx := make(map[int64]int)
	for rows.Next() {
		var c store.ConversationSummary
		var id, first, last int64
		var u usageScan
		if err := rows.Scan(append(append([]any{&id, &c.ConversationID, &c.TurnCount, &c.BackgroundCount, &c.SpanCount, &c.ErrorCount, &c.RunningCount,
			&first, &last}, u.dest()...), &c.FirstPrompt, &c.WorkingDir, &c.GitBranch)...); err != nil {
			rows.Close()
			return page, fmt.Errorf("sqlite: query conversations: %w", err)
		}
		c.Usage = u.usage()
		c.FirstActivity, c.LastActivity = fromNanos(first), fromNanos(last)
		c.Scores = byConv[c.ConversationID]
		idx[id] = len(page.Conversations)
		page.Conversations = append(page.Conversations, c)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return page, fmt.Errorf("sqlite: query conversations: %w", err)
	}
	// Agents and models of the page, in one bounded query each.
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
			return page, fmt.Errorf("sqlite: query conversations: %w", err)
		}
		for rows.Next() {
			var k int64
			var v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return page, fmt.Errorf("sqlite: query conversations: %w", err)
			}
			if i, ok := idx[k]; ok {
				d := t.dst(&page.Conversations[i])
				*d = append(*d, v)
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return page, fmt.Errorf("sqlite: query conversations: %w", err)
		}
	}
	return page, nil
}
