package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/weavetrace/weave/server/store"
	"github.com/weavetrace/weave/server/store/textsearch"
)

// ftsExpr renders a parsed query as an FTS5 MATCH expression: every term a
// quoted phrase (tokens are letters and digits only, so nothing needs
// escaping), all of them required.
func ftsExpr(q textsearch.Query) string {
	var b strings.Builder
	for i, t := range q.Terms {
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteByte('"')
		b.WriteString(strings.Join(t.Tokens, " "))
		b.WriteByte('"')
	}
	return b.String()
}

func ftsQuery(q string) (string, error) {
	parsed, err := textsearch.Parse(q)
	if err != nil {
		return "", err
	}
	return ftsExpr(parsed), nil
}

// SearchMessages implements store.Reader.
func (s *Store) SearchMessages(ctx context.Context, q store.SearchQuery) ([]store.SearchHit, error) {
	if err := needProject(q.ProjectID); err != nil {
		return nil, err
	}
	parsed, err := textsearch.Parse(q.Query)
	if err != nil {
		return nil, err
	}
	limit, err := clampLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	if err := checkOffset(q.Offset); err != nil {
		return nil, err
	}
	where := []string{"g.project_id = ?", "g.text_id IN (SELECT rowid FROM texts_fts WHERE texts_fts MATCH ?)"}
	args := []any{q.ProjectID, ftsExpr(parsed)}
	if len(q.Roles) > 0 {
		where = append(where, "g.role IN ("+placeholders(len(q.Roles))+")")
		for _, r := range q.Roles {
			args = append(args, r)
		}
	}
	if q.AgentName != "" {
		where = append(where, "g.agent_name = ?")
		args = append(args, q.AgentName)
	}
	if q.ConversationID != "" {
		where = append(where, "g.conv_key = ?")
		args = append(args, q.ConversationID)
	}
	if err := rangeSQL("g.first_at", q.Range, &where, &args); err != nil {
		return nil, err
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT g.conv_key, g.role, g.text_id, g.first_at, g.first_trace, g.first_span,
		g.first_op, g.agent_name FROM msg_groups g WHERE `+join(where)+`
		ORDER BY g.first_at DESC, g.first_trace, g.first_span, g.role LIMIT ? OFFSET ?`, append(args, limit, q.Offset)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	var hits []store.SearchHit
	var textIDs []int64
	for rows.Next() {
		var h store.SearchHit
		var textID, at int64
		if err := rows.Scan(&h.ConversationID, &h.Role, &textID, &at, &h.TraceID, &h.SpanID, &h.OperationName, &h.AgentName); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: search: %w", err)
		}
		h.StartedAt = fromNanos(at)
		hits = append(hits, h)
		textIDs = append(textIDs, textID)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	bodies := make(map[int64]string, len(textIDs))
	if err := loadByIDs(ctx, tx, "texts", "body", uniq(append([]int64(nil), textIDs...)), func(id int64, v []byte) error {
		bodies[id] = string(v)
		return nil
	}); err != nil {
		return nil, err
	}
	for i := range hits {
		hits[i].Snippet = textsearch.Snippet(bodies[textIDs[i]], parsed)
	}
	return hits, nil
}
